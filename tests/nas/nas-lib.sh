# nas-lib.sh - helpers of the integration tests that run hostapd as the NAS
# (sourced after tests/integration/lib.sh): reading radiusd's log, and the
# nas-fixture.sh NAS with bob's device.
#
#   nas_fixture_start DAS_PORT DAS_SECRET [NETWORK] - hostapd (wired) and
#       wpa_supplicant on a veth pair in $FX, RADIUS to this test's radiusd;
#       the device is the network block in the file NETWORK, by default bob
#       (EAP-TTLS/PAP, anonymous outer identity); sources $FX/env.  1 on failure.
#   hcli, wcli - hostapd_cli and wpa_cli on the fixture's interfaces.
#   authorized, session_id - the station is authorised; its Acct-Session-Id.
#   sta_field FIELD - a field of the (single) station in hostapd_cli all_sta.
#   wait_authorized OLD_SESSION - (20 s) an authorised station whose
#       session is not OLD_SESSION.
#   acct_attr N ATTR, acct_request STATUS [SESSION] - an attribute of
#       radiusd's request N; the first Accounting-Request of that status (and
#       session), waiting 10 s.  Both read radiusd's log from line
#       CB_LOG_FROM (default 1): request numbers restart with radiusd.
#   wait_active SESSION - the store knows SESSION as active (10 s).
#   nas_enforce_conf TABLE_FILE KEY=VALUE... - $CB_TMP/cetbyod.conf (and
#       the raddb's copy, once it exists): the project's module configuration
#       with this test's acknowledgements file and state directory, the
#       enforce { } settings given, and the nas sections in TABLE_FILE.
#   session_state USER SESSION - "active" when cetbyodctl sessions lists it
#       open; else "stopped CAUSE" from the audit trail's session_stop record.
#   log_count PATTERN, wait_log PATTERN COUNT SECONDS, mark PATTERN,
#   wait_new PATTERN SECONDS - radiusd's log, as the tests watch it.
#   nas_network EAP PHASE2 IDENTITY PASSWORD - a device's network block.
#   nas_need_root - exit 77 (skip) unless root, with hostapd, wpa_supplicant,
#       hostapd_cli, wpa_cli and ip.
#   nas_fixture_stop - (at exit) the fixture stopped; when a check failed,
#       the end of hostapd's and wpa_supplicant's logs first.
# Needs FIXTURE, FX and CTL set by the test.

nas_need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: needs root (veth pair, 802.1X sockets)"
		exit 77
	fi
	for c in hostapd wpa_supplicant hostapd_cli wpa_cli ip; do
		if ! command -v "$c" >/dev/null 2>&1; then
			echo "SKIP: $c not installed"
			exit 77
		fi
	done
}
nas_fixture_stop() {
	[ -f "$FX/ifaces" ] || return 0
	if [ "$CB_FAILED" -gt 0 ]; then
		echo "---- hostapd log (last 80 lines) ----"
		tail -n 80 "$FX/hostapd.log" 2>/dev/null
		echo "---- wpa_supplicant log (last 40 lines) ----"
		tail -n 40 "$FX/wpa_supplicant.log" 2>/dev/null
	fi
	"$FIXTURE" stop "$FX"
}

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
	if [ -n "${3:-}" ]; then
		cp "$3" "$CB_TMP/network"
	else
		nas_bob_network
	fi
	mkdir -p "$FX"
	"$FIXTURE" start "$FX" --auth-port "$CB_AUTH_PORT" --acct-port "$CB_ACCT_PORT" --secret testing123 \
		--das-port "$1" --das-secret "$2" --network "$CB_TMP/network" || return 1
	. "$FX/env"
}
# nas_network EAP PHASE2 IDENTITY PASSWORD - a wpa_supplicant network block (anonymous outer identity) on stdout.
nas_network() {
	cat <<EOF2
network={
	key_mgmt=IEEE8021X
	eap=$1
	identity="$3"
	anonymous_identity="anonymous@school.example"
	password="$4"
	ca_cert="$CB_TMP/certs/ca.pem"
	phase2="auth=$2"
	eapol_flags=0
}
EOF2
}
nas_bob_network() { nas_network TTLS PAP bob bobpw > "$CB_TMP/network"; }
hcli() { timeout 5 hostapd_cli -p "$HOSTAPD_CTRL" -i "$NAS_IF" "$@" 2>/dev/null; }
wcli() { timeout 5 wpa_cli -p "$WPA_CTRL" -i "$STA_IF" "$@" 2>/dev/null; }
authorized() { hcli all_sta | grep -q 'flags=.*\[AUTHORIZED\]'; }
session_id() { hcli all_sta | sed -n 's/^dot1xAuthSessionId=//p' | head -n 1; }
sta_field() { hcli all_sta | sed -n "s/^$1=//p" | head -n 1; }
wait_authorized() {
	for _ in $(seq 1 200); do
		if authorized; then
			s=$(sta_field dot1xAuthSessionId)
			if [ -n "$s" ] && [ "$s" != "$1" ]; then return 0; fi
		fi
		sleep 0.1
	done
	return 1
}
radiusd_log() { tail -n "+${CB_LOG_FROM:-1}" "$CB_TMP/radiusd.out"; }
acct_attr() { radiusd_log | sed -n "s/^($1)   $2 = //p" | head -n 1 | sed 's/^"\(.*\)"$/\1/'; }
acct_request() {
	for _ in $(seq 1 100); do
		for n in $(radiusd_log | sed -n "s/^(\([0-9]*\))   Acct-Status-Type = $1\$/\1/p"); do
			if [ -z "${2:-}" ] || [ "$(acct_attr "$n" Acct-Session-Id)" = "$2" ]; then
				echo "$n"
				return 0
			fi
		done
		sleep 0.1
	done
	return 1
}
wait_active() {
	for _ in $(seq 1 100); do
		$CTL --json sessions | grep -q "\"acct_session_id\": *\"$1\"" && return 0
		sleep 0.1
	done
	return 1
}
session_state() {
	if $CTL --json sessions --user "$1" 2>/dev/null | grep -q "\"acct_session_id\": *\"$2\""; then
		echo active
		return
	fi
	cause=$($CTL audit query --user "$1" --format json 2>/dev/null | /usr/bin/python3 -c 'import json, sys
for r in json.load(sys.stdin):
    if r.get("type") == "session_stop" and r.get("acct_session_id") == sys.argv[1]:
        print(r.get("stop_cause")); break' "$2" 2>/dev/null)
	echo "stopped ${cause:-?}"
}
nas_enforce_conf() {
	/usr/bin/python3 - "$CB_SRCDIR/raddb/mods-available/cetbyod" "$CB_TMP/cetbyod.conf" "$CB_TMP" "$@" <<'EOF2'
import re, sys
src, dst, tmp, table = sys.argv[1:5]
settings = dict(kv.split("=", 1) for kv in sys.argv[5:])
c = open(src).read()
c = c.replace("filename = ${modconfdir}/cetbyod/acknowledgements", "filename = %s/acknowledgements" % tmp)
c = c.replace("check_interval = 5", "check_interval = 1")
c = c.replace("state_dir = ${localstatedir}/lib/cetbyod", 'state_dir = "%s/state"' % tmp)
c = c.replace("session_timeout_at_expiry = yes", "session_timeout_at_expiry = no")
nas = open(table).read()
def enforce(m):
    body = m.group(0)
    for k, v in settings.items():
        body = re.sub(r"(\n\t\t%s = )\S+" % k, r"\g<1>%s" % v, body)
    return body[:-2] + nas + "\t}"
c = re.sub(r"\tenforce \{.*?\n\t\}", enforce, c, count=1, flags=re.S)
open(dst, "w").write(c)
EOF2
	cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod" 2>/dev/null
	return 0
}
