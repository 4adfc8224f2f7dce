#!/bin/bash
# test_google_quota.sh - Google's per-user quotas (issue 14, item 5), through
# a real radiusd reading a sheet from the emulator, syncing every second:
#   - the request budget (google { max_requests_per_minute = 8 }): the sheet
#     changes every second, so the module would send two requests a second;
#     the emulator's per-user counter shows no minute above 8, cetbyodctl
#     status shows the deferral (exit 0: nothing failed), acknowledged staff
#     stay admitted; the time zone (spreadsheets.get) is read on the full
#     sync only, not on each changed-sheet sync;
#   - a 429 storm: a second "server" using the same service account (a curl
#     loop with a token of that account) eats the per-user Sheets quota, which
#     the emulator refuses beyond 3 reads per window (Drive stays unlimited:
#     the module's change checks pass, its reads of the changing sheet get
#     429).
#     To keep this in seconds the emulator's window is 6 s instead of
#     Google's minute (the module's budget keeps its real minute, 600 here).
#     The module backs off (its refused requests are counted), status shows
#     "rate limited by Google: N in the last hour" and exits 4 like any failed
#     sync, staff stay admitted; when the other server stops, the module
#     recovers by itself.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/google-lib.sh"

Q='I have read the BYOD policy and agree to it'
SA=sa@test-project.iam.gserviceaccount.com
CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $CB_TMP/state"
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
now=$(date +%s)

cb_start_emulator || { cb_fail "start the Google emulator"; cb_finish; }
cat > "$CB_TMP/users" <<EOF2
carol	Cleartext-Password := "pw", Cetbyod-Role := Staff
EOF2
cb_emu PUT sheets/sheet1 "{\"title\": \"BYOD (Responses)\", \"timeZone\": \"Europe/London\",
	\"sheets\": [{\"title\": \"Form responses 1\", \"rows\": [
		[\"Timestamp\", \"Email Address\", \"$Q\"],
		[{\"datetime\": \"$(iso $((now - 86400)))\"}, \"carol@school.example\", \"I agree\"]]}]}" >/dev/null
sheets_conf() {
	CB_BACKOFF_MAX=4 cb_google_module_conf "$CB_TMP/cetbyod.conf" sheets "	sheets {
		spreadsheet_id = sheet1
		range = \"'Form responses 1'!A:Z\"
		agreement_column = \"$Q\"
		agree_value = \"I agree\"
		allow_unverified_email = yes	# A sheet of its own, no form to check: no forms.get in the counts.
	}"
}
# add_row N - a new (unrelated) row, so that every sync finds the sheet changed.
add_row() {
	cb_emu POST sheets/sheet1/rows "{\"rows\": [[{\"datetime\": \"$(iso "$(date +%s)")\"}, \"t$1@school.example\", \"I agree\"]]}" >/dev/null
}
# changing_while_admitted PREFIX DESC - for 12 s, a new row and carol's PAP every second: she is admitted each time.
changing_while_admitted() {
	admitted=0
	for i in $(seq 1 12); do
		add_row "$1$i"
		cb_pap carol pw
		printf '%s\n' "$CB_REPLY" | grep -q 'Tunnel-Private-Group-Id:0 = "100"' && admitted=$((admitted + 1))
		sleep 1
	done
	if [ "$admitted" = 12 ]; then cb_pass "$2 (12 of 12)"; else cb_fail "$2 ($admitted of 12)"; fi
}
# py EXPR - evaluate EXPR over the JSON on stdin (d).
py() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# --- The request budget -----------------------------------------------------------
CB_MAX_RPM=8 sheets_conf
cb_make_raddb "$CB_TMP/users" /dev/null "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }
cb_start_radiusd || { cb_fail "radiusd starts with a request budget of 8 a minute"; cb_finish; }
cb_wait_for "acknowledged staff admitted after the first sync" 15 carol pw 'Tunnel-Private-Group-Id:0 = "100"'
changing_while_admitted "" "staff admitted throughout"
quota=$(cb_emu GET quota)
top=$(printf '%s' "$quota" | py "d['maxRequestsPerWindow'].get('$SA', 0)")
echo "# the most requests the emulator counted in one minute for $SA: $top (budget 8; the sheet changed every second)"
# The sheet changing every second asks for about 24 requests in those 12 s:
# the upper bound is the budget's work.  The lower bound only shows that the
# budget was reached rather than the syncs stalling (a loaded machine syncs
# less often, so it is not the budget's 8).
if [ "$top" -ge 3 ] && [ "$top" -le 8 ]; then
	cb_pass "no minute above the budget: at most $top requests a minute, the budget used"
else
	cb_fail "no minute above the budget of 8: $top"
fi
cb_expect_ctl "cetbyodctl status shows the deferral, and exits 0 (nothing failed)" 0 \
	"request budget +used up \(google.max_requests_per_minute\): next request at" status
if grep -q "pass deferred: the request budget of 8 requests a minute" "$CB_TMP/radiusd.out"; then
	cb_pass "radiusd -X says why the pass waits"
else
	cb_fail "radiusd -X says why the pass waits"
fi
reqs=$(cb_emu GET "requests?path=/v4/spreadsheets/sheet1")
props=$(printf '%s' "$reqs" | py "len([e for e in d['requests'] if e['path'] == '/v4/spreadsheets/sheet1'])")
values=$(printf '%s' "$reqs" | py "len([e for e in d['requests'] if '/values/' in e['path']])")
echo "# spreadsheets.get (time zone) $props time(s), values.get $values times"
if [ "$props" = 1 ] && [ "$values" -ge 2 ]; then
	cb_pass "the time zone is read on the full sync only ($props), not on each changed-sheet sync ($values reads)"
else
	cb_fail "the time zone is read on the full sync only: spreadsheets.get $props, values.get $values"
fi
cb_stop_radiusd

# --- A 429 storm: the per-user quota shared with a second server -------------------------
cb_emu DELETE quota >/dev/null
cb_emu POST quota '{"perUser": {"sheets": 3}, "windowSeconds": 6}' >/dev/null
sheets_conf
cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod"
cb_start_radiusd || { cb_fail "radiusd restarts"; cb_finish; }
cb_wait_for "restarted: staff admitted" 15 carol pw 'Tunnel-Private-Group-Id:0 = "100"'
TOKEN=$(cb_emu GET tokens | py "[t['token'] for t in d['tokens'] if t['valid']][-1]")
(	# The other server: same service account, reads as fast as it can until told to stop
	# (other.stop), 60 s at most: under load the 12 PAP rounds below take longer than 12 s.
	end=$(( $(date +%s) + 60 ))
	while [ ! -e "$CB_TMP/other.stop" ] && [ "$(date +%s)" -lt "$end" ]; do
		curl -s --max-time 5 --cacert "$CB_EMU_DIR/certs/ca.pem" -H "Authorization: Bearer $TOKEN" \
			-o /dev/null "$CB_EMU_URL/v4/spreadsheets/sheet1/values/B1"
		sleep 0.2
	done
) &
OTHER=$!
CB_PIDS="$CB_PIDS $OTHER"
seq0=$(cb_emu GET requests | py "d['lastSeq']")
t0=$(date +%s)
changing_while_admitted s "429 storm: staff admitted throughout"
# While the other server still reads, a sync of the module's may get through at a
# window's edge: status is asked until it shows the limiting (20 s at most).
ctl_end=$(( $(date +%s) + 20 ))
until "$CB_BUILDDIR/cetbyodctl/cetbyodctl" --state-dir "$CB_TMP/state" status >"$CB_TMP/ctl.out" 2>&1; rc=$?
	[ "$rc" = 4 ] && grep -Eq "rate limited by Google: [1-9][0-9]* in the last hour, next try at" "$CB_TMP/ctl.out"; do
	[ "$(date +%s)" -ge "$ctl_end" ] && break
	sleep 0.25
done
if [ "$rc" = 4 ] && grep -Eq "rate limited by Google: [1-9][0-9]* in the last hour, next try at" "$CB_TMP/ctl.out"; then
	cb_pass "cetbyodctl status: rate limited by Google, with the next try; exit 4 like a failed sync"
else
	cb_fail "cetbyodctl status: rate limited by Google, with the next try; exit 4 like a failed sync (exit $rc)"
	sed 's/^/    # /' "$CB_TMP/ctl.out"
fi
mine=$(cb_emu GET "requests?since=$seq0" | py "len([e for e in d['requests'] if 'prettyPrint=false' in e['query']])")
refused=$(cb_emu GET "requests?since=$seq0" | py "len([e for e in d['requests'] if 'prettyPrint=false' in e['query'] and e['status'] == 429])")
window=$(( $(date +%s) - t0 ))
echo "# the module sent $mine requests in ${window}s of the storm, $refused refused (sync interval 1 s, backoff_max 4 s)"
# Without backoff a sync a second sends two requests a second (Drive, then
# Sheets); with it, well under that, on a quiet machine about one a second.
if [ "$refused" -ge 1 ] && [ "$mine" -le $((window * 3 / 2 + 2)) ] && [ "$refused" -le $((window / 2 + 2)) ]; then
	cb_pass "the module backs off under Google's 429s: $refused refused of $mine in ${window}s"
else
	cb_fail "the module backs off under Google's 429s: $refused refused of $mine in ${window}s"
fi
if grep -q "rate limited by Google: the per-user quota of $SA" "$CB_TMP/radiusd.out"; then
	cb_pass "radiusd -X names the quota and the service account sharing it"
else
	cb_fail "radiusd -X names the quota and the service account sharing it"
fi
touch "$CB_TMP/other.stop"
wait "$OTHER" 2>/dev/null
cb_forget_pid "$OTHER"
if cb_wait_ctl 20 "last error +-$" status; then
	cb_pass "the other server gone: the module recovers by itself"
else
	cb_fail "the other server gone: the module recovers by itself"
fi
cb_expect_ctl "after recovery cetbyodctl status exits 0 and still shows the hour's rate limiting" 0 \
	"rate limited by Google: [1-9][0-9]* in the last hour" status

cb_finish
