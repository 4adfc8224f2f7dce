#!/bin/bash
# test_google_sheets.sh - the Sheets source and a sheet as a school changes
# it during the year (issue 14), through a real radiusd and the emulator:
#   - a policy version that people typed as 1.0 or 2026-09, which the sheet
#     holds as the number 1 and a date: read as shown, so they are admitted;
#   - a checkbox answer "I agree, Other" in one cell: agreement, as in Forms;
#   - the form behind the sheet switched to "Responder input": its new rows
#     are refused with a message naming sheets.allow_unverified_email (log
#     and cetbyodctl status), staff admitted before stay admitted; with the
#     option set the new row admits;
#   - a start-up without sheets.form_id or the option is refused, naming both;
#   - the agreement question's header renamed in place: still read, logged.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/google-lib.sh"

cb_start_emulator || { cb_fail "start the Google emulator"; cb_finish; }

now=$(date +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
day=86400
Q='I have read the BYOD policy and agree to it'
STAFF='Tunnel-Private-Group-Id:0 = "100"'
ONBOARD='Tunnel-Private-Group-Id:0 = "200"'

: > "$CB_TMP/users"
for u in alice bob carol dave erin frank; do
	printf '%s\tCleartext-Password := "pw", Cetbyod-Role := Staff\n' "$u" >> "$CB_TMP/users"
done
CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $CB_TMP/state"

ts() { printf '{"datetime": "%s"}' "$(iso $((now - $1 * day)))"; }
cb_emu PUT sheets/sheet1 "{\"title\": \"BYOD (Responses)\", \"timeZone\": \"Europe/London\",
	\"sheets\": [{\"title\": \"Form responses 1\", \"rows\": [
		[\"Timestamp\", \"Email address\", \"$Q\", \"Policy version\"],
		[$(ts 5), \"alice@school.example\", \"I agree\", {\"value\": 1, \"formatted\": \"1.0\"}],
		[$(ts 5), \"bob@school.example\", \"I agree\", {\"date\": \"2026-09-01\", \"pattern\": \"yyyy-MM\"}],
		[$(ts 5), \"carol@school.example\", \"I agree, Other\", {\"value\": 1, \"formatted\": \"1.0\"}],
		[$(ts 5), \"dave@school.example\", \"Other\", {\"value\": 1, \"formatted\": \"1.0\"}]]}]}" >/dev/null
cb_emu PUT forms/byod "{\"title\": \"BYOD acknowledgement\", \"emailCollectionType\": \"VERIFIED\",
	\"linkedSheetId\": \"sheet1\",
	\"items\": [{\"title\": \"$Q\", \"kind\": \"checkbox\", \"options\": [\"I agree\"]}]}" >/dev/null

# sheets_conf VERSION EXTRA - the module's configuration with policy version VERSION.
sheets_conf() {
	CB_POLICY_VERSION=$1 cb_google_module_conf "$CB_TMP/cetbyod.conf" sheets "	sheets {
		spreadsheet_id = sheet1
		range = \"'Form responses 1'!A:Z\"
		agreement_column = \"$Q\"
		policy_version_column = \"Policy version\"
		agree_value = \"I agree\"
$2
	}"
	cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod" 2>/dev/null
}

# --- Neither form_id nor allow_unverified_email: start-up refused ---------------
sheets_conf "1.0" ""
cb_make_raddb "$CB_TMP/users" /dev/null "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }
cb_radiusd_check "$CB_TMP/check.out"
if grep -q "sheets.form_id is required" "$CB_TMP/check.out" && grep -q "sheets.allow_unverified_email = yes" "$CB_TMP/check.out"; then
	cb_pass "a sheet with no form to check and no allow_unverified_email is refused at start-up, naming both options"
else
	cb_fail "a sheet with no form to check and no allow_unverified_email is refused at start-up, naming both options"
	sed 's/^/    # /' "$CB_TMP/check.out" | tail -5
fi

# --- Typed versions and a checkbox cell --------------------------------------------
sheets_conf "1.0" "		form_id = byod"
if cb_start_radiusd; then cb_pass "radiusd starts with sheets.form_id"; else cb_fail "radiusd starts with sheets.form_id"; cb_finish; fi
cb_wait_for "a version typed 1.0 (the number 1 in the sheet, shown as 1.0) matches policy version 1.0: admitted" \
	15 alice pw "$STAFF"
cb_pap carol pw
cb_expect_reply "a checkbox cell \"I agree, Other\" is agreement: admitted" "$STAFF"
cb_pap dave pw
cb_expect_reply "a checkbox cell with no agreement choice is a withdrawal: refused" 'Access-Reject' 'withdrawn'
cb_pap bob pw
cb_expect_reply "a version typed 2026-09 does not match policy version 1.0: onboarded" "$ONBOARD"
if cb_emu GET "requests?path=/v1/forms/byod" | grep -q '"path"'; then
	cb_pass "the form behind the sheet is checked through the Forms API"
else
	cb_fail "the form behind the sheet is checked through the Forms API"
fi
cb_stop_radiusd

sheets_conf "2026-09" "		form_id = byod"
if cb_start_radiusd; then cb_pass "radiusd restarts with policy version 2026-09"; else cb_fail "radiusd restarts with policy version 2026-09"; cb_finish; fi
cb_wait_for "a version typed 2026-09 (a date in the sheet, shown as 2026-09) matches policy version 2026-09: admitted" \
	15 bob pw "$STAFF"

# --- The form switched to Responder input -----------------------------------------
cb_emu PATCH forms/byod '{"emailCollectionType": "RESPONDER_INPUT"}' >/dev/null
cb_emu POST sheets/sheet1/rows "{\"rows\": [[$(ts 0), \"erin@school.example\", \"I agree\", \"2026-09\"]]}" >/dev/null
if cb_wait_ctl 15 "allow_unverified_email" status; then
	cb_pass "cetbyodctl status names sheets.allow_unverified_email once the form lets people type any address"
else
	cb_fail "cetbyodctl status names sheets.allow_unverified_email once the form lets people type any address"
	$CTL status 2>&1 | sed 's/^/    # /'
fi
if grep -q "form byod lets respondents type any email address.*sheets.allow_unverified_email = yes" "$CB_TMP/radiusd.out"; then
	cb_pass "the log says why the sheet is refused, naming the option"
else
	cb_fail "the log says why the sheet is refused, naming the option"
fi
cb_pap erin pw
cb_expect_reply "a row added while the form takes typed addresses is not believed: onboarded" "$ONBOARD"
cb_pap bob pw
cb_expect_reply "staff admitted before stay admitted from the snapshot in force" "$STAFF"
cb_stop_radiusd

sheets_conf "2026-09" "		form_id = byod
		allow_unverified_email = yes"
if cb_start_radiusd; then cb_pass "radiusd restarts with allow_unverified_email = yes"; else cb_fail "radiusd restarts with allow_unverified_email = yes"; cb_finish; fi
cb_wait_for "with sheets.allow_unverified_email = yes the new row admits" 15 erin pw "$STAFF"

# --- The agreement question's header renamed in place -------------------------------
cb_emu PATCH sheets/sheet1/cell '{"cell": "C1", "value": "I have read the BYOD policy and I agree to it"}' >/dev/null
cb_emu POST sheets/sheet1/rows "{\"rows\": [[$(ts 0), \"frank@school.example\", \"I agree\", \"2026-09\"]]}" >/dev/null
cb_wait_for "after the agreement header is renamed in place, a new row still admits" 15 frank pw "$STAFF"
if grep -q 'column C, headed "I have read the BYOD policy and agree to it" when last read, is now headed "I have read the BYOD policy and I agree to it": still read as sheets.agreement_column' "$CB_TMP/radiusd.out"; then
	cb_pass "the log names the renamed header and the option to update"
else
	cb_fail "the log names the renamed header and the option to update"
fi
cb_pap bob pw
cb_expect_reply "after the rename, earlier rows are still read: staff stay admitted" "$STAFF"
cb_stop_radiusd

cb_finish
