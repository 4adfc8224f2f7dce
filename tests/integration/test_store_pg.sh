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
#     it holds; accounting it cannot record is not answered (RFC 2866: the
#     NAS sends it again); cetbyodctl fails with exit 3, no password in
#     any message;
#   - PostgreSQL restarted (same data, same port): without restarting
#     radiusd, accounting is recorded again and a revocation works end to
#     end;
#   - radiusd ends cleanly (no crash, no sanitizer report); in the
#     sanitizer build too (see cb_radiusd_env in lib.sh for the preload
#     order that keeps libpq's first bindtextdomain from hanging).
# Needs root (the fixture runs the server as the postgres user).  About 40 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg-lib.sh"

if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
PGFX=$CB_SRCDIR/tests/pg/pg-fixture.sh
DAS_SECRET=das-Secret-pg-4c2
PGDIR=$(mktemp -d /tmp/cb-pg-it.XXXXXX)
STATE=$CB_TMP/state
OUT=$CB_TMP/radiusd.out

pg_cleanup() {
	cb_stop_radiusd
	"$PGFX" stop "$PGDIR" >/dev/null 2>&1
	if [ "$CB_FAILED" -gt 0 ] && [ -f "$PGDIR/postgres.log" ]; then
		echo "---- postgres.log (last 30 lines) ----"
		tail -n 30 "$PGDIR/postgres.log"
	fi
	rm -rf "$PGDIR"
	cb_cleanup
}
trap pg_cleanup EXIT

"$PGFX" start "$PGDIR" || { cb_fail "PostgreSQL 15 starts (tests/pg/pg-fixture.sh)"; cb_finish; }
cb_pass "PostgreSQL 15 starts on loopback with a least-privilege role"
CONNINFO=$(cat "$PGDIR/conninfo")
PWFILE=$CB_TMP/pg-password
cp "$PGDIR/password" "$PWFILE" && chmod 0600 "$PWFILE"
PW=$(cat "$PWFILE")
CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --store-conninfo $CONNINFO --store-password-file $PWFILE"
ctl() { "$CB_BUILDDIR/cetbyodctl/cetbyodctl" --store-conninfo "$CONNINFO" --store-password-file "$PWFILE" "$@"; }
log_since() { tail -n "+$1" "$OUT" | grep -Eq -- "$2"; }
log_lines() { wc -l < "$OUT"; }

# The DAS of the NAS: ACKs every Disconnect-Request, logs each.
cb_pg_das "$DAS_SECRET" || { cb_fail "the NAS's DAS starts"; cb_finish; }
cb_pg_people alice bob carol
mkdir -p "$STATE"
cb_pg_modconf "$CB_TMP/cetbyod.conf" postgresql "$CONNINFO" "$PWFILE" radius-a "$DAS_PORT" "$DAS_SECRET" ||
	{ cb_fail "module configuration with store { backend = postgresql } (the shipped lines changed?)"; cb_finish; }
cb_make_raddb "$CB_TMP/users" "$CB_TMP/acknowledgements" "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }

cb_start_radiusd || { cb_fail "radiusd starts with store { backend = postgresql }"; cb_finish; }
if grep -q "the state store is PostgreSQL (server_id 'radius-a')" "$OUT" && [ ! -e "$STATE/cetbyod.db" ]; then
	cb_pass "radiusd starts on the PostgreSQL store and writes no SQLite file"
else
	cb_fail "radiusd starts on the PostgreSQL store and writes no SQLite file"
fi
if grep -q -- "$PW" "$OUT"; then cb_fail "the password is in radiusd's output"; else cb_pass "the password is nowhere in radiusd's output"; fi

class_of_reply() {
	printf '%s\n' "$CB_REPLY" | sed -n 's/.*Class = \(0x63657462796f643a[0-9a-f]*\).*/\1/p' | head -n 1
}
# acct STATUS SESSION CLASS [TIMEOUT] - one Accounting-Request (one try); true when answered.
acct() {
	printf 'Acct-Status-Type = %s\nAcct-Session-Id = "%s"\nUser-Name = "anonymous@school.example"\nNAS-IP-Address = 127.0.0.1\nCalling-Station-Id = "02-00-00-00-00-01"\nCalled-Station-Id = "AA-BB-CC-DD-EE-FF:Staff"\nClass = %s\n' \
		"$1" "$2" "$3" | "$RADCLIENT" -x -r 1 -t "${4:-3}" "127.0.0.1:$CB_ACCT_PORT" acct testing123 2>&1 |
		grep -q 'Received Accounting-Response'
}
# open_session USER SESSION - cetbyodctl lists SESSION as USER's open session.
open_session() {
	ctl --json sessions --user "$1" 2>/dev/null | /usr/bin/python3 -c '
import json, sys
sys.exit(0 if [x for x in json.load(sys.stdin)["sessions"] if x["acct_session_id"] == sys.argv[1]] else 1)' "$2"
}

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
das_got() { grep -q "session=s-b1 answered=" "$CB_TMP/das.log" 2>/dev/null; }
if cb_wait_until 10 das_got; then
	cb_pass "the NAS receives a Disconnect-Request for bob's session ($(( $(date +%s%3N) - t_rev )) ms after the revoke)"
else
	cb_fail "the NAS receives a Disconnect-Request for bob's session"
	ctl status 2>&1 | sed 's/^/    # /'
fi
bob_refused() {
	cb_pap bob staffpw
	printf '%s\n' "$CB_REPLY" | grep -q 'Received Access-Reject'
}
if cb_wait_until 10 bob_refused; then cb_pass "bob's next Access-Request is refused"; else cb_fail "bob's next Access-Request is refused"; fi

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
	cb_fail "PostgreSQL stopped: accounting that cannot be recorded is not answered (RFC 2866)"
else
	cb_pass "PostgreSQL stopped: accounting that cannot be recorded is not answered (RFC 2866)"
fi
if cb_wait_until 3 log_since "$from" 'is unreachable|connection'; then
	cb_pass "radiusd's log says the PostgreSQL store is unreachable"
else
	cb_fail "radiusd's log says the PostgreSQL store is unreachable"
fi
out=$(ctl sessions 2>&1); rc=$?
if [ "$rc" -eq 3 ] && ! printf '%s\n' "$out" | grep -q -- "$PW"; then
	cb_pass "cetbyodctl exits 3 while PostgreSQL is down, no password in its message"
else
	cb_fail "cetbyodctl exits 3 while PostgreSQL is down (exit $rc)"
	printf '%s\n' "$out" | sed 's/^/    # /'
fi

# --- PostgreSQL back: writes resume without restarting radiusd -------------------
"$PGFX" start "$PGDIR" || { cb_fail "PostgreSQL restarts"; cb_finish; }
resend() { acct Start s-c1 "$class_c" 2; }
if cb_wait_until 10 resend && cb_wait_until 3 open_session carol s-c1; then
	cb_pass "PostgreSQL back: the NAS's retransmitted Start is recorded, tied to carol, radiusd not restarted"
else
	cb_fail "PostgreSQL back: the NAS's retransmitted Start is recorded, tied to carol"
fi
if ctl revoke carol --reason "left" --by tester >/dev/null; then
	carol_refused() { cb_pap carol staffpw; printf '%s\n' "$CB_REPLY" | grep -q 'Received Access-Reject'; }
	das_c() { grep -q "session=s-c1 answered=" "$CB_TMP/das.log"; }
	if cb_wait_until 10 carol_refused && cb_wait_until 10 das_c; then
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
