#!/bin/bash
# test_migrate_pg.sh - cetbyodctl migrate and audit query/verify against a
# PostgreSQL store, cetbyodctl alone (no radiusd, so that it runs in the
# sanitizer build too): a SQLite store filled by cetbyodctl (a revocation
# and its reinstatement, an exception, an ended exception) and an audit
# index of 2,000 rows; migrate into a throwaway PostgreSQL 15
# (tests/pg/pg-fixture.sh run): exit 0, the counts it prints (table and
# JSON) equal SQLite's and PostgreSQL's; a non-empty target refused (exit 2),
# --replace copies again without doubling; bad arguments exit 1; query
# names the server; verify --server needs the PostgreSQL store.
# test_pg_migrate_audit.sh does the same with radiusd writing the store.
set -u
TOP=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$TOP/tests/cli/pg-cli-lib.sh"
SD=$TMP/state
DB=$SD/cetbyod.db
mkdir -p "$SD"

sq() { "$CTL" --state-dir "$SD" "$@" >/dev/null 2>&1; }
sq revoke alice --reason "lost phone" --by t && sq reinstate alice --by t && sq revoke alice --reason "again" --by t &&
	sq exception add --user bob --reason x --approved-by head --until 2031-01-01 &&
	sq exception add --user carol --reason y --approved-by head --until 2031-01-01 && sq exception end --user carol --by t ||
	fail "filling the SQLite store with cetbyodctl"
sqlite3 "$DB" < "$TOP/schema/sql/audit.sql"
sqlite3 "$DB" "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000)
	INSERT INTO audit (seq, time, type, identity, hash, record) SELECT x, 1700000000 + x, 'decision',
	'user' || (x % 50), printf('%064x', x), '{\"seq\":' || x || ',\"type\":\"decision\"}' FROM c"

out=$("$CTL" --state-dir "$SD" migrate --to "$CI" --password-file "$PWF" --server-id radius-a 2>&1); rc=$?
[ "$rc" -eq 0 ] && pass "migrate exits 0" || { fail "migrate exits 0 (exit $rc)"; printf '%s\n' "$out" | sed 's/^/    # /'; }
bad=""
for t in revocations exceptions commands audit; do
	n_sq=$(sqlite3 "$DB" "SELECT count(*) FROM $t")
	n_pg=$(psq "SELECT count(*) FROM $t")
	printed=$(printf '%s\n' "$out" | awk -v t="$t" '$1 == t { print $2 }')
	[ "$n_sq" = "$n_pg" ] && [ "$n_sq" = "$printed" ] && [ "$n_sq" -gt 0 ] || bad="$bad $t($n_sq/$n_pg/$printed)"
done
[ -z "$bad" ] && pass "the table printed, SQLite and PostgreSQL agree on every count" || fail "counts differ:$bad"
[ "$(psq "SELECT count(*) FROM audit WHERE server_id = 'radius-a'")" = 2000 ] && pass "audit rows carry --server-id" ||
	fail "audit rows carry --server-id"
hist=$("$CTL" --store-conninfo "$CI" --store-password-file "$PWF" --json exception list --all 2>/dev/null)
printf '%s' "$hist" | grep -q carol && pass "an ended exception is copied" || fail "an ended exception is copied"

out=$("$CTL" --state-dir "$SD" migrate --to "$CI" --password-file "$PWF" 2>&1); rc=$?
[ "$rc" -eq 2 ] && printf '%s' "$out" | grep -q "not empty" && pass "a non-empty target is refused (exit 2)" ||
	fail "a non-empty target is refused (exit $rc)"
js=$("$CTL" --json --state-dir "$SD" migrate --to "$CI" --password-file "$PWF" --server-id radius-b --replace 2>&1); rc=$?
if [ "$rc" -eq 0 ] && printf '%s' "$js" | /usr/bin/python3 -c 'import json,sys; o=json.load(sys.stdin); sys.exit(0 if o["tables"]["audit"]==2000 and o["rows"]>2000 else 1)' &&
   [ "$(psq "SELECT count(*) FROM revocations")" = "$(sqlite3 "$DB" "SELECT count(*) FROM revocations")" ]; then
	pass "--replace (--json) copies again, nothing doubled"
else
	fail "--replace (--json) copies again, nothing doubled (exit $rc)"
fi
"$CTL" --store-conninfo "$CI" --store-password-file "$PWF" revoke dave --reason r --by t >/dev/null 2>&1 &&
	pass "new rows after the copy get new ids" || fail "new rows after the copy get new ids"

"$CTL" --state-dir "$SD" migrate >/dev/null 2>&1; rc=$?
[ "$rc" -eq 1 ] && pass "migrate without --to exits 1" || fail "migrate without --to exits 1 (exit $rc)"
"$CTL" --store-conninfo "$CI" migrate --to "$CI" >/dev/null 2>&1; rc=$?
[ "$rc" -eq 1 ] && pass "migrate from a PostgreSQL store exits 1" || fail "migrate from a PostgreSQL store exits 1 ($rc)"
"$CTL" --state-dir "$TMP/none" migrate --to "$CI" --password-file "$PWF" >/dev/null 2>&1; rc=$?
[ "$rc" -eq 3 ] && pass "migrate from a missing SQLite store exits 3" || fail "migrate from a missing SQLite store exits 3 ($rc)"
"$CTL" --store "file:///x" status >/dev/null 2>&1; rc=$?
[ "$rc" -eq 1 ] && pass "--store with something else than postgresql:// exits 1" || fail "--store file:// exits 1 ($rc)"
"$CTL" --state-dir "$SD" audit verify --server a "$TMP/x" >/dev/null 2>&1; rc=$?
[ "$rc" -eq 1 ] && pass "audit verify --server on SQLite exits 1" || fail "audit verify --server on SQLite exits 1 ($rc)"
csv=$("$CTL" --store-conninfo "$CI" --store-password-file "$PWF" audit query --user user7 --format csv 2>/dev/null)
printf '%s\n' "$csv" | head -n 1 | grep -q '^server,seq,' && printf '%s\n' "$csv" | sed -n 2p | grep -q '^radius-b,' &&
	pass "audit query --format csv names the server" || fail "audit query --format csv names the server"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
