#!/bin/bash
# test_ctl_raddb.sh - cetbyodctl --raddb DIR [--module NAME]: the store and
# files taken from the module's configuration, read with FreeRADIUS's own
# parser as radiusd -d DIR reads it ($INCLUDE, ${...}), cetbyodctl alone
# (no radiusd, so that it runs in the sanitizer build too).
#
# A raddb tree per "server": radiusd.conf including mods-enabled/, whose
# cetbyod module names a PostgreSQL store (a throwaway PostgreSQL 15,
# tests/pg/pg-fixture.sh run) through ${...} references and an $INCLUDEd
# file, or a SQLite store in its state_dir; a second instance (cetbyod b).
# Asserts: a revocation via --raddb lands in the module's store (read with
# psql / sqlite3); --module picks the instance; --state-dir wins over the
# configuration's store; class-key rotate writes the module's
# class_key_file; audit verify looks at the module's audit file; the
# errors (radiusd.conf unreadable, no cetbyod module, a parse error with
# FreeRADIUS's file[line], PostgreSQL without conninfo) exit 7 with their
# messages and write nothing.
set -u
TOP=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$TOP/tests/cli/pg-cli-lib.sh"
# run ARGS...: cetbyodctl; sets RC, OUT, ERR.
run() {
	"$CTL" "$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}
# expect NAME CODE TEXT: the last run exited CODE and said TEXT on stderr.
expect() {
	if [ "$RC" -eq "$2" ] && printf '%s' "$ERR" | grep -qF -- "$3"; then
		pass "$1 (exit $2)"
	else
		fail "$1: exit $RC (want $2), stderr: $ERR"
	fi
}

# Server B: PostgreSQL, the conninfo through ${...} from radiusd.conf, the
# store section in a file of its own ($INCLUDE), a second instance "b".
B=$TMP/b/raddb
mkdir -p "$B/mods-enabled" "$B/mods-config/cetbyod" "$TMP/b/state" "$TMP/b/state-b"
cp "$PWF" "$B/pg-password"
chmod 0600 "$B/pg-password"
cat > "$B/radiusd.conf" <<CONF
prefix = /usr
localstatedir = $TMP/b
raddbdir = $B
confdir = \${raddbdir}
modconfdir = \${confdir}/mods-config
pg_conninfo = "$CI"
name = radiusd
modules {
	\$INCLUDE mods-enabled/
}
CONF
cat > "$B/mods-config/cetbyod/store.conf" <<'CONF'
store {
	backend = postgresql
	postgresql {
		conninfo = "${pg_conninfo}"
		password_file = ${confdir}/pg-password
		server_id = radius-b
	}
}
CONF
cat > "$B/mods-enabled/cetbyod" <<'CONF'
cetbyod {
	state_dir = ${localstatedir}/state
	timezone = "Europe/London"
	class_key_file = ${localstatedir}/state/class.key
	audit {
		filename = ${localstatedir}/audit/cetbyod.jsonl
	}
	$INCLUDE ${modconfdir}/cetbyod/store.conf
}
cetbyod b {
	state_dir = ${localstatedir}/state-b
}
CONF

run --raddb "$B" revoke alice --reason "lost phone" --by tester
[ "$RC" -eq 0 ] && pass "revoke via --raddb exits 0" || fail "revoke via --raddb: exit $RC: $ERR"
[ "$(psq "SELECT count(*) FROM revocations WHERE identity = 'alice' AND reinstated_at IS NULL")" = 1 ] &&
	pass "the revocation is in the module's PostgreSQL store (conninfo via \${...}, store { } via \$INCLUDE)" ||
	fail "the revocation is not in the PostgreSQL store"
[ ! -e "$TMP/b/state/cetbyod.db" ] && pass "no SQLite file made in state_dir for a PostgreSQL store" ||
	fail "a SQLite file was made in state_dir"
run --store-conninfo "$CI" --store-password-file "$PWF" --json reinstate alice --by tester
run --raddb "$B" --json revoke alice --reason again --by tester
[ "$RC" -eq 0 ] && [ "$(psq "SELECT count(*) FROM revocations WHERE identity = 'alice' AND reinstated_at IS NULL")" = 1 ] &&
	pass "--raddb and --store-conninfo reach the same store" || fail "--raddb and --store-conninfo differ (exit $RC)"

run --raddb "$B" status
printf '%s' "$OUT" | grep -Eq '^Store +PostgreSQL [^ ]+ at 127\.0\.0\.1:[0-9]+$' &&
	! printf '%s%s' "$OUT" "$ERR" | grep -q "$(cat "$PWF")" &&
	pass "status names the PostgreSQL store (database, host, port; no password)" ||
	fail "status' Store line: $(printf '%s' "$OUT" | grep '^Store')"

run --raddb "$B" --module b revoke bob --reason x --by tester
[ "$RC" -eq 0 ] && [ "$(sqlite3 "$TMP/b/state-b/cetbyod.db" "SELECT count(*) FROM revocations WHERE identity = 'bob'")" = 1 ] &&
	pass "--module b: the instance cetbyod b { }'s SQLite store in its state_dir" || fail "--module b (exit $RC: $ERR)"
[ "$(psq "SELECT count(*) FROM revocations WHERE identity = 'bob'")" = 0 ] &&
	pass "--module b does not write to instance cetbyod's store" || fail "--module b wrote to the PostgreSQL store"

mkdir -p "$TMP/given"
run --raddb "$B" --state-dir "$TMP/given" revoke carol --reason x --by tester
[ "$RC" -eq 0 ] && [ "$(sqlite3 "$TMP/given/cetbyod.db" "SELECT count(*) FROM revocations WHERE identity = 'carol'")" = 1 ] &&
	[ "$(psq "SELECT count(*) FROM revocations WHERE identity = 'carol'")" = 0 ] &&
	pass "--state-dir wins over the configuration's store" || fail "--state-dir with --raddb (exit $RC: $ERR)"

run --raddb "$B" class-key rotate
[ "$RC" -eq 0 ] && [ -s "$TMP/b/state/class.key" ] && pass "class-key rotate writes the module's class_key_file" ||
	fail "class-key rotate with --raddb (exit $RC: $ERR)"
run --raddb "$B" audit verify
expect "audit verify looks for the module's audit { filename }" 2 "$TMP/b/audit/cetbyod.jsonl"

# Errors: exit 7, a message naming the problem, nothing written.
before=$(psq "SELECT count(*) FROM revocations")
run --raddb "$TMP/nowhere" revoke dave --reason x --by tester
expect "a raddb without radiusd.conf" 7 "cannot read $TMP/nowhere/radiusd.conf"
run --raddb "$B" --module c revoke dave --reason x --by tester
expect "no such instance" 7 "has no module 'c' (modules { cetbyod c { } }): enable it: ln -s ../mods-available/cetbyod"
N=$TMP/none/raddb
mkdir -p "$N/mods-enabled"
printf 'modules {\n\t$INCLUDE mods-enabled/\n}\n' > "$N/radiusd.conf"
printf 'always ok {\n\trcode = ok\n}\n' > "$N/mods-enabled/always"
run --json --raddb "$N" revoke dave --reason x --by tester
expect "no cetbyod module enabled" 7 "enable it: ln -s ../mods-available/cetbyod $N/mods-enabled/"
printf '%s' "$OUT" | /usr/bin/python3 -c 'import json,sys; o=json.load(sys.stdin); sys.exit(0 if o["exit"]==7 and "enable it" in o["error"] else 1)' &&
	pass "--json: the error as {\"error\", \"exit\": 7}" || fail "--json error: $OUT"
printf 'cetbyod {\n\tstate_dir = %s\n\tstore {\n\t\tbackend = postgresql\n\t}\n' "$TMP/x" > "$N/mods-enabled/cetbyod"
run --raddb "$N" revoke dave --reason x --by tester
expect "a parse error names FreeRADIUS's file[line]" 7 "$N/mods-enabled/cetbyod[6]: EOF reached without closing brace"
printf '%s' "$ERR" | grep -q "FreeRADIUS cannot parse" && pass "and says FreeRADIUS refused it" || fail "parse error: $ERR"
printf 'cetbyod {\n\tstate_dir = %s\n\tstore {\n\t\tbackend = postgresql\n\t}\n}\n' "$TMP/x" > "$N/mods-enabled/cetbyod"
run --raddb "$N" revoke dave --reason x --by tester
expect "PostgreSQL without conninfo" 7 "needs store { postgresql { conninfo } }"
printf 'cetbyod {\n}\n' > "$N/mods-enabled/cetbyod"
run --raddb "$N" revoke dave --reason x --by tester
expect "a module without state_dir keeps no store" 7 "has no state_dir"
run --raddb "$B" --raddb "$N" status
expect "--raddb twice" 1 "option --raddb given twice"
[ "$(psq "SELECT count(*) FROM revocations")" = "$before" ] && [ ! -e "$TMP/x" ] &&
	pass "the errors wrote nothing" || fail "an error wrote something"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
