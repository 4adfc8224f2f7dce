#!/bin/bash
# test_google_faults.sh - Google failing for a long time, time-compressed
# through the configuration (stale_after 10 s, sync every second, backoff
# capped at 4 s), through a real radiusd and the emulator:
#   - the source is read successfully but unchanged for longer than
#     stale_after (the snapshot is not rewritten), then Google answers 500 to
#     everything and radiusd is restarted: staff are still admitted until
#     stale_after after the last successful read, then refused as
#     source_stale (issue 15, item 16: it used to count from the last change);
#   - the failing syncs back off (the requests Google sees are counted);
#   - Google recovers: staff admitted again without a restart;
#   - a restart after the outage has outlasted stale_after refuses at once,
#     and with admit_when_stale = yes admits;
#   - the service account key deleted in the Cloud console (the emulator
#     verifies the JWT, then answers invalid_grant as Google does): token
#     requests back off exponentially (counted), status says so, and
#     `cetbyodctl sync` retries at once once the key is back (issue 15,
#     item 19: it used to ask every interval).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/google-lib.sh"

STALE=10
Q='I have read the BYOD policy and agree to it'
SNAP=$CB_TMP/state/acknowledgements.snapshot

cb_start_emulator || { cb_fail "start the Google emulator"; cb_finish; }
now=$(date +%s)
cat > "$CB_TMP/users" <<EOF2
carol	Cleartext-Password := "pw", Cetbyod-Role := Staff
bob	Cleartext-Password := "pw", Cetbyod-Role := Staff
EOF2
cb_emu PUT forms/byod "{\"title\": \"BYOD acknowledgement\", \"collectEmails\": true,
	\"items\": [{\"title\": \"$Q\", \"questionId\": \"q1\", \"kind\": \"choice\", \"options\": [\"I agree\", \"I do not agree\"]}]}" >/dev/null
cb_emu POST forms/byod/responses "{\"responseId\": \"r-carol\", \"respondentEmail\": \"carol@school.example\",
	\"lastSubmittedTime\": \"$(date -u -d "@$((now - 86400))" +%Y-%m-%dT%H:%M:%SZ)\", \"answers\": {\"$Q\": \"I agree\"}}" >/dev/null

forms_conf() {
	CB_STALE_AFTER=$STALE CB_FULL_INTERVAL=3600 CB_BACKOFF_MAX=4 CB_KEY_BACKOFF_MAX=4 \
		cb_google_module_conf "$CB_TMP/cetbyod.conf" forms "	forms {
		form_id = byod
		agreement_question = \"$Q\"
		agree_value = \"I agree\"
	}"
}
forms_conf
cb_make_raddb "$CB_TMP/users" /dev/null "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }
cb_start_radiusd || { cb_fail "radiusd starts with source = forms"; cb_finish; }
cb_wait_for "acknowledged staff admitted after the first sync" 15 carol pw 'Tunnel-Private-Group-Id:0 = "100"'

# cb_requests SEQ - how many API and token requests Google saw after SEQ.
cb_requests() {
	cb_emu GET "requests?since=$1" | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["requests"]))'
}
cb_last_seq() {
	cb_emu GET "requests" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["lastSeq"])'
}

# --- Unchanged reads for longer than stale_after ----------------------------
sleep $((STALE + 2))
cb_pap carol pw
cb_expect_reply "source read unchanged for longer than stale_after: still admitted" 'Tunnel-Private-Group-Id:0 = "100"'
age=$(( $(date +%s) - $(stat -c %Y "$SNAP") ))
if [ "$age" -gt "$STALE" ]; then
	cb_pass "the snapshot was last rewritten ${age}s ago (more than stale_after = ${STALE}s): nothing changed since"
else
	cb_fail "the snapshot was rewritten ${age}s ago: the scenario needs it older than stale_after"
fi

# --- Google answers 500 to everything; radiusd restarted during it ----------
t_out=$(date +%s.%N)
cb_emu POST faults '[{"path": "/v1/", "kind": "500", "count": -1}, {"path": "/token", "kind": "500", "count": -1}]' >/dev/null
cb_stop_radiusd
seq0=$(cb_last_seq)
if cb_start_radiusd; then cb_pass "radiusd restarts during the outage"; else cb_fail "radiusd restarts during the outage"; cb_finish; fi
cb_pap carol pw
cb_expect_reply "restart during the outage, ${STALE}s after the last change: staff still admitted from the snapshot" \
	'Tunnel-Private-Group-Id:0 = "100"'
if grep -q "the source was last read successfully at" "$CB_TMP/radiusd.out"; then
	cb_pass "restart: the snapshot and the time of the last successful read are loaded"
else
	cb_fail "restart: the snapshot and the time of the last successful read are loaded"
fi
cb_wait_ctl 10 "temporary failure" status	# The status follows within a heartbeat of the first failed sync.
cb_expect_ctl "cetbyodctl status exits 4 and shows Google's failure" 4 "temporary failure" status
if cb_wait_for "outage past stale_after: refused as source_stale" 30 carol pw 'Access-Reject'; then
	took=$(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $t_out }")
	echo "# refused as source_stale ${took}s after the outage began (stale_after = ${STALE}s)"
	if awk "BEGIN { exit !($took >= $STALE - 2 && $took <= $STALE + 4) }"; then
		cb_pass "source_stale ${took}s into the outage: counted from the last successful read (${STALE}s)"
	else
		cb_fail "source_stale ${took}s into the outage, expected about ${STALE}s after the last successful read"
	fi
fi
cb_expect_reply "the refusal says to try again later" 'try again later'
window=$(awk "BEGIN { printf \"%d\", $(date +%s.%N) - $t_out }")
n=$(cb_requests "$seq0")
echo "# Google saw $n requests in the ${window}s since the restart (sync interval 1 s, backoff_max 4 s)"
if [ "$n" -ge 2 ] && [ "$n" -le $((window / 2 + 3)) ]; then
	cb_pass "failing syncs back off: $n requests in ${window}s, not one a second"
else
	cb_fail "failing syncs back off: $n requests in ${window}s"
fi

# --- Google recovers ---------------------------------------------------------
t_back=$(date +%s.%N)
cb_emu DELETE faults >/dev/null
if cb_wait_for "Google back: staff admitted again without a restart" 15 carol pw 'Tunnel-Private-Group-Id:0 = "100"'; then
	echo "# admitted again $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $t_back }")s after Google recovered"
fi
cb_pap bob pw
cb_expect_reply "Google back: staff without a response onboarded" 'Tunnel-Private-Group-Id:0 = "200"'

# --- An outage longer than stale_after across a restart ----------------------
cb_emu POST faults '[{"path": "/v1/", "kind": "500", "count": -1}, {"path": "/token", "kind": "500", "count": -1}]' >/dev/null
sleep 1.5		# The last successful read is now before the outage.
cb_stop_radiusd
sleep $((STALE + 1))
if cb_start_radiusd; then cb_pass "radiusd restarts ${STALE}s into a second outage"; else cb_fail "radiusd restarts ${STALE}s into a second outage"; fi
cb_pap carol pw
cb_expect_reply "restart after stale_after without a successful read: refused at once as source_stale" \
	'Access-Reject' 'try again later'
cb_stop_radiusd
CB_ADMIT_WHEN_STALE=yes forms_conf
cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod"
if cb_start_radiusd; then cb_pass "radiusd restarts with admit_when_stale = yes"; else cb_fail "radiusd restarts with admit_when_stale = yes"; fi
cb_pap carol pw
cb_expect_reply "admit_when_stale = yes: acknowledged staff admitted from the stale snapshot (fails open)" \
	'Tunnel-Private-Group-Id:0 = "100"'
cb_emu DELETE faults >/dev/null
cb_stop_radiusd

# --- The service account key deleted ------------------------------------------
forms_conf
cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod"
cb_start_radiusd || { cb_fail "radiusd restarts after the outages"; cb_finish; }
cb_wait_for "Google back: admitted after the restart" 15 carol pw 'Tunnel-Private-Group-Id:0 = "100"'
cb_emu POST config '{"keyDeleted": true}' >/dev/null
cb_emu DELETE tokens >/dev/null		# The module's cached token stops working too.
seq1=$(cb_last_seq)
sleep 13
tokens=$(cb_emu GET "requests?path=/token&since=$seq1" | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["requests"]))')
echo "# $tokens token requests in 13 s with the key deleted (sync interval 1 s, key_backoff_max 4 s)"
if [ "$tokens" -ge 3 ] && [ "$tokens" -le 6 ]; then
	cb_pass "a deleted key is backed off: $tokens token requests in 13 s (1, 2, 4, 4 s apart), not 13"
else
	cb_fail "a deleted key is backed off: $tokens token requests in 13 s"
fi
cb_expect_ctl "cetbyodctl status: the key was refused, and the module is backing off" 4 \
	"key was rejected: Invalid JWT Signature.*backing off, next try in [0-9]+ s" status
cb_pap carol pw
cb_expect_reply "no successful read for longer than stale_after: refused as source_stale" 'Access-Reject' 'try again later'
cb_emu POST config '{"keyDeleted": false}' >/dev/null
t_fix=$(date +%s.%N)
cb_expect_ctl "cetbyodctl sync after the key is fixed" 0 "requested" sync
if cb_wait_for "the key back and cetbyodctl sync: admitted again without a restart" 10 carol pw \
	'Tunnel-Private-Group-Id:0 = "100"'; then
	echo "# admitted again $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $t_fix }")s after the key was restored"
fi

cb_finish
