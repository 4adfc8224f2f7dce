#!/bin/bash
# test_audit_cli.sh - cetbyodctl's audit, export and purge commands as an
# admin runs them, against a temporary state directory.
#
# The trail is written here by python3 exactly as lib/audit/audit.c
# writes it (sorted keys, compact JSON, SHA-256 chain), which also checks
# that the canonical form is what the module's comment says it is.  The
# audit table is created from schema/sql/audit.sql (through $srcdir).
# Run from the build directory (make check does); CETBYODCTL overrides the
# binary.  Ends with "N passed, M failed"; exits non-zero when anything failed.
set -u

CTL=${CETBYODCTL:-./cetbyodctl/cetbyodctl}
SRCDIR=${srcdir:-.}
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/test_audit_cli.XXXXXX)
SD=$TMP/state
DB=$SD/cetbyod.db
TRAIL=$SD/audit.jsonl
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

run() {
	"$CTL" --state-dir "$SD" "$@" >"$TMP/out" 2>"$TMP/err"
	RC=$?
	OUT=$(cat "$TMP/out")
	ERR=$(cat "$TMP/err")
}

expect_rc() {
	if [ "$RC" -eq "$2" ]; then pass "$1 (exit $2)"; else fail "$1: exit $RC, expected $2; stdout: $OUT; stderr: $ERR"; fi
}

expect_in() {
	local text
	if [ "$3" = out ]; then text=$OUT; else text=$ERR; fi
	case "$text" in
	*"$2"*) pass "$1" ;;
	*) fail "$1: '$2' not in std$3: $text" ;;
	esac
}

json() {
	if $PY -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$TMP/out" 2>"$TMP/pyerr"; then
		pass "$1"
	else
		fail "$1: $2 on: $OUT $(cat "$TMP/pyerr")"
	fi
}

# A store, created as cetbyodctl creates it.
run revoke seed --reason "test seed" --by tester
expect_rc "seed the store" 0

# The trail: written as the module writes it, and copied into the audit table.
$PY - "$TRAIL" "$DB" "$SRCDIR/schema/sql/audit.sql" <<'EOF' || { echo "cannot build the trail"; exit 1; }
import hashlib, json, sqlite3, sys, calendar, time
trail, dbpath, schema = sys.argv[1:4]

def t(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%d %H:%M"))

def iso(e):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(e))

events = []
def session(who, mac, sid, ip, start, stop):
    base = {"identity": who, "calling_station": mac, "called_station": "00-11-22-33-44-55:Staff",
            "ap": "00-11-22-33-44-55", "ssid": "Staff", "nas": "10.0.0.2", "acct_session_id": sid,
            "framed_ip": ip}
    events.append(dict(base, type="session_start", time=iso(t(start)), session_started=iso(t(start))))
    if stop:
        events.append(dict(base, type="session_stop", time=iso(t(stop)), session_started=iso(t(start)),
                           session_stopped=iso(t(stop)), stop_cause="User-Request", in_octets=10, out_octets=20))

events.append({"type": "audit_start", "time": iso(t("2026-11-24 08:00")), "detail": "audit trail opened"})
events.append({"type": "decision", "time": iso(t("2026-11-24 08:59")), "identity": "alice", "status": "admit",
               "reason": "acknowledged", "calling_station": "aa:bb:cc:00:00:01", "nas": "10.0.0.2"})
session("alice", "aa:bb:cc:00:00:01", "S1", "10.20.30.40", "2026-11-24 09:00", "2026-11-24 10:10")
session("bob", "aa:bb:cc:00:00:02", "S2", "10.20.30.40", "2026-11-24 10:12", "2026-11-24 11:00")
session("=cmd|' /C calc'!A0", "aa:bb:cc:00:00:03", "S3", "10.20.30.41", "2026-11-24 09:00", None)
events.append({"type": "revoke", "time": iso(t("2026-11-24 12:00")), "identity": "bob", "by": "it-admin",
               "why": "+lost device, reported"})

db = sqlite3.connect(dbpath)
db.executescript(open(schema).read())
prev = "0" * 64
with open(trail, "w") as f:
    for seq, e in enumerate(events, 1):
        rec = dict(e, seq=seq, prev=prev)
        canon = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        h = hashlib.sha256(canon.encode()).hexdigest()
        line = canon[:-1] + ',"hash":"%s"}' % h
        f.write(line + "\n")
        mac = e.get("calling_station", "").replace(":", "-").upper()
        ss = e.get("session_started")
        st = e.get("session_stopped")
        db.execute("INSERT INTO audit (seq, time, type, identity, calling_station, mac, nas, ap, ssid, framed_ip, "
                   "acct_session_id, status, reason, by, session_start, session_stop, hash, record) VALUES "
                   "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (seq, calendar.timegm(time.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ")), e["type"],
                    e.get("identity", ""), e.get("calling_station", ""), mac, e.get("nas", ""), e.get("ap", ""),
                    e.get("ssid", ""), e.get("framed_ip", ""), e.get("acct_session_id", ""), e.get("status", ""),
                    e.get("reason", ""), e.get("by", ""),
                    calendar.timegm(time.strptime(ss, "%Y-%m-%dT%H:%M:%SZ")) if ss else None,
                    calendar.timegm(time.strptime(st, "%Y-%m-%dT%H:%M:%SZ")) if st else None, h, line))
        prev = h
db.execute("INSERT OR REPLACE INTO status (key, value, updated_at) VALUES ('audit.file', ?, 0)", (trail,))
db.execute("INSERT OR REPLACE INTO status (key, value, updated_at) VALUES ('module.timezone', 'Europe/London', 0)")
db.commit()
EOF

# verify
run audit verify --file "$TRAIL"
expect_rc "verify an intact trail" 0
expect_in "verify says how many" "Chain intact: 8 records, seq 1 to 8" out
run audit verify
expect_rc "verify finds the trail through the store" 0
run --json audit verify
json "verify --json" "j['ok'] is True and j['records'] == 8 and j['files'] == 1"

cp "$TRAIL" "$TMP/edited.jsonl"
sed -i '3s/"alice"/"mallory"/' "$TMP/edited.jsonl"
run audit verify "$TMP/edited.jsonl"
expect_rc "an edited line breaks the chain" 5
expect_in "... at that record" "line 3 (seq 3)" err
expect_in "... and says so" "was altered" err

sed '4d' "$TRAIL" > "$TMP/deleted.jsonl"
run --json audit verify "$TMP/deleted.jsonl"
expect_rc "a deleted line breaks the chain" 5
json "... at that record" "j['ok'] is False and j['bad']['line'] == 4 and j['bad']['seq'] == 4 and j['bad']['found_seq'] == 5"

run audit verify --file "$TMP/nonexistent"
expect_rc "verify of a missing trail" 2
run audit verify --file "$TRAIL" "$TRAIL"
expect_rc "--file and FILE together" 1

# query: who had 10.20.30.40 at 10:14 on Tuesday 24 November 2026?
run audit query --ip 10.20.30.40 --at "2026-11-24 10:14"
expect_rc "who had the address at 10:14" 0
expect_in "... bob" "bob" out
case "$OUT" in *alice*) fail "alice listed at 10:14" ;; *) pass "alice not listed at 10:14" ;; esac
run --json audit query --ip 10.20.30.40 --at "2026-11-24T10:05:00Z"
json "at 10:05 alice held it" "len(j) == 1 and j[0]['identity'] == 'alice' and j[0]['certain']"
run audit query --ip 10.20.30.40 --at "2026-11-24 10:11"
expect_rc "nobody at 10:11" 2
run audit query --ip 10.20.30.41 --at "2026-11-24 11:30" --format csv
expect_rc "an open session, as CSV" 0
expect_in "CSV neutralises a formula" "'=cmd|' /C calc'!A0,,aa:bb" out
expect_in "CSV leaves an absent stop empty" "09:00:00Z,,no stop" out
expect_in "CSV header" "user,outer,device,nas,session,ssid,ip,started,stopped,note" out

run audit query --user alice --format json
json "by person" "len(j) == 3 and all(r['identity'] == 'alice' for r in j)"
run audit query --mac AABB.CC00.0002 --json
json "by MAC in another notation" "len(j) == 2 and j[0]['identity'] == 'bob'"
run audit query --type revoke --format csv
expect_in "CSV neutralises and quotes a + cell" "it-admin,\"'+lost device, reported\"" out
run audit query --ssid Staff --from "2026-11-24 10:00" --to "2026-11-24 10:59"
expect_rc "by SSID and time" 0
expect_in "... stop of alice and start of bob" "session_stop" out
run audit query --nas 10.9.9.9
expect_rc "nothing at an unknown NAS" 2

# bad arguments
run audit query --at "2026-11-24 10:14"
expect_rc "--at without --ip" 1
run audit query --ip 10.20.30.40 --at "Tuesday"
expect_rc "a time that is not one" 1
expect_in "... names the forms" "RFC 3339" err
run audit query --mac zz:zz
expect_rc "a MAC that is not one" 1
run audit query --format xml
expect_rc "an unknown format" 1
run audit query --limit 0
expect_rc "--limit 0" 1
run audit query --from "2026-11-25" --to "2026-11-24"
expect_rc "--to before --from" 1
run audit query --tz Mars/Olympus
expect_rc "an unknown zone" 1
run audit frobnicate
expect_rc "an unknown audit command" 1
run audit
expect_rc "audit without a command" 1

# export
run export --person alice
expect_rc "export a person" 0
json "export holds the audit records" "j['identity'] == 'alice' and len(j['audit']) == 3 and 'sessions' in j and 'decisions' in j"
run export --person seed
json "export holds revocations" "len(j['revocations']) == 1 and j['revocations'][0]['reason'] == 'test seed'"
"$CTL" --state-dir "$SD" exception add --user alice --reason "Medical monitoring" --approved-by "Head" --until "$(date -d tomorrow +%F)" >/dev/null 2>&1
run export --person alice
json "export holds the exceptions register and the list of people and reminders" "len(j['exceptions']) == 1 and j['exceptions'][0]['approved_by'] == 'Head' and 'people' in j and 'reminders' in j"
run export
expect_rc "export without --person" 1

# purge
run purge --older-than 0
expect_rc "purge 0 days" 1
run purge --older-than 12abc
expect_rc "purge junk days" 1
run purge --older-than 30
expect_rc "purge with nothing so old" 0
expect_in "... deletes no audit rows" "0 audit rows" out
run --json purge --older-than 1
json "purge deletes the old audit rows" "j['audit_rows'] == 8"
run audit query --user alice
expect_rc "purged rows are gone" 2
run audit verify
expect_rc "the files still verify after a purge" 0

# Lines removed from the end of the file, while the store still has them.
$PY - "$DB" "$SRCDIR/schema/sql/audit.sql" "$TRAIL" <<'EOF'
import sqlite3, sys, json
db = sqlite3.connect(sys.argv[1])
lines = open(sys.argv[3]).read().splitlines()
for l in lines[-2:]:
    r = json.loads(l)
    db.execute("INSERT INTO audit (seq, time, type, hash, record) VALUES (?, 0, ?, ?, ?)", (r["seq"], r["type"], r["hash"], l))
db.commit()
open(sys.argv[3], "w").write("\n".join(lines[:-1]) + "\n")
EOF
run audit verify
expect_rc "a line removed from the end" 5
expect_in "... found against the store" "removed from the end" err

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
