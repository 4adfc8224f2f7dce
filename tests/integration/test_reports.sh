#!/bin/bash
# test_reports.sh - the list of people, the reports, the reminder emails and
# the scheduled retention purge, through a real radiusd with the module,
# the school directory in a real slapd (tests/slapd) and a local SMTP
# listener on 127.0.0.1 (tests/smtp/smtp-sink.py).
#
#   - the module lists the directory's staff and exception holders:
#     cetbyodctl report due / unacknowledged / exception list answer from it;
#   - reminders in dry-run mode: logged in full, nothing sent or remembered;
#   - reminders on, per_minute = 1: exactly one email in the first minute;
#   - per_minute raised: the other one; each person gets exactly one email
#     for the smallest window they are in, and no second one on later rounds
#     or after a restart; each is in the audit trail and report reminders;
#   - report devices from radclient accounting;
#   - reports { sharing_summary_to }: nobody over policy { max_devices }: no
#     email; alice from 4 devices: IT gets exactly one summary naming her and
#     her devices, audited; a restart the same day sends no second one; set
#     without the reminders' relay, start-up is refused naming the option;
#   - audit { retention_days }: an old closed session is purged at start-up.
. "$(dirname "$0")/lib.sh"
. "$CB_SRCDIR/tests/integration/ldap/ldap-lib.sh"

CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $CB_TMP/state"
now=$(date +%s)
day=86400
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }


cb_slapd_up

mkdir -p "$CB_TMP/state"
if cb_start_smtp_sink; then
	cb_pass "the SMTP listener runs on 127.0.0.1:$CB_SMTP_PORT"
else
	cb_fail "the SMTP listener starts"
	cb_finish
fi

# validity_days = 365: alice's acknowledgement lapses in about 5 days (the
# 7-day window), bob's in about 20 (the 30-day window), erin's in about 100
# (no window); frank and adam have none; dave (staff) is disabled.
acks=$CB_TMP/acknowledgements
cat > "$acks" <<EOF
alice@school.example		$(iso $((now - 360 * day)))
bob@school.example		$(iso $((now - 345 * day)))
erin.upper@school.example	$(iso $((now - 265 * day)))
dave@school.example		$(iso $((now - 360 * day)))
EOF

printf 'alice\tCleartext-Password := "alice-password"\n' > "$CB_TMP/users"
# module_conf DRY_RUN PER_MINUTE [REPORTS_EXTRA [REMINDERS_ENABLED]] - the module's configuration.
module_conf() {
	cat > "$CB_TMP/cetbyod.conf" <<EOC
cetbyod {
	source = file
	directory = ldap
	timezone = "Europe/London"
	form_url = "https://forms.gle/test-byod"
	state_dir = "$CB_TMP/state"
	policy {
		validity_days = 365
		unacknowledged = onboard
		max_devices = 3
		max_devices_action = report
	}
	file {
		filename = "$acks"
		check_interval = 1
	}
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
	}
	audit {
		filename = \${logdir}/cetbyod-audit.jsonl
		retention_days = 30
	}
	reports {
		refresh_interval = 5
		${3:-}
	}
	reminders {
		enabled = ${4:-yes}
		dry_run = $1
		windows = "30, 7, 1"
		per_minute = $2
		template = $CB_SRCDIR/raddb/mods-config/cetbyod/reminder.txt
		school = "Test School"
		smtp_url = "smtp://127.0.0.1:$CB_SMTP_PORT"
		from = "it-office@school.example"
		from_name = "School IT"
		require_tls = no
		timeout = 10
	}
}
EOC
}
module_conf yes 30
cb_make_raddb "$CB_TMP/users" "$acks" "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }
restart() {
	module_conf "$@"
	cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod"
	cb_stop_radiusd
	cb_start_radiusd_threaded
}
mails() { ls "$CB_TMP/mail"/*.json 2>/dev/null | wc -l; }
mails_to() { grep -l "\"$1\"" "$CB_TMP/mail"/*.json 2>/dev/null | wc -l; }
wait_for() {	# wait_for SECONDS COMMAND... - until COMMAND succeeds
	end=$(( $(date +%s) + $1 )); shift
	until "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.2; done
}
listed() { $CTL --json status | grep -q '"listed_at": *[0-9]'; }

# An old closed session, for the retention purge at start-up (the store is
# created by cetbyodctl, then one row is put in as a year-old session).
$CTL sync >/dev/null 2>&1	# Creates the store (and queues a harmless sync).
/usr/bin/python3 - "$CB_TMP/state/cetbyod.db" <<'EOF'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
old = int(time.time()) - 400 * 86400
db.execute("INSERT INTO sessions (nas, acct_session_id, identity, calling_station, started, last_seen, stopped, "
           "stop_cause) VALUES ('10.9.9.9', 'ancient-1', 'alice', '02-00-00-00-00-aa', ?, ?, ?, 'User-Request')",
           (old, old + 60, old + 60))
db.commit()
EOF

# --- Dry run -------------------------------------------------------------------
cb_start_radiusd_threaded || { cb_fail "radiusd starts with reports { } and reminders { dry_run = yes }"; cb_finish; }
cb_pass "radiusd starts with reports { } and reminders { dry_run = yes }"
if wait_for 20 grep -q "reminders (dry run): would send to bob@school.example" "$CB_TMP/radiusd.out" &&
	wait_for 5 grep -q "reminders (dry run): would send to alice@school.example" "$CB_TMP/radiusd.out"; then
	cb_pass "dry run: the reminders to alice and bob are logged in full"
else
	cb_fail "dry run: the reminders are logged"
fi
if grep -A12 "would send to alice@school.example" "$CB_TMP/radiusd.out" | grep -q "| Subject: Wi-Fi: please renew your BYOD acknowledgement" &&
	grep -A30 "would send to alice@school.example" "$CB_TMP/radiusd.out" | grep -q "|     https://forms.gle/test-byod"; then
	cb_pass "dry run: the logged message has the template's subject and the form's link"
else
	cb_fail "dry run: the logged message has the subject and the form's link"
fi
sleep 1
if [ "$(mails)" = 0 ] && ! $CTL --json report reminders | grep -q window_days; then
	cb_pass "dry run: nothing sent, nothing remembered"
else
	cb_fail "dry run: nothing sent ($(mails) messages), nothing remembered"
fi
if grep -q "retention purge: removed [1-9][0-9]* store rows" "$CB_TMP/radiusd.out" &&
	! $CTL --json report devices --user alice | grep -q '02-00-00-00-00-AA'; then
	cb_pass "audit { retention_days = 30 }: the year-old session was purged at start-up"
else
	cb_fail "audit { retention_days = 30 }: the year-old session was purged at start-up"
fi

# --- The reports ------------------------------------------------------------------
wait_for 10 listed
due=$($CTL report due --within 30d 2>&1)
if printf '%s\n' "$due" | grep -q '^alice ' && printf '%s\n' "$due" | grep -q '^bob ' &&
	! printf '%s\n' "$due" | grep -q '^erin ' && ! printf '%s\n' "$due" | grep -q '^dave '; then
	cb_pass "report due --within 30d: alice and bob, not erin (100 days) nor dave (disabled)"
else
	cb_fail "report due --within 30d"; printf '%s\n' "$due" | sed 's/^/    # /'
fi
if $CTL report due --within 7 | grep -q '^alice ' && ! $CTL report due --within 7 | grep -q '^bob '; then
	cb_pass "report due --within 7: alice only"
else
	cb_fail "report due --within 7: alice only"
fi
unack=$($CTL report unacknowledged 2>&1)
if printf '%s\n' "$unack" | grep -q '^frank ' && printf '%s\n' "$unack" | grep -q '^adam ' &&
	! printf '%s\n' "$unack" | grep -qE '^(alice|bob|erin|dave|pupil1) '; then
	cb_pass "report unacknowledged: frank and adam (staff, none on record), not those who acknowledged, dave (disabled) or pupils"
else
	cb_fail "report unacknowledged"; printf '%s\n' "$unack" | sed 's/^/    # /'
fi
exc=$($CTL exception list 2>&1)
if printf '%s\n' "$exc" | grep -q '^directory *pupil2 .*Medical monitoring device' &&
	! printf '%s\n' "$exc" | grep -q 'pupil3'; then
	cb_pass "exception list: the directory's exception in force (pupil2), not the lapsed one (pupil3)"
else
	cb_fail "exception list shows the directory's exceptions"; printf '%s\n' "$exc" | sed 's/^/    # /'
fi

# --- Reminders, rate-limited ------------------------------------------------------
restart no 1 || { cb_fail "radiusd restarts with reminders on"; cb_finish; }
wait_for 20 test "$(mails)" -ge 1
sleep 3
if [ "$(mails)" = 1 ] && grep -q "per_minute" "$CB_TMP/radiusd.out"; then
	cb_pass "per_minute = 1: one email in the first minute, the rest wait"
else
	cb_fail "per_minute = 1: one email in the first minute ($(mails) sent)"
fi
restart no 30 || { cb_fail "radiusd restarts with per_minute = 30"; cb_finish; }
wait_for 20 test "$(mails)" -ge 2
sleep 7	# more rounds (refresh_interval = 5)
if [ "$(mails_to alice@school.example)" = 1 ] && [ "$(mails_to bob@school.example)" = 1 ] && [ "$(mails)" = 2 ]; then
	cb_pass "each of alice and bob got exactly one email; nobody else got any"
else
	cb_fail "exactly one email each to alice and bob ($(mails) in all)"; cat "$CB_TMP/mail"/*.json 2>/dev/null | sed 's/^/    # /'
fi
alice_mail=$(grep -l '"alice@school.example"' "$CB_TMP/mail"/*.json | head -n 1)
alice_eml=${alice_mail%.json}.eml
if [ -f "$alice_eml" ] && grep -q "^Subject: Wi-Fi: please renew" "$alice_eml" && grep -q "https://forms.gle/test-byod" "$alice_eml" &&
	grep -q '^From: "School IT" <it-office@school.example>' "$alice_eml" && grep -q "Test School" "$alice_eml"; then
	cb_pass "the email has the template's subject, the form's link, the sender and the school"
else
	cb_fail "the email's content"; head -n 20 "$alice_eml" 2>/dev/null | sed 's/^/    # /'
fi
rem=$($CTL --json report reminders)
if printf '%s\n' "$rem" | grep -q '"window_days": 7' && printf '%s\n' "$rem" | grep -q '"window_days": 30'; then
	cb_pass "report reminders: alice in the 7-day window, bob in the 30-day one"
else
	cb_fail "report reminders"; printf '%s\n' "$rem" | sed 's/^/    # /'
fi
if $CTL report due --within 30 | grep '^alice ' | grep -q ' 7d'; then
	cb_pass "report due shows the reminder sent to alice"
else
	cb_fail "report due shows the reminder sent to alice"
fi
restart no 30 || { cb_fail "radiusd restarts again"; cb_finish; }
sleep 7
if [ "$(mails)" = 2 ]; then
	cb_pass "after a restart and more rounds: still two emails (once per window)"
else
	cb_fail "after a restart: $(mails) emails"
fi
if $CTL audit query --type reminder --format json | grep -c '"type": *"reminder"' | grep -qx 2; then
	cb_pass "the two reminders are in the audit trail"
else
	cb_fail "the two reminders are in the audit trail"
fi

# --- report devices from accounting ----------------------------------------------
cb_pap alice alice-password
class=$(printf '%s\n' "$CB_REPLY" | sed -n 's/.*Class = \(0x63657462796f643a[0-9a-f]*\).*/\1/p' | head -n 1)
acct() {	# acct MAC SESSION STATUS - accounting for alice's session, tied to her by the Class
	printf 'Acct-Status-Type = %s\nAcct-Session-Id = "%s"\nUser-Name = "anonymous@school.example"\nNAS-IP-Address = 127.0.0.1\nCalling-Station-Id = "%s"\nClass = %s\n' \
		"$3" "$2" "$1" "$class" | "$RADCLIENT" -r 2 -t 3 "127.0.0.1:$CB_ACCT_PORT" acct testing123 >/dev/null 2>&1
}
acct aa:bb:cc:00:00:01 dev-1 Start
acct aa:bb:cc:00:00:01 dev-1 Stop
acct aa:bb:cc:00:00:02 dev-2 Start
devs=$($CTL --json report devices --user alice)
if printf '%s\n' "$devs" | grep -q '"device": "AA-BB-CC-00-00-01"' && printf '%s\n' "$devs" | grep -q '"device": "AA-BB-CC-00-00-02"'; then
	cb_pass "report devices: alice's two devices from accounting"
else
	cb_fail "report devices: alice's two devices"; printf '%s\n' "$devs" | sed 's/^/    # /'
fi
# frank acknowledges: the list follows the acknowledgements within seconds
# (only his row is written), without waiting for the next directory listing.
printf 'frank@school.example\t%s\n' "$(iso "$(date +%s)")" >> "$acks"
if wait_for 15 sh -c "! $CTL report unacknowledged | grep -q '^frank '"; then
	cb_pass "frank acknowledges: report unacknowledged no longer lists him (the list follows the acknowledgements)"
else
	cb_fail "frank acknowledges: report unacknowledged still lists him"
fi
if grep -q "people: 1 row(s) of [0-9]* written" "$CB_TMP/radiusd.out"; then
	cb_pass "only the row that changed was written"
else
	cb_fail "only the row that changed was written"; grep "row(s) of" "$CB_TMP/radiusd.out" | tail -3 | sed 's/^/    # /'
fi
if $CTL status | grep -q "reminders *on" && $CTL status | grep -q "people listed"; then
	cb_pass "cetbyodctl status shows the people list and the reminders"
else
	cb_fail "cetbyodctl status shows the people list and the reminders"
fi
kill -0 "$CB_RADIUSD_PID" 2>/dev/null && cb_pass "radiusd keeps running" || cb_fail "radiusd keeps running"

# --- The daily sharing summary to IT ----------------------------------------------
it=it-security@school.example
summary="sharing_summary_to = \"$it\"
		sharing_summary_hour = 0"
summary_log() { grep -c "sharing summary: $1" "$CB_TMP/radiusd.out"; }
restart no 30 "$summary" || { cb_fail "radiusd starts with reports { sharing_summary_to }"; cb_finish; }
wait_for 20 test "$(summary_log 'nobody over')" -ge 1
if [ "$(summary_log 'nobody over 3 devices')" -ge 1 ] && [ "$(mails_to "$it")" = 0 ]; then
	cb_pass "sharing summary: nobody over max_devices = 3: no email to IT"
else
	cb_fail "sharing summary with nobody over the threshold: $(mails_to "$it") emails to IT"
fi
# alice from 4 devices (policy { max_devices = 3, action report }: all admitted, the 4th flagged).
for d in 1 2 3 4; do
	printf 'User-Name = "alice"\nUser-Password = "alice-password"\nNAS-IP-Address = 127.0.0.1\nCalling-Station-Id = "02-00-00-00-0a-0%s"\n' \
		"$d" > "$CB_TMP/req"
	cb_pap_raw "$CB_TMP/req"
done
restart no 30 "$summary" || { cb_fail "radiusd restarts with reports { sharing_summary_to }"; cb_finish; }
wait_for 20 test "$(mails_to "$it")" -ge 1
sleep 2
it_mail=$(grep -l "\"$it\"" "$CB_TMP/mail"/*.json 2>/dev/null | head -n 1)
it_eml=${it_mail%.json}.eml
if [ "$(mails_to "$it")" = 1 ] && [ -f "$it_eml" ] && grep -q '^Subject: Wi-Fi: 1 person may be sharing their access - Test School' "$it_eml" &&
	grep -q '^alice: 4 devices' "$it_eml" && [ "$(grep -c '^  02-00-00-00-0A-0[1-4] ' "$it_eml")" = 4 ] &&
	grep -q '^To: <\?it-security@school.example>\?' "$it_eml"; then
	cb_pass "sharing summary: IT got exactly one email naming alice and her 4 devices"
else
	cb_fail "sharing summary: one email to IT naming alice and her devices ($(mails_to "$it") emails)"
	sed 's/^/    # /' "$it_eml" 2>/dev/null | head -n 30
fi
summary_audited() {	# the audit trail holds the summary sent to IT, naming alice
	$CTL audit query --type sharing --format json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
data = json.loads(sys.stdin.read())
recs = data if isinstance(data, list) else next((v for v in data.values() if isinstance(v, list)), [])
sys.exit(0 if any(r.get("reason") == "summary" and r.get("result") == "sent" and r.get("why") == sys.argv[1] and
                  r.get("detail") == "1 person: alice" for r in recs) else 1)' "$it"
}
if wait_for 10 summary_audited; then
	cb_pass "the summary sent is in the audit trail (sharing, reason summary)"
else
	cb_fail "the summary sent is in the audit trail"
	$CTL audit query --type sharing --format json 2>&1 | tail -n 20 | sed 's/^/    # /'
fi
restart no 30 "$summary" || { cb_fail "radiusd restarts again with the summary"; cb_finish; }
wait_for 20 test "$(summary_log 'today.* already sent')" -ge 1
sleep 2
if [ "$(summary_log 'today.* already sent')" -ge 1 ] && [ "$(mails_to "$it")" = 1 ]; then
	cb_pass "sharing summary: a restart the same day sends no second email"
else
	cb_fail "sharing summary after a restart: $(mails_to "$it") emails to IT"
fi
cb_stop_radiusd
module_conf no 30 "$summary" no
cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod"
cb_radiusd_check "$CB_TMP/check.out"; rc=$?
if [ $rc -ne 0 ] && grep -qF "'reports { sharing_summary_to }' needs the reminders' mail relay" "$CB_TMP/check.out"; then
	cb_pass "sharing_summary_to without the reminders' relay refuses start-up, naming the option"
else
	cb_fail "sharing_summary_to without the reminders' relay is refused (exit $rc)"; tail -n 5 "$CB_TMP/check.out" | sed 's/^/    # /'
fi
cb_finish
