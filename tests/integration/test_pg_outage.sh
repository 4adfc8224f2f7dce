#!/bin/bash
# test_pg_outage.sh - PostgreSQL down, and PostgreSQL failing over, under
# load: nothing is lost, nothing is written twice (issue 12, item 5).
#
# One radiusd on the PostgreSQL store, whose conninfo names a primary and
# its streaming standby (pg-fixture.sh standby) with
# target_session_attrs=read-write; radclient as the NAS's RADIUS side and
# das-fault-nas.py as its RFC 5176 side.  What is checked is what the NAS
# and the admin see:
#   - outage: the primary stopped for CB_PG_OUTAGE seconds (30 by default:
#     the figure of the issue; the standby is read-only, so the store is
#     unreachable) while a bounded load loop runs PAP Access-Requests and
#     accounting Start, Interim-Update and Stop, one try each (5 s): every
#     request sent is answered (counted); radiusd -X says the accounting is
#     kept in the spool; cetbyodctl revoke exits 6 with a message saying
#     nothing was recorded;
#   - the primary back: every session started is in the database exactly
#     once, stopped, and every audit record of the trail's file is in the
#     database's copy exactly once (seq by seq), each session's start and
#     stop audited once; every session's decision is in the database once
#     (the keyed Class's, written with the Start; and the decision rows of
#     an identity too long for a Class, one per Access-Accept, spooled from
#     the deferred batch); every device seen (a MAC per person and block
#     of iterations, so new devices appear during the outage) is in the
#     devices table; cetbyodctl audit query finds, by MAC, a decision made
#     during the outage (the audit index caught up from the file);
#   - failover: a session open, the primary stopped and the standby
#     promoted (pg_ctl promote): without restarting radiusd, cetbyodctl
#     revoke works, the person's next Access-Request is refused and the NAS
#     receives a Disconnect-Request for the session.
#   - store { spool_max_mb } out of range: radiusd refuses to start.
# Needs root (the fixture runs as the postgres user).  About 90 s.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
. "$CB_SRCDIR/tests/integration/pg-setup.sh"
OUTAGE=${CB_PG_OUTAGE:-30}		# Seconds; shorter for a quick run by hand.
LONG=$(printf 'l%.0s' $(seq 1 120))	# Too long for a keyed Class: the decision row, spooled.
USERS="u0 u1 u2 u3 u4 u5 u6 u7 u8 u9 dave $LONG"

pg_start
pg_standby || { cb_fail "a streaming standby starts (pg_basebackup -R)"; cb_finish; }
cb_pass "a streaming standby of the primary starts on its own port"
P1=$(cat "$PGDIR/port")
P2=$(cat "$PGDIR2/port")
CONNINFO="host=127.0.0.1,127.0.0.1 port=$P1,$P2 dbname=cetbyod user=cetbyod connect_timeout=3 target_session_attrs=read-write"
pg_acks $USERS
# A spool cap out of range is refused at start-up, naming the option and the accepted values.
pg_raddb "$(printf '\t\tspool_max_mb = 5000\n')"
if ! cb_radiusd_check "$CB_TMP/xc.out" &&
	grep -q "store { spool_max_mb }: 5000 is out of range (accepted: 0 \[no spool\] to 4096)" "$CB_TMP/xc.out"; then
	cb_pass "store { spool_max_mb = 5000 } refuses to start, naming the option and the accepted values"
else
	cb_fail "store { spool_max_mb = 5000 } refuses to start, naming the option and the accepted values"
	tail -n 3 "$CB_TMP/xc.out" | sed 's/^/    # /'
fi
# CB_PG_SPOOL_MB=0 (no spool) shows what the spool changes: requests go unanswered during the outage.
pg_raddb "${CB_PG_SPOOL_MB:+$(printf '\t\tspool_max_mb = %s\n' "$CB_PG_SPOOL_MB")}"
cb_start_radiusd || { cb_fail "radiusd starts on the primary (conninfo naming both servers)"; cb_finish; }

# --- The load: bounded, one try per request, every send and answer counted -------------
LOAD=$CB_TMP/load
mkdir -p "$LOAD"
# A MAC per person and block of 20 iterations: new devices appear during the outage too.
load_loop() {
	j=0
	while [ ! -e "$LOAD/stop" ] && [ $j -lt 3000 ]; do
		j=$((j + 1))
		u=u$((j % 10))
		mac=$(printf '02-00-00-%02X-%02X-00' $((j % 10)) $((j / 20 % 256)))
		[ $((j % 7)) = 0 ] && { u=$LONG; mac=02-00-00-FF-00-00; }
		echo auth >> "$LOAD/sent"
		CB_REPLY=$(printf 'User-Name = "%s"\nUser-Password = "staffpw"\nNAS-IP-Address = 127.0.0.1\nCalling-Station-Id = "%s"\n' \
			"$u" "$mac" | "$RADCLIENT" -x -r 1 -t 5 "127.0.0.1:$CB_AUTH_PORT" auth testing123 2>&1)
		if printf '%s\n' "$CB_REPLY" | grep -q 'Received Access-Accept'; then
			echo auth >> "$LOAD/answered"
			echo "$mac" >> "$LOAD/macs"
			[ "$u" = "$LONG" ] && echo long >> "$LOAD/long"
			[ -e "$LOAD/down" ] && echo "$mac" >> "$LOAD/outage-macs"
		fi
		class=$(class_of_reply)
		[ -n "$class" ] || continue
		for st in Start Interim-Update Stop; do
			echo "$st o-$j" >> "$LOAD/sent"
			ACCT_MAC=$mac acct "$st" "o-$j" "$class" 5 && echo "$st o-$j" >> "$LOAD/answered"
		done
	done
}
load_loop &
LOAD_PID=$!
CB_PIDS="$CB_PIDS $LOAD_PID"
count() { grep -c "$1" "$2" 2>/dev/null || echo 0; }

sleep 3
from=$(( $(log_lines) + 1 ))
t0=$(date +%s%3N)
"$PGFX" stop "$PGDIR"
touch "$LOAD/down"
before=$(count Start "$LOAD/sent")
sleep $((OUTAGE / 2))
out=$(ctl revoke u1 --reason "during the outage" --by tester 2>&1); rc=$?
if [ "$rc" -eq 6 ] && printf '%s\n' "$out" | grep -q "store is DOWN" && printf '%s\n' "$out" | grep -q "NOT recorded"; then
	cb_pass "PostgreSQL down: cetbyodctl revoke exits 6, saying the store is down and nothing was recorded"
else
	cb_fail "PostgreSQL down: cetbyodctl revoke exits 6, saying the store is down and nothing was recorded (exit $rc)"
	printf '%s\n' "$out" | sed 's/^/    # /'
fi
sleep $((OUTAGE - OUTAGE / 2))
during=$(( $(count Start "$LOAD/sent") - before ))
rm -f "$LOAD/down"
"$PGFX" start "$PGDIR" || { cb_fail "the primary restarts"; cb_finish; }
t1=$(date +%s%3N)
echo "# the primary was down for $(( (t1 - t0) / 1000 )) s; $during sessions were started during it"
sleep 3
touch "$LOAD/stop"
wait "$LOAD_PID" 2>/dev/null
cb_forget_pid "$LOAD_PID"

sent=$(wc -l < "$LOAD/sent")
answered=$(wc -l < "$LOAD/answered")
if [ "$sent" -eq "$answered" ] && [ "$during" -gt 0 ]; then
	cb_pass "under load, PostgreSQL down for ${OUTAGE} s: all $sent requests answered ($during sessions started during the outage)"
else
	cb_fail "under load, PostgreSQL down for ${OUTAGE} s: $answered of $sent requests answered ($during sessions during the outage)"
	sort "$LOAD/sent" > "$CB_TMP/s"; sort "$LOAD/answered" > "$CB_TMP/a"
	comm -23 "$CB_TMP/s" "$CB_TMP/a" | head -n 5 | sed 's/^/    # unanswered: /'
fi
if log_since "$from" 'is unreachable: this accounting is kept in the on-disk spool'; then
	cb_pass "radiusd -X says the store is unreachable and the accounting is kept in the spool (with its size)"
else
	cb_fail "radiusd -X says the store is unreachable and the accounting is kept in the spool"
fi

# --- Back: everything once ----------------------------------------------------------------
started=$(grep '^Start ' "$LOAD/answered" | sort -u | wc -l)
replayed() { [ "$(pg_sql "SELECT count(*) FROM sessions WHERE acct_session_id LIKE 'o-%'")" -ge "$started" ]; }
if cb_wait_until 30 replayed; then
	cb_pass "the spool is replayed within 30 s of the primary's return"
else
	cb_fail "the spool is replayed within 30 s of the primary's return ($(pg_sql "SELECT count(*) FROM sessions WHERE acct_session_id LIKE 'o-%'") of $started)"
fi
grep '^Start ' "$LOAD/answered" | sed 's/^Start //' | sort > "$CB_TMP/want"
pg_sql "SELECT acct_session_id FROM sessions WHERE acct_session_id LIKE 'o-%' ORDER BY 1" | sort > "$CB_TMP/have"
open=$(pg_sql "SELECT count(*) FROM sessions WHERE acct_session_id LIKE 'o-%' AND stopped IS NULL")
if cmp -s "$CB_TMP/want" "$CB_TMP/have" && [ "$open" = 0 ]; then
	cb_pass "every one of the $started sessions started is in the database exactly once, and stopped"
else
	cb_fail "every session started is in the database exactly once, and stopped ($open open)"
	diff "$CB_TMP/want" "$CB_TMP/have" | head -n 10 | sed 's/^/    # /'
fi
TRAIL=$CB_TMP/log/cetbyod-audit.jsonl
file_seqs() { /usr/bin/python3 -c 'import json,sys
for l in open(sys.argv[1]):
    l = l.strip()
    if l: print(json.loads(l)["seq"])' "$TRAIL" | sort -n; }
indexed() {
	file_seqs > "$CB_TMP/fseq"
	pg_sql "SELECT seq FROM audit WHERE server_id = 'radius-a' ORDER BY seq" > "$CB_TMP/dseq"
	cmp -s "$CB_TMP/fseq" "$CB_TMP/dseq"
}
if cb_wait_until 30 indexed; then
	cb_pass "every one of the $(wc -l < "$CB_TMP/fseq") audit records of the trail is in the database exactly once"
else
	cb_fail "every audit record of the trail is in the database exactly once ($(wc -l < "$CB_TMP/fseq") in the file, $(wc -l < "$CB_TMP/dseq") in the database)"
	diff "$CB_TMP/fseq" "$CB_TMP/dseq" | head -n 5 | sed 's/^/    # /'
fi
# Decisions: every session's, once (class_id is the key); the long identity's rows, one per Access-Accept.
untied=$(pg_sql "SELECT count(*) FROM sessions s WHERE acct_session_id LIKE 'o-%' AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.class_id = s.class_id)")
longs=$(pg_sql "SELECT count(*) FROM decisions WHERE identity LIKE 'llllllllll%'")
want_long=$(count long "$LOAD/long")
if [ "$untied" = 0 ] && [ "$longs" = "$want_long" ] && [ "$want_long" -gt 0 ]; then
	cb_pass "every session's decision is in the database, and the $want_long decision rows of an identity too long for a Class, once each"
else
	cb_fail "every session's decision is in the database once ($untied sessions without one; $longs of $want_long long-identity rows)"
fi
tr 'a-f' 'A-F' < "$LOAD/macs" | sort -u > "$CB_TMP/wmac"
pg_sql "SELECT mac FROM devices WHERE mac LIKE '02-00-00-%' ORDER BY 1" | sort > "$CB_TMP/hmac"
if cmp -s "$CB_TMP/wmac" "$CB_TMP/hmac" && [ -s "$LOAD/outage-macs" ]; then
	cb_pass "every one of the $(wc -l < "$CB_TMP/wmac") devices seen is in the devices table once ($(sort -u "$LOAD/outage-macs" | wc -l) seen during the outage)"
else
	cb_fail "every device seen is in the devices table once ($(wc -l < "$CB_TMP/wmac") seen, $(wc -l < "$CB_TMP/hmac") rows)"
	diff "$CB_TMP/wmac" "$CB_TMP/hmac" | head -n 5 | sed 's/^/    # /'
fi
omac=$(grep -v FF-00-00 "$LOAD/outage-macs" 2>/dev/null | tail -n 1)
if [ -n "$omac" ] && ctl audit query --mac "$omac" --type decision --format json 2>/dev/null | grep -q "\"$omac\""; then
	cb_pass "cetbyodctl audit query --mac finds a decision made during the outage ($omac)"
else
	cb_fail "cetbyodctl audit query --mac finds a decision made during the outage ('$omac')"
	ctl audit query --mac "$omac" --format json 2>&1 | head -n 5 | sed 's/^/    # /'
fi
twice=$(pg_sql "SELECT count(*) FROM (SELECT acct_session_id, type FROM audit WHERE acct_session_id LIKE 'o-%' AND type IN ('session_start', 'session_stop') GROUP BY 1, 2 HAVING count(*) <> 1) x")
each=$(pg_sql "SELECT count(DISTINCT acct_session_id) FROM audit WHERE acct_session_id LIKE 'o-%' AND type = 'session_stop'")
if [ "$twice" = 0 ] && [ "$each" = "$started" ]; then
	cb_pass "each session's start and stop are audited once ($started sessions)"
else
	cb_fail "each session's start and stop are audited once ($twice twice, $each of $started stopped)"
fi

# --- Failover: the standby promoted --------------------------------------------------------
cb_pap dave staffpw
cb_expect_reply "dave is admitted" 'Received Access-Accept'
class_d=$(class_of_reply)
acct Start s-f1 "$class_d" && cb_wait_until 5 open_session dave s-f1 || cb_fail "dave's session is recorded"
synced() { [ "$(PGADMIN_DIR=$PGDIR2 pg_sql "SELECT count(*) FROM sessions WHERE acct_session_id = 's-f1'")" = 1 ]; }
cb_wait_until 10 synced || cb_fail "the standby has dave's session"
"$PGFX" stop "$PGDIR"
"$PGFX" promote "$PGDIR2" || { cb_fail "the standby is promoted"; cb_finish; }
t_rev=$(date +%s%3N)
if out=$(ctl revoke dave --reason "failover test" --by tester 2>&1); then
	cb_pass "after the failover, cetbyodctl revoke reaches the promoted standby"
else
	cb_fail "after the failover, cetbyodctl revoke reaches the promoted standby"
	printf '%s\n' "$out" | sed 's/^/    # /'
fi
if cb_wait_until 20 das_got s-f1; then
	cb_pass "radiusd reconnected by itself: the NAS receives a Disconnect-Request for dave's session ($(( $(date +%s%3N) - t_rev )) ms)"
else
	cb_fail "radiusd reconnected by itself: the NAS receives a Disconnect-Request for dave's session"
fi
if cb_wait_until 10 refused dave; then cb_pass "dave's next Access-Request is refused"; else cb_fail "dave's next Access-Request is refused"; fi
stopped_f1() { [ "$(PGADMIN_DIR=$PGDIR2 pg_sql "SELECT count(*) FROM sessions WHERE acct_session_id = 's-f1' AND stopped IS NOT NULL")" = 1 ]; }
if acct Stop s-f1 "$class_d" && cb_wait_until 10 stopped_f1; then
	cb_pass "accounting is answered and recorded on the promoted standby"
else
	cb_fail "accounting is answered and recorded on the promoted standby"
fi
grep -E "store: " "$OUT" | grep -iE "unreachable|reconnect|spool|replayed" | sed 's/^[^:]*: //' | sort | uniq -c | head -n 12 | sed 's/^/    # /'
cb_finish
