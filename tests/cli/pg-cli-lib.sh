# pg-cli-lib.sh - sourced (with TOP set) by the command-line tests that need
# PostgreSQL: re-runs the test under tests/pg/pg-fixture.sh (a throwaway
# server), then sets CTL (cetbyodctl), TMP (a temporary directory removed on
# exit, named after the test), CI and PWF (the fixture's conninfo and
# password file), the pass/fail counters and psq SQL (one query, -A -t).
if [ -z "${CB_TEST_PG_CONNINFO:-}" ]; then
	exec "$TOP/tests/pg/pg-fixture.sh" run bash "$0" "$@"
fi
CTL=${CETBYODCTL:-./cetbyodctl/cetbyodctl}
TMP=$(mktemp -d "/tmp/$(basename "$0" .sh).XXXXXX")
trap 'rm -rf "$TMP"' EXIT
CI=$CB_TEST_PG_CONNINFO
PWF=$CB_TEST_PG_PASSWORD_FILE
PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }
psq() { PGPASSWORD=$(cat "$PWF") psql -X -q -A -t "$CI" -c "$1"; }
