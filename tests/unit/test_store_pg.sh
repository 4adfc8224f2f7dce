#!/bin/sh
# test_store_pg.sh - tests/unit/test_store on the PostgreSQL store: starts
# a throwaway PostgreSQL 15 (tests/pg/pg-fixture.sh), runs the binary with
# its conninfo in the environment (every backend-independent test, on a
# freshly emptied schema each, plus the test_pg_* tests), stops the server
# and removes its directory, also on failure.  Run from the build directory
# (make check does).
set -eu
TOP=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
exec "$TOP/tests/pg/pg-fixture.sh" run ./tests/unit/test_store
