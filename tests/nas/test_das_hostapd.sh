#!/bin/bash
# test_das_hostapd.sh - the disconnect sender against a real NAS: hostapd
# (driver=wired) with its RFC 5176 DAS, a real wpa_supplicant authenticating
# over a veth pair with EAP-TTLS/PAP (anonymous outer identity) through a
# real radiusd -X with the project's raddb files.
#
# The session is identified the way the enforcer will: from the accounting
# Start that radiusd received (User-Name, Acct-Session-Id, Calling-Station-Id,
# NAS-IP-Address, NAS-Identifier).  Checks: Disconnect-ACK and the station
# gone from hostapd, accounting Stop, the device re-authenticating by itself
# when asked; Disconnect-NAK 503 for an unknown session, NAK 403 for the
# wrong NAS-Identifier; no answer (and a logged failure on both sides) with
# the wrong secret or without Event-Timestamp; coa-then-disconnect falling
# back from hostapd's CoA-NAK to a Disconnect-ACK.
#
# Needs root (veth, 802.1X raw sockets), hostapd, wpa_supplicant; skipped
# (77) without them.  DAS_TEST_KEEP=DIR keeps the logs.  Everything started is stopped by PID, the veth pair
# deleted, also on failure.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
. "$here/nas-lib.sh"
nas_need_root

FIXTURE=$here/nas-fixture.sh
DAS_SEND=$CB_BUILDDIR/tests/nas/das-send
FX=$CB_TMP/nas
DAS_SECRET=das-Secret-9f3c
DAS_PORT=

das_cleanup() {
	# DAS_TEST_KEEP=DIR keeps the logs (radiusd, hostapd, wpa_supplicant) for a look.
	if [ -n "${DAS_TEST_KEEP:-}" ] && [ -d "$DAS_TEST_KEEP" ]; then
		cp "$CB_TMP/radiusd.out" "$FX"/*.log "$FX"/*.conf "$DAS_TEST_KEEP/" 2>/dev/null
	fi
	nas_fixture_stop
	cb_cleanup
}
trap das_cleanup EXIT

# --- radiusd with a member of staff who has acknowledged ----------------------
now=$(date +%s)
cat > "$CB_TMP/users" <<EOF
alice	Cleartext-Password := "alicepw", Cetbyod-Role := Staff
EOF
echo "alice@school.example	$(date -u -d "@$((now - 86400))" +%Y-%m-%dT%H:%M:%SZ)" > "$CB_TMP/acks"
cb_make_raddb "$CB_TMP/users" "$CB_TMP/acks" || { cb_fail "build raddb"; cb_finish; }
if cb_start_radiusd; then cb_pass "radiusd starts"; else cb_fail "radiusd starts"; cb_finish; fi

# --- the NAS and the device ---------------------------------------------------
nas_network TTLS PAP alice alicepw > "$CB_TMP/network"
DAS_PORT=$(cb_free_udp_port)
while [ "$DAS_PORT" = "$CB_AUTH_PORT" ] || [ "$DAS_PORT" = "$CB_ACCT_PORT" ]; do DAS_PORT=$(cb_free_udp_port); done
mkdir -p "$FX"
if "$FIXTURE" start "$FX" --auth-port "$CB_AUTH_PORT" --acct-port "$CB_ACCT_PORT" --secret testing123 \
	--das-port "$DAS_PORT" --das-secret "$DAS_SECRET" --network "$CB_TMP/network"; then
	cb_pass "fixture: hostapd (wired NAS) and wpa_supplicant on a veth pair"
else
	cb_fail "fixture starts (root and veth support needed)"
	cb_finish
fi
. "$FX/env"

# sta_mac - the MAC address of the station hostapd has, or nothing.
sta_mac() { hcli all_sta | grep -E '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' | head -n 1; }

# wait_gone - wait (5 s) until hostapd has no station.
wait_gone() {
	for _ in $(seq 1 50); do
		[ -z "$(sta_mac)" ] && return 0
		sleep 0.1
	done
	return 1
}

# das NAME ARGS... - run das-send (hostapd profile, short timers) with the session args; output in $OUT, status in $RC.
das() {
	OUT=$("$DAS_SEND" --address 127.0.0.1 --port "$DAS_PORT" --irt 200 --mrc 3 --mrd 2000 "$@" 2>"$CB_TMP/das-send.err")
	RC=$?
	ERR=$(cat "$CB_TMP/das-send.err")
}

# expect_out DESCRIPTION PATTERN... - every pattern matches das-send's stdout.
expect_out() {
	desc=$1
	shift
	for pat in "$@"; do
		if ! printf '%s\n' "$OUT" | grep -Eq -- "$pat"; then
			cb_fail "$desc: output lacks /$pat/"
			printf '%s\n%s\n' "$OUT" "$ERR" | sed 's/^/    # /'
			return 1
		fi
	done
	cb_pass "$desc"
}

if wait_authorized ""; then
	cb_pass "wpa_supplicant authenticates through hostapd and radiusd (EAP-TTLS/PAP, anonymous outer identity)"
else
	cb_fail "wpa_supplicant authenticates"
	cb_finish
fi
if wcli status | grep -q 'suppPortStatus=Authorized'; then
	cb_pass "wpa_cli: the device's port is authorised"
else
	cb_fail "wpa_cli: the device's port is authorised"
fi

# The session as the enforcer knows it: from the accounting Start.
start=$(acct_request Start "")
if [ -n "$start" ]; then cb_pass "radiusd received accounting Start"; else cb_fail "accounting Start"; cb_finish; fi
USER=$(acct_attr "$start" User-Name)
ASID=$(acct_attr "$start" Acct-Session-Id)
CSID=$(acct_attr "$start" Calling-Station-Id)
NASIP=$(acct_attr "$start" NAS-IP-Address)
NASID=$(acct_attr "$start" NAS-Identifier)
# User-Name: alice, not the anonymous outer identity: hostapd accounts under
# the Access-Accept's User-Name (web_filter { reply_user_name }), and its DAS
# matches User-Name against that name.
if [ "$ASID" = "$(sta_field dot1xAuthSessionId)" ] && [ "$USER" = alice ] && [ -n "$CSID" ]; then
	cb_pass "accounting and hostapd agree on the session ($USER, $ASID, $CSID, $NASIP, $NASID)"
else
	cb_fail "accounting session ($USER, $ASID, $CSID) matches hostapd's ($(sta_field dot1xAuthSessionId))"
fi
SESSION_ARGS=(--user-name "$USER" --acct-session-id "$ASID" --calling-station-id "$CSID"
	--nas-ip-address "$NASIP" --nas-identifier "$NASID")

# --- an unknown session: NAK with Error-Cause 503 --------------------------
das --profile hostapd --secret "$DAS_SECRET" --user-name "$USER" --acct-session-id 00000000DEADBEEF \
	--calling-station-id 02-00-00-00-00-99 --nas-ip-address "$NASIP" --nas-identifier "$NASID"
expect_out "unknown session: Disconnect-NAK with Error-Cause 503 (Session Context Not Found)" \
	'^result=NAK response=Disconnect-NAK error_cause=503 error_cause_name="Session Context Not Found"' \
	'transmissions=1 '
[ "$RC" = 1 ] && cb_pass "das-send exits 1 on a NAK" || cb_fail "das-send exit status on a NAK: $RC"
if printf '%s\n' "$ERR" | grep -q 'DAS: Disconnect-NAK from 127.0.0.1:.*Error-Cause 503 (Session Context Not Found)'; then
	cb_pass "the NAK is logged with its Error-Cause by name"
else
	cb_fail "the NAK is logged with its Error-Cause by name"
	printf '%s\n' "$ERR" | sed 's/^/    # /'
fi

# --- a burst: 500 requests at once, one poll loop, hostapd answers each ----
das --profile hostapd --secret "$DAS_SECRET" --count 500 --user-name "$USER" --acct-session-id 00000000DEADBEEF \
	--calling-station-id 02-00-00-00-00-99 --nas-ip-address "$NASIP" --nas-identifier "$NASID"
naks=$(printf '%s\n' "$OUT" | grep -c '^result=NAK .*error_cause=503 .*transmissions=1 ')
p99=$(printf '%s\n' "$OUT" | sed -n 's/.*queued_ms=\([0-9.]*\) elapsed_ms=\([0-9.]*\).*/\1 \2/p' |
	awk '{ print $1 + $2 }' | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; print v[i] }')
if [ "$naks" = 500 ] && awk -v m="$p99" 'BEGIN { exit !(m != "" && m < 250) }'; then
	cb_pass "burst of 500 concurrent requests: all answered (NAK 503) without retransmission, p99 $p99 ms from the call"
else
	cb_fail "burst of 500: $naks of 500 answered on the first transmission, p99 $p99 ms"
fi

# --- the wrong NAS: NAK 403 -------------------------------------------------
das --profile hostapd --secret "$DAS_SECRET" --user-name "$USER" --acct-session-id "$ASID" \
	--calling-station-id "$CSID" --nas-ip-address "$NASIP" --nas-identifier some-other-nas
expect_out "wrong NAS-Identifier: Disconnect-NAK with Error-Cause 403 (NAS Identification Mismatch)" \
	'^result=NAK .*error_cause=403 error_cause_name="NAS Identification Mismatch"'

# --- the wrong secret: hostapd drops it, the sender times out and says so ---
das --profile hostapd --secret not-the-das-secret --irt 100 --mrc 2 --mrd 1000 "${SESSION_ARGS[@]}"
expect_out "wrong secret: no answer, TIMEOUT after the bounded retransmissions" '^result=TIMEOUT ' 'transmissions=2 '
[ "$RC" = 2 ] && cb_pass "das-send exits 2 on a timeout" || cb_fail "das-send exit status on a timeout: $RC"
if printf '%s\n' "$ERR" | grep -q 'DAS: no answer from 127.0.0.1:'; then
	cb_pass "wrong secret: the failure is logged by the sender"
else
	cb_fail "wrong secret: the failure is logged by the sender"
fi
if grep -q 'DAS: Invalid authenticator or Message-Authenticator in packet from 127.0.0.1' "$HOSTAPD_LOG"; then
	cb_pass "wrong secret: hostapd logged and dropped the request"
else
	cb_fail "wrong secret: hostapd logged the bad authenticator"
fi

# --- no Event-Timestamp: hostapd (radius_das_require_event_timestamp=1) drops it
das --profile hostapd --secret "$DAS_SECRET" --irt 100 --mrc 2 --mrd 1000 "${SESSION_ARGS[@]}" \
	--attrs "NAS-IP-Address,NAS-Identifier,User-Name,Acct-Session-Id,Calling-Station-Id,Message-Authenticator"
expect_out "without Event-Timestamp: hostapd drops it (TIMEOUT)" '^result=TIMEOUT '
if grep -q 'DAS: Missing Event-Timestamp in packet from 127.0.0.1' "$HOSTAPD_LOG"; then
	cb_pass "hostapd logged the missing Event-Timestamp"
else
	cb_fail "hostapd logged the missing Event-Timestamp"
fi
if [ -n "$(sta_mac)" ]; then
	cb_pass "the station is still there after the refused requests"
else
	cb_fail "the station is still there after the refused requests"
fi

# --- the real thing: Disconnect-ACK, station gone, accounting Stop ----------
das --profile hostapd --secret "$DAS_SECRET" "${SESSION_ARGS[@]}"
expect_out "Disconnect-Request for the session: Disconnect-ACK" \
	'^result=ACK response=Disconnect-ACK error_cause=0 ' 'transmissions=1 '
[ "$RC" = 0 ] && cb_pass "das-send exits 0 on an ACK" || cb_fail "das-send exit status on an ACK: $RC"
ms=$(printf '%s\n' "$OUT" | sed -n 's/.*elapsed_ms=\([0-9.]*\).*/\1/p')
if awk -v m="$ms" 'BEGIN { exit !(m != "" && m < 250) }'; then
	cb_pass "request to Disconnect-ACK in $ms ms (< 250 ms)"
else
	cb_fail "request to Disconnect-ACK took $ms ms"
fi
if wait_gone; then
	cb_pass "hostapd_cli all_sta: the station is gone"
else
	cb_fail "hostapd_cli all_sta: the station is gone"
	hcli all_sta | sed 's/^/    # /'
fi
if grep -q "RADIUS DAS: Found a matching session" "$HOSTAPD_LOG"; then
	cb_pass "hostapd logged the matching session it disconnected"
else
	cb_fail "hostapd logged the matching session"
fi
if stop=$(acct_request Stop "$ASID"); then
	# (hostapd 2.10 puts no Acct-Terminate-Cause in it.)
	cb_pass "radiusd received the accounting Stop of the disconnected session (request $stop)"
else
	cb_fail "accounting Stop after the disconnect"
fi

# The device re-authenticates (what a phone does by itself on the next
# association; on a wired port it is asked to).
wcli reauthenticate >/dev/null
if wait_authorized "$ASID"; then
	cb_pass "the device re-authenticates: a new session ($(sta_field dot1xAuthSessionId))"
else
	cb_fail "the device re-authenticates after the disconnect"
fi

# --- coa-then-disconnect: hostapd NAKs the CoA, the fallback disconnects ---
ASID2=$(sta_field dot1xAuthSessionId)
start2=$(acct_request Start "$ASID2")
das --profile hostapd --mode coa-then-disconnect --secret "$DAS_SECRET" --user-name "$(acct_attr "$start2" User-Name)" \
	--acct-session-id "$ASID2" --calling-station-id "$(acct_attr "$start2" Calling-Station-Id)" \
	--nas-ip-address "$NASIP" --nas-identifier "$NASID"
expect_out "coa-then-disconnect: CoA-NAK, then Disconnect-ACK" '^result=ACK response=Disconnect-ACK ' \
	'transmissions=2 ' 'fell_back=yes'
if printf '%s\n' "$ERR" | grep -Eq 'DAS: CoA-NAK from 127.0.0.1:.*Error-Cause 40[125] \('; then
	cb_pass "hostapd's CoA-NAK is logged with its Error-Cause ($(printf '%s\n' "$ERR" | sed -n 's/.*CoA-NAK.*Error-Cause \(40[125] ([^)]*)\).*/\1/p' | head -n 1))"
else
	cb_fail "hostapd's CoA-NAK is logged with its Error-Cause"
	printf '%s\n' "$ERR" | sed 's/^/    # /'
fi
if wait_gone; then
	cb_pass "after the fallback the station is gone"
else
	cb_fail "after the fallback the station is gone"
fi

cb_finish
