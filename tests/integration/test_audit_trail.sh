#!/bin/bash
# test_audit_trail.sh - the audit trail through a real radiusd and the real
# cetbyodctl, for the faults issue 15 found in it.
#
#   Actions in the same second (item 6): ten revocations made by cetbyodctl
#   in one second, reinstatements and exceptions likewise, give one audit
#   record each (cetbyodctl audit query); actions made while radiusd is down
#   are recorded once it is back; restarts repeat none.
#
#   Control characters in CSV (item 12): a PEAP device whose outer identity
#   holds ESC [ 2 J (clear the screen), an OSC title sequence and C1 CSI,
#   and a PAP request whose User-Name holds them too: the CSV export and
#   the table show them as \xHH, and hold no control byte.
#
#   Verify on a busy server (item 11): cetbyodctl audit verify run again
#   and again while radclient keeps radiusd writing records never reports
#   tampering; with the store unreadable it says so and exits 3.
#
#   The keyed chain (item 14): audit { hmac_key_file } refused at start-up
#   when the key is readable by everyone or missing; with a 0640 key the
#   new records are HMAC-SHA256 ("chain": "hmac-sha256"); cetbyodctl audit
#   verify --key-file passes with the key, fails (exit 5) with another one
#   and after a record is rewritten with a plain hash.
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

# radiusd -C (Debian's service runs it before every start): the options are
# checked, nothing is started, opened or written.  Repeated, because a thread
# left running while radiusd exits crashed it about once in 40 checks.
bad=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	cb_radiusd_check "$CB_TMP/check.out" || bad=$((bad + 1))
done
if [ $bad -eq 0 ] && grep -q "configuration check only: nothing started" "$CB_TMP/check.out"; then
	cb_pass "radiusd -XC passes ten times, the module checking its options only"
else
	cb_fail "radiusd -XC passes ten times ($bad failed)"; tail -n 5 "$CB_TMP/check.out" | sed 's/^/    # /'
fi
if [ ! -e "$CB_TMP/log/cetbyod-audit.jsonl" ] && [ -z "$(ls -A "$CB_TMP/lib/cetbyod")" ]; then
	cb_pass "radiusd -XC writes no audit record and creates nothing in state_dir"
else
	cb_fail "radiusd -XC writes no audit record and creates nothing in state_dir"
	ls -la "$CB_TMP/log" "$CB_TMP/lib/cetbyod" | sed 's/^/    # /'
fi

# A value out of range is refused with a message that names it.
MODCONF=$CB_TMP/raddb/mods-available/cetbyod
sed -i 's/^\t\tbatch_wait_ms = 5$/\t\tbatch_wait_ms = 5000/' "$MODCONF"
if ! cb_radiusd_check "$CB_TMP/check.out" &&
   grep -q 'audit { batch_wait_ms } must be 0 (write at once) to 1000 milliseconds, not 5000' "$CB_TMP/check.out"; then
	cb_pass "radiusd -XC refuses batch_wait_ms = 5000 and says why"
else
	cb_fail "radiusd -XC refuses batch_wait_ms = 5000 and says why"; tail -n 5 "$CB_TMP/check.out" | sed 's/^/    # /'
fi
sed -i 's/^\t\tbatch_wait_ms = 5000$/\t\tbatch_wait_ms = 5/' "$MODCONF"

if cb_start_radiusd; then cb_pass "radiusd starts"; else cb_fail "radiusd starts"; cb_finish; fi

# =============================================================================
# Item 6: actions in the same second
# =============================================================================
until_day=$(date -u -d "@$((now + 10 * 86400))" +%Y-%m-%d)
for i in $(seq 1 10); do cb_run "revoke rv$i" $CTL revoke "rv$i" --reason "test $i" --by tester; done
n=$(same_second revocations revoked_at rv)
if [ "$n" -ge 2 ]; then
	cb_pass "ten revocations by cetbyodctl, up to $n of them in one second"
else
	cb_fail "ten revocations in one second (at most $n shared a second: machine too slow?)"
fi
check_once "each of the ten revocations is in the audit trail exactly once" revoke 10 rv
for i in $(seq 1 6); do cb_run "reinstate rv$i" $CTL reinstate "rv$i" --by tester; done
check_once "each of six reinstatements (same second) is in the trail exactly once" reinstate 6 rv
for i in $(seq 1 8); do
	cb_run "exception add ex$i" $CTL exception add --user "ex$i" --reason "medical $i" --approved-by head --until "$until_day" --by tester
done
n=$(same_second exceptions granted_at ex)
[ "$n" -ge 2 ] && cb_pass "eight exceptions granted, up to $n in one second" || cb_fail "exceptions in one second ($n)"
check_once "each of the eight exception grants is in the trail exactly once" exception_grant 8 ex
for i in $(seq 1 5); do cb_run "exception end ex$i" $CTL exception end --user "ex$i" --by tester; done
check_once "each of five exception ends (same second) is in the trail exactly once" exception_end 5 ex

# Made while radiusd is down: recorded once it is back, and a restart repeats none.
cb_stop_radiusd
for i in $(seq 11 14); do cb_run "revoke rv$i" $CTL revoke "rv$i" --reason "while down" --by tester; done
for i in 7 8; do cb_run "reinstate rv$i" $CTL reinstate "rv$i" --by tester; done
for i in 9 10; do
	cb_run "exception add ex$i" $CTL exception add --user "ex$i" --reason "while down" --approved-by head --until "$until_day" --by tester
done
cb_run "exception end ex6" $CTL exception end --user ex6 --by tester
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

# =============================================================================
# Item 12: control characters from the device in CSV and tables
# =============================================================================
# ESC [ 2 J, ESC ] 0 ; pwned BEL, C1 CSI (U+009B) 6 n, DEL, then a name.
evil=$(printf '\033[2J\033]0;pwned\007\302\2336n\177anon@school.example')
evil_hex=$(printf '%s' "$evil" | od -An -tx1 | tr -d ' \n')
conf=$CB_TMP/eapol-evil.conf
cat > "$conf" <<EOC
network={
	ssid="cetbyod-test"
	key_mgmt=WPA-EAP
	eap=PEAP
	identity="alice"
	anonymous_identity=$evil_hex
	password="staffpw"
	ca_cert="$CB_TMP/certs/ca.pem"
	phase2="auth=MSCHAPV2"
}
EOC
CB_REPLY=$(timeout 30 "$EAPOL_TEST" -c "$conf" -a 127.0.0.1 -p "$CB_AUTH_PORT" -s testing123 -r 0 -t 10 2>&1)
cb_expect_reply "PEAP with an outer identity full of escape sequences: alice is admitted" 'SUCCESS'
cat > "$CB_TMP/evil-pap" <<'EOR'
User-Name = "\033[2J\033[31mbob\r\n"
User-Password = "staffpw"
NAS-IP-Address = 127.0.0.1
EOR
cb_pap_raw "$CB_TMP/evil-pap"
cb_expect_reply "PAP with ESC and CR LF in User-Name: answered" 'Received Access-(Accept|Reject)'

# The index is copied from the file by a thread at idle priority: radiusd
# reports its lag (records, ms) in the status cetbyodctl reads.
lag_reported() { $CTL status --json 2>/dev/null | $PY -c '
import json, sys
a = json.load(sys.stdin).get("audit", {})
sys.exit(0 if isinstance(a.get("index_lag"), int) and isinstance(a.get("index_lag_ms"), int) else 1)'; }
if wait_until 15 lag_reported; then
	cb_pass "cetbyodctl status --json reports the index's lag (records, ms)"
else
	cb_fail "cetbyodctl status --json reports the index's lag"; $CTL status --json 2>&1 | sed 's/^/    # /'
fi

# no_controls FILE [csv] - FILE holds no C0 control (but the line ends: CR LF in CSV, LF in
# a table), DEL or C1 (raw or UTF-8).
no_controls() {
	$PY - "$1" "${2:-table}" <<'EOP'
import re, sys
data = open(sys.argv[1], "rb").read()
body = data.replace(b"\r\n", b"") if sys.argv[2] == "csv" else data.replace(b"\n", b"")
bad = re.findall(rb"[\x00-\x1f\x7f]|\xc2[\x80-\x9f]", body)
try:
    body.decode("utf-8")
except UnicodeDecodeError as e:
    bad.append(repr(e).encode())
print(len(bad), repr(bad[:5]))
sys.exit(1 if bad else 0)
EOP
}
csv_has_evil() { $CTL audit query --type decision --format csv > "$CB_TMP/audit.csv" 2>/dev/null && grep -qF 'x1b[2J' "$CB_TMP/audit.csv"; }
if wait_until 10 csv_has_evil; then
	cb_pass "the CSV export lists the decisions with the hostile outer identities"
else
	cb_fail "the CSV export lists the decisions with the hostile outer identities"
fi
if res=$(no_controls "$CB_TMP/audit.csv" csv); then
	cb_pass "the CSV holds no control bytes"
else
	cb_fail "the CSV holds no control bytes ($res)"
	od -c "$CB_TMP/audit.csv" | grep -E '033|302' | head -5 | sed 's/^/    # /'
fi
if grep -qF '\x1b[2J\x1b]0;pwned\x07\xc2\x9b6n\x7fanon@school.example' "$CB_TMP/audit.csv"; then
	cb_pass "the PEAP outer identity is in the CSV with each control as \\xHH"
else
	cb_fail "the PEAP outer identity is in the CSV with each control as \\xHH"
	grep -F 'x1b' "$CB_TMP/audit.csv" | head -3 | sed 's/^/    # /'
fi
if grep -qF '\x1b[2J\x1b[31mbob\x0d\x0a' "$CB_TMP/audit.csv"; then
	cb_pass "the PAP User-Name with ESC and CR LF is in the CSV as \\xHH"
else
	cb_fail "the PAP User-Name with ESC and CR LF is in the CSV as \\xHH"
	grep -F 'bob' "$CB_TMP/audit.csv" | head -3 | sed 's/^/    # /'
fi
if [ "$(grep -c . "$CB_TMP/audit.csv")" -eq "$(( $($CTL audit query --type decision --format json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))') + 1 ))" ]; then
	cb_pass "one CSV line per record: a CR LF in a value does not break a row"
else
	cb_fail "one CSV line per record: a CR LF in a value does not break a row"
fi
$CTL audit query --type decision > "$CB_TMP/audit.txt" 2>/dev/null
if res=$(no_controls "$CB_TMP/audit.txt"); then
	cb_pass "the table holds no control bytes either"
else
	cb_fail "the table holds no control bytes either ($res)"
fi

# =============================================================================
# Item 11: verify while records are being written; verify without the store
# =============================================================================
trail=$($PY -c 'import sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
print((c.execute("SELECT value FROM status WHERE key = ?", ("audit.file",)).fetchone() or [""])[0])' "$CB_TMP/lib/cetbyod/cetbyod.db")
[ -n "$trail" ] || trail=$CB_TMP/log/cetbyod-audit.jsonl
printf 'User-Name = "alice"\nUser-Password = "staffpw"\nNAS-IP-Address = 127.0.0.1\n' > "$CB_TMP/load"
load_pids=
for _ in 1 2 3; do
	"$RADCLIENT" -q -c 1500 -p 40 -r 1 -t 3 -f "$CB_TMP/load" "127.0.0.1:$CB_AUTH_PORT" auth testing123 >/dev/null 2>&1 &
	load_pids="$load_pids $!"
	CB_PIDS="$CB_PIDS $!"
done
seq_before=$($CTL --json audit verify 2>/dev/null | $PY -c 'import json,sys; print(json.load(sys.stdin)["last_seq"])')
runs=0 bad=0 pending=0
t_end=$(( $(date +%s) + 60 ))
while [ "$runs" -lt 200 ] && [ "$(date +%s)" -lt "$t_end" ]; do
	busy=0
	for p in $load_pids; do cb_own_child "$p" && busy=1; done
	[ "$busy" -eq 1 ] || break
	# Alternately as the admin types it and with --file (the store opened after the file was read).
	if [ $((runs % 2)) -eq 0 ]; then
		out=$($CTL --json audit verify 2>&1); rc=$?
	else
		out=$($CTL --json audit verify --file "$trail" 2>&1); rc=$?
	fi
	runs=$((runs + 1))
	if [ "$rc" -ne 0 ]; then
		bad=$((bad + 1))
		[ "$bad" -le 3 ] && printf '%s\n' "$out" | sed 's/^/    # /'
	fi
	case $out in *'"last_line_being_written": true'*) pending=$((pending + 1)) ;; esac
done
for p in $load_pids; do wait "$p" 2>/dev/null; cb_forget_pid "$p"; done
seq_after=$($CTL --json audit verify 2>/dev/null | $PY -c 'import json,sys; print(json.load(sys.stdin)["last_seq"])')
echo "# $runs verify runs while seq went from $seq_before to $seq_after; $pending saw a line being written"
if [ "$runs" -ge 5 ] && [ "$bad" -eq 0 ] && [ "$((seq_after - seq_before))" -ge 1000 ]; then
	cb_pass "audit verify under load: $runs runs, none reports tampering ($((seq_after - seq_before)) records written meanwhile)"
else
	cb_fail "audit verify under load: $bad of $runs runs reported tampering ($((seq_after - seq_before)) records written)"
fi
check_verify "the trail verifies after the load"

echo "not a database" > "$CB_TMP/garbage.db"
for db in "$CB_TMP/garbage.db" "$CB_TMP/nowhere/cetbyod.db"; do
	out=$("$CB_BUILDDIR/cetbyodctl/cetbyodctl" --db "$db" audit verify --file "$trail" 2>&1); rc=$?
	case $out in
	*"WARNING"*"NOT compared with the store"*)
		if [ "$rc" -eq 3 ]; then
			cb_pass "verify with the store unreadable ($(basename "$(dirname "$db")")/$(basename "$db")) says so and exits 3"
		else
			cb_fail "verify with the store unreadable ($db): exit $rc, expected 3"
		fi ;;
	*) cb_fail "verify with the store unreadable ($db) says so (exit $rc): $out" ;;
	esac
done

# =============================================================================
# Item 14: the keyed chain
# =============================================================================
cb_stop_radiusd
KEY=$CB_TMP/audit.key
head -c 32 /dev/urandom > "$KEY"
chmod 0644 "$KEY"
sed -i "s|hmac_key_file = \"\"|hmac_key_file = $KEY|" "$MODCONF"
grep -q "hmac_key_file = $KEY" "$MODCONF" || cb_fail "set audit { hmac_key_file } (the shipped line changed?)"
from=$(( $(wc -l < "$CB_TMP/radiusd.out") + 1 ))
if cb_start_radiusd 2>/dev/null; then
	cb_fail "radiusd refuses a key file readable by everyone"
	cb_stop_radiusd
elif tail -n "+$from" "$CB_TMP/radiusd.out" | grep -q "Invalid 'audit { hmac_key_file }' $KEY: $KEY is readable by everyone"; then
	cb_pass "radiusd refuses a key file readable by everyone, naming the option and the problem"
else
	cb_fail "radiusd refuses a key file readable by everyone, naming the option and the problem"
fi
rm -f "$KEY.missing"
sed -i "s|hmac_key_file = $KEY|hmac_key_file = $KEY.missing|" "$MODCONF"
from=$(( $(wc -l < "$CB_TMP/radiusd.out") + 1 ))
if ! cb_start_radiusd 2>/dev/null && tail -n "+$from" "$CB_TMP/radiusd.out" | grep -q "Invalid 'audit { hmac_key_file }' $KEY.missing: cannot read the key"; then
	cb_pass "radiusd refuses a missing key file, naming it"
else
	cb_fail "radiusd refuses a missing key file, naming it"
	cb_stop_radiusd
fi
sed -i "s|hmac_key_file = $KEY.missing|hmac_key_file = $KEY|" "$MODCONF"
chmod 0640 "$KEY"
if cb_start_radiusd; then cb_pass "radiusd starts with a 0640 key file"; else cb_fail "radiusd starts with a 0640 key file"; cb_finish; fi
cb_pap alice staffpw
cb_expect_reply "keyed chain: alice is still admitted" 'Received Access-Accept'
keyed_last() { [ "$(tail -n 1 "$trail" | grep -c '"chain":"hmac-sha256"')" -eq 1 ] && grep -q '"identity":"alice"' <(tail -n 3 "$trail"); }
if wait_until 5 keyed_last; then cb_pass "new records say \"chain\": \"hmac-sha256\""; else cb_fail "new records are keyed"; tail -n 2 "$trail" | sed 's/^/    # /'; fi
out=$($CTL audit verify --key-file "$KEY" 2>&1); rc=$?
if [ "$rc" -eq 0 ]; then cb_pass "verify --key-file with the key: the chain (plain, then keyed) holds"; else cb_fail "verify --key-file with the key (exit $rc): $out"; fi
out=$($CTL audit verify 2>&1); rc=$?
if [ "$rc" -eq 0 ]; then cb_pass "verify without --key-file uses the module's key (readable here)"; else cb_fail "verify with the module's key (exit $rc): $out"; fi
head -c 32 /dev/urandom > "$CB_TMP/other.key"
out=$($CTL audit verify --key-file "$CB_TMP/other.key" 2>&1); rc=$?
case $out in
*"does not match its HMAC"*) [ "$rc" -eq 5 ] && cb_pass "verify with another key: exit 5, HMAC mismatch named" ||
	cb_fail "verify with another key: exit $rc, expected 5" ;;
*) cb_fail "verify with another key fails naming the HMAC (exit $rc): $out" ;;
esac
cb_stop_radiusd
cp "$trail" "$CB_TMP/trail.bak"
$PY - "$trail" <<'EOP'
import hashlib, json, sys
path = sys.argv[1]
lines = open(path, encoding="utf-8").read().splitlines()
# As someone with the service's rights but not the key: the last keyed record edited, rehashed plain.
r = json.loads(lines[-1])
r["identity"] = "eve"
r.pop("chain", None)
r.pop("hash")
canon = json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
r["hash"] = hashlib.sha256(canon.encode()).hexdigest()
lines[-1] = json.dumps(r, separators=(",", ":"), ensure_ascii=False)
open(path, "w", encoding="utf-8").write("\n".join(lines) + "\n")
EOP
out=$("$CB_BUILDDIR/cetbyodctl/cetbyodctl" --db "$CB_TMP/nowhere.db" audit verify --key-file "$KEY" "$trail" 2>&1); rc=$?
case $out in
*"is not keyed but follows keyed records"*) [ "$rc" -eq 5 ] && cb_pass "a keyed record rewritten with a plain hash: verify --key-file exits 5 and names it" ||
	cb_fail "rewritten record: exit $rc, expected 5" ;;
*) cb_fail "a keyed record rewritten with a plain hash is caught (exit $rc): $out" ;;
esac
out=$("$CB_BUILDDIR/cetbyodctl/cetbyodctl" --db "$CB_TMP/nowhere.db" audit verify "$trail" 2>&1); rc=$?
if [ "$rc" -eq 4 ] && printf '%s' "$out" | grep -q "give --key-file"; then
	cb_pass "without the key, verify warns that keyed records were not authenticated (exit 4)"
else
	cb_fail "without the key, verify warns that keyed records were not authenticated (exit $rc): $out"
fi
cp "$CB_TMP/trail.bak" "$trail"

cb_finish
