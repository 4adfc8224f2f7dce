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

cb_finish
