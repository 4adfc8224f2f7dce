#!/bin/bash
# test_identity.sh - who a request is about, end to end through a real
# radiusd driven by radclient (issue 15, items 7, 9 and 13):
#   - identities are folded (Unicode case folding, NFC): a revocation of
#     "élise" refuses "Élise", "ÉLISE" and a decomposed "E\u0301lise";
#   - DOMAIN\user is stripped only for the listed domains: the school's
#     "SCHOOL\alice" is alice, "OTHERDOMAIN\alice" is not;
#   - an exception bound to a device admits only that device: a request
#     without Calling-Station-Id (or with one that is no MAC) is refused;
#   - sessions belong to the RADIUS client that sent their accounting: an
#     Accounting-On from client B naming NAS A's NAS-IP-Address does not
#     close A's sessions.
. "$(dirname "$0")/lib.sh"

CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $CB_TMP/lib/cetbyod"
now=$(date +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

cat > "$CB_TMP/users" <<EOF2
pia	Cleartext-Password := "piapw", Cetbyod-Role := Pupil
DEFAULT	Cleartext-Password := "anypw", Cetbyod-Role := Staff
EOF2
cat > "$CB_TMP/acknowledgements" <<EOF2
alice@school.example	$(iso $((now - 86400)))
EOF2

cb_make_raddb "$CB_TMP/users" "$CB_TMP/acknowledgements" || { cb_fail "build raddb"; cb_finish; }
# NAS A is the client 127.0.0.1, with a DAS (a listener of this test) and a
# nas { } entry; NAS B is the client 127.0.0.2 (clients.conf: ap-b), whose
# accounting radiusd also hears on 127.0.0.2.  Short DAS timeouts: the
# listener records requests and does not answer.
DAS_PORT=$(cb_free_udp_port)
sed -i -e 's|^	enforce {|	enforce {\n		nas ap-a {\n			ipaddr = 127.0.0.1\n			port = '"$DAS_PORT"'\n			secret = "das-secret"\n		}|' \
	-e 's|max_duration = 30|max_duration = 2|' -e 's|max_transmissions = 5|max_transmissions = 2|' \
	"$CB_TMP/raddb/mods-available/cetbyod"
cat >> "$CB_TMP/raddb/radiusd.conf" <<EOF2
listen {
	type = acct
	ipaddr = 127.0.0.2
	port = $CB_ACCT_PORT
	virtual_server = cetbyod
}
EOF2
if cb_start_radiusd; then cb_pass "radiusd starts"; else cb_fail "radiusd starts"; cb_finish; fi

# req USER PASSWORD [ATTRIBUTE LINES] - an Access-Request; the reply is in $CB_REPLY.
req() {
	printf 'User-Name = "%s"\nUser-Password = "%s"\nNAS-IP-Address = 127.0.0.1\n%s' "$1" "$2" "${3:-}" \
		> "$CB_TMP/req"
	cb_pap_raw "$CB_TMP/req"
}

# until_reply TRIES PATTERN USER PASSWORD [ATTRIBUTES] - repeat the request
# (0.2 s apart) until the reply matches: what cetbyodctl wrote reaches the
# module within a second.
until_reply() {
	tries=$1
	pat=$2
	shift 2
	for _ in $(seq 1 "$tries"); do
		req "$@"
		printf '%s\n' "$CB_REPLY" | grep -Eq -- "$pat" && return 0
		sleep 0.2
	done
	return 1
}

# --- 9: an exception bound to a device -------------------------------------
MAC=02:00:00:00:00:09
$CTL exception add --user pia --reason "medical monitoring phone" --approved-by "Head of Year 9" \
	--until "$(date -d tomorrow +%F)" --mac "$MAC" --by tester >/dev/null
if until_reply 25 'Received Access-Accept' pia piapw "Calling-Station-Id = \"02-00-00-00-00-09\"
"; then
	cb_expect_reply "9: the exception's own device (Calling-Station-Id $MAC) gets the restricted VLAN" \
		'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "300"'
else
	cb_fail "9: the exception's own device gets the restricted VLAN"
	printf '%s\n' "$CB_REPLY" | sed 's/^/    # /'
fi
req pia piapw
cb_expect_reply "9: no Calling-Station-Id: refused (the exception is for one device)" \
	'Received Access-Reject' 'Pupils may not connect'
req pia piapw 'Calling-Station-Id = "not-a-mac"
'
cb_expect_reply "9: a Calling-Station-Id that is no MAC: refused" 'Received Access-Reject'
req pia piapw 'Calling-Station-Id = "02-00-00-00-00-0a"
'
cb_expect_reply "9: another device: refused" 'Received Access-Reject'

# --- 7: identity variants and domains --------------------------------------
req 'SCHOOL\alice' anypw
cb_expect_reply "7: SCHOOL\\alice (a listed domain) is the school's alice: acknowledged, staff VLAN" \
	'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"'
req 'OTHERDOMAIN\alice' anypw
cb_expect_reply "7: OTHERDOMAIN\\alice is not the school's alice: not admitted on alice's acknowledgement" \
	'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "200"'
if grep -qF 'cetbyod: otherdomain\alice -> onboard' "$CB_TMP/radiusd.out"; then
	cb_pass "7: the log decides otherdomain\\alice as itself"
else
	cb_fail "7: the log decides otherdomain\\alice as itself"
fi
req 'Élise' anypw
cb_expect_reply "7: Élise before any revocation: onboarded (no acknowledgement)" \
	'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "200"'
if $CTL revoke 'élise' --reason "phone reported lost" --by tester >/dev/null; then
	cb_pass "7: cetbyodctl revoke élise"
else
	cb_fail "7: cetbyodctl revoke élise"
fi
if until_reply 25 'Received Access-Reject' 'Élise' anypw; then
	cb_expect_reply "7: revoked élise authenticating as Élise is refused with the revocation's reason" \
		'Received Access-Reject' 'revoked by IT'
else
	cb_fail "7: revoked élise authenticating as Élise is refused"
	printf '%s\n' "$CB_REPLY" | sed 's/^/    # /'
fi
if grep -qF 'cetbyod: élise -> reject (revoked_by_admin)' "$CB_TMP/radiusd.out"; then
	cb_pass "7: the log names the folded identity and revoked_by_admin"
else
	cb_fail "7: the log names the folded identity and revoked_by_admin"
fi
req 'ÉLISE' anypw
cb_expect_reply "7: ÉLISE refused too" 'Received Access-Reject' 'revoked by IT'
req "$(printf 'E\314\201lise')" anypw
cb_expect_reply "7: a decomposed E + U+0301 \"lise\" refused too" 'Received Access-Reject' 'revoked by IT'
req 'SCHOOL\ÉLISE' anypw
cb_expect_reply "7: SCHOOL\\ÉLISE refused too" 'Received Access-Reject' 'revoked by IT'

# --- 13: sessions belong to the client that sent their accounting ----------
# das_listener SECONDS - record the Acct-Session-Id of every request that
# reaches NAS A's DAS, one a line, in $CB_TMP/das.got.
das_listener() {
	/usr/bin/python3 - "$DAS_PORT" "$1" "$CB_TMP/das.got" <<'EOP' &
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
end = time.monotonic() + float(sys.argv[2])
with open(sys.argv[3], "a") as out:
    while time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            pkt = s.recv(4096)
        except socket.timeout:
            break
        i, sid = 20, ""
        while i + 2 <= len(pkt) and pkt[i + 1] >= 2:
            if pkt[i] == 44:
                sid = pkt[i + 2:i + pkt[i + 1]].decode("utf-8", "replace")
            i += pkt[i + 1]
        out.write("code %d session %s\n" % (pkt[0], sid))
        out.flush()
EOP
	CB_PIDS="$CB_PIDS $!"
}
# acct CLIENT SESSION STATUS NAS-IP [CLASS] - an Accounting-Request from the address CLIENT
# (radclient binds to Packet-Src-IP-Address) to radiusd listening there.
acct() {
	printf 'Packet-Src-IP-Address = %s\nAcct-Status-Type = %s\nAcct-Session-Id = "%s"\nUser-Name = "alice"\nNAS-IP-Address = %s\nCalling-Station-Id = "02-00-00-00-00-01"\n%s' \
		"$1" "$3" "$2" "$4" "${5:+Class = $5
}" | "$RADCLIENT" -r 1 -t 3 "$1:$CB_ACCT_PORT" acct testing123 >/dev/null 2>&1
}
# session_is SESSION PYTHON-CONDITION - cetbyodctl sessions --json has SESSION and it satisfies the condition on s.
session_is() {
	$CTL --json sessions | /usr/bin/python3 -c 'import json, sys
s = [x for x in json.load(sys.stdin)["sessions"] if x["acct_session_id"] == sys.argv[1]]
s = s[0] if s else None
sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2"
}

req alice anypw
class=$(printf '%s\n' "$CB_REPLY" | sed -n 's/.*Class = \(0x63657462796f643a[0-9a-f]*\).*/\1/p' | head -n 1)
acct 127.0.0.1 a-1 Start 127.0.0.1 "$class"
if session_is a-1 's is not None and s["identity"] == "alice" and s["stopped"] is None and s["nas"] == "127.0.0.1"'; then
	cb_pass "13: alice's session on NAS A is active"
else
	cb_fail "13: alice's session on NAS A is active"; $CTL --json sessions | sed 's/^/    # /'
fi
acct 127.0.0.2 on-b Accounting-On 127.0.0.1
if session_is a-1 's is not None and s["stopped"] is None'; then
	cb_pass "13: an Accounting-On from client B naming NAS A's NAS-IP-Address leaves A's session active"
else
	cb_fail "13: an Accounting-On from client B naming NAS A's NAS-IP-Address leaves A's session active"
	$CTL --json sessions | sed 's/^/    # /'
fi
acct 127.0.0.2 b-1 Start 127.0.0.1 "$class"
if session_is b-1 's is not None and s["nas"] == "127.0.0.2" and s["nas_ip"] == "127.0.0.1"'; then
	cb_pass "13: a session client B claims for NAS A is bound to client B (the NAS it names kept for display)"
else
	cb_fail "13: a session client B claims for NAS A is bound to client B"; $CTL --json sessions | sed 's/^/    # /'
fi
: > "$CB_TMP/das.got"
das_listener 6
sleep 0.2
cb_run "revoke alice" $CTL revoke alice --reason "lost phone" --by tester
for _ in $(seq 1 30); do
	grep -q 'session a-1' "$CB_TMP/das.got" && break
	sleep 0.2
done
sleep 1
if grep -q 'code 40 session a-1' "$CB_TMP/das.got" && ! grep -q 'session b-1' "$CB_TMP/das.got"; then
	cb_pass "13: the revocation's Disconnect-Request reaches NAS A for A's session only, not for B's planted one"
else
	cb_fail "13: the revocation's Disconnect-Request reaches NAS A for A's session only"
	sed 's/^/    # /' "$CB_TMP/das.got"
fi
session_is a-1 's is not None' || cb_fail "13: A's session still active (its disconnect was not answered)"
acct 127.0.0.1 on-a Accounting-On 127.0.0.1
if session_is a-1 's is None' && session_is b-1 's is not None and s["stopped"] is None'; then
	cb_pass "13: an Accounting-On from client A closes A's sessions, not B's"
else
	cb_fail "13: an Accounting-On from client A closes A's sessions, not B's"; $CTL --json sessions | sed 's/^/    # /'
fi

cb_finish
