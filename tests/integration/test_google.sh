#!/bin/bash
# test_google.sh - acknowledgements from Google Forms and Sheets (played by the
# emulator over HTTPS with a test CA) through a real radiusd:
#   - a member of staff acknowledges and is admitted within seconds (Forms
#     incremental fetch with filter=timestamp > last seen);
#   - a withdrawal refuses; a long Google outage keeps acknowledged staff
#     admitted until the staleness limit, also across a radiusd restart (the
#     last good snapshot), then fails closed; recovery after the outage;
#   - a mass deletion is held, not applied;
#   - Sheets: header by name, Revoked column, unchanged sheet not downloaded;
#   - a key file readable by others stops start-up with a clear message.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/google-lib.sh"

cb_start_emulator || { cb_fail "start the Google emulator"; cb_finish; }
cb_pass "the Google emulator runs on 127.0.0.1:$CB_EMU_PORT"

now=$(date +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
day=86400
Q='I have read the BYOD policy and agree to it'

cat > "$CB_TMP/users" <<EOF2
alice	Cleartext-Password := "pw", Cetbyod-Role := Staff
bob	Cleartext-Password := "pw", Cetbyod-Role := Staff
carol	Cleartext-Password := "pw", Cetbyod-Role := Staff
dave	Cleartext-Password := "pw", Cetbyod-Role := Staff
erin	Cleartext-Password := "pw", Cetbyod-Role := Staff
frank	Cleartext-Password := "pw", Cetbyod-Role := Staff
gina	Cleartext-Password := "pw", Cetbyod-Role := Staff
hank	Cleartext-Password := "pw", Cetbyod-Role := Staff
EOF2
CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $CB_TMP/state"

cb_emu PUT forms/byod "{\"title\": \"BYOD acknowledgement\", \"collectEmails\": true,
	\"items\": [{\"title\": \"$Q\", \"questionId\": \"q1\", \"kind\": \"choice\", \"options\": [\"I agree\", \"I do not agree\"]}]}" >/dev/null
for u in alice carol dave erin frank; do
	cb_emu POST forms/byod/responses "{\"responseId\": \"r-$u\", \"respondentEmail\": \"$u@school.example\",
		\"lastSubmittedTime\": \"$(iso $((now - 10 * day)))\", \"answers\": {\"$Q\": \"I agree\"}}" >/dev/null
done

forms_conf() {
	cb_google_module_conf "$CB_TMP/cetbyod.conf" forms "	forms {
		form_id = byod
		agreement_question = \"$Q\"
		agree_value = \"I agree\"
	}"
}
CB_STALE_AFTER=8 CB_FULL_INTERVAL=2 forms_conf
cb_make_raddb "$CB_TMP/users" /dev/null "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }
if cb_start_radiusd; then cb_pass "radiusd starts with source = forms"; else cb_fail "radiusd starts with source = forms"; cb_finish; fi

cb_wait_for "Forms: acknowledged staff admitted after the first sync" 15 alice pw 'Tunnel-Private-Group-Id:0 = "100"'
cb_pap bob pw
cb_expect_reply "Forms: staff without a response onboarded" 'Tunnel-Private-Group-Id:0 = "200"'

cb_emu DELETE requests >/dev/null
cb_emu POST forms/byod/responses "{\"responseId\": \"r-bob\", \"respondentEmail\": \"Bob@School.Example\",
	\"answers\": {\"$Q\": \"I agree\"}}" >/dev/null
cb_wait_for "Forms: a new response admits within seconds" 10 bob pw 'Tunnel-Private-Group-Id:0 = "100"'
echo "# bob admitted ${CB_WAITED}s after submitting"
incremental=
for _ in $(seq 1 40); do
	if cb_emu GET "requests?path=/v1/forms/byod/responses" | grep -q 'timestamp'; then incremental=1; break; fi
	sleep 0.25
done
if [ -n "$incremental" ]; then
	cb_pass "Forms: between full syncs only new responses are fetched (filter=timestamp > last seen)"
else
	cb_fail "Forms: between full syncs only new responses are fetched (filter=timestamp > last seen)"
fi

cb_emu PATCH forms/byod/responses/r-alice "{\"answers\": {\"$Q\": \"I do not agree\"}}" >/dev/null
cb_wait_for "Forms: a later withdrawal refuses with the reason" 10 alice pw 'withdrawn'

# A blank answer is no acknowledgement and no withdrawal: reported, skipped (issue 15, item 18).
cb_emu POST forms/byod/responses '{"responseId": "r-gina", "respondentEmail": "gina@school.example", "answers": {}}' >/dev/null
cb_emu PATCH forms/byod/responses/r-erin '{"answers": {}}' >/dev/null
cb_wait_for "Forms: the response in force edited to no answer: no acknowledgement (onboarded), not a withdrawal" \
	10 erin pw 'Tunnel-Private-Group-Id:0 = "200"'
cb_pap gina pw
cb_expect_reply "Forms: a response without an answer to the agreement question: onboarded, not refused" \
	'Tunnel-Private-Group-Id:0 = "200"'
if grep -q "response r-gina (gina@school.example): no answer to the agreement question" "$CB_TMP/radiusd.out"; then
	cb_pass "Forms: the response without an answer is reported with its id"
else
	cb_fail "Forms: the response without an answer is reported with its id"
fi

# --- Google down for a long spell -------------------------------------------
cb_emu POST faults '{"path": "/v1/", "kind": "503", "count": -1}' >/dev/null
cb_emu POST faults '{"path": "/token", "kind": "503", "count": -1}' >/dev/null
cb_pap carol pw
cb_expect_reply "outage: acknowledged staff still admitted" 'Tunnel-Private-Group-Id:0 = "100"'
cb_stop_radiusd
if cb_start_radiusd; then cb_pass "radiusd restarts during the outage"; else cb_fail "radiusd restarts during the outage"; fi
if grep -q "loaded the last good acknowledgements from" "$CB_TMP/radiusd.out"; then
	cb_pass "restart: the last good snapshot is loaded"
else
	cb_fail "restart: the last good snapshot is loaded"
fi
cb_pap carol pw
cb_expect_reply "restart during the outage: acknowledged staff still admitted" 'Tunnel-Private-Group-Id:0 = "100"'
cb_wait_for "outage past stale_after: refused with source_stale (fails closed)" 20 carol pw 'try again later'
cb_emu DELETE faults >/dev/null
cb_wait_for "outage over: admitted again without a restart" 20 carol pw 'Tunnel-Private-Group-Id:0 = "100"'

# --- A mass deletion is held ------------------------------------------------
cb_emu DELETE forms/byod/responses >/dev/null
for _ in $(seq 1 40); do
	grep -q "sync result held" "$CB_TMP/radiusd.out" && break
	sleep 0.25
done
if grep -q "sync result held" "$CB_TMP/radiusd.out"; then
	cb_pass "mass deletion: the sync result is held and the reason logged"
else
	cb_fail "mass deletion: the sync result is held and the reason logged"
fi
cb_pap dave pw
cb_expect_reply "mass deletion: acknowledged staff still admitted" 'Tunnel-Private-Group-Id:0 = "100"'
cb_wait_ctl 10 "held by the mass-removal guard" status
cb_expect_ctl "mass deletion: cetbyodctl status shows the held sync" 4 "held by the mass-removal guard" status
cb_stop_radiusd
# The held result went with radiusd.  An admin confirms now (within the
# heartbeat's grace the CLI still takes it): that acceptance must neither
# stay armed nor apply to the hold the restarted radiusd makes (item 10).
"$CB_BUILDDIR/cetbyodctl/cetbyodctl" --state-dir "$CB_TMP/state" confirm --mass-removal >/dev/null 2>&1
sleep 1.1		# The new hold begins in a later second than the acceptance.
from=$(( $(wc -l < "$CB_TMP/radiusd.out") + 1 ))
if cb_start_radiusd; then cb_pass "radiusd restarts during the hold"; else cb_fail "radiusd restarts during the hold"; fi
for _ in $(seq 1 40); do
	tail -n "+$from" "$CB_TMP/radiusd.out" | grep -q "acceptance is older than the hold" && break
	sleep 0.25
done
sleep 1
cb_pap dave pw
cb_expect_reply "an acceptance from before the restart does not apply the new hold: staff still admitted" \
	'Tunnel-Private-Group-Id:0 = "100"'
if tail -n "+$from" "$CB_TMP/radiusd.out" | grep -Eq "acceptance is older than the hold|none is held"; then
	cb_pass "the stale acceptance is logged and ignored"
else
	cb_fail "the stale acceptance is logged and ignored"
fi
cb_stop_radiusd

# --- Sheets -------------------------------------------------------------------
cb_emu PUT sheets/sheet1 "{\"title\": \"BYOD (Responses)\", \"timeZone\": \"Europe/London\",
	\"sheets\": [{\"title\": \"Form responses 1\", \"rows\": [
		[\"Timestamp\", \"Email Address\", \"$Q\", \"Revoked\"],
		[{\"datetime\": \"$(iso $((now - 5 * day)))\"}, \"erin@school.example\", \"I agree\"],
		[{\"datetime\": \"$(iso $((now - 4 * day)))\"}, \"frank@school.example\", \"I agree\", \"yes\"],
		[\"not a date\", \"dave@school.example\", \"I agree\"],
		[{\"datetime\": \"$(iso $((now - 3 * day)))\"}, \"gina@school.example\"],
		[{\"datetime\": \"$(iso $((now - 3 * day)))\"}, \"hank@school.example\", \"I agree\"],
		[{\"datetime\": \"$(iso $((now - 2 * day)))\"}, \"hank@school.example\", \"\", \"no\"]]}]}" >/dev/null
cb_google_module_conf "$CB_TMP/cetbyod.conf" sheets "	sheets {
		spreadsheet_id = sheet1
		range = \"'Form responses 1'!A:Z\"
		agreement_column = \"$Q\"
		agree_value = \"I agree\"
		allow_unverified_email = yes
	}"
rm -f "$CB_TMP/state/"*
cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod"
if cb_start_radiusd; then cb_pass "radiusd starts with source = sheets"; else cb_fail "radiusd starts with source = sheets"; cb_finish; fi
# This configuration sets no stale_after: the default must be a safe limit (7 days), not "never".
if grep -Eq "stale_after = 604800$" "$CB_TMP/radiusd.out"; then
	cb_pass "stale_after defaults to 604800 s (7 days)"
else
	cb_fail "stale_after defaults to 604800 s (7 days)"
fi
cb_wait_for "Sheets: acknowledged staff admitted (header matched case-insensitively)" 15 erin pw 'Tunnel-Private-Group-Id:0 = "100"'
cb_pap frank pw
cb_expect_reply "Sheets: a row marked in the Revoked column refuses" 'Access-Reject' 'withdrawn'
cb_pap dave pw
cb_expect_reply "Sheets: a row with an unparseable timestamp is not trusted" 'Tunnel-Private-Group-Id:0 = "200"'
if grep -q "row 4" "$CB_TMP/radiusd.out"; then cb_pass "Sheets: the bad row is reported with where it is"; else cb_fail "Sheets: the bad row is reported with where it is"; fi
cb_pap gina pw
cb_expect_reply "Sheets: a row that ends before the agreement cell is no acknowledgement (onboarded), not a withdrawal" \
	'Tunnel-Private-Group-Id:0 = "200"'
cb_pap hank pw
cb_expect_reply "Sheets: a later row with an empty agreement cell leaves the earlier agreement in force" \
	'Tunnel-Private-Group-Id:0 = "100"'
if grep -Eq "row 5.*: no answer \(gina@school.example\)" "$CB_TMP/radiusd.out" &&
   grep -Eq "row 7.*: no answer \(hank@school.example\)" "$CB_TMP/radiusd.out"; then
	cb_pass "Sheets: the rows with a blank agreement cell are reported with where they are"
else
	cb_fail "Sheets: the rows with a blank agreement cell are reported with where they are"
fi
skipped=
for _ in $(seq 1 20); do
	skipped=$($CTL status 2>/dev/null | grep "skipped records")
	case $skipped in *"3 (the first"*) break ;; esac
	sleep 0.25
done
case $skipped in
*"3 (the first"*) cb_pass "Sheets: cetbyodctl status counts the skipped rows:$skipped" ;;
*) cb_fail "Sheets: cetbyodctl status counts the skipped rows (got: $skipped)" ;;
esac
cb_emu DELETE requests >/dev/null
sleep 3
if cb_emu GET "requests?path=/v4/spreadsheets/sheet1/values" | grep -q '"path"'; then
	cb_fail "Sheets: an unchanged sheet is not downloaded again (Drive version)"
else
	cb_pass "Sheets: an unchanged sheet is not downloaded again (Drive version)"
fi
cb_emu POST sheets/sheet1/rows "{\"rows\": [[{\"datetime\": \"$(iso "$now")\"}, \"dave@school.example\", \"I agree\"]]}" >/dev/null
cb_wait_for "Sheets: a new row admits after the next sync" 10 dave pw 'Tunnel-Private-Group-Id:0 = "100"'
cb_stop_radiusd

# --- Key file readable by others ------------------------------------------------
chmod 644 "$CB_EMU_DIR/certs/sa.json"
cb_radiusd_check "$CB_TMP/check.out"
chmod 600 "$CB_EMU_DIR/certs/sa.json"
if grep -q "readable by" "$CB_TMP/check.out"; then
	cb_pass "a key file readable by other users stops start-up with a message saying so"
else
	cb_fail "a key file readable by other users stops start-up with a message saying so"
	tail -5 "$CB_TMP/check.out" | sed 's/^/    # /'
fi

cb_finish
