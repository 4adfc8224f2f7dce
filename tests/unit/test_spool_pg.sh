#!/bin/sh
# test_spool_pg.sh - tests/unit/test_spool with the PostgreSQL fixture
# (tests/pg/pg-fixture.sh): the spool's replay after an outage, exactly
# once (also after a crash mid-replay), and a full spool failing the write.
# test_spool alone (no fixture) tests the file format.
set -eu
TOP=${srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
exec "$TOP/tests/pg/pg-fixture.sh" run ./tests/unit/test_spool
