#!/bin/bash
# test_store_pg.sh - radiusd with store { backend = postgresql } on a
# throwaway PostgreSQL 15 (tests/pg/pg-fixture.sh), with radclient as the
# NAS's RADIUS side and tests/nas/das-fault-nas.py (mode ack) as its
# RFC 5176 side.  What is checked is what the users, the NAS and the admin
# see:
#   - radiusd starts on PostgreSQL (the schema created in the role's own
#     schema) and writes no SQLite file;
#   - an acknowledged member of staff is admitted (VLAN 100); accounting
#     Start and Stop are answered, and cetbyodctl --store-conninfo lists the
#     session while open, not after the Stop;
#   - cetbyodctl revoke: the next Access-Request is refused, and the NAS
#     receives a Disconnect-Request for the open session (ACKed);
#   - cetbyodctl audit query answers from PostgreSQL's copy of the trail;
#   - PostgreSQL stopped: radiusd keeps answering Access-Requests from what
#     it holds, and accounting (kept in the spool in state_dir);
#     cetbyodctl fails with exit 6 (store unreachable), no password in any
#     message;
#   - PostgreSQL restarted (same data, same port): without restarting
#     radiusd, the spooled Start is replayed and a revocation works end to
#     end;
#   - radiusd ends cleanly (no crash, no sanitizer report); in the
#     sanitizer build too (see cb_radiusd_env in lib.sh for the preload
#     order that keeps libpq's first bindtextdomain from hanging).
# Needs root (the fixture runs the server as the postgres user).  About 40 s.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
. "$CB_SRCDIR/tests/integration/pg-setup.sh"

pg_start
pg_acks alice bob carol
pg_raddb

cb_start_radiusd || { cb_fail "radiusd starts with store { backend = postgresql }"; cb_finish; }
if grep -q "the state store is PostgreSQL (server_id 'radius-a')" "$OUT" && [ ! -e "$STATE/cetbyod.db" ]; then
	cb_pass "radiusd starts on the PostgreSQL store and writes no SQLite file"
else
	cb_fail "radiusd starts on the PostgreSQL store and writes no SQLite file"
fi
if grep -q -- "$PW" "$OUT"; then cb_fail "the password is in radiusd's output"; else cb_pass "the password is nowhere in radiusd's output"; fi

# --- Admission and accounting on PostgreSQL ----------------------------------------
cb_pap alice staffpw
cb_expect_reply "alice (acknowledged staff) is admitted" 'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"'
class_a=$(class_of_reply)
if acct Start s-a1 "$class_a" && cb_wait_until 3 open_session alice s-a1; then
	cb_pass "accounting Start answered; cetbyodctl --store-conninfo lists alice's session"
else
	cb_fail "accounting Start answered; cetbyodctl --store-conninfo lists alice's session"
fi
if acct Stop s-a1 "$class_a" && ! open_session alice s-a1; then
	cb_pass "accounting Stop answered; the session is no longer listed"
else
	cb_fail "accounting Stop answered; the session is no longer listed"
fi

# --- Revocation: refused, and the NAS told ----------------------------------------
cb_pap bob staffpw
cb_expect_reply "bob is admitted" 'Received Access-Accept'
class_b=$(class_of_reply)
acct Start s-b1 "$class_b" && cb_wait_until 3 open_session bob s-b1 || cb_fail "bob's session is recorded"
t_rev=$(date +%s%3N)
if ctl revoke bob --reason "lost phone" --by tester >/dev/null; then cb_pass "cetbyodctl revoke bob exits 0"; else cb_fail "cetbyodctl revoke bob exits 0"; fi
if cb_wait_until 10 das_got s-b1; then
	cb_pass "the NAS receives a Disconnect-Request for bob's session ($(( $(date +%s%3N) - t_rev )) ms after the revoke)"
else
	cb_fail "the NAS receives a Disconnect-Request for bob's session"
	ctl status 2>&1 | sed 's/^/    # /'
fi
if cb_wait_until 10 refused bob; then cb_pass "bob's next Access-Request is refused"; else cb_fail "bob's next Access-Request is refused"; fi

# --- The audit trail's copy in PostgreSQL ------------------------------------------
aq() { ctl audit query --user bob 2>/dev/null | grep -q "revoked_by_admin\|lost phone"; }
if cb_wait_until 10 aq; then
	cb_pass "cetbyodctl audit query --user bob answers from PostgreSQL's copy"
else
	cb_fail "cetbyodctl audit query --user bob answers from PostgreSQL's copy"
	ctl audit query --user bob 2>&1 | sed 's/^/    # /'
fi

# --- PostgreSQL stopped ---------------------------------------------------------------
"$PGFX" stop "$PGDIR"
from=$(( $(log_lines) + 1 ))
cb_pap carol staffpw
cb_expect_reply "PostgreSQL stopped: carol (acknowledged staff) is still admitted" 'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"'
class_c=$(class_of_reply)
cb_pap bob staffpw
cb_expect_reply "PostgreSQL stopped: bob (revoked) is still refused" 'Received Access-Reject'
if acct Start s-c1 "$class_c" 2; then
	cb_pass "PostgreSQL stopped: accounting is answered (kept in the spool in state_dir)"
else
	cb_fail "PostgreSQL stopped: accounting is answered (kept in the spool in state_dir)"
fi
if cb_wait_until 3 log_since "$from" 'is unreachable|connection'; then
	cb_pass "radiusd's log says the PostgreSQL store is unreachable"
else
	cb_fail "radiusd's log says the PostgreSQL store is unreachable"
fi
out=$(ctl sessions 2>&1); rc=$?
if [ "$rc" -eq 6 ] && ! printf '%s\n' "$out" | grep -q -- "$PW"; then
	cb_pass "cetbyodctl exits 6 (store unreachable) while PostgreSQL is down, no password in its message"
else
	cb_fail "cetbyodctl exits 6 (store unreachable) while PostgreSQL is down (exit $rc)"
	printf '%s\n' "$out" | sed 's/^/    # /'
fi

# --- PostgreSQL back: writes resume without restarting radiusd -------------------
"$PGFX" start "$PGDIR" || { cb_fail "PostgreSQL restarts"; cb_finish; }
if cb_wait_until 15 open_session carol s-c1; then
	cb_pass "PostgreSQL back: the spooled Start is replayed, tied to carol, radiusd not restarted"
else
	cb_fail "PostgreSQL back: the spooled Start is replayed, tied to carol"
fi
if ctl revoke carol --reason "left" --by tester >/dev/null; then
	if cb_wait_until 10 refused carol && cb_wait_until 10 das_got s-c1; then
		cb_pass "PostgreSQL back: a revocation works end to end (refused, the NAS told)"
	else
		cb_fail "PostgreSQL back: a revocation works end to end (refused, the NAS told)"
	fi
else
	cb_fail "PostgreSQL back: cetbyodctl revoke carol exits 0"
fi
if grep -q -- "$PW" "$OUT"; then cb_fail "the password is in radiusd's output"; else cb_pass "still no password in radiusd's output"; fi

# What radiusd said about the store, for the log reader.
grep -E "PostgreSQL|store" "$OUT" | grep -iE "unreachable|reconnect|lost|cannot" | sed 's/^[^:]*: //' |
	sort | uniq -c | head -n 20 | sed 's/^/    # /'
cb_finish
