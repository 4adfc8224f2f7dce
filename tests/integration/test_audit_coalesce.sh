#!/bin/bash
# test_audit_coalesce.sh - refusal coalescing (issue 13, item 1) through a
# real radiusd, radclient and cetbyodctl, with the shipped configuration
# (audit { coalesce_window = 300 }).
#
#   A pupil's phone is refused 40 times (two bursts of 20, 3 s apart), with
#   a staff member admitted between the bursts: every request still gets
#   its Access-Reject; the trail holds the first refusal at once and, after
#   radiusd stops (a clean stop summarises open runs), one summary with
#   "count": 39 and the first and last times; the admissions are records of
#   their own; cetbyodctl audit verify exits 0; audit query --mac finds the
#   run, also by a moment between the bursts, and its CSV has the count.
#   radiusd -X shows every refusal's decision line (radius.log would get
#   the run's first only), and the clean stop logs the summary's line,
#   "refused 39 more times".
#   With coalesce_window = 0 every refusal is its own record again.
#
# Run from the build directory (make check does).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/audit-lib.sh"

MAC=AA-BB-CC-00-00-01
audit_file=$CB_TMP/log/cetbyod-audit.jsonl

now=$(date +%s)
cat > "$CB_TMP/users" <<EOF2
alice	Cleartext-Password := "alicepw", Cetbyod-Role := Staff
percy	Cleartext-Password := "percypw", Cetbyod-Role := Pupil
EOF2
acks=$CB_TMP/acknowledgements
printf 'alice@school.example\t%s\n' "$(iso $((now - 86400)))" > "$acks"

# burst USER PASSWORD N - N Access-Requests from the device $MAC, one at a time; $CB_REPLY: radclient's output.
burst() {
	: > "$CB_TMP/burst"
	for _ in $(seq 1 "$3"); do
		printf 'User-Name = "%s"\nUser-Password = "%s"\nNAS-IP-Address = 127.0.0.1\nCalling-Station-Id = "%s"\n\n' \
			"$1" "$2" "$MAC" >> "$CB_TMP/burst"
	done
	CB_REPLY=$("$RADCLIENT" -x -p 1 -r 1 -t 3 -f "$CB_TMP/burst" "127.0.0.1:$CB_AUTH_PORT" auth testing123 2>&1)
}

# lines PATTERN... - lines of the trail matching every grep -F pattern.
lines() {
	out=$(cat "$audit_file")
	for p in "$@"; do out=$(printf '%s\n' "$out" | grep -F -- "$p"); done
	[ -n "$out" ] && printf '%s\n' "$out" | wc -l || echo 0
}

check_eq() {	# DESCRIPTION GOT WANT
	if [ "$2" = "$3" ]; then cb_pass "$1"; else cb_fail "$1 (got $2, want $3)"; fi
}

cb_make_raddb "$CB_TMP/users" "$acks" || { cb_fail "build raddb"; cb_finish; }
if cb_start_radiusd; then cb_pass "radiusd starts"; else cb_fail "radiusd starts"; cb_finish; fi

t_start=$(date +%s)
burst percy percypw 20
check_eq "every refusal of the first burst answered with an Access-Reject" \
	"$(printf '%s\n' "$CB_REPLY" | grep -c 'Received Access-Reject')" 20
# "Was this device refused a moment ago?": the index is copied from the file
# by radiusd's thread at idle priority and may lag it; cetbyodctl copies what
# it lacks from the file first, so the query right after the reject finds it.
if $CTL audit query --mac "$MAC" --type decision --format json 2>"$CB_TMP/q.err" | /usr/bin/python3 -c '
import json, sys
rows = json.load(sys.stdin)
sys.exit(0 if any(r.get("identity") == "percy" and r.get("status") == "reject" for r in rows) else 1)'; then
	cb_pass "audit query right after the Access-Reject finds the refusal"
else
	cb_fail "audit query right after the Access-Reject finds the refusal"; sed 's/^/    # /' "$CB_TMP/q.err"
fi
burst alice alicepw 1
cb_expect_reply "the staff member between the bursts is admitted" 'Received Access-Accept'
sleep 3
t_gap=$(( $(date +%s) - 1 ))
burst percy percypw 20
check_eq "every refusal of the second burst answered with an Access-Reject" \
	"$(printf '%s\n' "$CB_REPLY" | grep -c 'Received Access-Reject')" 20
burst alice alicepw 1
t_end=$(date +%s)

wait_until 10 test "$(lines '"identity":"alice"' '"status":"admit"')" = 2
check_eq "each admission is its own record" "$(lines '"identity":"alice"' '"status":"admit"')" 2
check_eq "the first refusal is written at once, the repeats only counted" \
	"$(lines '"identity":"percy"' '"status":"reject"')" 1
n=$(grep -c "Audit: the same refusal as this device's last" "$CB_TMP/radiusd.out")
check_eq "radiusd -X says of each repeat that it is counted in its run" "$n" 39
check_eq "radiusd -X still shows every refusal's decision line (radius.log only the run's first)" \
	"$(grep -c 'cetbyod: percy -> reject (pupil_without_exception)' "$CB_TMP/radiusd.out")" 40
if $CTL audit query --mac "$MAC" --format json | grep -q '"percy"'; then
	cb_pass "audit query --mac finds the first refusal while radiusd runs"
else
	cb_fail "audit query --mac finds the first refusal while radiusd runs"
fi

cb_stop_radiusd
check_eq "a clean stop logs the run's summary: \"refused 39 more times\"" \
	"$(grep -c "percy -> reject (pupil_without_exception): refused 39 more times, device $MAC, NAS 127.0.0.1, " \
	   "$CB_TMP/radiusd.out")" 1
check_eq "a clean stop writes the run's summary" "$(lines '"identity":"percy"' '"status":"reject"')" 2
check_eq "the summary counts the 39 repeats" "$(lines '"identity":"percy"' '"count":39,' '"first":"' '"last":"')" 1
check_eq "admissions are never coalesced" "$(lines '"status":"admit"' '"count"')" 0
check_verify "cetbyodctl audit verify exits 0 with a coalesced run in the chain"

q=$($CTL audit query --mac "$(echo $MAC | tr - :)" --format csv 2>&1)
if printf '%s\n' "$q" | head -n 1 | grep -q ',count,first,last' && printf '%s\n' "$q" | grep -q 'percy.*,39,'; then
	cb_pass "audit query --mac: the run with its count in the CSV"
else
	cb_fail "audit query --mac: the run with its count in the CSV"
	printf '%s\n' "$q" | sed 's/^/    # /'
fi
q=$($CTL audit query --mac "$MAC" --from "$(iso "$t_gap")" --to "$(iso "$t_gap")" --format json 2>&1)
if printf '%s\n' "$q" | grep -q '"count": *39'; then
	cb_pass "audit query: a moment between the bursts finds the run"
else
	cb_fail "audit query: a moment between the bursts finds the run"
	printf '%s\n' "$q" | sed 's/^/    # /'
fi
q=$($CTL audit query --mac "$MAC" --to "$(iso $((t_start - 60)))" --format json 2>&1)
if printf '%s\n' "$q" | grep -q 'percy'; then
	cb_fail "audit query: a moment before the run finds nothing"
else
	cb_pass "audit query: a moment before the run finds nothing"
fi

# Off: every refusal its own record.
sed -i 's/coalesce_window = 300/coalesce_window = 0/' "$CB_TMP/raddb/mods-available/cetbyod"
if cb_start_radiusd; then cb_pass "radiusd starts with coalesce_window = 0"; else cb_fail "radiusd restarts"; cb_finish; fi
burst percy percypw 5
cb_stop_radiusd
check_eq "coalesce_window = 0: every refusal is its own record" "$(lines '"identity":"percy"' '"status":"reject"')" 7

# A bad value fails start-up naming the option.
sed -i 's/coalesce_summary_every = 3600/coalesce_summary_every = 0/' "$CB_TMP/raddb/mods-available/cetbyod"
cb_radiusd_check "$CB_TMP/check.out"
if grep -q 'coalesce_summary_every' "$CB_TMP/check.out" && ! grep -q 'Configuration appears to be OK' "$CB_TMP/check.out"; then
	cb_pass "coalesce_summary_every = 0 refused at start-up, naming the option"
else
	cb_fail "coalesce_summary_every = 0 refused at start-up, naming the option"
	tail -n 5 "$CB_TMP/check.out" | sed 's/^/    # /'
fi
: "$t_end"
cb_finish
