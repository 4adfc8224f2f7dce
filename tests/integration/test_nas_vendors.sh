#!/bin/bash
# test_nas_vendors.sh - the shipped NAS profiles aruba, cisco, meraki,
# mikrotik, ruckus and unifi, end to end: radiusd with the module, one
# access point per vendor played by tests/nas/das-vendor-nas.py (on its own
# loopback address, on the port that vendor listens on, keeping that
# vendor's documented rules), sessions opened by accounting from each AP,
# and `cetbyodctl revoke` as IT uses it.  Each nas section names only its
# address, secret and profile: port, request type, attributes and
# Calling-Station-Id spelling all come from the profile.
#
#   - each vendor's AP sees the request its rules accept, answers ACK,
#     and the session ends (the AP's accounting Stop; cetbyodctl sessions);
#   - cisco: a CoA-Request with Cisco-AVPair subscriber:command=reauthenticate
#     on port 1700 (CoA-ACK; the device's re-authentication is refused); a
#     session the controller cannot re-authenticate answers CoA-NAK 405 and
#     the module falls back to a Disconnect-Request, which ends it;
#   - a cisco NAS told to send User-Name (attributes override) gets
#     NAK 401 Unsupported Attribute on the CoA and on the fallback;
#   - a bad profile name (and a bad calling_station_id_format) is refused at
#     start-up, listing the accepted names.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$CB_SRCDIR/tests/nas/nas-lib.sh"

VENDOR_NAS=$CB_SRCDIR/tests/nas/das-vendor-nas.py
DAS_SECRET=das-Vendor-5e2c
CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $CB_TMP/state"
# vendor address user session Calling-Station-Id (as that vendor reports it) Framed-IP flags
SESSIONS="aruba 127.0.16.1 uaruba aruba-1 02:00:00:0a:01:01 10.16.0.1 -
meraki 127.0.16.2 umeraki meraki-1 02-00-00-0A-02-01 10.16.0.2 -
mikrotik 127.0.16.3 umikrotik mikrotik-1 02:00:00:0A:03:01 10.16.0.3 -
ruckus 127.0.16.4 uruckus ruckus-1 02-00-00-0a-04-01 10.16.0.4 -
unifi 127.0.16.5 uunifi unifi-1 02-00-00-0A-05-01 10.16.0.5 -
cisco 127.0.16.6 ucisco cisco-1 02-00-00-0a-06-01 10.16.0.6 -
cisco 127.0.16.6 ucisco2 cisco-2 02-00-00-0a-06-02 10.16.0.7 noreauth
cisco 127.0.16.7 ustrict strict-1 02-00-00-0a-07-01 10.16.0.8 -"

cat > "$CB_TMP/users" <<'EOF2'
DEFAULT	Cleartext-Password := "anypw", Cetbyod-Role := Staff
EOF2
: > "$CB_TMP/acknowledgements"
mkdir -p "$CB_TMP/state"

# module_conf PROFILE_OF_STRICT [EXTRA] - the project's configuration with
# one nas per AP address (no port: the profile's), EXTRA lines in the last.
module_conf() {
	{
		i=1
		for v in aruba meraki mikrotik ruckus unifi cisco; do
			printf '\t\tnas ap-%s {\n\t\t\tipaddr = 127.0.16.%d\n\t\t\tsecret = "%s"\n\t\t\tprofile = %s\n\t\t}\n' \
				"$v" "$i" "$DAS_SECRET" "$v"
			i=$((i + 1))
		done
		printf '\t\tnas ap-strict {\n\t\t\tipaddr = 127.0.16.7\n\t\t\tsecret = "%s"\n\t\t\tprofile = %s\n%s\t\t}\n' \
			"$DAS_SECRET" "$1" "${2:-}"
	} > "$CB_TMP/nas-table"
	nas_enforce_conf "$CB_TMP/nas-table" retry_interval=2 max_attempts=1 initial_retransmit_ms=300 \
		max_transmissions=3 max_duration=3
}
STRICT_ATTRS=$'\t\t\tattributes = "NAS-IP-Address, User-Name, Acct-Session-Id, Calling-Station-Id, Event-Timestamp, Message-Authenticator"\n'
module_conf cisco "$STRICT_ATTRS"
cb_make_raddb "$CB_TMP/users" "$CB_TMP/acknowledgements" "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }
grep -q "nas ap-strict" "$CB_TMP/raddb/mods-available/cetbyod" || { cb_fail "module configuration with the vendor NASes"; cb_finish; }

# --- Start-up refuses a profile it does not ship --------------------------
module_conf cisko
if ! cb_radiusd_check "$CB_TMP/check.out" &&
	grep -qF "Invalid value \"cisko\" for 'nas ap-strict { profile }': accepted values are hostapd, rfc5176, aruba, cisco, meraki, mikrotik, ruckus, unifi" "$CB_TMP/check.out"; then
	cb_pass "start-up refused: profile = cisko, naming the accepted profiles"
else
	cb_fail "start-up refused: profile = cisko"; grep -iE "invalid|error" "$CB_TMP/check.out" | tail -3 | sed 's/^/    # /'
fi
module_conf cisco $'\t\t\tcalling_station_id_format = AA_BB\n'
if ! cb_radiusd_check "$CB_TMP/check.out" &&
	grep -qF "Invalid value \"AA_BB\" for 'nas ap-strict { calling_station_id_format }': accepted values are as-is, AA-BB-CC-DD-EE-FF" "$CB_TMP/check.out"; then
	cb_pass "start-up refused: calling_station_id_format = AA_BB, naming the accepted spellings"
else
	cb_fail "start-up refused: calling_station_id_format = AA_BB"; grep -iE "invalid|error" "$CB_TMP/check.out" | tail -3 | sed 's/^/    # /'
fi
module_conf cisco "$STRICT_ATTRS"

# Each AP is a RADIUS client of its own (sessions belong to the client that
# sent their accounting) and hears its answers on its own address.
for addr in $(printf '%s\n' "$SESSIONS" | awk '{ print $2 }' | sort -u); do
	printf 'client ap-%s {\n\tipaddr = %s\n\tsecret = testing123\n\trequire_message_authenticator = no\n}\n' \
		"$addr" "$addr" >> "$CB_TMP/raddb/clients.conf"
	printf 'listen {\n\ttype = acct\n\tipaddr = %s\n\tport = %s\n\tvirtual_server = cetbyod\n}\n' \
		"$addr" "$CB_ACCT_PORT" >> "$CB_TMP/raddb/radiusd.conf"
done

cb_start_radiusd || { cb_fail "radiusd starts"; cb_finish; }
if grep -q "nas ap-cisco: profile cisco, coa-then-disconnect to 127.0.16.6 port 1700" "$CB_TMP/radiusd.out" &&
	grep -q "nas ap-meraki: profile meraki, disconnect to 127.0.16.2 port 3799, Calling-Station-Id as AA-BB-CC-DD-EE-FF" "$CB_TMP/radiusd.out"; then
	cb_pass "radiusd -X names each NAS's profile, request type, port and Calling-Station-Id spelling"
else
	cb_fail "radiusd -X names each NAS's profile"; grep "nas ap-" "$CB_TMP/radiusd.out" | sed 's/^/    # /'
fi

# wait_stopped USER SESSION - its state once it is no longer active and
# the audit trail has its session_stop record (10 s).
wait_stopped() {
	for _ in $(seq 1 50); do
		st=$(session_state "$1" "$2")
		[ "$st" != active ] && [ "$st" != "stopped ?" ] && break
		sleep 0.2
	done
	echo "$st"
}

# Every user authenticates (PAP) and a session starts on their AP, whose
# accounting comes from its own address with the values that vendor reports.
ok=yes
while read -r vendor addr user acct mac framed flags; do
	cb_pap "$user" anypw
	class=$(printf '%s\n' "$CB_REPLY" | sed -n 's/.*Class = \(0x[0-9a-f]*\).*/\1/p' | head -n 1)
	echo "$class" > "$CB_TMP/class-$acct"
	printf 'Packet-Src-IP-Address = %s\nAcct-Status-Type = Start\nAcct-Session-Id = "%s"\nUser-Name = "%s"\nNAS-IP-Address = %s\nCalling-Station-Id = "%s"\nFramed-IP-Address = %s\nClass = %s\n' \
		"$addr" "$acct" "$user" "$addr" "$mac" "$framed" "$class" |
		"$RADCLIENT" -r 1 -t 3 "$addr:$CB_ACCT_PORT" acct testing123 >/dev/null 2>&1
	wait_active "$acct" || { ok=no; cb_fail "$vendor: $user's session $acct is known"; }
done <<EOF2
$SESSIONS
EOF2
[ "$ok" = yes ] && cb_pass "eight sessions on seven APs are known (cetbyodctl sessions)"

# The APs: one responder per address, with its sessions (and their Class,
# which the AP sends back in its accounting Stop).
for addr in $(printf '%s\n' "$SESSIONS" | awk '{ print $2 }' | sort -u); do
	vendor=$(printf '%s\n' "$SESSIONS" | awk -v a="$addr" '$2 == a { print $1; exit }')
	args=""
	for s in $(printf '%s\n' "$SESSIONS" | awk -v a="$addr" '$2 == a { print $4 "|" $5 "|" $3 "|" $6 "|" $7 }'); do
		s="$s|$(cat "$CB_TMP/class-${s%%|*}")"
		args="$args --session $s"
	done
	echo "$vendor $addr $args" >> "$CB_TMP/aps"
done

while read -r vendor addr args; do
	rm -f "$CB_TMP/ready-$addr"
	# shellcheck disable=SC2086
	/usr/bin/python3 "$VENDOR_NAS" --vendor "$vendor" --listen "$addr" --secret "$DAS_SECRET" \
		--log "$CB_TMP/nas-$addr.log" --ready "$CB_TMP/ready-$addr" --acct "$addr:$CB_ACCT_PORT" \
		--max-seconds 600 $args 2>> "$CB_TMP/nas-$addr.err" &
	CB_PIDS="$CB_PIDS $!"
done < "$CB_TMP/aps"
for addr in $(awk '{ print $2 }' "$CB_TMP/aps"); do
	for _ in $(seq 1 50); do [ -s "$CB_TMP/ready-$addr" ] && break; sleep 0.1; done
	if [ ! -s "$CB_TMP/ready-$addr" ]; then
		cb_fail "the AP on $addr listens"; sed 's/^/    # /' "$CB_TMP/nas-$addr.err"; cb_finish
	fi
done
cb_pass "six vendors' APs listen on their own ports (1700 for cisco, 3799 for the others)"

# expect_seen WHAT LOG_PATTERN ADDR NAS_PATTERN - within 10 s radiusd logged
# LOG_PATTERN and the AP on ADDR logged NAS_PATTERN.
expect_seen() {
	if wait_log "$2" 1 10 && cb_wait_until 2 grep -q -- "$4" "$CB_TMP/nas-$3.log"; then
		cb_pass "$1"
	else
		cb_fail "$1"; sed 's/^/    # /' "$CB_TMP/nas-$3.log"
		# The module's heartbeat and queue say whether its enforcer still runs.
		$CTL status 2>&1 | sed 's/^/    # status: /'
		date '+    # now: %T.%N'
	fi
}

# revoke_ends VENDOR ADDR USER SESSION CODE ATTRS - IT revokes USER; the AP
# on ADDR saw a CODE whose attributes are ATTRS (its log's form) and
# answered ACK, and the session ended with the AP's accounting Stop.
revoke_ends() {
	cb_run "$1: revoke $3" $CTL revoke "$3" --reason "vendor test" --by it-office
	expect_seen "$1: revoke $3 -> the AP got a $5 with exactly $6, and ACKed it" \
		"$5 for $3 (session $4 on ap-$1) acknowledged" "$2" "$5 .*attrs=$6 answered=Disconnect-ACK"
	st=$(wait_stopped "$3" "$4")
	if [ "$st" = "stopped Admin-Reset" ]; then
		cb_pass "$1: $3's session $4 ended (the AP's accounting Stop, Admin-Reset)"
	else
		cb_fail "$1: $3's session $4 ended, got: $st"
	fi
}
TS='55=[0-9]*'
MA_='80=(16)'
revoke_ends aruba 127.0.16.1 uaruba aruba-1 Disconnect-Request \
	"$MA_;1=uaruba;44=aruba-1;31=02:00:00:0a:01:01;8=10.16.0.1;$TS"
revoke_ends meraki 127.0.16.2 umeraki meraki-1 Disconnect-Request "$MA_;1=umeraki;31=02-00-00-0A-02-01;$TS"
revoke_ends mikrotik 127.0.16.3 umikrotik mikrotik-1 Disconnect-Request \
	"$MA_;1=umikrotik;44=mikrotik-1;31=02:00:00:0A:03:01;8=10.16.0.3;$TS"
revoke_ends ruckus 127.0.16.4 uruckus ruckus-1 Disconnect-Request \
	"$MA_;4=127.0.16.4;1=uruckus;44=ruckus-1;31=02-00-00-0a-04-01;$TS"
revoke_ends unifi 127.0.16.5 uunifi unifi-1 Disconnect-Request "$MA_;1=uunifi;31=02-00-00-0A-05-01;$TS"
if grep -q "Disconnect-Request for uunifi (session unifi-1 on ap-unifi) acknowledged" "$CB_TMP/radiusd.out"; then
	cb_pass "unifi: its unsigned Disconnect-ACK is taken (the profile does not require Message-Authenticator)"
else
	cb_fail "unifi: the unsigned Disconnect-ACK is taken"
fi

# cisco: the CoA re-authentication, accepted.
CISCO_COA="$MA_;4=127.0.16.6;44=cisco-1;31=02-00-00-0a-06-01;$TS;26=9/1:subscriber:command=reauthenticate"
cb_run "cisco: revoke ucisco" $CTL revoke ucisco --reason "vendor test" --by it-office
expect_seen "cisco: revoke ucisco -> CoA-Request on port 1700 with Cisco-AVPair subscriber:command=reauthenticate, CoA-ACK" \
	"CoA-Request for ucisco (session cisco-1 on ap-cisco) acknowledged: CoA-ACK" 127.0.16.6 \
	"CoA-Request id=[0-9]* dport=1700 attrs=$CISCO_COA answered=CoA-ACK"
if ! grep -q "Disconnect-Request.*44=cisco-1;" "$CB_TMP/nas-127.0.16.6.log"; then
	cb_pass "cisco: an accepted CoA is not followed by a Disconnect-Request"
else
	cb_fail "cisco: an accepted CoA is not followed by a Disconnect-Request"
fi
# The controller re-authenticates the device: refused (revoked).
cb_pap ucisco anypw
cb_expect_reply "cisco: the device's re-authentication after the CoA is refused" "Received Access-Reject"

# cisco: a session the controller cannot re-authenticate: CoA-NAK 405, then Disconnect.
cb_run "cisco: revoke ucisco2" $CTL revoke ucisco2 --reason "vendor test" --by it-office
expect_seen "cisco: CoA-NAK 405 (cannot re-authenticate) -> fallback Disconnect-Request without the AVPair -> Disconnect-ACK" \
	"Disconnect-Request for ucisco2 (session cisco-2 on ap-cisco) acknowledged: Disconnect-ACK" 127.0.16.6 \
	"Disconnect-Request id=.*attrs=$MA_;4=127.0.16.6;44=cisco-2;31=02-00-00-0a-06-02;$TS answered=Disconnect-ACK"
if grep -A1 "CoA-Request id=.*44=cisco-2;.* answered=CoA-NAK cause=405" "$CB_TMP/nas-127.0.16.6.log" |
	grep -q "Disconnect-Request id=.*44=cisco-2;"; then
	cb_pass "cisco: the CoA-NAK 405 came first, the Disconnect-Request right after it"
else
	cb_fail "cisco: the CoA-NAK 405 came first, the Disconnect-Request right after it"
fi
st=$(wait_stopped ucisco2 cisco-2)
[ "$st" = "stopped Admin-Reset" ] && cb_pass "cisco: ucisco2's session ended after the fallback" ||
	cb_fail "cisco: ucisco2's session ended after the fallback, got: $st"

# cisco told to send User-Name: the controller refuses it (401), CoA and fallback alike.
cb_run "cisco with User-Name added: revoke ustrict" $CTL revoke ustrict --reason "vendor test" --by it-office
expect_seen "cisco with User-Name added: CoA-NAK 401 and Disconnect-NAK 401 (Unsupported Attribute), logged by name" \
	"Disconnect-Request for ustrict (session strict-1): Disconnect-NAK from ap-strict: Error-Cause 401 (Unsupported Attribute)" \
	127.0.16.7 "CoA-Request .*;1=ustrict;.* answered=CoA-NAK cause=401"
st=$(session_state ustrict strict-1)
[ "$st" = active ] && cb_pass "cisco with User-Name added: the session is still active (not enforced)" ||
	cb_fail "cisco with User-Name added: the session is still active, got: $st"

cb_finish
