#!/bin/bash
# test_device_limits.sh - policy { max_devices, max_concurrent } and the
# sharing report, through a real radiusd driven by radclient (PAP with a
# Calling-Station-Id per device, accounting Start with the Class of the
# Access-Accept) and eapol_test (PEAP, its MAC set with -M):
#
#   - max_devices = 3, action onboard: one identity from 5 devices; the
#     first three on the staff VLAN, the fourth and fifth on the onboarding
#     VLAN with the reason in the Reply-Message (also through PEAP); the
#     first three still admitted when they come back;
#   - cetbyodctl devices list / report sharing name the person and the
#     devices held back; the audit trail has the decisions (device_limit)
#     and the sharing records (cetbyodctl audit query);
#   - cetbyodctl devices forget (audited: who, why) lets a new device in;
#   - action reject: the fourth and fifth refused (Access-Reject), known
#     devices admitted; 8 new devices asking at once: 3 admitted;
#   - max_concurrent = 1 (action report): the same identity with sessions
#     open on two NASes at once is admitted, flagged in the audit trail
#     (concurrent_limit, two_nases) and in report sharing;
#   - a bad action refuses start-up naming the option.
. "$(dirname "$0")/lib.sh"

CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $CB_TMP/state"
now=$(date +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
mkdir -p "$CB_TMP/state"

acks=$CB_TMP/acknowledgements
cat > "$acks" <<EOF
alice@school.example	$(iso $((now - 86400)))
carol@school.example	$(iso $((now - 86400)))
dave@school.example	$(iso $((now - 86400)))
EOF
cat > "$CB_TMP/users" <<EOF
alice	Cleartext-Password := "alicepw", Cetbyod-Role := Staff
carol	Cleartext-Password := "carolpw", Cetbyod-Role := Staff
dave	Cleartext-Password := "davepw", Cetbyod-Role := Staff
EOF

# module_conf MAX_DEVICES DEVICES_ACTION MAX_CONCURRENT CONCURRENT_ACTION
module_conf() {
	cat > "$CB_TMP/cetbyod.conf" <<EOC
cetbyod {
	source = file
	directory = attributes
	email_domain = "school.example"
	form_url = "https://forms.gle/test-byod"
	state_dir = "$CB_TMP/state"
	policy {
		validity_days = 365
		max_devices = $1
		device_window = 90
		max_devices_action = $2
		max_concurrent = $3
		max_concurrent_action = $4
	}
	file {
		filename = "$acks"
		check_interval = 1
	}
	audit {
		filename = "$CB_TMP/log/cetbyod-audit.jsonl"
	}
}
EOC
}
module_conf 3 onboard 0 report
cb_make_raddb "$CB_TMP/users" "$acks" "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }
if cb_start_radiusd; then cb_pass "radiusd starts with max_devices = 3, action onboard"; else cb_fail "radiusd starts"; cb_finish; fi

restart() {
	module_conf "$@"
	cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod"
	cb_stop_radiusd
	cb_start_radiusd || { cb_fail "radiusd restarts with $*"; cb_finish; }
}

mac() { printf '02-00-00-00-0%s-0%s' "$1" "$2"; }	# mac PERSON DEVICE
# auth USER PASSWORD MAC [NAS] - PAP from the device MAC at NAS (default 10.0.0.1).
auth() {
	printf 'User-Name = "%s"\nUser-Password = "%s"\nNAS-IP-Address = %s\nCalling-Station-Id = "%s"\n' \
		"$1" "$2" "${4:-10.0.0.1}" "$3" > "$CB_TMP/req"
	cb_pap_raw "$CB_TMP/req"
}
# start USER MAC NAS SESSION - accounting Start with the Class of the last Access-Accept.
start() {
	class=$(printf '%s\n' "$CB_REPLY" | sed -n 's/^[[:space:]]*Class = \(0x[0-9a-f]*\).*/\1/p' | head -n 1)
	[ -n "$class" ] || { cb_fail "the Access-Accept for $1 carries a Class"; return 1; }
	printf 'Acct-Status-Type = Start\nAcct-Session-Id = "%s"\nUser-Name = "%s"\nNAS-IP-Address = %s\nCalling-Station-Id = "%s"\nClass = %s\n' \
		"$4" "$1" "$3" "$2" "$class" | "$RADCLIENT" -r 1 -t 3 "127.0.0.1:$CB_ACCT_PORT" acct testing123 >/dev/null 2>&1
}
STAFF='Tunnel-Private-Group-Id:0 = "100"'
ONBOARD='Tunnel-Private-Group-Id:0 = "200"'
LIMIT_MSG='Reply-Message = "You have reached the number of personal devices allowed'

# audit_has USER TYPE REASON [STATUS] - cetbyodctl audit query lists such a record.
audit_has() {
	$CTL audit query --user "$1" --format json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
typ, reason, status = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    data = json.loads(sys.stdin.read())
except ValueError:
    sys.exit(1)
recs = data if isinstance(data, list) else next((v for v in data.values() if isinstance(v, list)), [])
ok = any(r.get("type") == typ and (not reason or r.get("reason") == reason) and (not status or r.get("status") == status)
         for r in recs)
sys.exit(0 if ok else 1)' "$2" "$3" "${4:-}"
}
check_audit() {	# check_audit DESCRIPTION USER TYPE REASON [STATUS]
	d=$1; shift
	if cb_wait_until 10 audit_has "$@"; then cb_pass "$d"; else
		cb_fail "$d"; $CTL audit query --user "$2" 2>&1 | tail -n 20 | sed 's/^/    # /'; fi
}

# --- max_devices = 3, action onboard ---------------------------------------
for d in 1 2 3; do
	auth alice alicepw "$(mac 1 $d)"
	cb_expect_reply "alice's device $d of 3: staff VLAN" 'Received Access-Accept' "$STAFF"
done
auth alice alicepw "$(mac 1 4)"
cb_expect_reply "alice's fourth device: onboarding VLAN, the reason in the Reply-Message" \
	'Received Access-Accept' "$ONBOARD" "$LIMIT_MSG" 'Session-Timeout = 900'
cb_expect_not "the fourth device gets no staff VLAN" "$STAFF"
# eapol_mac USER PASSWORD MAC - PEAP/MSCHAPv2 with an anonymous outer identity, the station's MAC set (-M).
eapol_mac() {
	cat > "$CB_TMP/eapol.conf" <<EOC
network={
	ssid="cetbyod-test"
	key_mgmt=WPA-EAP
	eap=PEAP
	identity="$1"
	anonymous_identity="anonymous@school.example"
	password="$2"
	ca_cert="$CB_TMP/certs/ca.pem"
	phase2="auth=MSCHAPV2"
}
EOC
	CB_REPLY=$(timeout 30 "$EAPOL_TEST" -c "$CB_TMP/eapol.conf" -a 127.0.0.1 -p "$CB_AUTH_PORT" \
		-s testing123 -r 0 -t 10 -M "$3" 2>&1)
}
# eap_vlan - the Tunnel-Private-Group-Id of the Access-Accept eapol_test received (its value in hex).
eap_vlan() { printf '%s\n' "$CB_REPLY" | grep -A1 'Attribute 81 (Tunnel-Private-Group-Id)' | sed -n 's/.*Value: //p'; }
eapol_mac alice alicepw "$(mac 1 5 | tr - :)"
if printf '%s\n' "$CB_REPLY" | grep -q '^SUCCESS' && [ "$(eap_vlan)" = 323030 ] &&
   printf '%s\n' "$CB_REPLY" | grep -q "Value: 'You have reached the number of personal devices"; then
	cb_pass "alice's fifth device (PEAP, anonymous outer identity): Access-Accept with the onboarding VLAN and the reason"
else
	cb_fail "alice's fifth device through PEAP: VLAN '$(eap_vlan)' (hex), want 323030 (\"200\") and the reason"
	printf '%s\n' "$CB_REPLY" | grep -A1 'Attribute' | tail -n 30 | sed 's/^/    # /'
fi
for d in 1 2 3; do
	auth alice alicepw "$(mac 1 $d)"
	cb_expect_reply "alice's known device $d comes back: still the staff VLAN" 'Received Access-Accept' "$STAFF"
done
auth alice alicepw "$(mac 1 4)"
cb_expect_reply "the fourth device comes back: still onboarded" 'Received Access-Accept' "$ONBOARD"

if grep -q "Beyond policy { max_devices }: a new device beyond 3 known within 90 days" "$CB_TMP/radiusd.out" &&
   grep -q "Limit device_limit: onboard instead of admitting" "$CB_TMP/radiusd.out"; then
	cb_pass "radiusd -X explains the device limit"
else
	cb_fail "radiusd -X explains the device limit"
fi

out=$($CTL devices list alice 2>&1); rc=$?
if [ $rc -eq 0 ] && [ "$(printf '%s\n' "$out" | grep -c 'counted')" -eq 3 ] &&
   [ "$(printf '%s\n' "$out" | grep -c 'held back')" -eq 2 ]; then
	cb_pass "cetbyodctl devices list: alice's 3 devices counted, 2 held back"
else
	cb_fail "cetbyodctl devices list (exit $rc)"; printf '%s\n' "$out" | sed 's/^/    # /'
fi
out=$($CTL report sharing 2>&1); rc=$?
if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q '^  alice *5 ' && printf '%s\n' "$out" | grep -q "$(mac 1 5).*held back"; then
	cb_pass "cetbyodctl report sharing names alice with 5 devices, the fifth held back"
else
	cb_fail "cetbyodctl report sharing (exit $rc)"; printf '%s\n' "$out" | sed 's/^/    # /'
fi
if $CTL --json report sharing | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
p = [x for x in r["people"] if x["identity"] == "alice"]
assert r["threshold"] == 3 and len(p) == 1 and len(p[0]["devices"]) == 5, r
assert sum(1 for d in p[0]["devices"] if not d["counted"]) == 2, r
assert all(d["last_nas"] for d in p[0]["devices"]), r'; then
	cb_pass "report sharing --json: threshold 3 (the module's max_devices), 5 devices, 2 held back, with NASes"
else
	cb_fail "report sharing --json"
fi
out=$($CTL report sharing --threshold 5 2>&1); rc=$?
if [ $rc -eq 2 ] && printf '%s\n' "$out" | grep -q 'nobody had more than 5 devices'; then
	cb_pass "report sharing --threshold 5: nobody (exit 2)"
else
	cb_fail "report sharing --threshold 5 (exit $rc)"; printf '%s\n' "$out" | sed 's/^/    # /'
fi
check_audit "audit: the fourth device's decision is onboard, device_limit" alice decision device_limit onboard
check_audit "audit: a sharing record for the device limit" alice sharing device_limit onboard

# --- devices forget ---------------------------------------------------------
out=$($CTL devices forget alice --mac "$(mac 1 1 | tr - :)" --reason "phone lost" --by it-admin 2>&1); rc=$?
if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q 'Forgot 1 device of alice: phone lost (by it-admin)'; then
	cb_pass "cetbyodctl devices forget --mac: one device forgotten"
else
	cb_fail "cetbyodctl devices forget (exit $rc)"; printf '%s\n' "$out" | sed 's/^/    # /'
fi
auth alice alicepw "$(mac 1 4)"
cb_expect_reply "after forget, the device held back is let in: staff VLAN" 'Received Access-Accept' "$STAFF"
auth alice alicepw "$(mac 1 1)"
cb_expect_reply "the forgotten device now counts as new: onboarded (3 known again)" 'Received Access-Accept' "$ONBOARD"
check_audit "audit: devices_forget with who and why" alice devices_forget ""
if $CTL audit query --user alice --type devices_forget --format json | grep -q '"why": *"phone lost"' &&
   $CTL audit query --user alice --type devices_forget --format json | grep -q '"by": *"it-admin"'; then
	cb_pass "the devices_forget record says who (it-admin) and why (phone lost)"
else
	cb_fail "the devices_forget record says who and why"
	$CTL audit query --user alice --type devices_forget --format json 2>&1 | sed 's/^/    # /'
fi
$CTL devices forget nobody --reason "test" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && cb_pass "devices forget with nothing to forget exits 2" || cb_fail "devices forget nothing: exit $rc"
$CTL devices forget alice >/dev/null 2>&1; rc=$?
[ $rc -eq 1 ] && cb_pass "devices forget without --reason is a usage error" || cb_fail "forget without reason: exit $rc"

# --- action reject; max_concurrent = 1, action report -----------------------
restart 3 reject 1 report
for d in 1 2 3; do
	auth carol carolpw "$(mac 2 $d)" 10.0.0.1
	cb_expect_reply "carol's device $d of 3 (reject action): staff VLAN" 'Received Access-Accept' "$STAFF"
done
for d in 4 5; do
	auth carol carolpw "$(mac 2 $d)"
	cb_expect_reply "carol's device $d: refused by the device limit" 'Received Access-Reject' "$LIMIT_MSG"
done
auth alice alicepw "$(mac 1 2)"
cb_expect_reply "alice's known device still admitted under the reject action" 'Received Access-Accept' "$STAFF"
check_audit "audit: carol's fifth device refused, device_limit" carol decision device_limit reject

# A burst: dave's 8 new devices ask at once (radclient -p 8), each request
# in its own radiusd thread; the limit holds across them, not only once
# the first admissions are in the store.
: > "$CB_TMP/burst"
for d in 1 2 3 4 5 6 7 8; do
	printf 'User-Name = "dave"\nUser-Password = "davepw"\nNAS-IP-Address = 10.0.0.1\nCalling-Station-Id = "%s"\n\n' \
		"$(mac 3 $d)" >> "$CB_TMP/burst"
done
CB_REPLY=$("$RADCLIENT" -x -p 8 -r 1 -t 5 -f "$CB_TMP/burst" "127.0.0.1:$CB_AUTH_PORT" auth testing123 2>&1)
accepts=$(printf '%s\n' "$CB_REPLY" | grep -c 'Received Access-Accept')
rejects=$(printf '%s\n' "$CB_REPLY" | grep -c 'Received Access-Reject')
if [ "$accepts" -eq 3 ] && [ "$rejects" -eq 5 ]; then
	cb_pass "8 new devices of dave at once, max_devices = 3: 3 admitted, 5 refused"
else
	cb_fail "8 new devices of dave at once, max_devices = 3: $accepts admitted, $rejects refused (want 3 and 5)"
	grep 'Devices of dave' "$CB_TMP/radiusd.out" | sed 's/^/    # /'
fi

# Two NASes at once: carol's device 1 at 10.0.0.1, then device 2 at 10.0.0.2.
auth carol carolpw "$(mac 2 1)" 10.0.0.1
start carol "$(mac 2 1)" 10.0.0.1 carol-s1
auth carol carolpw "$(mac 2 2)" 10.0.0.2
cb_expect_reply "max_concurrent = 1, action report: carol's second device at another NAS still admitted" \
	'Received Access-Accept' "$STAFF"
start carol "$(mac 2 2)" 10.0.0.2 carol-s2
check_audit "audit: a sharing record for the concurrent limit" carol sharing concurrent_limit admit
check_audit "audit: a sharing record for two NASes at once" carol sharing two_nases admit
if grep -q "Same identity at two NASes at once: a session of another device is open at NAS 10.0.0.1" "$CB_TMP/radiusd.out"; then
	cb_pass "radiusd -X explains the two NASes"
else
	cb_fail "radiusd -X explains the two NASes"
fi
out=$($CTL report sharing 2>&1); rc=$?
if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q 'At two NASes at once' &&
   printf '%s\n' "$out" | grep -Eq "carol +10\.0\.0\.1 +$(mac 2 1) +10\.0\.0\.2 +$(mac 2 2) .* open"; then
	cb_pass "report sharing: carol at NAS 10.0.0.1 and 10.0.0.2 at once"
else
	cb_fail "report sharing shows the two NASes (exit $rc)"; printf '%s\n' "$out" | sed 's/^/    # /'
fi

# --- bad values are refused at start-up, naming the option -------------------
# refused DESCRIPTION MESSAGE MODULE_CONF_ARGS... - radiusd -XC refuses that configuration with MESSAGE.
refused() {
	d=$1; msg=$2; shift 2
	module_conf "$@"
	cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod"
	cb_radiusd_check "$CB_TMP/check.out"; rc=$?
	if [ $rc -ne 0 ] && grep -qF "$msg" "$CB_TMP/check.out"; then cb_pass "$d"; else
		cb_fail "$d (exit $rc)"; tail -n 5 "$CB_TMP/check.out" | sed 's/^/    # /'; fi
}
refused "max_devices_action = drop refuses start-up, naming the option and the accepted values" \
	"Invalid value \"drop\" for 'policy { max_devices_action }': accepted values are \"report\", \"onboard\" and \"reject\"" \
	3 drop 0 report
refused "max_devices = 51 refuses start-up, naming the option and the range" \
	"Invalid value 51 for 'policy { max_devices }': accepted values are 0 (no limit) to 50" 51 onboard 0 report

cb_stop_radiusd
cb_finish
