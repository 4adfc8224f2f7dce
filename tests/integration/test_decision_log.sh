#!/bin/bash
# test_decision_log.sh - what radius.log says about decisions, and how long
# the state store keeps them (issue 13), through a real radiusd run as in
# production (-f, no debug output: only what reaches radius.log):
#   - log_decisions = refusals: the refusal's line is logged, the
#     admission's is not; none: neither; all (the default): both.  The
#     audit trail has every decision whatever the setting.
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
	grep -q '^[[:space:]]*log_decisions = all$' "$SHIPPED" || cb_fail "the shipped configuration sets log_decisions = all"
	sed -e '/^[[:space:]]*retention_days = /d' "$SHIPPED" |
		if [ -n "$1" ]; then
			sed -e "s|^\([[:space:]]*\)log_decisions = all\$|\1log_decisions = $1|"
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
if logged percy reject && ! logged alice admit; then
	cb_pass "log_decisions = refusals: radius.log has percy's refusal and not alice's admission"
else
	cb_fail "log_decisions = refusals: radius.log has the refusal only"
	grep "cetbyod: " "$CB_TMP/radiusd.out" | sed 's/^/    # /'
fi
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
if ! logged percy reject && ! logged alice admit; then
	cb_pass "log_decisions = none: radius.log has neither decision line"
else
	cb_fail "log_decisions = none: radius.log has no decision line"
fi
cb_stop_radiusd

# --- all (the default) --------------------------------------------------------
module_conf ""
start || { cb_fail "radiusd starts without log_decisions"; cb_finish; }
round all 3
if logged percy reject && logged alice admit; then
	cb_pass "log_decisions defaults to all: radius.log has both decision lines"
else
	cb_fail "log_decisions defaults to all: both lines"
fi
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
