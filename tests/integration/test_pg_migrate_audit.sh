#!/bin/bash
# test_pg_migrate_audit.sh - moving a SQLite store into PostgreSQL with
# cetbyodctl migrate, then two radiusd sharing that PostgreSQL store
# (tests/pg/pg-fixture.sh), each with its own audit file and server_id.
# What is checked is what the admin sees (cetbyodctl's exit codes and
# output) and what the NAS sees (RADIUS replies):
#   - radiusd on SQLite admits, accounts, records a revocation with its
#     history, an exception and a disconnect (the NAS's DAS ACKs it);
#   - cetbyodctl migrate --to copies every table: the counts it prints and
#     every row of every table equal the SQLite file's; a second migrate
#     into the now non-empty store is refused (exit 2), --replace works;
#   - audit verify --server against PostgreSQL passes for the trail written
#     while on SQLite;
#   - radiusd A (server_id radius-a, the migrated trail continued) and
#     radiusd B (radius-b, its own file) both on the store: a decision
#     through each; one audit query finds both, naming each server (table,
#     CSV, JSON); audit verify --server radius-a ... --server radius-b ...
#     passes for both; a line altered in B's file is reported for radius-b
#     only (exit 5), A still intact.
# Needs root (the fixture runs the server as the postgres user).  About 40 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg-lib.sh"

if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
PGFX=$CB_SRCDIR/tests/pg/pg-fixture.sh
DAS_SECRET=das-Secret-mig-7d1
PGDIR=$(mktemp -d /tmp/cb-pg-mig.XXXXXX)
STATE=$CB_TMP/state
CTLBIN=$CB_BUILDDIR/cetbyodctl/cetbyodctl
B_PID=

pg_cleanup() {
	cb_pg_stop_b
	cb_stop_radiusd
	"$PGFX" stop "$PGDIR" >/dev/null 2>&1
	if [ "$CB_FAILED" -gt 0 ]; then
		[ -f "$PGDIR/postgres.log" ] && { echo "---- postgres.log (last 20 lines) ----"; tail -n 20 "$PGDIR/postgres.log"; }
		[ -f "$CB_TMP/radiusd-b.out" ] && { echo "---- radiusd B (last 60 lines) ----"; tail -n 60 "$CB_TMP/radiusd-b.out"; }
	fi
	rm -rf "$PGDIR"
	cb_cleanup
}
trap pg_cleanup EXIT

cb_pg_das "$DAS_SECRET" || { cb_fail "the NAS's DAS starts"; cb_finish; }
cb_pg_people alice bob carol dave erin
mkdir -p "$STATE"
# modconf OUT BACKEND SERVER_ID - the module's configuration (BACKEND sqlite or postgresql).
modconf() { cb_pg_modconf "$1" "$2" "${CONNINFO:-}" "${PWFILE:-}" "$3" "$DAS_PORT" "$DAS_SECRET"; }
modconf "$CB_TMP/cetbyod.conf" sqlite "" || { cb_fail "module configuration (the shipped lines changed?)"; cb_finish; }
cb_make_raddb "$CB_TMP/users" "$CB_TMP/acknowledgements" "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }
FILE_A=$CB_TMP/log/cetbyod-audit.jsonl
FILE_B=$CB_TMP/log-b/cetbyod-audit.jsonl

class_of_reply() {
	printf '%s\n' "$CB_REPLY" | sed -n 's/.*Class = \(0x63657462796f643a[0-9a-f]*\).*/\1/p' | head -n 1
}
# acct PORT STATUS SESSION CLASS MAC - one Accounting-Request; true when answered.
acct() {
	printf 'Acct-Status-Type = %s\nAcct-Session-Id = "%s"\nUser-Name = "anonymous@school.example"\nNAS-IP-Address = 127.0.0.1\nCalling-Station-Id = "%s"\nCalled-Station-Id = "AA-BB-CC-DD-EE-FF:Staff"\nFramed-IP-Address = 10.0.0.%s\nClass = %s\n' \
		"$2" "$3" "$5" "$((RANDOM % 200 + 10))" "$4" | "$RADCLIENT" -x -r 1 -t 3 "127.0.0.1:$1" acct testing123 2>&1 |
		grep -q 'Received Accounting-Response'
}
# pap PORT USER MAC - an Access-Request with a device; the reply in CB_REPLY.
pap() {
	CB_REPLY=$(printf 'User-Name = "%s"\nUser-Password = "staffpw"\nNAS-IP-Address = 127.0.0.1\nCalling-Station-Id = "%s"\nCalled-Station-Id = "AA-BB-CC-DD-EE-FF:Staff"\n' \
		"$2" "$3" | "$RADCLIENT" -x -r 1 -t 3 "127.0.0.1:$1" auth testing123 2>&1)
}

# --- 1. A SQLite store with something in every table radiusd and cetbyodctl fill ----------
sq() { "$CTLBIN" --state-dir "$STATE" "$@"; }
cb_start_radiusd || { cb_fail "radiusd starts on SQLite"; cb_finish; }
pap "$CB_AUTH_PORT" alice@school.example 02-00-00-00-00-01
cb_expect_reply "SQLite: alice is admitted" 'Received Access-Accept'
acct "$CB_ACCT_PORT" Start s-a1 "$(class_of_reply)" 02-00-00-00-00-01 || cb_fail "SQLite: alice's Start answered"
pap "$CB_AUTH_PORT" bob@school.example 02-00-00-00-00-02
cb_expect_reply "SQLite: bob is admitted" 'Received Access-Accept'
acct "$CB_ACCT_PORT" Start s-b1 "$(class_of_reply)" 02-00-00-00-00-02 || cb_fail "SQLite: bob's Start answered"
open_b() { sq --json sessions --user bob@school.example 2>/dev/null | grep -q s-b1; }
cb_wait_until 5 open_b || cb_fail "SQLite: bob's session is recorded"
sq revoke bob@school.example --reason "lost phone" --by tester >/dev/null || cb_fail "SQLite: revoke bob"
das_b() { grep -q "session=s-b1 answered=" "$CB_TMP/das.log" 2>/dev/null; }
cb_wait_until 10 das_b || cb_fail "SQLite: the NAS is told to disconnect bob"
sq reinstate bob@school.example --by tester >/dev/null || cb_fail "SQLite: reinstate bob"
sq exception add --user carol@school.example --reason "trial" --approved-by head --until 2031-01-01 >/dev/null ||
	cb_fail "SQLite: exception for carol"
sq devices forget alice@school.example --reason "sold" --by tester >/dev/null 2>&1 || true
aq_sq() { sq audit query --user bob@school.example 2>/dev/null | grep -q "lost phone"; }
cb_wait_until 10 aq_sq || cb_fail "SQLite: the revocation is in the audit index"
cb_stop_radiusd
DB=$STATE/cetbyod.db
[ -s "$DB" ] && [ -s "$FILE_A" ] || { cb_fail "SQLite: the store and the audit file exist"; cb_finish; }

# --- 2. migrate ------------------------------------------------------------------------------
"$PGFX" start "$PGDIR" || { cb_fail "PostgreSQL 15 starts (tests/pg/pg-fixture.sh)"; cb_finish; }
CONNINFO=$(cat "$PGDIR/conninfo")
PWFILE=$CB_TMP/pg-password
cp "$PGDIR/password" "$PWFILE" && chmod 0600 "$PWFILE"
PW=$(cat "$PWFILE")
pg() { "$CTLBIN" --store-conninfo "$CONNINFO" --store-password-file "$PWFILE" "$@"; }
psq() { PGPASSWORD=$PW psql -X -q -A -t -F '|' "$CONNINFO" -c "$1"; }
TABLES="status people decisions sessions revocations disconnects commands exceptions reminders devices device_forgets audit audit_refs"

out=$(sq --json migrate --to "$CONNINFO" --password-file "$PWFILE" --server-id radius-a 2>&1); rc=$?
if [ "$rc" -eq 0 ]; then cb_pass "cetbyodctl migrate exits 0"; else cb_fail "cetbyodctl migrate exits 0 (exit $rc)"; printf '%s\n' "$out" | sed 's/^/    # /'; fi
bad=""
for t in $TABLES; do
	printed=$(printf '%s\n' "$out" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["tables"][sys.argv[1]])' "$t" 2>/dev/null)
	if [ -n "$(sqlite3 "$DB" "SELECT name FROM sqlite_master WHERE type='table' AND name='$t'")" ]; then
		n_sq=$(sqlite3 "$DB" "SELECT count(*) FROM \"$t\"")
		cols=$(sqlite3 "$DB" "SELECT group_concat('\"' || name || '\"', ', ') FROM pragma_table_info('$t')")
		rows_sq=$(sqlite3 -separator '|' "$DB" "SELECT $cols FROM \"$t\" ORDER BY 1, 2")
		rows_pg=$(psq "SELECT $cols FROM \"$t\" ORDER BY 1, 2")
	else
		n_sq=0; rows_sq=""; rows_pg=$(psq "SELECT * FROM \"$t\"")
	fi
	n_pg=$(psq "SELECT count(*) FROM \"$t\"")
	if [ "$printed" != "$n_sq" ] || [ "$n_pg" != "$n_sq" ] || [ "$rows_sq" != "$rows_pg" ]; then
		bad="$bad $t(sqlite=$n_sq printed=$printed pg=$n_pg)"
		diff <(printf '%s\n' "$rows_sq") <(printf '%s\n' "$rows_pg") | head -n 6 | sed 's/^/    # /'
	fi
	echo "    # $t: $n_sq rows"
done
nonempty=$(for t in sessions revocations disconnects exceptions decisions devices status audit audit_refs; do
	[ "$(psq "SELECT count(*) FROM \"$t\"")" -gt 0 ] && echo "$t"; done | wc -l)
if [ -z "$bad" ] && [ "$nonempty" -eq 9 ]; then
	cb_pass "migrate: every table's count printed and in PostgreSQL equals SQLite's, and every row is the same"
else
	cb_fail "migrate: counts and rows equal SQLite's (differ:$bad; tables with rows: $nonempty of 9)"
fi
if [ "$(psq "SELECT count(*) FROM audit WHERE server_id = 'radius-a'")" = "$(sqlite3 "$DB" "SELECT count(*) FROM audit")" ]; then
	cb_pass "migrate: the audit rows carry --server-id radius-a"
else
	cb_fail "migrate: the audit rows carry --server-id radius-a"
fi
out=$(sq migrate --to "$CONNINFO" --password-file "$PWFILE" 2>&1); rc=$?
if [ "$rc" -eq 2 ] && printf '%s\n' "$out" | grep -q "not empty"; then
	cb_pass "migrate into a store that is not empty is refused (exit 2)"
else
	cb_fail "migrate into a store that is not empty is refused (exit $rc)"
fi
if sq migrate --to "$CONNINFO" --password-file "$PWFILE" --server-id radius-a --replace >/dev/null 2>&1 &&
   [ "$(psq "SELECT count(*) FROM revocations")" = "$(sqlite3 "$DB" "SELECT count(*) FROM revocations")" ]; then
	cb_pass "migrate --replace copies again, nothing doubled"
else
	cb_fail "migrate --replace copies again, nothing doubled"
fi
out=$(pg audit verify --server radius-a --file "$FILE_A" 2>&1); rc=$?
if [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q "Server radius-a: Chain intact"; then
	cb_pass "audit verify --server radius-a passes against PostgreSQL after the migration"
else
	cb_fail "audit verify --server radius-a passes against PostgreSQL after the migration (exit $rc)"
	printf '%s\n' "$out" | sed 's/^/    # /'
fi
if pg revoke dave@school.example --reason "id after copy" --by tester >/dev/null && pg reinstate dave@school.example --by tester >/dev/null; then
	cb_pass "after the migration new rows get new ids (revoke, reinstate)"
else
	cb_fail "after the migration new rows get new ids (revoke, reinstate)"
fi

# --- 3. Two servers on the store -------------------------------------------------------------
modconf "$CB_TMP/raddb/mods-available/cetbyod" postgresql radius-a
cb_start_radiusd || { cb_fail "radiusd A starts on PostgreSQL"; cb_finish; }
# B: a copy of A's raddb with its own ports, log directory (audit file) and server_id.
modconf "$CB_TMP/cetbyod-b.conf" postgresql radius-b
if cb_pg_start_b "$CB_TMP/cetbyod-b.conf" && grep -q "server_id 'radius-b'" "$CB_TMP/radiusd-b.out"; then
	cb_pass "radiusd B starts on the same PostgreSQL store (server_id radius-b)"
else
	cb_fail "radiusd B starts on the same PostgreSQL store (server_id radius-b)"; cb_finish
fi

pap "$CB_AUTH_PORT" dave@school.example 02-00-00-00-00-04
cb_expect_reply "server A admits dave" 'Received Access-Accept'
pap "$B_AUTH" erin@school.example 02-00-00-00-00-05
cb_expect_reply "server B admits erin" 'Received Access-Accept'

both() {
	csv=$(pg audit query --type decision --format csv 2>/dev/null)
	printf '%s\n' "$csv" | grep -q '^radius-a,.*dave@school.example' &&
		printf '%s\n' "$csv" | grep -q '^radius-b,.*erin@school.example'
}
if cb_wait_until 10 both && printf '%s\n' "$csv" | head -n 1 | grep -q '^server,seq,time,'; then
	cb_pass "one audit query answers for both servers; CSV names each record's server"
else
	cb_fail "one audit query answers for both servers; CSV names each record's server"
	pg audit query --type decision --format csv 2>&1 | sed 's/^/    # /'
fi
tab=$(pg audit query --user erin@school.example 2>/dev/null)
if printf '%s\n' "$tab" | head -n 1 | grep -q '^SERVER\|^server' && printf '%s\n' "$tab" | grep -q '^radius-b '; then
	cb_pass "the table names the server of each record"
else
	cb_fail "the table names the server of each record"; printf '%s\n' "$tab" | sed 's/^/    # /'
fi
js=$(pg --json audit query --user dave@school.example --type decision 2>/dev/null)
if printf '%s\n' "$js" | /usr/bin/python3 -c 'import json,sys; a=json.load(sys.stdin); sys.exit(0 if a and all(r["server"]=="radius-a" for r in a) else 1)'; then
	cb_pass "JSON records name their server"
else
	cb_fail "JSON records name their server"
fi

out=$(pg audit verify --server radius-a --file "$FILE_A" --server radius-b --file "$FILE_B" 2>&1); rc=$?
if [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q "Server radius-a: Chain intact" &&
   printf '%s\n' "$out" | grep -q "Server radius-b: Chain intact"; then
	cb_pass "audit verify checks each server's chain against its own rows: both intact"
else
	cb_fail "audit verify checks each server's chain against its own rows (exit $rc)"; printf '%s\n' "$out" | sed 's/^/    # /'
fi
js=$(pg --json audit verify --server radius-a --file "$FILE_A" --server radius-b --file "$FILE_B" 2>/dev/null)
if printf '%s\n' "$js" | /usr/bin/python3 -c 'import json,sys; a=json.load(sys.stdin); sys.exit(0 if [r["server"] for r in a]==["radius-a","radius-b"] and all(r["ok"] and r["store_compared"] for r in a) else 1)'; then
	cb_pass "audit verify --json: one object per server, each compared with the store"
else
	cb_fail "audit verify --json: one object per server, each compared with the store"; printf '%s\n' "$js" | sed 's/^/    # /'
fi
# Verified against the other server's rows, a chain does not match.
out=$(pg audit verify --server radius-b --file "$FILE_A" 2>&1); rc=$?
if [ "$rc" -ne 0 ]; then cb_pass "A's file checked against radius-b's rows does not pass (exit $rc)"; else cb_fail "A's file checked against radius-b's rows does not pass"; fi

# Tamper: one line of B's file altered (erin's decision now says another status).
cb_pg_stop_b
/usr/bin/python3 - "$FILE_B" <<'EOF3'
import sys
p = sys.argv[1]
lines = open(p).read().split("\n")
for i, l in enumerate(lines):
    if "erin@school.example" in l and '"decision"' in l:
        lines[i] = l.replace("erin@school.example", "mallory@school.example", 1)
        break
open(p, "w").write("\n".join(lines))
EOF3
out=$(pg audit verify --server radius-a --file "$FILE_A" --server radius-b --file "$FILE_B" 2>&1); rc=$?
if [ "$rc" -eq 5 ] && printf '%s\n' "$out" | grep -q "radius-b: audit chain BROKEN" &&
   printf '%s\n' "$out" | grep -q "Server radius-a: Chain intact" && ! printf '%s\n' "$out" | grep -q "radius-a: audit chain BROKEN"; then
	cb_pass "a line altered in B's file: reported for radius-b only (exit 5), radius-a intact"
else
	cb_fail "a line altered in B's file: reported for radius-b only (exit $rc)"; printf '%s\n' "$out" | sed 's/^/    # /'
fi
if grep -q -- "$PW" "$CB_TMP/radiusd.out" "$CB_TMP/radiusd-b.out"; then cb_fail "the password is in radiusd's output"; fi
cb_finish
