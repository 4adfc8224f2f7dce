#!/bin/bash
# test_audit_trail.sh - the audit trail through a real radiusd and the real
# cetbyodctl, for the faults issue 15 found in it.
#
#   Actions in the same second (item 6): ten revocations made by cetbyodctl
#   in one second, reinstatements and exceptions likewise, give one audit
#   record each (cetbyodctl audit query); actions made while radiusd is down
#   are recorded once it is back; restarts repeat none.
#
# Run from the build directory (make check does).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/audit-lib.sh"

PY=/usr/bin/python3

# counts TYPE - "identity count" per line: the TYPE records cetbyodctl audit query lists.
counts() {
	$CTL audit query --type "$1" --format json 2>/dev/null | $PY -c '
import collections, json, sys
text = sys.stdin.read()
try:
    data = json.loads(text)
except ValueError:
    data = []
recs = data if isinstance(data, list) else next((v for v in data.values() if isinstance(v, list)), [])
c = collections.Counter(r.get("identity", "") for r in recs)
for k in sorted(c):
    print(k, c[k])'
}

# all_once TYPE N PREFIX - PREFIX1..PREFIXN each have exactly one TYPE record, nobody else with PREFIX.
all_once() {
	want=$(for i in $(seq 1 "$2"); do echo "$3$i 1"; done | sort)
	[ "$(counts "$1" | grep "^$3[0-9]" | sort)" = "$want" ]
}

# same_second TABLE COLUMN PREFIX - the largest number of PREFIX rows sharing one second of COLUMN.
same_second() {
	$PY - "$CB_TMP/lib/cetbyod/cetbyod.db" "$1" "$2" "$3" <<'EOP'
import sqlite3, sys
db, table, col, prefix = sys.argv[1:5]
c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
rows = c.execute("SELECT %s, count(*) FROM %s WHERE identity LIKE ? GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
                 % (col, table), (prefix + "%",)).fetchall()
print(rows[0][1] if rows else 0)
EOP
}

check_once() {	# DESCRIPTION TYPE N PREFIX
	if wait_until 10 all_once "$2" "$3" "$4"; then
		cb_pass "$1"
	else
		cb_fail "$1"
		counts "$2" | sed 's/^/    # /'
	fi
}

now=$(date +%s)
cat > "$CB_TMP/users" <<EOF2
DEFAULT	Cleartext-Password := "staffpw", Cetbyod-Role := Staff
EOF2
acks=$CB_TMP/acknowledgements
printf 'alice@school.example\t%s\n' "$(iso $((now - 86400)))" > "$acks"
cb_make_raddb "$CB_TMP/users" "$acks" || { cb_fail "build raddb"; cb_finish; }
if cb_start_radiusd; then cb_pass "radiusd starts"; else cb_fail "radiusd starts"; cb_finish; fi

# =============================================================================
# Item 6: actions in the same second
# =============================================================================
until_day=$(date -u -d "@$((now + 10 * 86400))" +%Y-%m-%d)
for i in $(seq 1 10); do $CTL revoke "rv$i" --reason "test $i" --by tester >/dev/null; done
n=$(same_second revocations revoked_at rv)
if [ "$n" -ge 2 ]; then
	cb_pass "ten revocations by cetbyodctl, up to $n of them in one second"
else
	cb_fail "ten revocations in one second (at most $n shared a second: machine too slow?)"
fi
check_once "each of the ten revocations is in the audit trail exactly once" revoke 10 rv
for i in $(seq 1 6); do $CTL reinstate "rv$i" --by tester >/dev/null; done
check_once "each of six reinstatements (same second) is in the trail exactly once" reinstate 6 rv
for i in $(seq 1 8); do
	$CTL exception add --user "ex$i" --reason "medical $i" --approved-by head --until "$until_day" --by tester >/dev/null
done
n=$(same_second exceptions granted_at ex)
[ "$n" -ge 2 ] && cb_pass "eight exceptions granted, up to $n in one second" || cb_fail "exceptions in one second ($n)"
check_once "each of the eight exception grants is in the trail exactly once" exception_grant 8 ex
for i in $(seq 1 5); do $CTL exception end --user "ex$i" --by tester >/dev/null; done
check_once "each of five exception ends (same second) is in the trail exactly once" exception_end 5 ex

# Made while radiusd is down: recorded once it is back, and a restart repeats none.
cb_stop_radiusd
for i in $(seq 11 14); do $CTL revoke "rv$i" --reason "while down" --by tester >/dev/null; done
for i in 7 8; do $CTL reinstate "rv$i" --by tester >/dev/null; done
for i in 9 10; do
	$CTL exception add --user "ex$i" --reason "while down" --approved-by head --until "$until_day" --by tester >/dev/null
done
$CTL exception end --user ex6 --by tester >/dev/null
if cb_start_radiusd; then cb_pass "radiusd restarts"; else cb_fail "radiusd restarts"; cb_finish; fi
check_once "revocations made while radiusd was down are recorded, none repeated" revoke 14 rv
check_once "reinstatements made while down are recorded, none repeated" reinstate 8 rv
check_once "exception grants made while down are recorded, none repeated" exception_grant 10 ex
check_once "an exception end made while down is recorded, none repeated" exception_end 6 ex
cb_stop_radiusd
if cb_start_radiusd; then cb_pass "radiusd restarts again"; else cb_fail "radiusd restarts again"; cb_finish; fi
sleep 3	# Several enforcer passes.
check_once "after another restart: still one record per revocation" revoke 14 rv
check_once "after another restart: still one record per reinstatement" reinstate 8 rv
check_once "after another restart: still one record per exception grant" exception_grant 10 ex
check_once "after another restart: still one record per exception end" exception_end 6 ex
check_verify "the trail verifies"

cb_finish
