#!/bin/bash
# test_google_changes.sh - a school edits its form during the year (issue 14),
# through a real radiusd and the Google emulator:
#   - the agreement question is renamed mid-run: it is read by its id, the
#     rename is logged, new acknowledgements keep arriving, a restart keeps
#     the binding (the configured title no longer matches anything);
#   - it is deleted and re-created (a new questionId): the sync is held with
#     a message naming both ids, nobody who acknowledged is refused, status
#     exits 4 showing it; `cetbyodctl confirm --rebind` takes the new question;
#   - responses and file lines dated in 2099 are refused and reported (the
#     log and status say where they came from), the rest are used.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/google-lib.sh"

cb_start_emulator || { cb_fail "start the Google emulator"; cb_finish; }
cb_pass "the Google emulator runs on 127.0.0.1:$CB_EMU_PORT"

now=$(date +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
day=86400
Q='I have read the BYOD policy and agree to it'
Q2='I have read the BYOD policy (2026 edition) and agree to it'
Q2RE='I have read the BYOD policy \(2026 edition\) and agree to it'	# As a grep -E pattern.
CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $CB_TMP/state"
: > "$CB_TMP/users"
for u in alice bob carol dave erin frank gina hank; do
	printf '%s\tCleartext-Password := "pw", Cetbyod-Role := Staff\n' "$u" >> "$CB_TMP/users"
done
ADMIT='Tunnel-Private-Group-Id:0 = "100"'
ONBOARD='Tunnel-Private-Group-Id:0 = "200"'

# log_after LINE PATTERN SECONDS - wait (bounded) until radiusd's output from LINE on matches.
log_after() {
	for _ in $(seq 1 $(( $3 * 4 ))); do
		tail -n "+$1" "$CB_TMP/radiusd.out" | grep -Eq -- "$2" && return 0
		sleep 0.25
	done
	return 1
}
expect() { desc=$1; shift; if "$@"; then cb_pass "$desc"; else cb_fail "$desc"; fi; }

cb_emu PUT forms/byod "{\"title\": \"BYOD acknowledgement\", \"collectEmails\": true,
	\"items\": [{\"title\": \"Your role\", \"questionId\": \"q-role\", \"kind\": \"text\"},
	            {\"title\": \"$Q\", \"questionId\": \"q-agree\", \"kind\": \"choice\",
	             \"options\": [\"I agree\", \"I do not agree\"]}]}" >/dev/null
for u in alice bob carol; do
	cb_emu POST forms/byod/responses "{\"responseId\": \"r-$u\", \"respondentEmail\": \"$u@school.example\",
		\"lastSubmittedTime\": \"$(iso $((now - 10 * day)))\", \"answers\": {\"$Q\": \"I agree\"}}" >/dev/null
done
cb_emu POST forms/byod/responses "{\"responseId\": \"r-dave\", \"respondentEmail\": \"dave@school.example\",
	\"lastSubmittedTime\": \"2099-01-01T00:00:00Z\", \"answers\": {\"$Q\": \"I agree\"}}" >/dev/null

CB_FULL_INTERVAL=2 cb_google_module_conf "$CB_TMP/cetbyod.conf" forms "	forms {
		form_id = byod
		agreement_question = \"$Q\"
		agree_value = \"I agree\"
	}"
cb_make_raddb "$CB_TMP/users" /dev/null "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }
if cb_start_radiusd; then cb_pass "radiusd starts with source = forms"; else cb_fail "radiusd starts with source = forms"; cb_finish; fi
cb_wait_for "acknowledged staff admitted after the first sync" 15 alice pw "$ADMIT"

# --- A response dated 2099 ------------------------------------------------------
cb_pap dave pw
cb_expect_reply "Forms: a response dated 2099 is refused: its person is onboarded, not admitted" "$ONBOARD"
expect "Forms: the 2099 response is reported with its response id" \
	log_after 1 "forms: response r-dave \(dave@school.example\): dated 2099-01-01T00:00:00Z, more than 300 s in the future" 5
cb_wait_ctl 10 "skipped records +1 \(the first: response r-dave" status &&
	cb_pass "Forms: cetbyodctl status counts the refused response and names it" ||
	cb_fail "Forms: cetbyodctl status counts the refused response and names it"
expect "the agreement question is bound by its id, and the binding is kept in state_dir" \
	grep -q '"id":"q-agree"' "$CB_TMP/state/forms-questions.json"

# --- Renamed mid-run ------------------------------------------------------------------
from=$(( $(wc -l < "$CB_TMP/radiusd.out") + 1 ))
cb_emu PATCH forms/byod/items/q-agree "{\"title\": \"$Q2\"}" >/dev/null
expect "rename: the log names the question's id and its old and new titles" \
	log_after "$from" "the agreement question \(id q-agree\) was renamed in form byod from \"$Q\" to \"$Q2RE\"; it is still read by its id" 10
cb_emu POST forms/byod/responses "{\"responseId\": \"r-erin\", \"respondentEmail\": \"erin@school.example\",
	\"answers\": {\"q-agree\": \"I agree\"}}" >/dev/null
cb_wait_for "rename: a submission after the rename is admitted" 10 erin pw "$ADMIT"
sleep 3			# Full syncs (every 2 s) after the rename.
if tail -n "+$from" "$CB_TMP/radiusd.out" | grep -Eq "no question titled|sync \(forms\): .*keeping the acknowledgements"; then
	cb_fail "rename: no sync fails"
else
	cb_pass "rename: no sync fails"
fi
cb_expect_ctl "rename: cetbyodctl status needs no attention (exit 0)" 0 "held sync +-" status

# A restart keeps the binding: the configured title matches no question now.
cb_stop_radiusd
from=$(( $(wc -l < "$CB_TMP/radiusd.out") + 1 ))
if cb_start_radiusd; then cb_pass "radiusd restarts after the rename"; else cb_fail "radiusd restarts after the rename"; fi
cb_emu POST forms/byod/responses "{\"responseId\": \"r-frank\", \"respondentEmail\": \"frank@school.example\",
	\"answers\": {\"q-agree\": \"I agree\"}}" >/dev/null
cb_wait_for "restart: the binding is kept, a new submission is admitted" 15 frank pw "$ADMIT"
if tail -n "+$from" "$CB_TMP/radiusd.out" | grep -Eq "no question titled|ignoring the question ids"; then
	cb_fail "restart: the question is not looked up by its old title"
else
	cb_pass "restart: the question is not looked up by its old title"
fi

# --- Deleted and re-created --------------------------------------------------------------
from=$(( $(wc -l < "$CB_TMP/radiusd.out") + 1 ))
cb_emu DELETE forms/byod/items/q-agree >/dev/null
new=$(cb_emu POST forms/byod/items "{\"title\": \"$Q2\", \"kind\": \"choice\", \"options\": [\"I agree\", \"I do not agree\"]}" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["questionItem"]["question"]["questionId"])')
[ -n "$new" ] && [ "$new" != q-agree ] && cb_pass "the emulator gives the re-created question a new id ($new)" ||
	cb_fail "the emulator gives the re-created question a new id ($new)"
cb_emu POST forms/byod/responses "{\"responseId\": \"r-gina\", \"respondentEmail\": \"gina@school.example\",
	\"answers\": {\"$new\": \"I agree\"}}" >/dev/null
expect "re-created: the sync is held, the log names the question, both ids and the way out" \
	log_after "$from" "sync result held.*the agreement question \"$Q2RE\" \(id q-agree\) is gone from form byod and a question of that title has the new id $new.*confirm --rebind" 10
for u in alice bob carol erin frank; do
	cb_pap $u pw
	cb_expect_reply "re-created: $u, who acknowledged, is still admitted" "$ADMIT" || break
done
cb_pap gina pw
cb_expect_reply "re-created: nothing changes while held (a new answer waits for the admin)" "$ONBOARD"
cb_wait_ctl 10 "re-created" status
cb_expect_ctl "re-created: cetbyodctl status exits 4 naming the question and both ids" 4 \
	"held because a question of the form was re-created .*id q-agree.*new id $new" status
cb_expect_ctl "re-created: confirm --mass-removal does not accept it, and says what does" 2 "confirm --rebind" \
	confirm --mass-removal
cb_expect_ctl "re-created: confirm --rebind accepts the new question" 0 "Accepted the held sync" confirm --rebind
cb_wait_for "after --rebind: an answer to the new question is admitted" 10 gina pw "$ADMIT"
cb_pap alice pw
cb_expect_reply "after --rebind: an answer to the deleted question no longer counts (onboarded)" "$ONBOARD"
expect "after --rebind: the new id is kept in state_dir" grep -q "\"id\":\"$new\"" "$CB_TMP/state/forms-questions.json"
cb_wait_ctl 10 "held sync +-" status
cb_expect_ctl "after --rebind: nothing is held" 0 "held sync +-" status
cb_stop_radiusd

# --- The acknowledgements file: a line dated 2099 ----------------------------------------
cat > "$CB_TMP/acks" <<EOF2
alice@school.example	$(iso $((now - day)))
dave@school.example	2099-01-01T00:00:00Z
bob@school.example	$(iso $((now - day)))
EOF2
cb_google_module_conf "$CB_TMP/cetbyod.conf" file "	file {
		filename = \"$CB_TMP/acks\"
		check_interval = 1
	}"
cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod"
if cb_start_radiusd; then cb_pass "radiusd starts with source = file"; else cb_fail "radiusd starts with source = file"; cb_finish; fi
cb_pap bob pw
cb_expect_reply "file: the lines around a 2099 line are used" "$ADMIT"
cb_pap dave pw
cb_expect_reply "file: a line dated 2099 is refused (onboarded)" "$ONBOARD"
expect "file: the log names the file and line of the refused acknowledgement" \
	log_after 1 "acknowledgements file $CB_TMP/acks line 2: dated 2099-01-01T00:00:00Z, more than 300 s in the future" 5
cb_wait_ctl 10 "skipped records +1 \(the first: line 2: dated 2099" status &&
	cb_pass "file: cetbyodctl status counts the refused line" ||
	cb_fail "file: cetbyodctl status counts the refused line"
cb_stop_radiusd

cb_finish
