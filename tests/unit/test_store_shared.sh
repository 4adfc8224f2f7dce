#!/bin/sh
# test_store_shared.sh - tests/unit/test_store_shared on a throwaway
# PostgreSQL 15 (tests/pg/pg-fixture.sh): two store handles as two servers
# hold them.  Run from the build directory (make check does).
set -eu
TOP=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
exec "$TOP/tests/pg/pg-fixture.sh" run ./tests/unit/test_store_shared
