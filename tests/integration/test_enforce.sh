#!/bin/bash
# test_enforce.sh - enforcement end to end with real parts: hostapd
# (driver=wired) on one end of a veth pair as the NAS, with RADIUS
# authentication and accounting to radiusd and its RFC 5176 DAS; a real
# wpa_supplicant (-D wired, EAP-TTLS/PAP, anonymous outer identity) on the
# other end as bob's device; the Google emulator as the acknowledgement
# source (Forms, incremental sync every second); radiusd with the module.
#
# Scenarios (issue: enforcement):
#   1. bob, unacknowledged, is onboarded; he acknowledges in the emulator;
#      hostapd gets a Disconnect-Request and drops the station; the device
#      re-authenticates by itself into the staff VLAN (time measured).
#   2. IT runs cetbyodctl revoke: Disconnect-ACK and accounting Stop within
#      a second; the next authentication is refused with the reason.
#   3. an acknowledgement that lapses seconds from now: the session is
#      disconnected at the expiry instant.
#   5. a session the NAS does not know: Disconnect-NAK logged with its
#      Error-Cause by name; a NAS that does not answer: retransmissions, a
#      logged failure, retried later, nothing crashes.
#   4. the account is disabled in the directory (slapd): the directory
#      watcher disconnects the session.
#   6. radiusd restarts with a session open: still known, still
#      disconnectable.
#   7. the exceptions register: a pupil (in slapd, no exception there) is
#      refused; IT grants an exception for another device: still refused;
#      for this device: admitted to the restricted VLAN; IT ends it: the
#      session is disconnected within a second and the next attempt is
#      refused; grant and end are in the audit trail.
# Needs root (veth, 802.1X sockets); skipped (77) without hostapd.
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
for c in hostapd wpa_supplicant hostapd_cli wpa_cli ip; do
	command -v "$c" >/dev/null 2>&1 || { echo "SKIP: $c not installed"; exit 77; }
done
. "$here/lib.sh"
. "$here/google-lib.sh"
. "$CB_SRCDIR/tests/nas/nas-lib.sh"

FIXTURE=$CB_SRCDIR/tests/nas/nas-fixture.sh
FX=$CB_TMP/nas
DAS_SECRET=das-Secret-7a1b
CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $CB_TMP/state"

enforce_cleanup() {
	# ENFORCE_TEST_KEEP=DIR keeps the logs for a look.
	if [ -n "${ENFORCE_TEST_KEEP:-}" ] && [ -d "$ENFORCE_TEST_KEEP" ]; then
		cp "$CB_TMP/radiusd.out" "$FX"/*.log "$FX"/*.conf "$ENFORCE_TEST_KEEP/" 2>/dev/null
	fi
	crashed=
	if [ -n "${CB_SLAPD_STARTED:-}" ]; then
		sh "$CB_SRCDIR/tests/slapd/slapd-fixture.sh" stop "$CB_SLAPD_DIR" >/dev/null 2>&1 ||
			{ [ $? -ne 3 ] || { crashed=1; echo "not ok - slapd ran without crashing"; }; }
	fi
	if [ -f "$FX/ifaces" ]; then
		if [ "$CB_FAILED" -gt 0 ]; then
			echo "---- hostapd log (last 60 lines) ----"
			tail -n 60 "$FX/hostapd.log" 2>/dev/null
		fi
		"$FIXTURE" stop "$FX"
	fi
	cb_cleanup
	[ -z "$crashed" ] || exit 1
}
trap enforce_cleanup EXIT

iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
ACKED='Disconnect-Request for bob (session .* on hostapd) acknowledged'

cb_start_emulator || { cb_fail "start the Google emulator"; cb_finish; }
Q='I have read the BYOD policy and agree to it'
cb_emu PUT forms/byod "{\"title\": \"BYOD\", \"collectEmails\": true,
	\"items\": [{\"title\": \"$Q\", \"questionId\": \"q1\", \"kind\": \"choice\", \"options\": [\"I agree\", \"I do not agree\"]}]}" >/dev/null
cb_emu POST forms/byod/responses "{\"respondentEmail\": \"someone@school.example\", \"answers\": {\"$Q\": \"I agree\"}}" >/dev/null

printf 'bob\tCleartext-Password := "bobpw", Cetbyod-Role := Staff\npupil1\tCleartext-Password := "pupil1pw"\n' > "$CB_TMP/users"
DAS_PORT=$(cb_free_udp_port)
module_conf() {
	cb_google_module_conf "$CB_TMP/cetbyod.conf" forms "	forms {
		form_id = byod
		agreement_question = \"$Q\"
		agree_value = \"I agree\"
	}
	audit {
		filename = \${logdir}/cetbyod-audit.jsonl
	}
	reply {
		# Only the enforcer's Disconnect-Request ends sessions at expiry
		# here, so the test sees it (not hostapd's Session-Timeout).
		session_timeout_at_expiry = no
	}
	enforce {
		burst_limit = 20
		retry_interval = 2
		max_attempts = 3
		initial_retransmit_ms = 300
		max_transmissions = 3
		max_duration = 2
		nas hostapd {
			ipaddr = 127.0.0.1
			port = $1
			secret = \"$DAS_SECRET\"
			profile = hostapd
		}
	}"
}
module_conf "$DAS_PORT"
cb_make_raddb "$CB_TMP/users" /dev/null "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }
while [ "$DAS_PORT" = "$CB_AUTH_PORT" ] || [ "$DAS_PORT" = "$CB_ACCT_PORT" ]; do DAS_PORT=$(cb_free_udp_port); module_conf "$DAS_PORT"; cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod"; done
cb_start_radiusd || { cb_fail "radiusd starts"; cb_finish; }
cb_pass "radiusd starts with source = forms and an enforce { nas hostapd { } } entry"

if nas_fixture_start "$DAS_PORT" "$DAS_SECRET"; then
	cb_pass "hostapd (wired NAS) and wpa_supplicant (bob's device) on a veth pair"
else
	cb_fail "fixture starts (root and veth support needed)"
	cb_finish
fi
# A phone or laptop re-joins the network at once when it is dropped.  On
# Wi-Fi the NAS's deauthentication tells it; on this wired link nothing
# does (Ethernet has no deauthentication frame), so rejoin() plays the
# device: once hostapd has dropped the station, the supplicant
# re-authenticates, as the issue's "as the device would do by itself".
# After an EAP-Failure the wired supplicant waits heldPeriod (60 s): make it
# as prompt as a real device.
wcli set EAPOL::heldPeriod 1 >/dev/null
rejoin() {
	for _ in $(seq 1 50); do
		authorized || break
		sleep 0.1
	done
	wcli reauthenticate >/dev/null
}
# rejoin_after_reject - after an Access-Reject hostapd holds the port for
# its quietPeriod (60 s); an admin (or a Wi-Fi roam) clears that.
rejoin_after_reject() {
	mac=$(hcli all_sta | grep -E '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' | head -n 1)
	if [ -n "$mac" ]; then
		hcli deauthenticate "$mac" >/dev/null
		# hostapd removes a deauthenticated station 5 s later: wait for it.
		for _ in $(seq 1 80); do
			hcli all_sta | grep -q "^$mac\$" || break
			sleep 0.1
		done
	fi
	wcli reauthenticate >/dev/null
}
# --- 1. Onboarded, acknowledges, promoted -----------------------------------
# (hostapd keeps a station's Acct-Session-Id across re-authentications, so
# the checks follow radiusd's decisions and the DAS outcomes, not the id.)
if wait_log "bob -> onboard (no_acknowledgement)" 1 20; then
	cb_pass "1: bob, unacknowledged, is onboarded (onboarding VLAN)"
else
	cb_fail "1: bob, unacknowledged, is onboarded"
fi
s1=$(session_id)
wait_active "$s1" && cb_pass "1: the session is known from hostapd's accounting Start" || cb_fail "1: the session is known from accounting"
mark "$ACKED"; mark "bob -> admit (acknowledged)"
t0=$(ms_now)
cb_emu POST forms/byod/responses "{\"respondentEmail\": \"bob@school.example\", \"answers\": {\"$Q\": \"I agree\"}}" >/dev/null
if wait_new "$ACKED" 15; then
	t1=$(ms_now)
	cb_pass "1: the acknowledgement reaches hostapd as a Disconnect-Request, ACKed ($((t1 - t0)) ms after the response)"
	echo "# promotion latency: $((t1 - t0)) ms from the response to Disconnect-ACK"
else
	cb_fail "1: the acknowledgement reaches hostapd as a Disconnect-Request"
fi
rejoin
if wait_new "bob -> admit (acknowledged)" 20; then
	cb_pass "1: the device re-authenticates into the staff VLAN"
else
	cb_fail "1: the device re-authenticates into the staff VLAN"
fi
# The reply radiusd sent after that decision.
accept_after() {
	awk -v pat="$1" 'index($0, pat) { found = 1 } found && /Sent Access-Accept/ { show = 1 } show { print; if (++n > 20) exit }' \
		"$CB_TMP/radiusd.out" | tail -n +1
}
if accept_after "bob -> admit (acknowledged)" | grep -Eq 'Tunnel-Private-Group-Id(:0)? :?= "100"'; then
	cb_pass "1: the Access-Accept carries the staff VLAN"
else
	cb_fail "1: the Access-Accept carries the staff VLAN"
fi

# --- 2. IT revokes ------------------------------------------------------------
wait_active "$(session_id)"
mark "$ACKED"; mark "Acct-Status-Type = Stop"; mark "bob -> reject (revoked_by_admin)"
t0=$(ms_now)
cb_run "revoke bob" $CTL revoke bob --reason "device reported lost" --by it-office
if wait_new "$ACKED" 5; then
	t1=$(ms_now)
	if [ $((t1 - t0)) -le 1000 ]; then cb_pass "2: cetbyodctl revoke -> Disconnect-ACK in $((t1 - t0)) ms (within a second)"
	else cb_fail "2: cetbyodctl revoke -> Disconnect-ACK took $((t1 - t0)) ms"; fi
else
	cb_fail "2: cetbyodctl revoke -> Disconnect-ACK"
fi
if wait_new "Acct-Status-Type = Stop" 2; then
	t2=$(ms_now)
	if [ $((t2 - t0)) -le 1000 ]; then cb_pass "2: accounting Stop $((t2 - t0)) ms after the revocation (within a second)"
	else cb_fail "2: accounting Stop took $((t2 - t0)) ms"; fi
else
	cb_fail "2: accounting Stop after the revocation"
fi
wpa_from=$(( $(wc -l < "$FX/wpa_supplicant.log") + 1 ))
rejoin
if wait_new "bob -> reject (revoked_by_admin)" 20; then
	cb_pass "2: the next authentication is refused with the reason (revoked_by_admin)"
else
	cb_fail "2: the next authentication is refused with the reason"
fi
# What the device itself saw (RFC 3579): EAP-Failure, never EAP-Success.
for _ in $(seq 1 50); do
	tail -n "+$wpa_from" "$FX/wpa_supplicant.log" | grep -q 'CTRL-EVENT-EAP-FAILURE' && break
	sleep 0.1
done
if tail -n "+$wpa_from" "$FX/wpa_supplicant.log" | grep -q 'CTRL-EVENT-EAP-FAILURE' &&
	! tail -n "+$wpa_from" "$FX/wpa_supplicant.log" | grep -q 'CTRL-EVENT-EAP-SUCCESS'; then
	cb_pass "2: wpa_supplicant saw EAP-Failure for the refusal, and no EAP-Success"
else
	cb_fail "2: wpa_supplicant saw EAP-Failure for the refusal, and no EAP-Success"
	tail -n "+$wpa_from" "$FX/wpa_supplicant.log" | grep -E 'CTRL-EVENT|EAP: Received' | sed 's/^/    # /'
fi

# --- 3. An acknowledgement that lapses in a few seconds -------------------------
# validity_days = 365: an acknowledgement given 365 calendar days (in
# Europe/London) before an instant 10 s from now lapses at that instant.
lapse=$(( $(date +%s) + 15 ))
ack_at=$(/usr/bin/python3 -c 'import sys, datetime, zoneinfo
tz = zoneinfo.ZoneInfo("Europe/London")
local = datetime.datetime.fromtimestamp(int(sys.argv[1]), tz).replace(tzinfo=None) - datetime.timedelta(days=365)
print(datetime.datetime.fromtimestamp(local.replace(tzinfo=tz).timestamp(), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))' "$lapse")
cb_emu DELETE forms/byod/responses >/dev/null
cb_emu POST forms/byod/responses "{\"respondentEmail\": \"bob@school.example\",
	\"lastSubmittedTime\": \"$ack_at\", \"answers\": {\"$Q\": \"I agree\"}}" >/dev/null
cb_run "sync --full" $CTL sync --full
mark "$ACKED"; mark "bob -> admit (acknowledged)"; mark "bob -> onboard (acknowledgement_expired)"
cb_run "reinstate bob" $CTL reinstate bob --by it-office
sleep 0.5
rejoin_after_reject
if wait_new "bob -> admit (acknowledged)" 8; then
	cb_pass "3: reinstated and admitted on an acknowledgement that lapses at $(iso "$lapse")"
else
	cb_fail "3: admitted on an acknowledgement that lapses soon"
fi
wait_active "$(session_id)"
if wait_new "$ACKED" 20; then
	t=$(date +%s)
	if [ "$t" -ge "$lapse" ] && [ "$t" -le $((lapse + 2)) ]; then
		cb_pass "3: disconnected at the expiry instant ($((t - lapse)) s after it)"
	else
		cb_fail "3: disconnected at the expiry instant (at $t, lapse $lapse)"
	fi
else
	cb_fail "3: disconnected when the acknowledgement lapsed"
fi
# hostapd removes the station it disconnected 5 s later, which ends (Stop)
# a session the device opened meanwhile: re-join once it is gone, so that
# the session sections 5 and 6 disconnect is a live one.
rejoin_after_reject
if wait_new "bob -> onboard (acknowledgement_expired)" 20; then
	cb_pass "3: re-authenticates into onboarding (acknowledgement_expired)"
else
	cb_fail "3: re-authenticates into onboarding (acknowledgement_expired)"
fi

# --- 5. A session the NAS does not know: NAK with its Error-Cause -----------------
# Accounting for a session tied to bob (his Class, from his device: a Class
# is bound to the device it was issued to) that hostapd never had.
class=$(grep -A30 "Sent Access-Accept" "$CB_TMP/radiusd.out" | sed -n 's/.*Class = \(0x63657462796f643a[0-9a-f]*\).*/\1/p' | tail -n 1)
bob_mac=$(sed -n 's/.*Calling-Station-Id = "\([0-9A-Fa-f-]*\)".*/\1/p' "$CB_TMP/radiusd.out" | tail -n 1)
printf 'Acct-Status-Type = Start\nAcct-Session-Id = "ghost-1"\nUser-Name = "anonymous@school.example"\nNAS-IP-Address = 127.0.0.1\nCalling-Station-Id = "%s"\nClass = %s\n' "$bob_mac" "$class" |
	"$RADCLIENT" -r 1 -t 3 "127.0.0.1:$CB_ACCT_PORT" acct testing123 >/dev/null 2>&1

cb_stop_radiusd
DEAD_PORT=$(cb_free_udp_port)
module_conf "$DEAD_PORT"
cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod"
cb_start_radiusd || { cb_fail "6: radiusd restarts"; cb_finish; }
cb_pass "6: radiusd restarts with a session open"
live=$(session_id)
if $CTL --json sessions | grep -q "\"acct_session_id\": *\"$live\""; then
	cb_pass "6: the open session is still known after the restart"
else
	cb_fail "6: the open session is still known after the restart"
fi
cb_run "revoke bob" $CTL revoke bob --reason "NAS unreachable test" --by it-office
mark "disconnect of bob (session .* on hostapd) failed"
if wait_new "disconnect of bob (session .* on hostapd) failed after 3 transmission(s)" 15; then
	cb_pass "5: a NAS that does not answer: retransmitted, then a logged failure"
else
	cb_fail "5: a NAS that does not answer: retransmitted, then a logged failure"
fi
if wait_log "disconnect of bob (session .* on hostapd) failed" $(( ${CB_MARK["disconnect of bob (session .* on hostapd) failed"]} + 2 )) 15; then
	cb_pass "5: the disconnect is retried later"
else
	cb_fail "5: the disconnect is retried later"
fi
kill -0 "$CB_RADIUSD_PID" 2>/dev/null && cb_pass "5: radiusd keeps running" || cb_fail "5: radiusd keeps running"

cb_stop_radiusd
module_conf "$DAS_PORT"
cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod"
cb_run "reinstate bob" $CTL reinstate bob --by it-office
cb_run "revoke bob" $CTL revoke bob --reason "revoked while radiusd was down" --by it-office
mark "$ACKED"
cb_start_radiusd || { cb_fail "6: radiusd restarts"; cb_finish; }
if wait_new "$ACKED" 20; then
	cb_pass "6: after the restart the session is still disconnectable (a revocation made while radiusd was down is applied)"
else
	cb_fail "6: after the restart the session is still disconnectable"
	# What the enforcer did about bob since the restart, and what hostapd holds.
	grep -E "enforcer|Disconnect|bob" "$CB_TMP/radiusd.out" | grep -v '^(' | tail -n 25 | sed 's/^/    # /'
	$CTL --json sessions 2>&1 | tail -n 20 | sed 's/^/    # /'
fi
if wait_log "Disconnect-NAK from hostapd: Error-Cause 503 (Session Context Not Found)" 1 10; then
	cb_pass "5: a session the NAS does not know: Disconnect-NAK logged with its Error-Cause by name"
else
	cb_fail "5: a session the NAS does not know: Disconnect-NAK logged with its Error-Cause by name"
	grep "NAK" "$CB_TMP/radiusd.out" | tail -3 | sed 's/^/    # /'
fi

# --- 4. The account is disabled in the directory: the watcher disconnects ------
CB_SLAPD_DIR=$CB_TMP/slapd
mkdir -p "$CB_SLAPD_DIR"
. "$CB_SRCDIR/tests/integration/ldap/ldap-lib.sh"
trap enforce_cleanup EXIT
if cb_slapd start > "$CB_TMP/slapd-start.out" 2>&1; then
	cb_pass "4: slapd (the school directory) starts"
else
	cb_fail "4: slapd starts"
	cb_finish
fi
LDAP_URI="ldap://127.0.0.1:$(cat "$CB_SLAPD_DIR/ldap_port")"
cb_stop_radiusd
module_conf "$DAS_PORT"
sed -i -e 's/directory = attributes/directory = ldap/' -e "s/^	enforce {/	enforce {\n		watch_interval = 1/" "$CB_TMP/cetbyod.conf"
cat >> "$CB_TMP/cetbyod.conf.ldap" <<EOF2
	ldap {
		uri = "$LDAP_URI"
		base_dn = "ou=people,dc=school,dc=example"
		user_filter = "(&(objectClass=inetOrgPerson)(uid=%s))"
		bind_dn = "cn=cetbyod,ou=services,dc=school,dc=example"
		bind_password = "module-secret"
		start_tls = yes
		ca_file = "$CB_SLAPD_DIR/ca.pem"
		email_attribute = "mail"
		group_membership = memberof
		staff_group = "cn=staff,ou=groups,dc=school,dc=example"
		pupil_group = "cn=pupils,ou=groups,dc=school,dc=example"
		disabled_mode = ppolicy_locked
		cache {
			found_ttl = 1
			not_found_ttl = 1
		}
	}
}
EOF2
sed -i '$ d' "$CB_TMP/cetbyod.conf"
cat "$CB_TMP/cetbyod.conf.ldap" >> "$CB_TMP/cetbyod.conf"
cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod"
cb_run "reinstate bob" $CTL reinstate bob --by it-office
mark "bob -> onboard (acknowledgement_expired)"; mark "$ACKED"
cb_start_radiusd || { cb_fail "4: radiusd starts with directory = ldap"; cb_finish; }
rejoin_after_reject
if wait_new "bob -> onboard (acknowledgement_expired)" 20 && grep -q 'Directory: "bob" is uid=bob' "$CB_TMP/radiusd.out"; then
	cb_pass "4: bob re-joins, decided with his directory entry"
else
	cb_fail "4: bob re-joins, decided with his directory entry"
fi
wait_active "$(session_id)"
ldapmodify -x -H "$LDAP_URI" -D "cn=admin,dc=school,dc=example" -w admin-secret > "$CB_TMP/ldapmodify.out" 2>&1 <<EOF2
dn: uid=bob,ou=people,dc=school,dc=example
changetype: modify
add: pwdAccountLockedTime
pwdAccountLockedTime: 000001010000Z
EOF2
if wait_new "$ACKED" 15 && grep -q "directory watcher: onboard -> reject (account_disabled)" "$CB_TMP/radiusd.out"; then
	cb_pass "4: the account disabled in the directory: the watcher disconnects the session"
else
	cb_fail "4: the account disabled in the directory: the watcher disconnects the session"
fi

# --- 7. The exceptions register ---------------------------------------------------
# The device now signs in as pupil1: a pupil in the directory, with no
# exception there.
STA_MAC=$(cat "/sys/class/net/$STA_IF/address")
wcli set_network 0 identity '"pupil1"' >/dev/null
wcli set_network 0 password '"pupil1pw"' >/dev/null
mark "pupil1 -> reject (pupil_without_exception)"
$CTL exception add --user pupil1 --reason "Medical monitoring phone" --approved-by "Head of Year 9" \
	--until "$(date -d tomorrow +%F)" --mac 02:00:00:00:00:01 --by it-office >/dev/null
rejoin_after_reject
if wait_new "pupil1 -> reject (pupil_without_exception)" 20; then
	cb_pass "7: a pupil with an exception for another device only is refused (pupil_without_exception)"
else
	cb_fail "7: a pupil with an exception for another device only is refused"
fi
mark "pupil1 -> restricted (exception_active)"
if $CTL exception add --user pupil1 --reason "Medical monitoring phone" --approved-by "Head of Year 9" \
	--until "$(date -d tomorrow +%F)" --mac "$STA_MAC" --by it-office > "$CB_TMP/exc.out" 2>&1 &&
	grep -q "Granted exception #2 for pupil1 on device" "$CB_TMP/exc.out"; then
	cb_pass "7: cetbyodctl exception add for this device ($STA_MAC)"
else
	cb_fail "7: cetbyodctl exception add for this device"; sed 's/^/    # /' "$CB_TMP/exc.out"
fi
sleep 0.3
rejoin_after_reject
if wait_new "pupil1 -> restricted (exception_active)" 20 && grep -q 'Register: exception #2 "Medical monitoring phone", approved by "Head of Year 9"' "$CB_TMP/radiusd.out"; then
	cb_pass "7: admitted under the register's exception (exception_active), radiusd -X names it"
else
	cb_fail "7: admitted under the register's exception"
fi
if accept_after "pupil1 -> restricted (exception_active)" | grep -Eq 'Tunnel-Private-Group-Id(:0)? :?= "300"'; then
	cb_pass "7: the Access-Accept carries the restricted VLAN"
else
	cb_fail "7: the Access-Accept carries the restricted VLAN"
fi
s7=$(session_id)
wait_active "$s7"
if $CTL --json sessions --user pupil1 | grep -q '"status": *"restricted"'; then
	cb_pass "7: the session is known as restricted"
else
	cb_fail "7: the session is known as restricted"
fi
P_ACKED='Disconnect-Request for pupil1 (session .* on hostapd) acknowledged'
mark "$P_ACKED"; mark "pupil1 -> reject (pupil_without_exception)"
t0=$(ms_now)
cb_run "exception end pupil1" $CTL exception end --user pupil1 --by it-office
if wait_new "$P_ACKED" 5; then
	t1=$(ms_now)
	if [ $((t1 - t0)) -le 1000 ]; then cb_pass "7: cetbyodctl exception end -> Disconnect-ACK in $((t1 - t0)) ms"
	else cb_fail "7: cetbyodctl exception end -> Disconnect-ACK took $((t1 - t0)) ms"; fi
else
	cb_fail "7: cetbyodctl exception end -> Disconnect-ACK"
fi
rejoin
if wait_new "pupil1 -> reject (pupil_without_exception)" 20; then
	cb_pass "7: after the end the next attempt is refused (pupil_without_exception)"
else
	cb_fail "7: after the end the next attempt is refused"
fi
q=$($CTL audit query --user pupil1 --format json 2>&1)
if printf '%s\n' "$q" | grep -q '"type": *"exception_grant"' && printf '%s\n' "$q" | grep -q '"type": *"exception_end"' &&
	printf '%s\n' "$q" | grep -q '"approved_by": *"Head of Year 9"'; then
	cb_pass "7: the grants and the end are in the audit trail, with who approved"
else
	cb_fail "7: the grants and the end are in the audit trail"; printf '%s\n' "$q" | head -40 | sed 's/^/    # /'
fi
if $CTL audit query --type disconnect --format json | /usr/bin/python3 -c 'import json, sys
r = json.load(sys.stdin)
assert any(x.get("result") == "acked" and x.get("kind") == "Disconnect-Request" and x.get("identity") == "pupil1"
           and x.get("nas") and x.get("acct_session_id") and x.get("why") for x in r), r
assert any(x.get("result") == "timeout" for x in r), r' 2>/dev/null &&
	$CTL audit query --type sync --format json | grep -q '"result": *"ok"'; then
	cb_pass "the disconnect attempts (acked, timed out) and the syncs are in the audit trail with their fields"
else
	cb_fail "the disconnect attempts and the syncs are in the audit trail"
fi
if $CTL exception list --all --user pupil1 | grep -q "ended"; then
	cb_pass "7: cetbyodctl exception list --all shows it ended"
else
	cb_fail "7: cetbyodctl exception list --all shows it ended"
fi

cb_finish
