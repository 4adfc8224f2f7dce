# nas-lib.sh - helpers of the integration tests that run hostapd as the NAS
# (sourced after tests/integration/lib.sh): reading radiusd's log, and the
# nas-fixture.sh NAS with bob's device.
#
#   nas_fixture_start DAS_PORT DAS_SECRET - hostapd (wired) and wpa_supplicant
#       as bob (EAP-TTLS/PAP, anonymous outer identity) on a veth pair in
#       $FX, RADIUS to this test's radiusd; sources $FX/env.  1 on failure.
#   hcli, wcli - hostapd_cli and wpa_cli on the fixture's interfaces.
#   authorized, session_id - the station is authorised; its Acct-Session-Id.
#   wait_active SESSION - the store knows SESSION as active (10 s).
#   log_count PATTERN, wait_log PATTERN COUNT SECONDS, mark PATTERN,
#   wait_new PATTERN SECONDS - radiusd's log, as the tests watch it.
# Needs FIXTURE, FX and CTL set by the test.

ms_now() { date +%s%3N; }
log_count() { grep -c -- "$1" "$CB_TMP/radiusd.out"; }
# wait_log PATTERN COUNT SECONDS - until PATTERN appears COUNT times in radiusd's log.
wait_log() {
	end=$(( $(date +%s) + $3 ))
	while [ "$(log_count "$1")" -lt "$2" ]; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.05
	done
	return 0
}
# wait_new PATTERN SECONDS - until PATTERN appears once more than when mark() was last called for it.
declare -A CB_MARK
mark() { CB_MARK["$1"]=$(log_count "$1"); }
wait_new() { wait_log "$1" $(( ${CB_MARK["$1"]:-0} + 1 )) "$2"; }

nas_fixture_start() {
	cat > "$CB_TMP/network" <<EOF2
network={
	key_mgmt=IEEE8021X
	eap=TTLS
	identity="bob"
	anonymous_identity="anonymous@school.example"
	password="bobpw"
	ca_cert="$CB_TMP/certs/ca.pem"
	phase2="auth=PAP"
	eapol_flags=0
}
EOF2
	mkdir -p "$FX"
	"$FIXTURE" start "$FX" --auth-port "$CB_AUTH_PORT" --acct-port "$CB_ACCT_PORT" --secret testing123 \
		--das-port "$1" --das-secret "$2" --network "$CB_TMP/network" || return 1
	. "$FX/env"
}
hcli() { timeout 5 hostapd_cli -p "$HOSTAPD_CTRL" -i "$NAS_IF" "$@" 2>/dev/null; }
wcli() { timeout 5 wpa_cli -p "$WPA_CTRL" -i "$STA_IF" "$@" 2>/dev/null; }
authorized() { hcli all_sta | grep -q 'flags=.*\[AUTHORIZED\]'; }
session_id() { hcli all_sta | sed -n 's/^dot1xAuthSessionId=//p' | head -n 1; }
wait_active() {
	for _ in $(seq 1 100); do
		$CTL --json sessions | grep -q "\"acct_session_id\": *\"$1\"" && return 0
		sleep 0.1
	done
	return 1
}
