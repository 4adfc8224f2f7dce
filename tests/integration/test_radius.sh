#!/bin/bash
# test_radius.sh - the module in a real radiusd, driven by radclient (PAP) and
# eapol_test (EAP-PEAP/MSCHAPv2 and EAP-TTLS/PAP with an anonymous outer
# identity).  Facts come from the stock users file, acknowledgements from the
# local acknowledgements file.  Asserts reply codes, VLAN attributes and
# Reply-Messages for each kind of person, hostile User-Name values, a
# malformed acknowledgements file line, and a file edited while running.
. "$(dirname "$0")/lib.sh"

now=$(date +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
day=86400

cat > "$CB_TMP/users" <<EOF2
alice	Cleartext-Password := "alicepw", Cetbyod-Role := Staff, Cetbyod-Email := "Alice.Smith@School.Example"
bob	Cleartext-Password := "bobpw", Cetbyod-Role := Staff
carol	Cleartext-Password := "carolpw", Cetbyod-Role := Staff
dave	Cleartext-Password := "davepw", Cetbyod-Role := Staff
erin	Cleartext-Password := "erinpw", Cetbyod-Role := Staff, Cetbyod-Account-Disabled := Yes
fred	Cleartext-Password := "fredpw", Cetbyod-Role := Staff, Cetbyod-Revoked := "lost device"
percy	Cleartext-Password := "percypw", Cetbyod-Role := Pupil
mia	Cleartext-Password := "miapw", Cetbyod-Role := Pupil, Cetbyod-Exception-Until := $((now + 30 * day)), Cetbyod-Exception-Reason := "medical monitoring"
ned	Cleartext-Password := "nedpw", Cetbyod-Role := Pupil, Cetbyod-Exception-Until := $((now - day)), Cetbyod-Exception-Reason := "ended"
olly	Cleartext-Password := "ollypw"
gina	Cleartext-Password := "ginapw", Cetbyod-Role := Other
DEFAULT	Cleartext-Password := "anypw", Cetbyod-Role := Staff
EOF2

acks=$CB_TMP/acknowledgements
cat > "$acks" <<EOF2
# test acknowledgements
alice.smith@school.example	$(iso $((now - 10 * day)))	version=2026-1
carol@school.example		$(iso $((now - 400 * day)))
dave@school.example		$(iso $((now - 20 * day)))
this line is broken
dave@school.example		$(iso $((now - 5 * day)))	revoked
hank@school.example		$(iso $((now - 1 * day)))
EOF2

cb_make_raddb "$CB_TMP/users" "$acks" || { cb_fail "build raddb"; cb_finish; }
if cb_start_radiusd; then cb_pass "radiusd starts with the shipped configuration"; else cb_fail "radiusd starts"; cb_finish; fi

# --- PAP through radclient -------------------------------------------------
cb_pap alice alicepw
cb_expect_reply "PAP: acknowledged staff (via directory email, mixed case) admitted to the staff VLAN" \
	'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"' 'Tunnel-Type:0 = VLAN' 'Session-Timeout = '
cb_expect_not "PAP: no Reply-Message for a plain admit" 'Reply-Message'
cb_pap bob bobpw
cb_expect_reply "PAP: unacknowledged staff onboarded with the form URL" \
	'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "200"' 'Session-Timeout = 900' \
	'Reply-Message = "Please complete the BYOD acknowledgement form first. https://forms.gle/your-byod-form"'
cb_pap carol carolpw
cb_expect_reply "PAP: expired acknowledgement onboarded with the reason" \
	'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "200"' 'Reply-Message = "Your annual BYOD acknowledgement has expired'
cb_pap dave davepw
cb_expect_reply "PAP: a later withdrawal wins over an earlier agreement: rejected" \
	'Received Access-Reject' 'Reply-Message = "Your BYOD acknowledgement has been withdrawn. https://forms.gle/your-byod-form"'
cb_pap erin erinpw
cb_expect_reply "PAP: disabled account rejected" 'Received Access-Reject' 'Reply-Message = "Your account is disabled.'
cb_pap fred fredpw
cb_expect_reply "PAP: revoked by IT rejected" 'Received Access-Reject' 'revoked by IT'
cb_pap percy percypw
cb_expect_reply "PAP: pupil without exception rejected" 'Received Access-Reject' 'Pupils may not connect'
cb_expect_not "PAP: the form's URL is not offered where the form cannot help" 'forms.gle'
cb_pap mia miapw
cb_expect_reply "PAP: pupil with a running exception gets the restricted VLAN" \
	'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "300"'
cb_pap ned nedpw
cb_expect_reply "PAP: pupil whose exception ended rejected" 'Received Access-Reject' 'exception has ended'
cb_pap olly ollypw
cb_expect_reply "PAP: person unknown to the user store rejected" 'Received Access-Reject' 'not found in the school directory'
cb_pap gina ginapw
cb_expect_reply "PAP: directory member who is not staff rejected" 'Received Access-Reject' 'for staff only'
cb_pap alice wrongpw
cb_expect_reply "PAP: wrong password still rejected by the stock modules" 'Received Access-Reject'

# --- Hostile and unusual User-Name values ----------------------------------
cb_pap 'SCHOOL\hank' anypw
cb_expect_reply "DOMAIN\\user is normalised (hank acknowledged)" 'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"'
cb_pap 'Hank@school.example' anypw
cb_expect_reply "user@realm with upper case is normalised" 'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"'
long=$(printf 'a%.0s' $(seq 1 200))
cb_pap "$long" anypw
cb_expect_reply "an over-long identity is refused" 'Received Access-Reject' 'not valid here'
max=$(printf 'b%.0s' $(seq 1 253))
cb_pap "$max" anypw
cb_expect_reply "a 253-byte identity is refused without harm" 'Received Access-Reject'
printf 'User-Name = "ca\\001rl"\nUser-Password = "anypw"\n' > "$CB_TMP/ctrl.req"
cb_pap_raw "$CB_TMP/ctrl.req"
cb_expect_reply "a control character in User-Name is refused" 'Received Access-Reject' 'not valid here'
printf 'User-Name = "ca\\000rl"\nUser-Password = "anypw"\n' > "$CB_TMP/nul.req"
cb_pap_raw "$CB_TMP/nul.req"
cb_expect_reply "a NUL byte in User-Name is refused" 'Received Access-Reject'
cb_pap 'zoë' anypw
cb_expect_reply "a non-ASCII (UTF-8) identity is decided normally (onboarded: no acknowledgement)" \
	'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "200"'

if grep -q "line 5: first field is not an email address; line skipped" "$CB_TMP/radiusd.out"; then
	cb_pass "a malformed acknowledgements line is reported with its line number"
else
	cb_fail "a malformed acknowledgements line is reported with its line number"
fi
if grep -Eq 'cetbyod: alice -> admit \(acknowledged\): acknowledged [0-9T:Z-]+ version 2026-1 from [^ ]+acknowledgements:2; holds until' "$CB_TMP/radiusd.out"; then
	cb_pass "radiusd -X shows one readable line per decision"
else
	cb_fail "radiusd -X shows one readable line per decision"
fi
if grep -qF 'cetbyod: identity "ca\001rl" -> reject (invalid_identity): identity contains a control character' \
	"$CB_TMP/radiusd.out"; then
	cb_pass "the log shows a refused identity escaped, and says why"
else
	cb_fail "the log shows a refused identity escaped, and says why"
	grep -a 'invalid_identity' "$CB_TMP/radiusd.out" | head -3 >&2
fi

# --- EAP through eapol_test, anonymous outer identity ----------------------
# cb_eap_vlan VLAN - the outer Access-Accept carried Tunnel-Private-Group-Id VLAN.
cb_eap_vlan() {
	hex=$(printf '%s' "$1" | od -An -tx1 | tr -d ' \n')
	printf '%s\n' "$CB_REPLY" | grep -A1 'Attribute 81 (Tunnel-Private-Group-Id)' | grep -q "Value: $hex\$"
}
decisions() { grep -c "cetbyod: $1 -> $2" "$CB_TMP/radiusd.out"; }

for method in PEAP TTLS; do
	before=$(decisions alice admit)
	cb_eapol $method alice alicepw
	if printf '%s\n' "$CB_REPLY" | grep -q '^SUCCESS' && cb_eap_vlan 100; then
		cb_pass "$method: acknowledged staff admitted, staff VLAN 100 in the outer Access-Accept"
	else
		cb_fail "$method: acknowledged staff admitted, staff VLAN 100 in the outer Access-Accept"
	fi
	if [ "$(decisions alice admit)" -eq $((before + 1)) ]; then
		cb_pass "$method: decided once, on the inner identity (outer identity was anonymous)"
	else
		cb_fail "$method: decided once, on the inner identity"
	fi
	cb_eapol $method bob bobpw
	if printf '%s\n' "$CB_REPLY" | grep -q '^SUCCESS' && cb_eap_vlan 200; then
		cb_pass "$method: unacknowledged staff onboarded (VLAN 200)"
	else
		cb_fail "$method: unacknowledged staff onboarded (VLAN 200)"
	fi
	cb_eapol $method carol carolpw
	if printf '%s\n' "$CB_REPLY" | grep -q '^SUCCESS' && cb_eap_vlan 200; then
		cb_pass "$method: expired acknowledgement onboarded (VLAN 200)"
	else
		cb_fail "$method: expired acknowledgement onboarded (VLAN 200)"
	fi
	cb_eapol $method dave davepw
	if printf '%s\n' "$CB_REPLY" | grep -q 'code=3 (Access-Reject)' && ! printf '%s\n' "$CB_REPLY" | grep -q '^SUCCESS'; then
		cb_pass "$method: withdrawn acknowledgement rejected"
	else
		cb_fail "$method: withdrawn acknowledgement rejected"
	fi
	# What the device sees (RFC 3579): EAP-Failure, never EAP-Success, and the reason.
	cb_expect_reply "$method: the refused device receives EAP-Failure inside the Access-Reject" \
		'EAP: Received EAP-Failure' "Value: 'Your BYOD acknowledgement has been withdrawn"
	cb_expect_not "$method: the refused device never receives EAP-Success" 'CTRL-EVENT-EAP-SUCCESS|Received EAP-Success'
done
if grep -q "cetbyod: anonymous" "$CB_TMP/radiusd.out"; then
	cb_fail "no decision is made on the anonymous outer identity"
else
	cb_pass "no decision is made on the anonymous outer identity"
fi
n=$(decisions alice admit)
# 1 (PAP) + 1 (PEAP) + 1 (TTLS): once per authentication, not per EAP round.
if [ "$n" -eq 3 ]; then cb_pass "one decision per authentication, not per EAP round"; else cb_fail "one decision per authentication (saw $n for alice)"; fi

# --- Class ties accounting to the decision; IT revokes with cetbyodctl -----
CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $CB_TMP/lib/cetbyod"
cb_pap alice alicepw
class=$(printf '%s\n' "$CB_REPLY" | sed -n 's/.*Class = \(0x63657462796f643a[0-9a-f]*\).*/\1/p' | head -n 1)
if [ -n "$class" ]; then cb_pass "the Access-Accept carries a Class naming the decision"; else cb_fail "the Access-Accept carries a Class naming the decision"; fi
cb_acct() {
	printf 'Acct-Status-Type = %s\nAcct-Session-Id = "%s"\nUser-Name = "anonymous@school.example"\nNAS-IP-Address = 127.0.0.9\nCalling-Station-Id = "02-00-00-00-00-01"\nCalled-Station-Id = "AA-BB-CC-DD-EE-FF:Staff"\nFramed-IP-Address = 10.20.30.40\nClass = %s\n%s' \
		"$1" "$2" "$class" "${3:-}" | "$RADCLIENT" -x -r "$CB_RC_TRIES" -t 3 "127.0.0.1:$CB_ACCT_PORT" acct testing123 >/dev/null 2>&1
}
cb_acct Start sess-1
sleep 1
t_mid=$(date -u +%Y-%m-%dT%H:%M:%SZ)	# alice's session is open now
if $CTL --json sessions | /usr/bin/python3 -c 'import json, sys
s = [x for x in json.load(sys.stdin)["sessions"] if x["acct_session_id"] == "sess-1"]
assert s and s[0]["identity"] == "alice" and s[0]["ssid"] == "Staff", s' 2>/dev/null; then
	cb_pass "accounting with only the anonymous outer identity is tied to alice by its Class"
else
	cb_fail "accounting with only the anonymous outer identity is tied to alice by its Class"
	$CTL --json sessions | sed 's/^/    # /'
fi
cb_run "revoke alice" $CTL revoke alice --reason "lost phone" --by tester
cb_wait_ok=
for _ in $(seq 1 20); do
	cb_pap alice alicepw
	if printf '%s\n' "$CB_REPLY" | grep -q 'revoked by IT'; then cb_wait_ok=1; break; fi
	sleep 0.1
done
if [ -n "$cb_wait_ok" ]; then cb_pass "cetbyodctl revoke: the next authentication is refused with the reason"; else cb_fail "cetbyodctl revoke: the next authentication is refused"; fi
if grep -q "alice.*revoked_by_admin" "$CB_TMP/radiusd.out"; then cb_pass "the revocation is in the log with its reason"; else cb_fail "the revocation is in the log with its reason"; fi
cb_run "reinstate alice" $CTL reinstate alice --by tester
for _ in $(seq 1 20); do
	cb_pap alice alicepw
	printf '%s\n' "$CB_REPLY" | grep -q 'Tunnel-Private-Group-Id:0 = "100"' && break
	sleep 0.1
done
cb_expect_reply "cetbyodctl reinstate: admitted again" 'Tunnel-Private-Group-Id:0 = "100"'
sleep 1
cb_acct Stop sess-1 'Acct-Terminate-Cause = User-Request
Acct-Input-Octets = 1000
Acct-Input-Gigawords = 1
'
if $CTL --json sessions | /usr/bin/python3 -c 'import json, sys
s = [x for x in json.load(sys.stdin)["sessions"] if x["acct_session_id"] == "sess-1"]
assert not s, s' 2>/dev/null; then
	cb_pass "accounting Stop closes the session"
else
	cb_fail "accounting Stop closes the session"
fi

# A NAS that reboots (Accounting-On) closes its open sessions: each gets its
# own session_stop record in the audit trail, with cause NAS-Reboot.
cb_acct Start sess-2
cb_acct Start sess-3
printf 'Acct-Status-Type = Accounting-On\nNAS-IP-Address = 127.0.0.9\nAcct-Session-Id = "reboot"\n' |
	"$RADCLIENT" -r "$CB_RC_TRIES" -t 3 "127.0.0.1:$CB_ACCT_PORT" acct testing123 >/dev/null 2>&1
# The audit trail's index is written off the request path: wait (bounded) for it.
reboot_stops() {
	stops=$($CTL audit query --user alice --type session_stop --format json 2>&1)
	printf '%s\n' "$stops" | /usr/bin/python3 -c 'import json, sys
r = json.load(sys.stdin)
ids = sorted(x.get("acct_session_id") for x in r if x.get("stop_cause") == "NAS-Reboot")
assert ids == ["sess-2", "sess-3"], r' 2>/dev/null
}
if cb_wait_until 15 reboot_stops; then
	cb_pass "Accounting-On: one session_stop (NAS-Reboot) per session the NAS had open"
else
	cb_fail "Accounting-On: one session_stop per session"; printf '%s\n' "$stops" | head -30 | sed 's/^/    # /'
fi

# --- The audit trail ----------------------------------------------------------
alice_recorded() {	# every kind of record about alice is in the index
	q=$($CTL audit query --user alice --format json 2>&1)
	for t in decision session_start session_stop revoke reinstate; do
		printf '%s\n' "$q" | grep -q "\"type\": *\"$t\"" || return 1
	done
}
cb_wait_until 15 alice_recorded
if $CTL audit verify >/dev/null 2>&1; then cb_pass "audit: the hash chain verifies"; else cb_fail "audit: the hash chain verifies"; $CTL audit verify | sed 's/^/    # /'; fi
q=$($CTL audit query --user alice --format json 2>&1)
for t in decision session_start session_stop revoke reinstate; do
	if printf '%s\n' "$q" | grep -q "\"type\": *\"$t\""; then cb_pass "audit: alice's $t is recorded"; else cb_fail "audit: alice's $t is recorded"; fi
done
if printf '%s\n' "$q" | grep -q '"by": *"tester"' && printf '%s\n' "$q" | grep -q '"why": *"lost phone"'; then
	cb_pass "audit: the revocation records who did it and why"
else
	cb_fail "audit: the revocation records who did it and why"
fi
if $CTL audit query --ip 10.20.30.40 --at "$t_mid" --format json 2>&1 | grep -q '"identity": *"alice"'; then
	cb_pass "audit: who had 10.20.30.40 while the session was open: alice"
else
	cb_fail "audit: who had 10.20.30.40 while the session was open: alice"
fi
audit_file=$CB_TMP/log/cetbyod-audit.jsonl
cp "$audit_file" "$CB_TMP/audit.copy"
# Someone turns a refusal into an admission after the fact.
line=$(grep -n '"type":"decision"' "$audit_file" | grep '"status":"reject"' | head -n 1 | cut -d: -f1)
sed -i "${line}s/\"status\":\"reject\"/\"status\":\"admit\"/" "$CB_TMP/audit.copy"
out=$($CTL audit verify --file "$CB_TMP/audit.copy" 2>&1); rc=$?
if [ "$rc" -eq 5 ] && printf '%s\n' "$out" | grep -q "line $line"; then
	cb_pass "audit: an edited record makes verify fail at that record (exit 5)"
else
	cb_fail "audit: an edited record makes verify fail at that record (rc $rc)"
	printf '%s\n' "$out" | sed 's/^/    # /'
fi

# --- The file is re-read when it changes ----------------------------------
printf 'bob@school.example\t%s\tby=office\n' "$(iso "$now")" >> "$acks"
ok=
for _ in $(seq 1 50); do
	cb_pap bob bobpw
	if printf '%s\n' "$CB_REPLY" | grep -q 'Tunnel-Private-Group-Id:0 = "100"'; then ok=1; break; fi
	sleep 0.2
done
if [ -n "$ok" ]; then cb_pass "an acknowledgement added to the file admits within seconds"; else cb_fail "an acknowledgement added to the file admits within seconds"; fi

# --- Wrong options stop start-up with a message naming them ---------------------
cb_stop_radiusd
good=$CB_TMP/raddb/mods-available/cetbyod
cp "$good" "$CB_TMP/cetbyod.good"
conf_refused() {	# DESCRIPTION SED-EXPRESSION MESSAGE
	sed -e "$2" "$CB_TMP/cetbyod.good" > "$good"
	if ! cb_radiusd_check "$CB_TMP/check.out" && grep -qF -- "$3" "$CB_TMP/check.out"; then
		cb_pass "start-up refused: $1"
	else
		cb_fail "start-up refused: $1 (expected \"$3\")"
		grep -iE 'invalid|error|cetbyod' "$CB_TMP/check.out" | tail -n 3 | sed 's/^/    # /'
	fi
}
conf_refused "unknown source" 's/source = file/source = gsheet/' \
	"Invalid value \"gsheet\" for 'source': accepted values are \"file\", \"forms\" and \"sheets\""
conf_refused "unknown unacknowledged action" 's/unacknowledged = onboard/unacknowledged = maybe/' \
	"Invalid value \"maybe\" for 'policy { unacknowledged }': accepted values are \"onboard\" and \"reject\""
conf_refused "unknown time zone" 's|timezone = "Europe/London"|timezone = "Europe/Londn"|' \
	"Invalid value \"Europe/Londn\" for 'timezone'"
conf_refused "bad effective_from" 's/effective_from = ""/effective_from = "1 September"/' \
	"for 'policy { effective_from }'"
conf_refused "missing acknowledgements file name" 's|filename = .*acknowledgements.*|filename = ""|' \
	"'file { filename }' must name the acknowledgements file"
conf_refused "bad audit on_failure" 's/on_failure = fail_open/on_failure = sometimes/' \
	"for 'audit { on_failure }': accepted values are \"fail_open\" and \"fail_closed\""
# reminders { } is checked at start-up: windows, the template, the relay.
REM_ON='/^	reminders {/,/^	}/s/enabled = no/enabled = yes/'
conf_refused "bad reminder windows" "$REM_ON;"'s/windows = "30, 7, 1"/windows = "30, soon"/' \
	"Invalid value \"30, soon\" for 'reminders { windows }'"
conf_refused "missing reminder template" "$REM_ON;"'s|template = .*reminder.txt|template = /nonexistent/reminder.txt|' \
	"Invalid 'reminders { template }' /nonexistent/reminder.txt"
conf_refused "reminder relay that is not SMTP" "$REM_ON;"'s|smtp_url = "smtp://mail.school.example:587"|smtp_url = "http://mail.school.example"|' \
	"reminders { smtp_url"
conf_refused "identity { strip_domain = yes } without a list (it took off every domain)" \
	's|strip_domains = "SCHOOL"|strip_domain = yes|' \
	"'identity { strip_domain = yes }' took off every DOMAIN\\, so another one's \"alice\" was decided as yours"
conf_refused "a strip_domains value that is not one name" 's|strip_domains = "SCHOOL"|strip_domains = "SCHOOL STAFF"|' \
	"Invalid value \"SCHOOL STAFF\" for 'identity { strip_domains }'"
conf_refused "bad NAS mode" 's|^	enforce {|	enforce {\n		nas ap1 {\n			ipaddr = 127.0.0.5\n			secret = "s"\n			mode = sometimes\n		}|' \
	"Invalid value \"sometimes\" for 'nas ap1 { mode }'"
sed -e 's|^	enforce {|	enforce {\n		nas ap1 {\n			ipaddr = 127.0.0.5\n			secret = "s"\n			profile = rfc5176\n			mode = coa-then-disconnect\n		}|' \
	"$CB_TMP/cetbyod.good" > "$good"
if cb_radiusd_check "$CB_TMP/check.out"; then
	cb_pass "a nas entry with mode = coa-then-disconnect is accepted"
else
	cb_fail "a nas entry with mode = coa-then-disconnect is accepted"
fi
cp "$CB_TMP/cetbyod.good" "$good"

cb_finish
