#!/bin/bash
# test_cetbyodctl.sh - cetbyodctl as an admin runs it: against a temporary
# state directory, checking its output, --json shapes, exit codes, and that
# bad arguments are refused with a clear message and change nothing.
#
# Run from the build directory (make check does); CETBYODCTL overrides the
# binary.  The store is seeded and inspected with python3's sqlite3 module,
# playing the part of a running module (sessions, heartbeat, held queue).
# Ends with "N passed, M failed"; exits non-zero when anything failed.
set -u

CTL=${CETBYODCTL:-./cetbyodctl/cetbyodctl}
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/test_cetbyodctl.XXXXXX)
SD=$TMP/state
DB=$SD/cetbyod.db
PASSED=0
FAILED=0
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$SD"

pass() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }

if [ ! -x "$CTL" ]; then
	echo "cetbyodctl not found at $CTL (set CETBYODCTL)"
	echo "0 passed, 1 failed"
	exit 1
fi

# run ARGS...: run cetbyodctl on the test store; sets RC, OUT, ERR.
run() {
	"$CTL" --state-dir "$SD" "$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}

# expect_rc NAME CODE: the last run exited with CODE.
expect_rc() {
	if [ "$RC" -eq "$2" ]; then
		pass "$1 (exit $2)"
	else
		fail "$1: exit $RC, expected $2; stdout: $OUT; stderr: $ERR"
	fi
}

# expect_in NAME TEXT WHERE: TEXT appears in the last run's stdout (out) or stderr (err).
expect_in() {
	local where=$3 text
	if [ "$where" = out ]; then text=$OUT; else text=$ERR; fi
	case "$text" in
	*"$2"*) pass "$1" ;;
	*) fail "$1: '$2' not in std$where: $text" ;;
	esac
}

# json NAME PYTHON-EXPR: the last run's stdout is JSON and EXPR (over j) is true.
json() {
	if $PY -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$TMP/out" 2>"$TMP/pyerr"; then
		pass "$1"
	else
		fail "$1: $2 is false for: $OUT $(cat "$TMP/pyerr")"
	fi
}

# sql STATEMENTS: run SQL on the store (the module's part); prints rows of a final SELECT.
sql() {
	$PY - "$DB" "$1" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=5)
rows = []
for stmt in sys.argv[2].split(';'):
	if stmt.strip():
		rows = db.execute(stmt).fetchall()
db.commit()
for r in rows:
	print('|'.join('' if v is None else str(v) for v in r))
EOF
}

NOW=$(date +%s)

# ---------------------------------------------------------------------------
# Help, version, usage errors
# ---------------------------------------------------------------------------
run --help
expect_rc "--help" 0
expect_in "--help lists the commands" "revoke USER --reason TEXT" out
expect_in "--help documents the exit codes" "Exit codes:" out
run --version
expect_rc "--version" 0
expect_in "--version names the program" "cetbyodctl " out
run help revoke
expect_rc "help revoke" 0
expect_in "help revoke describes --by" "--by NAME" out
run revoke --help
expect_rc "revoke --help" 0
run help frobnicate
expect_rc "help of an unknown command" 1
run
expect_rc "no command" 1
expect_in "no command: message" "no command given" err
run frobnicate
expect_rc "unknown command" 1
expect_in "unknown command: message" "unknown command 'frobnicate'" err
run --frob status
expect_rc "unknown global option" 1
"$CTL" --state-dir "$SD" --db "$DB" status >"$TMP/out" 2>"$TMP/err"; RC=$?; ERR=$(cat "$TMP/err"); OUT=
expect_rc "--state-dir with --db" 1
expect_in "--state-dir with --db: message" "not both" err
"$CTL" --state-dir >"$TMP/out" 2>"$TMP/err"; RC=$?; ERR=$(cat "$TMP/err")
expect_rc "--state-dir without a value" 1

# ---------------------------------------------------------------------------
# A missing store: read commands do not create it
# ---------------------------------------------------------------------------
run status
expect_rc "status without a store" 3
expect_in "status without a store: message" "no store at" err
run sessions
expect_rc "sessions without a store" 3
if [ -e "$DB" ]; then fail "status created the store"; else pass "status did not create the store"; fi

# ---------------------------------------------------------------------------
# sync creates the store (mode 0600) and queues a command
# ---------------------------------------------------------------------------
run sync
expect_rc "sync" 0
expect_in "sync: message" "A sync requested." out
mode=$(stat -c %a "$DB" 2>/dev/null)
if [ "$mode" = 600 ]; then pass "store created with mode 0600"; else fail "store mode is '$mode'"; fi
run --json sync --full
expect_rc "sync --full --json" 0
json "sync --json shape" 'j == {"queued": "sync-full", "module_running": None}'
run sync --json
json "--json after the command" 'j["queued"] == "sync"'
run sync --full=yes
expect_rc "a flag with a value" 1
run sync extra
expect_rc "sync with an argument" 1
expect_in "sync with an argument: message" "unexpected argument 'extra'" err
rows=$(sql "SELECT command, requested_by FROM commands ORDER BY id")
if [ "$(echo "$rows" | cut -d'|' -f1 | tr '\n' ' ')" = "sync sync-full sync " ]; then
	pass "commands queued in order"
else
	fail "commands queued: $rows"
fi

# ---------------------------------------------------------------------------
# revoke: every bad argument refused, nothing written
# ---------------------------------------------------------------------------
run revoke alice
expect_rc "revoke without --reason" 1
expect_in "revoke without --reason: message" "a reason is required" err
run revoke --reason "lost"
expect_rc "revoke without a user" 1
run revoke alice --reason ""
expect_rc "empty reason" 1
expect_in "empty reason: message" "the reason is empty" err
run revoke alice --reason "$(printf 'two\nlines')"
expect_rc "reason with a newline" 1
expect_in "reason with a newline: escaped in the message" 'two\x0alines' err
run revoke alice --reason "$(printf 'x%.0s' $(seq 1 201))"
expect_rc "reason of 201 bytes" 1
expect_in "reason of 201 bytes: message" "201 bytes long; at most 200" err
run revoke alice --reason "$(printf '\xff\xfe')"
expect_rc "reason of invalid UTF-8" 1
run revoke "$(printf 'al\033[31mice')" --reason lost
expect_rc "user with an escape sequence" 1
expect_in "user with an escape sequence: escaped, named" "invalid user 'al\\x1b[31mice': identity contains a control character" err
if printf '%s' "$ERR" | grep -q "$(printf '\033')"; then fail "raw ESC reached the terminal"; else pass "no raw ESC in the message"; fi
run revoke "a@b@c" --reason lost
expect_rc "user a@b@c" 1
run revoke "$(printf 'x%.0s' $(seq 1 129))" --reason lost
expect_rc "user longer than max_length" 1
expect_in "user longer than max_length: message" "longer than 128 bytes" err
run revoke alice --reason lost --by "$(printf 'a\tb')"
expect_rc "--by with a tab" 1
run revoke alice --reason lost --colour
expect_rc "revoke with an unknown option" 1
expect_in "unknown option: message" "unknown option '--colour' for revoke" err
run revoke alice bob --reason lost
expect_rc "revoke with two users" 1
run revoke alice --reason a --reason b
expect_rc "--reason twice" 1
run revoke alice --reason
expect_rc "--reason without a value" 1
n=$(sql "SELECT count(*) FROM revocations")
if [ "$n" = 0 ]; then pass "refused revocations wrote nothing"; else fail "refused revocations wrote $n rows"; fi

# ---------------------------------------------------------------------------
# Sessions, as the module records them from accounting
# ---------------------------------------------------------------------------
sql "INSERT INTO sessions (nas, acct_session_id, identity, outer_identity, calling_station, called_station, ap, ssid,
	framed_ip, nas_ip, status, started, last_seen, in_octets, out_octets) VALUES
	('10.0.0.2', 'A1', 'alice', 'anonymous@school.example', '02-00-00-00-00-01', '02-00-00-00-00-AA:StaffWiFi',
	 '02-00-00-00-00-AA', 'StaffWiFi', '10.20.30.40', '10.0.0.2', 'admit', $((NOW - 600)), $((NOW - 30)),
	 21474836487, 1234);
	INSERT INTO sessions (nas, acct_session_id, identity, calling_station, status, started, last_seen)
	VALUES ('10.0.0.2', 'A2', 'alice', '02-00-00-00-00-02', 'admit', $((NOW - 500)), $((NOW - 20)));
	INSERT INTO sessions (nas, acct_session_id, identity, calling_station, status, started, last_seen)
	VALUES ('10.0.0.3', 'B' || char(27) || '[2J', 'bob', '02-00-00-00-00-03', 'onboard', $((NOW - 400)), $((NOW - 10)));
	INSERT INTO sessions (nas, acct_session_id, identity, status, started, last_seen, stopped, stop_cause)
	VALUES ('10.0.0.2', 'OLD', 'carol', 'admit', $((NOW - 9000)), $((NOW - 8000)), $((NOW - 8000)), 'User-Request')" >/dev/null

run sessions
expect_rc "sessions" 0
expect_in "sessions: table header" "USER   DEVICE" out
expect_in "sessions: SSID from Called-Station-Id" "StaffWiFi" out
expect_in "sessions: 64-bit counter shown" "20.0 GiB" out
expect_in "sessions: hostile Acct-Session-Id escaped" 'B\x1b[2J' out
if printf '%s' "$OUT" | grep -q "$(printf '\033')"; then fail "raw ESC in the table"; else pass "no raw ESC in the table"; fi
if printf '%s' "$OUT" | grep -q carol; then fail "a closed session is listed"; else pass "closed sessions are not listed"; fi
lines=$(printf '%s\n' "$OUT" | wc -l)
if [ "$lines" = 4 ]; then pass "sessions: header and three rows"; else fail "sessions: $lines lines"; fi
run --json sessions
json "sessions --json: count and list" 'j["count"] == 3 and len(j["sessions"]) == 3 and j["user"] is None'
json "sessions --json: fields" 'set(j["sessions"][0]) >= {"identity", "outer_identity", "calling_station", "called_station", "ap", "ssid", "framed_ip", "nas", "nas_ip", "nas_identifier", "acct_session_id", "class_id", "status", "valid_until", "started", "last_seen", "stopped", "stop_cause", "input_octets", "output_octets"}'
json "sessions --json: oldest first, 64-bit octets exact" 'j["sessions"][0]["identity"] == "alice" and j["sessions"][0]["input_octets"] == 21474836487 and j["sessions"][0]["stopped"] is None'
json "sessions --json: control characters kept as data" 'j["sessions"][2]["acct_session_id"] == "B\x1b[2J"'
run sessions --user ALICE
expect_rc "sessions --user ALICE (normalised)" 0
lines=$(printf '%s\n' "$OUT" | wc -l)
if [ "$lines" = 3 ]; then pass "sessions --user: two rows"; else fail "sessions --user: $lines lines"; fi
# As the module records identity { strip_domains = "SCHOOL" }.
sql "INSERT OR REPLACE INTO status VALUES ('identity.strip_domains', 'SCHOOL', $NOW)" >/dev/null
run --json sessions --user 'SCHOOL\alice'
json "sessions --user SCHOOL\\alice --json" 'j["user"] == "alice" and j["count"] == 2'
run sessions --user nobody
expect_rc "sessions --user with none" 2
expect_in "sessions --user with none: message" "No active sessions for nobody." out
run sessions --user "$(printf 'a\001')"
expect_rc "sessions --user with a control character" 1

# ---------------------------------------------------------------------------
# revoke and reinstate
# ---------------------------------------------------------------------------
run revoke 'SCHOOL\Alice' --reason "phone reported lost" --by it-admin
expect_rc "revoke SCHOOL\\Alice" 0
expect_in "revoke: normalised identity" "Revoked alice: phone reported lost (by it-admin)" out
expect_in "revoke: active sessions shown" "2 active sessions:" out
expect_in "revoke: says when" "disconnects them" out
rows=$(sql "SELECT identity, reason, revoked_by FROM revocations WHERE reinstated_at IS NULL")
if [ "$rows" = "alice|phone reported lost|it-admin" ]; then pass "revocation stored"; else fail "revocation stored: $rows"; fi
rows=$(sql "SELECT command, arg, requested_by FROM commands WHERE command = 'enforce'")
if [ "$rows" = "enforce|alice|it-admin" ]; then pass "enforce command queued with the revocation"; else fail "enforce queued: $rows"; fi
run --json revoke alice --reason "policy breach" --by dsl
expect_rc "revoke again" 0
json "revoke --json shape" 'j["identity"] == "alice" and j["revoked"] is True and j["already_revoked"] is True and j["reason"] == "policy breach" and j["by"] == "dsl" and j["active_sessions"] == 2 and isinstance(j["revoked_at"], int) and j["module_running"] is None'
SUDO_USER=head-of-it run revoke bob --reason "left the school"
expect_in "revoke: --by defaults to SUDO_USER" "(by head-of-it)" out
run revoke zoë --reason "test ünïcode"
expect_rc "revoke a UTF-8 identity and reason" 0

run reinstate nobody
expect_rc "reinstate someone not revoked" 2
expect_in "reinstate someone not revoked: message" "nobody is not revoked; nothing to do" err
run --json reinstate bob --by it-admin
expect_rc "reinstate bob" 0
json "reinstate --json shape" 'j["identity"] == "bob" and j["reinstated"] is True and j["by"] == "it-admin"'
run reinstate bob
expect_rc "reinstate bob twice" 2
run reinstate
expect_rc "reinstate without a user" 1

# The module's identity settings, as it records them, are the ones used.
run --json revoke 'OTHER\Dave' --reason x
json "a domain not in identity { strip_domains } is kept" 'j["identity"] == "other\\dave"'
run --json revoke 'ÉLISE' --reason x
json "identities are folded as the module folds them (Unicode)" 'j["identity"] == "élise"'
run reinstate 'Élise' --by x
expect_rc "reinstate Élise (the folded élise)" 0
run reinstate 'other\dave' --by x
expect_rc "reinstate other\\dave" 0
sql "INSERT OR REPLACE INTO status VALUES ('identity.strip_domains', '', $NOW)" >/dev/null
run --json revoke 'SCHOOL\Dave' --reason x
json "identity { strip_domains } empty honoured" 'j["identity"] == "school\\dave"'
sql "INSERT OR REPLACE INTO status VALUES ('identity.strip_domains', 'SCHOOL', $NOW)" >/dev/null

# A revoke while another process holds the store's write lock (radiusd's
# commit waiting on a busy disk): it says that it waits, waits, and lands.
rm -f "$TMP/locked"
$PY -c 'import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
time.sleep(6)
db.execute("ROLLBACK")' "$DB" "$TMP/locked" &
holder=$!
for _ in $(seq 1 50); do [ -e "$TMP/locked" ] && break; sleep 0.1; done
start=$(date +%s%3N)
run revoke carol --reason "lost while the store was busy" --by it-admin
waited=$(( $(date +%s%3N) - start ))
wait "$holder"
expect_rc "revoke while another process writes the store for 6 s (past the 5 s radiusd waits)" 0
expect_in "revoke while the store is busy: says it waits" "another process is writing to it (radiusd, or another cetbyodctl): waiting up to 30 s for it" err
rows=$(sql "SELECT count(*) FROM revocations WHERE identity = 'carol' AND reinstated_at IS NULL")
if [ "$rows" = 1 ] && [ "$waited" -ge 5000 ]; then
	pass "revoke while the store is busy: recorded once the lock was free (after $waited ms)"
else
	fail "revoke while the store is busy: $rows row(s) after $waited ms"
fi
run reinstate carol --by it-admin

# ---------------------------------------------------------------------------
# confirm: held bursts and held syncs
# ---------------------------------------------------------------------------
run confirm
expect_rc "confirm with nothing held" 2
expect_in "confirm with nothing held: message" "no disconnects are held" err
run confirm --discard --mass-removal
expect_rc "confirm --discard --mass-removal" 1
run confirm --mass-removal
expect_rc "confirm --mass-removal with no held sync" 2
sql "INSERT INTO disconnects (nas, acct_session_id, identity, reason, kind, state, created_at, updated_at, next_attempt)
	VALUES ('10.0.0.2', 'A1', 'alice', 'acknowledgement_expired', 'disconnect', 'held', $NOW, $NOW, $NOW),
	       ('10.0.0.3', 'B1', 'bob', 'acknowledgement_expired', 'disconnect', 'held', $NOW, $NOW, $NOW)" >/dev/null
run status
expect_rc "status with held disconnects needs attention" 4
expect_in "status: held disconnects listed" "Held disconnects (2)" out
expect_in "status: says how to release them" "cetbyodctl confirm" out
run --json confirm
expect_rc "confirm" 0
json "confirm --json shape" 'j["released"] == 2 and len(j["disconnects"]) == 2 and j["disconnects"][0]["state"] == "held"'
rows=$(sql "SELECT count(*) FROM disconnects WHERE state = 'pending'")
if [ "$rows" = 2 ]; then pass "confirm made the held disconnects pending"; else fail "pending after confirm: $rows"; fi
run confirm --discard
expect_rc "confirm --discard with nothing held" 2
sql "UPDATE disconnects SET state = 'held' WHERE acct_session_id = 'B1'" >/dev/null
run confirm --discard
expect_rc "confirm --discard" 0
expect_in "confirm --discard: message" "Discarded 1 held disconnect" out
sql "INSERT OR REPLACE INTO status VALUES ('sync.held', 'would remove 80 of 100 agreements', $NOW)" >/dev/null
# radiusd stopped while a sync was held: the held result went with it, so nothing is held (issue 15, item 10).
sql "INSERT OR REPLACE INTO status VALUES ('module.heartbeat', '$(( $(date +%s) - 600 ))', $NOW)" >/dev/null
run confirm --mass-removal
expect_rc "confirm --mass-removal while radiusd is not running" 2
expect_in "confirm --mass-removal while radiusd is not running: message" "radiusd is not running" err
rows=$(sql "SELECT count(*) FROM commands WHERE command = 'accept-mass-removal'")
if [ "$rows" = 0 ]; then pass "nothing queued: no acceptance armed for a later sync"; else fail "accept-mass-removal queued: $rows"; fi
sql "INSERT OR REPLACE INTO status VALUES ('module.heartbeat', '$(date +%s)', $NOW)" >/dev/null
run confirm --mass-removal
expect_rc "confirm --mass-removal" 0
expect_in "confirm --mass-removal: message" "would remove 80 of 100 agreements" out
rows=$(sql "SELECT count(*) FROM commands WHERE command = 'accept-mass-removal'")
if [ "$rows" = 1 ]; then pass "accept-mass-removal queued"; else fail "accept-mass-removal queued: $rows"; fi
sql "UPDATE status SET value = '' WHERE key = 'sync.held'" >/dev/null

# ---------------------------------------------------------------------------
# status
# ---------------------------------------------------------------------------
NOW=$(date +%s)
sql "INSERT OR REPLACE INTO status VALUES ('module.heartbeat', '$NOW', $NOW);
	INSERT OR REPLACE INTO status VALUES ('sync.last_success', '$((NOW - 60))', $NOW);
	INSERT OR REPLACE INTO status VALUES ('sync.people', '120', $NOW);
	INSERT OR REPLACE INTO status VALUES ('sync.agreed', '115', $NOW);
	INSERT OR REPLACE INTO status VALUES ('sync.source', 'forms', $NOW);
	INSERT OR REPLACE INTO status VALUES ('sync.last_error', '', $NOW);
	INSERT OR REPLACE INTO status VALUES ('custom.note', 'hello', $NOW)" >/dev/null
run status
expect_rc "status, all well" 0
expect_in "status: running" "running (heartbeat" out
expect_in "status: people" "120, of whom 115 agreed" out
expect_in "status: source" "forms" out
expect_in "status: active sessions" "3 (2 people)" out
expect_in "status: revocations" "Revocations in force" out
expect_in "status: other keys" "custom.note" out
run --json status
expect_rc "status --json, all well" 0
json "status --json: top-level shape" 'set(j) == {"store", "now", "module", "sync", "audit", "people", "counts", "sessions", "disconnects", "revocations", "status", "attention"}'
json "status --json: module" 'j["module"]["running"] is True and j["module"]["heartbeat"] > 0'
json "status --json: sync" 'j["sync"]["people"] == 120 and j["sync"]["agreed"] == 115 and j["sync"]["source"] == "forms" and j["sync"]["last_error"] == "" and set(j["sync"]["snapshot"]) == {"synced_at", "age", "from"}'
json "status --json: counts" 'j["counts"]["sessions_active"] == 3 and j["counts"]["people_active"] == 2 and j["counts"]["revocations"] == 3 and j["counts"]["disconnects_pending"] == 1'
json "status --json: lists" 'len(j["sessions"]) == 3 and set(j["disconnects"]) == {"pending", "held", "failed"} and len(j["revocations"]) == 3 and j["attention"] == []'
sql "INSERT OR REPLACE INTO status VALUES ('audit.failing', 'yes', $NOW);
	INSERT OR REPLACE INTO status VALUES ('audit.last_error', '/var/log/freeradius/cetbyod-audit.jsonl: No space left on device', $NOW);
	INSERT OR REPLACE INTO status VALUES ('audit.queued', '17', $NOW);
	INSERT OR REPLACE INTO status VALUES ('audit.dropped', '0', $NOW)" >/dev/null
run status
expect_rc "status with a failing audit trail" 4
expect_in "status: the audit trail's failure needs attention" "the audit trail cannot be written (/var/log/freeradius/cetbyod-audit.jsonl: No space left on device): 17 records wait in memory" out
expect_in "status: the audit section" "FAILING: /var/log/freeradius/cetbyod-audit.jsonl: No space left on device" out
run --json status
json "status --json: audit" 'j["audit"]["failing"] is True and j["audit"]["queued"] == 17 and j["audit"]["dropped"] == 0'
sql "UPDATE status SET value = 'no' WHERE key = 'audit.failing'" >/dev/null
run status
expect_rc "status once the audit trail is written again" 0
sql "UPDATE status SET value = 'HTTP 403 from forms.googleapis.com' WHERE key = 'sync.last_error';
	UPDATE status SET value = '$((NOW - 3600))' WHERE key = 'module.heartbeat'" >/dev/null
run status
expect_rc "status with a sync error and radiusd down" 4
expect_in "status: sync error shown" "the last sync failed: HTTP 403" out
expect_in "status: radiusd down" "not running (last heartbeat 60 min ago)" out
run --json status
expect_rc "status --json needing attention" 4
json "status --json: attention" 'len(j["attention"]) == 2 and j["module"]["running"] is False'
run revoke alice --reason "still lost"
expect_in "revoke while radiusd is down: says so" "radiusd is not running (last heartbeat 60 min ago): the module disconnects them when it starts." out

# ---------------------------------------------------------------------------
# --db, --json errors, and stores that must be refused untouched
# ---------------------------------------------------------------------------
"$CTL" --db "$DB" --json sessions >"$TMP/out" 2>"$TMP/err"; RC=$?; OUT=$(cat "$TMP/out")
expect_rc "--db FILE" 0
json "--db FILE reads the same store" 'j["count"] == 3'
run --json revoke "$(printf 'a\001')" --reason x
expect_rc "--json usage error" 1
json "--json usage error on stdout" 'j["exit"] == 1 and "control character" in j["error"]'

# --- The exceptions register ---------------------------------------------------
tomorrow=$(date -d tomorrow +%F)
run exception add --user percy --reason "Glucose monitor" --approved-by "Head of Year 9" --until "$tomorrow" --mac aa:bb:cc:dd:ee:0f --by it
expect_rc "exception add" 0
expect_in "exception add names the device, normalised" "on device AA-BB-CC-DD-EE-0F" out
run --json exception list
expect_rc "exception list --json" 0
json "exception list: percy's, in force, from the register" "len(j) == 1 and j[0]['identity'] == 'percy' and j[0]['state'] == 'in force' and j[0]['source'] == 'register' and j[0]['approved_by'] == 'Head of Year 9' and j[0]['granted_by'] == 'it'"
before=$($PY -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from exceptions').fetchone()[0])" "$DB")
run exception add --user percy --reason "x" --approved-by "y" --until 2020-01-01
expect_rc "exception add with an end in the past" 1
expect_in "exception add with an end in the past: message" "is not in the future" err
run exception add --user percy --reason "x" --approved-by "y" --until "next week"
expect_rc "exception add with a bad --until" 1
expect_in "exception add with a bad --until: message" "is not a time" err
run exception add --user percy --reason "x" --approved-by "y" --until "$tomorrow" --mac "aa:bb:cc"
expect_rc "exception add with a bad --mac" 1
expect_in "exception add with a bad --mac: message" "is not a MAC address" err
run exception add --user percy --reason "x" --until "$tomorrow"
expect_rc "exception add without --approved-by" 1
expect_in "exception add without --approved-by: message" "--approved-by NAME is required" err
run exception add --user percy --reason "$(printf 'two\nlines')" --approved-by "y" --until "$tomorrow"
expect_rc "exception add with a control character in the reason" 1
after=$($PY -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from exceptions').fetchone()[0])" "$DB")
if [ "$before" = "$after" ]; then pass "refused exception commands changed nothing"; else fail "refused exception commands changed the register ($before -> $after)"; fi
run exception end --user percy --mac 11:22:33:44:55:66
expect_rc "exception end for another device" 2
run exception end --user percy --by it
expect_rc "exception end" 0
expect_in "exception end says how many" "Ended 1 exception of percy" out
run exception list
expect_rc "exception list with none in force" 2
run --json exception list --all
json "exception list --all: ended, by whom" "len(j) == 1 and j[0]['state'] == 'ended' and j[0]['ended_by'] == 'it'"
run exception frobnicate
expect_rc "an unknown exception command" 1

# --- Reports -------------------------------------------------------------------
run report due
expect_rc "report due before the module listed anyone" 2
expect_in "report due before the module listed anyone: message" "has not listed anyone yet" err
run report due --within 0
expect_rc "report due --within 0" 1
run report due --within 3651d
expect_rc "report due --within 3651d" 1
$PY - "$DB" <<'PYEOF'
import sqlite3, sys, time
now = int(time.time())
d = sqlite3.connect(sys.argv[1])
rows = [
    ("alice", "alice@school.example", "staff", 0, now - 360 * 86400, now + 5 * 86400, "admit", "acknowledged"),
    ("bob", "bob@school.example", "staff", 0, now - 300 * 86400, now + 65 * 86400, "admit", "acknowledged"),
    ("frank", "frank@school.example", "staff", 0, 0, 0, "onboard", "no_acknowledgement"),
    ("dave", "dave@school.example", "staff", 1, 0, 0, "reject", "account_disabled"),
    ("percy", "percy@school.example", "pupil", 0, 0, 0, "reject", "pupil_without_exception"),
]
for r in rows:
    d.execute("INSERT INTO people (identity, email, role, disabled, ack_time, ack_expiry, status, reason, refreshed_at) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", r + (now,))
d.commit()
PYEOF
run --json report due --within 30d
expect_rc "report due --within 30d" 0
json "report due: alice only (bob lapses in 65 days)" "[p['identity'] for p in j['people']] == ['alice'] and j['people'][0]['days_left'] in (4, 5)"
run --json report unacknowledged
json "report unacknowledged: frank only (dave disabled, percy a pupil)" "[p['identity'] for p in j['people']] == ['frank']"
run report unacknowledged
expect_in "report unacknowledged says why" "no acknowledgement on record" out
run report devices --user nobody
expect_rc "report devices for someone never seen" 2

printf 'this is not a database\n' >"$TMP/garbage.db"
cp "$TMP/garbage.db" "$TMP/garbage.orig"
"$CTL" --db "$TMP/garbage.db" revoke alice --reason x >"$TMP/out" 2>"$TMP/err"; RC=$?; ERR=$(cat "$TMP/err")
expect_rc "a file that is not a database" 3
expect_in "a file that is not a database: message" "not a database" err
if cmp -s "$TMP/garbage.db" "$TMP/garbage.orig"; then pass "the corrupt file is untouched"; else fail "the corrupt file was changed"; fi

cp "$DB" "$TMP/newer.db"
$PY -c "import sqlite3,sys; d=sqlite3.connect(sys.argv[1]); d.execute('PRAGMA user_version = 42'); d.commit()" "$TMP/newer.db"
"$CTL" --db "$TMP/newer.db" status >"$TMP/out" 2>"$TMP/err"; RC=$?; ERR=$(cat "$TMP/err")
expect_rc "a store from a newer cetbyod" 3
expect_in "a store from a newer cetbyod: message" "newer cetbyod" err

"$CTL" --state-dir "$TMP/nowhere" sync >"$TMP/out" 2>"$TMP/err"; RC=$?; ERR=$(cat "$TMP/err")
expect_rc "a missing state directory" 3
expect_in "a missing state directory: message" "does not exist" err

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
