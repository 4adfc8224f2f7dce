#!/bin/bash
# test_audit_index_defer.sh - audit { index_defer, index_busy_rate } (issue
# 13) through a real radiusd and radclient.
#
#   With index_busy_rate = 20, a burst of Access-Requests from radclient
#   (thousands a second, for 3 s or more) keeps the audit index behind the file while
#   it lasts: every request is admitted, every decision is in the file at
#   once, the store's copy lacks a good part of them, and radius.log says
#   why ("waits until the burst is over").  Once the burst is over the
#   index catches up by itself, each record once, and audit verify exits 0.
#   With index_defer = 0 the index keeps up during a burst as before (it
#   holds at least half of the file's decisions; deferred, less than half).
#
# Run from the build directory (make check does).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/audit-lib.sh"

audit_file=$CB_TMP/log/cetbyod-audit.jsonl
db=$CB_TMP/lib/cetbyod/cetbyod.db
MODCONF=$CB_TMP/raddb/mods-available/cetbyod

now=$(date +%s)
printf 'alice\tCleartext-Password := "alicepw", Cetbyod-Role := Staff\n' > "$CB_TMP/users"
acks=$CB_TMP/acknowledgements
printf 'alice@school.example\t%s\n' "$(iso $((now - 86400)))" > "$acks"
printf 'User-Name = "alice"\nUser-Password = "alicepw"\nNAS-IP-Address = 127.0.0.1\nCalling-Station-Id = "AA-BB-CC-00-00-02"\n' \
	> "$CB_TMP/request"

# in_file / in_index - the decisions in the file, in the store's copy.
in_file() { grep -c '"type":"decision"' "$audit_file" 2>/dev/null || echo 0; }
in_index() {
	/usr/bin/python3 - "$db" <<'EOP'
import sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=10)
print(c.execute("SELECT count(*) FROM audit WHERE type = 'decision'").fetchone()[0])
EOP
}
distinct_seqs() {
	/usr/bin/python3 - "$db" <<'EOP'
import sqlite3, sys
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=10)
print(*c.execute("SELECT count(*), count(DISTINCT seq) FROM audit").fetchone())
EOP
}

# start_burst - Access-Requests, 16 in flight, from radclient runs of
# $BURST_CHUNK back to back for at least $BURST_SECS seconds (so the burst
# outlasts the sample at 1.5 s however fast radiusd answers), in the
# background (the loop's PID in RC_PID; it stops its radclient when
# stopped).  Each run's summary goes to burst.out; the count sent to burst.n.
BURST_CHUNK=2000
BURST_SECS=3
start_burst() {
	: > "$CB_TMP/burst.out"
	rm -f "$CB_TMP/burst.n"
	(
		child=
		trap '[ -n "$child" ] && kill "$child" 2>/dev/null; exit 1' TERM
		sent=0 start=$(date +%s%N)
		while :; do
			"$RADCLIENT" -q -s -p 16 -r 2 -t 5 -c "$BURST_CHUNK" -f "$CB_TMP/request" \
				"127.0.0.1:$CB_AUTH_PORT" auth testing123 >> "$CB_TMP/burst.out" 2>&1 &
			child=$!
			wait "$child" || exit 1
			child=
			sent=$((sent + BURST_CHUNK))
			echo "$sent" > "$CB_TMP/burst.n"
			[ $(( ($(date +%s%N) - start) / 1000000 )) -ge $((BURST_SECS * 1000)) ] && break
		done
	) &
	RC_PID=$!
	CB_PIDS="$CB_PIDS $RC_PID"
}

# sample_during_burst - "file index" sampled while radclient still runs (after 1.5 s); empty when it ended first.
sample_during_burst() {
	sleep 1.5
	kill -0 "$RC_PID" 2>/dev/null || return 0
	f=$(in_file); i=$(in_index)
	kill -0 "$RC_PID" 2>/dev/null && echo "$f $i"
}

# end_burst DESCRIPTION - radclient's end: every request admitted.
end_burst() {
	wait "$RC_PID"; rc=$?
	cb_forget_pid "$RC_PID"
	acc=$(awk -F: '$1 ~ /Accepted/ { gsub(/[^0-9]/, "", $2); n += $2 } END { print n + 0 }' "$CB_TMP/burst.out")
	BURST=$(cat "$CB_TMP/burst.n" 2>/dev/null || echo 0)
	if [ "$rc" = 0 ] && [ "$BURST" -gt 0 ] && [ "$acc" = "$BURST" ]; then
		cb_pass "$1: all $BURST requests admitted"
	else
		cb_fail "$1: radclient exit $rc, $acc of $BURST admitted"; sed 's/^/    # /' "$CB_TMP/burst.out"
	fi
}

cb_make_raddb "$CB_TMP/users" "$acks" || { cb_fail "build raddb"; cb_finish; }
grep -q '^		index_defer = 30$' "$MODCONF" && grep -q '^		index_busy_rate = 500$' "$MODCONF" ||
	cb_fail "the shipped configuration has index_defer = 30 and index_busy_rate = 500"
sed -i 's/^\t\tindex_busy_rate = 500$/\t\tindex_busy_rate = 20/' "$MODCONF"
if cb_start_radiusd; then cb_pass "radiusd starts"; else cb_fail "radiusd starts"; cb_finish; fi

start_burst
read -r f i <<< "$(sample_during_burst)"
if [ -n "$f" ] && [ "$((f - i))" -ge 100 ] && [ "$((2 * i))" -lt "$f" ]; then
	cb_pass "during the burst the index waits: $f decisions in the file, $i in the store's copy"
elif [ -z "$f" ]; then
	cb_fail "the burst lasted less than 1.5 s: cannot look inside it (make BURST_SECS larger)"
else
	cb_fail "during the burst the index waits (file $f, index $i)"
fi
end_burst "burst with index_busy_rate = 20"
if grep -q 'index in .* waits until the burst is over' "$CB_TMP/radiusd.out"; then
	cb_pass "radiusd's log says the index waits until the burst is over"
else
	cb_fail "radiusd's log says the index waits until the burst is over"
fi
f=$(in_file)
wait_until 15 test "$(in_index)" = "$f"
if [ "$(in_index)" = "$f" ] && [ "$f" -ge "$BURST" ]; then
	cb_pass "once the burst is over the index catches up by itself ($f decisions)"
else
	cb_fail "once the burst is over the index catches up (file $f, index $(in_index))"
fi
read -r rows distinct <<< "$(distinct_seqs)"
if [ "$rows" = "$distinct" ]; then cb_pass "each record once in the index ($rows)"; else cb_fail "each record once ($rows rows, $distinct seqs)"; fi
check_verify "audit verify exits 0 after the deferred copy"

cb_stop_radiusd
sed -i 's/^\t\tindex_defer = 30$/\t\tindex_defer = 0/' "$MODCONF"
if cb_start_radiusd; then cb_pass "radiusd starts with index_defer = 0"; else cb_fail "radiusd starts with index_defer = 0"; cb_finish; fi
start_burst
read -r f i <<< "$(sample_during_burst)"
if [ -n "$f" ] && [ "$((2 * i))" -ge "$f" ]; then
	cb_pass "with index_defer = 0 the index keeps up during the burst (file $f, index $i)"
elif [ -z "$f" ]; then
	cb_fail "the burst lasted less than 1.5 s: cannot look inside it (make BURST_SECS larger)"
else
	cb_fail "with index_defer = 0 the index keeps up during the burst (file $f, index $i)"
fi
end_burst "burst with index_defer = 0"
cb_finish
