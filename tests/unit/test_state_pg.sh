#!/bin/sh
# test_state_pg.sh - the unit tests that work on a store through
# tests/unit/test_state.c (test_decide, test_roles, test_exreg,
# test_enforcer, test_people, test_limits) run again on the PostgreSQL store: one
# throwaway PostgreSQL 15 (tests/pg/pg-fixture.sh) for all of them, its
# conninfo in the environment, each test on an emptied schema; the server
# stopped and its directory removed at the end, also on failure.  Run from
# the build directory (make check does).
set -eu
TOP=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
exec "$TOP/tests/pg/pg-fixture.sh" run sh -c '
rc=0
for t in test_decide test_roles test_exreg test_enforcer test_people test_limits; do
	echo "== $t on PostgreSQL"
	./tests/unit/$t || rc=1
done
exit $rc'
