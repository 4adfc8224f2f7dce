#!/bin/bash
# test_decision_log.sh - what radius.log says about decisions, and how long
# the state store keeps them (issue 13), through a real radiusd run as in
# production (-f, no debug output: only what reaches radius.log):
#   - log_decisions = refusals (the default, as shipped and when left
#     out): the refusal's line is logged, the admission's is not; none:
#     neither; all: both.  The audit trail has every decision whatever
#     the setting.
#   - a phone refused again and again (audit { coalesce_window }, as
#     shipped) adds one line for the run's first refusal, and one summary
#     line ("refused N more times") when radiusd stops; another device's
#     refusal opens a run and a line of its own; admissions are never
#     coalesced, every one has its line; none logs no summary either.
#   - a bad log_decisions value stops start-up, naming the option.
#   - audit { retention_days } defaults to 400: at start-up, a closed
#     session 401 days old is purged and one 399 days old is kept, and
#     cetbyodctl status reports the schedule.
. "$(dirname "$0")/lib.sh"

now=$(date +%s)
day=86400
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
STATE=$CB_TMP/lib/cetbyod
CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $STATE"
AUDIT=$CB_TMP/log/cetbyod-audit.jsonl

cat > "$CB_TMP/users" <<EOF
alice	Cleartext-Password := "alicepw", Cetbyod-Role := Staff
percy	Cleartext-Password := "percypw", Cetbyod-Role := Pupil
EOF
printf 'alice@school.example\t%s\n' "$(iso $((now - day)))" > "$CB_TMP/acknowledgements"

cb_make_raddb "$CB_TMP/users" "$CB_TMP/acknowledgements" || { cb_fail "build raddb"; cb_finish; }
SHIPPED=$CB_TMP/cetbyod.shipped
cp "$CB_TMP/raddb/mods-available/cetbyod" "$SHIPPED"

# module_conf VALUE - the shipped configuration with log_decisions = VALUE
# ("" leaves the option out) and without its retention_days line (so the
# built-in defaults are what count).
module_conf() {
	grep -q '^[[:space:]]*log_decisions = refusals$' "$SHIPPED" ||
		cb_fail "the shipped configuration sets log_decisions = refusals"
	sed -e '/^[[:space:]]*retention_days = /d' "$SHIPPED" |
		if [ -n "$1" ]; then
			sed -e "s|^\([[:space:]]*\)log_decisions = refusals\$|\1log_decisions = $1|"
		else
			sed -e '/^[[:space:]]*log_decisions = /d'
		fi > "$CB_TMP/raddb/mods-available/cetbyod"
}

# start - radiusd as in production (-f, no -x): its output is radius.log's.
start() {
	: > "$CB_TMP/radiusd.out"
	env $(cb_radiusd_env) "$RADIUSD" -f -l stdout -d "$CB_TMP/raddb" >> "$CB_TMP/radiusd.out" 2>&1 &
	cb_radiusd_wait_ready $! 1
}

wait_for() {	# wait_for SECONDS COMMAND... - until COMMAND succeeds
	end=$(( $(date +%s) + $1 )); shift
	until "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.2; done
}
audited() {	# audited IDENTITY COUNT - the audit file has COUNT decisions for IDENTITY
	[ "$(grep '"type": *"decision"' "$AUDIT" 2>/dev/null | grep -c "\"identity\": *\"$1\"")" -ge "$2" ]
}

# One round: alice admitted, percy refused; both must reach the device.
round() {
	cb_pap alice alicepw
	cb_expect_reply "log_decisions = $1: alice admitted (staff VLAN)" 'Received Access-Accept' \
		'Tunnel-Private-Group-Id:0 = "100"'
	cb_pap percy percypw
	cb_expect_reply "log_decisions = $1: percy refused" 'Received Access-Reject'
	if wait_for 10 audited alice "$2" && wait_for 10 audited percy "$2"; then
		cb_pass "log_decisions = $1: the audit trail has both decisions"
	else
		cb_fail "log_decisions = $1: the audit trail has both decisions"
	fi
}
logged() { grep -q "cetbyod: $1 -> $2 " "$CB_TMP/radiusd.out"; }
refusal_only() {	# refusal_only DESCRIPTION - radius.log has percy's refusal and not alice's admission
	if logged percy reject && ! logged alice admit; then
		cb_pass "$1: radius.log has percy's refusal and not alice's admission"
	else
		cb_fail "$1: radius.log has the refusal only"
		grep "cetbyod: " "$CB_TMP/radiusd.out" | sed 's/^/    # /'
	fi
}
count() { grep -c -- "$1" "$CB_TMP/radiusd.out"; }

# storm USER PASSWORD MAC N - N Access-Requests from the device MAC, one at a
# time; prints how many got an Access-Reject.
storm() {
	: > "$CB_TMP/storm"
	for _ in $(seq 1 "$4"); do
		printf 'User-Name = "%s"\nUser-Password = "%s"\nNAS-IP-Address = 127.0.0.1\nCalling-Station-Id = "%s"\n\n' \
			"$1" "$2" "$3" >> "$CB_TMP/storm"
	done
	"$RADCLIENT" -x -p 1 -r 1 -t 3 -f "$CB_TMP/storm" "127.0.0.1:$CB_AUTH_PORT" auth testing123 2>&1 |
		grep -c 'Received Access-Reject'
}
check_eq() {	# DESCRIPTION GOT WANT
	if [ "$2" = "$3" ]; then cb_pass "$1"; else cb_fail "$1 (got $2, want $3)"; fi
}

# --- Retention: old sessions in the store before radiusd starts ---------------
mkdir -p "$STATE"
$CTL sync >/dev/null 2>&1	# Creates the store.
/usr/bin/python3 - "$STATE/cetbyod.db" <<'EOF'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
for sid, age in (("aged-401", 401), ("aged-399", 399)):
    t = int(time.time()) - age * 86400
    db.execute("INSERT INTO sessions (nas, acct_session_id, identity, calling_station, started, last_seen, stopped, "
               "stop_cause) VALUES ('10.9.9.9', ?, 'alice', '02-00-00-00-00-aa', ?, ?, ?, 'User-Request')",
               (sid, t, t + 60, t + 60))
db.commit()
EOF
sessions() {
	/usr/bin/python3 -c 'import sqlite3, sys
print(" ".join(r[0] for r in sqlite3.connect(sys.argv[1]).execute(
    "SELECT acct_session_id FROM sessions WHERE acct_session_id LIKE ? ORDER BY 1", ("aged-%",))))' "$STATE/cetbyod.db"
}

# --- refusals -----------------------------------------------------------------
module_conf refusals
if start; then cb_pass "radiusd starts with log_decisions = refusals"; else cb_fail "radiusd starts"; cb_finish; fi
round refusals 1
refusal_only "log_decisions = refusals"
if wait_for 10 grep -q "retention purge: removed" "$CB_TMP/radiusd.out" && [ "$(sessions)" = "aged-399" ]; then
	cb_pass "retention_days defaults to 400: at start-up the 401-day-old session went, the 399-day-old one stayed"
else
	cb_fail "retention_days defaults to 400: the start-up purge (sessions left: $(sessions))"
fi
if $CTL status 2>&1 | grep -q "400 days, purged daily"; then
	cb_pass "cetbyodctl status: retention 400 days, purged daily"
else
	cb_fail "cetbyodctl status shows the retention"
fi
cb_stop_radiusd

# --- none ---------------------------------------------------------------------
module_conf none
start || { cb_fail "radiusd starts with log_decisions = none"; cb_finish; }
round none 2
check_eq "log_decisions = none: a phone refused 3 times gets 3 Access-Rejects" "$(storm percy percypw AA-BB-CC-00-00-09 3)" 3
cb_stop_radiusd
if ! logged percy reject && ! logged alice admit && [ "$(count 'more times')" = 0 ]; then
	cb_pass "log_decisions = none: radius.log has neither decision line, nor a run's summary"
else
	cb_fail "log_decisions = none: radius.log has no decision line"
	grep "cetbyod" "$CB_TMP/radiusd.out" | sed 's/^/    # /'
fi

# --- all ----------------------------------------------------------------------
module_conf all
start || { cb_fail "radiusd starts with log_decisions = all"; cb_finish; }
round all 3
if logged percy reject && logged alice admit; then
	cb_pass "log_decisions = all: radius.log has both decision lines"
else
	cb_fail "log_decisions = all: both lines"
fi

# A storm: one line per run of identical refusals, every admission its own.
P="cetbyod: percy -> reject (pupil_without_exception)"
refusals=$(count "$P"); admissions=$(count "cetbyod: alice -> admit ")
check_eq "a phone refused 12 times in a row gets 12 Access-Rejects" "$(storm percy percypw AA-BB-CC-00-00-07 12)" 12
check_eq "radius.log: one line for the run's first refusal, none for its 11 repeats" \
	"$(( $(count "$P") - refusals ))" 1
check_eq "another device of the same person refused: a run, and a line, of its own" \
	"$(storm percy percypw AA-BB-CC-00-00-08 1)$(( $(count "$P") - refusals ))" 12
for _ in 1 2 3; do cb_pap alice alicepw; done
check_eq "three admissions of the same device: three lines (admissions are never coalesced)" \
	"$(( $(count "cetbyod: alice -> admit ") - admissions ))" 3
cb_stop_radiusd
S="percy -> reject (pupil_without_exception): refused 11 more times, device AA-BB-CC-00-00-07, NAS 127.0.0.1, "
if grep -F -- "$S" "$CB_TMP/radiusd.out" | grep -Eq 'Z to [0-9T:-]+Z \(one audit summary record.*seq [0-9]+$' &&
   [ "$(count 'more time')" = 1 ]; then
	cb_pass "radius.log at stop: the run's summary, \"refused 11 more times\", its span and seq (and no other)"
else
	cb_fail "radius.log at stop: the run's summary line"
	grep "more time" "$CB_TMP/radiusd.out" | sed 's/^/    # /'
fi
if grep '"count"' "$AUDIT" | grep -E '"calling_station": *"AA-BB-CC-00-00-07"' | grep -Eq '"count": *11,'; then
	cb_pass "the audit trail's summary of that run counts the same 11"
else
	cb_fail "the audit trail's summary of that run counts 11"
	grep '"count"' "$AUDIT" | sed 's/^/    # /'
fi

# --- left out: the default, refusals ------------------------------------------
module_conf ""
start || { cb_fail "radiusd starts without log_decisions"; cb_finish; }
round default 4
refusal_only "log_decisions left out defaults to refusals"
cb_stop_radiusd

# --- a bad value --------------------------------------------------------------
module_conf everything
if ! cb_radiusd_check "$CB_TMP/check.out" && grep -q 'log_decisions.*"all", "refusals"' "$CB_TMP/check.out"; then
	cb_pass "log_decisions = everything: start-up refused, naming the option and its values"
else
	cb_fail "log_decisions = everything: start-up refused with the accepted values"
	grep -i "log_decisions" "$CB_TMP/check.out" | sed 's/^/    # /'
fi

cb_finish
