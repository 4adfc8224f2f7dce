# bench/pg.sh - figure 9, the PostgreSQL store (issue 12), sourced by
# bench/run (it uses run's helpers: new_instance, start_instances,
# stop_instance, loadgen, row, calc, field, say, stats, pctl, fits, broken,
# ms_now).
#
# A throwaway PostgreSQL 15 (tests/pg/pg-fixture.sh: initdb in a temporary
# directory, a free loopback port, never the system's cluster) and two
# radiusd, (p) and (q), with (b)'s configuration but store { backend =
# postgresql } on it (server_id bench-p and bench-q), both configured with
# the DAS responder as their NAS:
#   (9a) the cached PAP ratio (p)/(a) at 64 in flight, the same case as
#        figure 1's (b)/(a), (p) and (a) measured alternately PG_REPS times;
#   (9b) revocation latency: PG_REV people each with a session accounted
#        through (p); `cetbyodctl revoke` on the shared store (as an admin
#        on (q)'s side would) -> the Disconnect-ACK the responder sends for
#        the session (p) holds; one at a time, a random pause between;
#   (9c) spool replay: (q) stopped, PG_SPOOL accounting Starts written into
#        its state_dir/store.spool in the spool's format (spool.h; CRC-32
#        from Python's zlib), (q) started: the time until every session is
#        in the database, checked to be there exactly once and the spool
#        cut back to its header.
# Skipped, with the reason printed, when PostgreSQL 15's binaries are absent.

# shellcheck source=../tests/integration/pg-lib.sh
. "$BENCH_SRC/tests/integration/pg-lib.sh"	# cb_pg_modconf
BENCH_PG_DIR=

pg_bench_stop() {
	[ -n "$BENCH_PG_DIR" ] || return 0
	"$BENCH_SRC/tests/pg/pg-fixture.sh" stop "$BENCH_PG_DIR" >/dev/null 2>&1
	rm -rf "$BENCH_PG_DIR"
	BENCH_PG_DIR=
}

pg_bench_sql() {
	PGOPTIONS="-c search_path=cetbyod" psql -X -At -v ON_ERROR_STOP=1 -d "$(cat "$BENCH_PG_DIR/admin_conninfo")" \
		-c "$1" 2>&1
}

# pg_bench_counts - "transactions rows-written audit devices decisions" of the
# database so far (pg_stat_database, pg_stat_user_tables: the rows written in
# all tables, then in audit, devices and decisions).
pg_bench_counts() {
	pg_bench_sql "SELECT (SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database())
		|| ' ' || (SELECT COALESCE(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables)
		|| ' ' || (SELECT COALESCE(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables WHERE relname = 'audit')
		|| ' ' || (SELECT COALESCE(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables WHERE relname = 'devices')
		|| ' ' || (SELECT COALESCE(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables WHERE relname = 'decisions')"
}

# pg_bench_settled - pg_bench_counts once the rows written stop growing (the
# writer threads and the audit index caught up; 1 s apart, 15 s at most).
# The first look is 2 s after the load: the audit index waits while the
# trail is written fast (audit { index_defer }) and starts copying once
# the writer has been quiet for a second.
pg_bench_settled() {
	local last now
	sleep 2
	last=$(pg_bench_counts)
	for _ in $(seq 1 15); do
		sleep 1
		now=$(pg_bench_counts)
		[ "${now#* }" = "${last#* }" ] && break
		last=$now
	done
	echo "$last"
}

# pg_bench_cpu - "postgres TICKS": CPU (utime + stime, clock ticks) of the
# PostgreSQL server's processes so far (the postmaster and its children:
# the backends of (p) and (q), the WAL writer, the checkpointer...).
pg_bench_cpu() {
	local pm
	pm=$(head -n 1 "$BENCH_PG_DIR/data/postmaster.pid" 2>/dev/null) || return 0
	for st in /proc/[0-9]*/stat; do cat "$st" 2>/dev/null; echo; done |
		awk -v pm="$pm" 'NF { rest = $0; pid = $1; sub(/^.*\) /, "", rest); split(rest, f, " ")
			if (pid == pm || f[2] == pm) t += f[12] + f[13] } END { print "postgres", t + 0 }'
}

# pg_bench_spool FILE N - N accounting Starts in the spool format (lib/store/spool.h).
pg_bench_spool() {
	/usr/bin/python3 - "$1" "$2" "$PAP_USERS" <<'EOF'
import json, os, struct, sys, time, zlib
path, n, users = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
now = int(time.time())
with open(path, "wb") as f:
    f.write(b"CBSPOOL1" + os.urandom(16).hex().encode())
    for i in range(1, n + 1):
        rec = json.dumps({"op": "start", "nas": "127.0.0.1", "acct_session_id": "spool-%d" % i,
                          "identity": "user%d@school.example" % (users - i % 50),
                          "calling_station": "02-00-%02X-%02X-%02X-01" % (i >> 16 & 255, i >> 8 & 255, i & 255),
                          "event_time": now, "started": now}, separators=(",", ":")).encode()
        f.write(struct.pack("<III", 0x43425352, len(rec), zlib.crc32(rec) & 0xffffffff) + rec)
EOF
}

bench_pg() {
	bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
	if [ ! -x "$bindir/initdb" ] || ! command -v psql >/dev/null; then
		why="PostgreSQL 15's binaries are absent ($bindir/initdb, psql: apt-get install postgresql-15)"
		say "9. PostgreSQL store: skipped: $why"
		row 9 "(p)/(a) PAP rate at 64 in flight, PostgreSQL store" "-" ">= 0.95" "not run" "$why"
		row 9 "revocation across servers: revoke -> Disconnect-ACK" "-" "p99 < 250 ms" "not run" "$why"
		row 9 "spool replay of $PG_SPOOL records" "-" "" "not run" "$why"
		return 0
	fi
	BENCH_PG_DIR=$(mktemp -d /tmp/cetbyod-bench-pg.XXXXXX)
	"$BENCH_SRC/tests/pg/pg-fixture.sh" start "$BENCH_PG_DIR" > "$CB_TMP/pg-start.log" 2>&1 ||
		{ broken "PostgreSQL did not start: $(tail -n 3 "$CB_TMP/pg-start.log")"; return 1; }
	PG_CONNINFO=$(cat "$BENCH_PG_DIR/conninfo")
	PG_PWFILE=$CB_TMP/pg-password
	cp "$BENCH_PG_DIR/password" "$PG_PWFILE" && chmod 0600 "$PG_PWFILE"
	PG_DAS_LOG=$CB_TMP/das-pg.log
	"$BENCH_TOOLS/das-responder" --listen 127.0.0.1 --secret "$DAS_SECRET" --port-file "$CB_TMP/das-pg.port" \
		--log "$PG_DAS_LOG" --max-seconds 900 2>"$CB_TMP/das-pg.err" &
	CB_PIDS="$CB_PIDS $!"
	for _ in $(seq 1 50); do [ -s "$CB_TMP/das-pg.port" ] && break; sleep 0.1; done
	DAS_PORT_PG=$(cat "$CB_TMP/das-pg.port" 2>/dev/null)
	[ -n "$DAS_PORT_PG" ] || { broken "das-responder did not start: $(cat "$CB_TMP/das-pg.err")"; return 1; }
	touch "$PG_DAS_LOG"
	for name in p q; do
		new_instance "$name" || return 1
		CB_PG_MODCONF_SRC=${INST_DIR[b]}/raddb/mods-available/cetbyod cb_pg_modconf \
			"${INST_DIR[$name]}/raddb/mods-available/cetbyod" postgresql "$PG_CONNINFO" "$PG_PWFILE" "bench-$name" \
			"$DAS_PORT_PG" "$DAS_SECRET" || { broken "cannot put (b)'s configuration on PostgreSQL: update bench/pg.sh"; return 1; }
		# A state_dir of its own (cb_pg_modconf names the test's): each server has its own spool.
		sed -i "s|^\tstate_dir = .*|\tstate_dir = \"${INST_DIR[$name]}/lib/cetbyod\"|" \
			"${INST_DIR[$name]}/raddb/mods-available/cetbyod"
	done
	# (a), stopped after figure 2, again beside them.
	start_instances a p q || { broken "radiusd on the PostgreSQL store (or stock (a)) did not start"; return 1; }

	# (9a) PAP, (p) and (a) alternately, with figure 1's judged device
	# population (a phone per user, $PAP_DEV); PostgreSQL's own count of
	# transactions and rows written per Accept of (p) beside it.
	say "9a. PAP on the PostgreSQL store: $PG_REPS repetition(s) x {p, a}, 64 in flight, ${PAP_SECONDS}s each"
	loadgen p 8 "$PAP_PRIME" 0 "$CB_TMP/pap-users" $PAP_DEV || return 1
	v=(); rp=(); p_n=0
	pg0=$(pg_bench_settled)	# PostgreSQL 15 flushes its counters at most once a second
	for rep in $(seq 1 "$PG_REPS"); do
		loadgen p 64 "$PAP_SECONDS" "$PAP_WARMUP" "$CB_TMP/pap-users" $PAP_DEV || return 1
		p_rate=$(field rate "$LG"); p_p99=$(field p99_us "$LG"); p_n=$((p_n + $(field accept "$LG")))
		[ "$rep" = 1 ] && { pg1=$(pg_bench_settled); p_n1=$p_n; }
		loadgen a 64 "$PAP_SECONDS" "$PAP_WARMUP" "$CB_TMP/pap-users" $PAP_DEV || return 1
		v+=("$(calc '%.4f' "$p_rate / $(field rate "$LG")")"); rp+=("$p_rate")
		say "   repetition $rep: (p) $(calc '%.0f' "$p_rate")/s, (a) $(calc '%.0f' "$(field rate "$LG")")/s"
	done
	read -r m lo hi <<< "$(stats "${v[@]}")"
	read -r pm _ _ <<< "$(stats "${rp[@]}")"
	# Over (p)'s first repetition, until the writers caught up (its warm-up
	# included, and the servers' own timers: an upper bound).
	read -r x0 w0 a0 d0 c0 <<< "$pg0"; read -r x1 w1 a1 d1 c1 <<< "$pg1"
	say "   PostgreSQL over (p)'s first repetition: $((x1 - x0)) transactions, $((w1 - w0)) rows written" \
		"(audit $((a1 - a0)), devices $((d1 - d0)), decisions $((c1 - c0))), $p_n1 Accepts:" \
		"$(calc '%.3f' "($x1 - $x0) / $p_n1") transactions and $(calc '%.3f' "($w1 - $w0) / $p_n1") rows per Accept"
	row 9 "PostgreSQL per Accept of (p) (transactions, rows inserted/updated/deleted)" \
		"$(calc '%.3f' "($x1 - $x0) / $p_n1"), $(calc '%.3f' "($w1 - $w0) / $p_n1")" "" info
	row 9 "PAP (p) + cetbyod on PostgreSQL, facts cached, 64 in flight" "$(calc '%.0f' "$pm")/s, p99 $(calc '%.2f' "$p_p99/1000") ms (last)" "" info
	# CPU per answer of (p)'s threads and of PostgreSQL's processes at 64 in
	# flight (as figure 1's for (a) and (b)): where (p)'s Accepts spend the cores.
	cpu0=$(thread_cpu "${INST_PID[p]}"; pg_bench_cpu)
	loadgen p 64 "$([ "$BENCH_QUICK" = 1 ] && echo 1 || echo 3)" 0 "$CB_TMP/pap-users" $PAP_DEV || return 1
	cpu1=$(thread_cpu "${INST_PID[p]}"; pg_bench_cpu)
	cpu=$(printf '%s\n' "$cpu0" | awk -v hz="$(getconf CLK_TCK)" -v n="$(field accept "$LG")" -v after="$cpu1" '
		{ before[$1] = $2 } END { split(after, l, "\n"); for (i in l) { split(l[i], f, " "); d = f[2] - before[f[1]]
		if (d > 0) printf "%s %.1f  ", f[1], d * 1e6 / hz / n } }')
	say "   CPU per answer of (p) at 64 in flight, us by thread and PostgreSQL's processes ($(field accept "$LG") answers): $cpu"

	# BENCH_PERF_PG=FILE (opt-in, needs perf): an on-CPU profile (perf record
	# -g) of (p)'s radiusd and the PostgreSQL server's processes for 3 s of
	# PAP at 64 in flight (perf report -i FILE --sort comm,dso).
	if [ -n "${BENCH_PERF_PG:-}" ] && command -v perf >/dev/null 2>&1; then
		pids=${INST_PID[p]}
		pg_pm=$(head -n 1 "$BENCH_PG_DIR/data/postmaster.pid" 2>/dev/null)
		[ -z "$pg_pm" ] || pids="$pids,$(pgrep -d, -P "$pg_pm"),$pg_pm"
		perf record -q -g -p "$pids" -o "$BENCH_PERF_PG" -- sleep 3 >/dev/null 2>&1 &
		perf_pid=$!
		loadgen p 64 3 0 "$CB_TMP/pap-users" $PAP_DEV || return 1
		wait "$perf_pid"
		say "   perf profile of (p) and PostgreSQL at 64 in flight: $BENCH_PERF_PG ($(field rate "$LG")/s while recording)"
	fi

	# (9a w), a diagnostic as figure 1's (w): (p) given a new MAC per request,
	# every Accept a device never seen (the devices writer's worst case).
	loadgen p 64 "$PAP_SECONDS" "$PAP_WARMUP" "$CB_TMP/pap-users" || return 1
	row 9 "PAP (p) with a new device per request (diagnostic), 64 in flight" \
		"$(calc '%.0f' "$(field rate "$LG")")/s, p99 $(calc '%.2f' "$(field p99_us "$LG")/1000") ms" "" info
	if awk "BEGIN { exit !($m >= 0.95) }"; then st=met; why=
	else st=MISSED; why="as (b)/(a) in figure 1 (the module's per-request work on the same 2 cores as the load generator), with PostgreSQL's processes indexing an audit row per Accept on the same cores"; fi
	row 9 "(p)/(a) PAP rate at 64 in flight, PostgreSQL store (median of $PG_REPS, min-max)" \
		"$(calc '%.3f' "$m") ($(calc '%.3f' "$lo")-$(calc '%.3f' "$hi"))" ">= 0.95" "$st" "$why"

	# (9b) Revocation across servers.
	say "9b. revocation across servers: $PG_REV sessions accounted through (p), revoked on the shared store"
	head -n "$PG_REV" "$CB_TMP/pap-users" > "$CB_TMP/lg-pgrev"
	loadgen p 8 60 0 "$CB_TMP/lg-pgrev" --count "$PG_REV" --acct-port "${INST_ACCT[p]}" --session-prefix pgrev || return 1
	want=$(pg_bench_sql "SELECT count(*) FROM sessions WHERE acct_session_id LIKE 'pgrev%' AND server_id = 'bench-p'")
	[ "$want" -ge "$PG_REV" ] 2>/dev/null || { broken "(p) did not record the $PG_REV sessions ($want)"; return 1; }
	lat=()
	for i in $(seq 1 "$PG_REV"); do
		sleep "$(calc '%.3f' "($RANDOM % 300) / 1000")"	# out of step with the servers' timers
		before=$(grep -c "Disconnect-ACK .* user=user$i " "$PG_DAS_LOG")
		t0=$(ms_now)
		"$CB_BUILDDIR/cetbyodctl/cetbyodctl" --store-conninfo "$PG_CONNINFO" --store-password-file "$PG_PWFILE" \
			revoke "user$i" --reason benchmark --by bench >/dev/null || { broken "cetbyodctl revoke user$i failed"; return 1; }
		got=
		for _ in $(seq 1 2500); do
			line=$(grep "Disconnect-ACK .* user=user$i " "$PG_DAS_LOG" | sed -n "$((before + 1))p")
			[ -n "$line" ] && { got=${line%% *}; break; }
			sleep 0.002
		done
		[ -n "$got" ] || { broken "no Disconnect-ACK for user$i within 5 s"; break; }
		lat+=("$(( (${got/./} - t0) / 1000 ))")
	done
	if [ ${#lat[@]} -gt 0 ]; then
		p50=$(pctl 0.50 "${lat[@]}"); p99=$(pctl 0.99 "${lat[@]}"); mx=$(pctl 1 "${lat[@]}")
		sent=$(grep -c "Disconnect-ACK .* session=pgrev" "$PG_DAS_LOG")
		if [ "$BENCH_QUICK" = 1 ]; then st=info; why="--quick: ${#lat[@]} revocations; the target is judged over at least 100"
		elif [ "$p99" -lt 250 ]; then st=met; why=
		else st=MISSED; why="see bench/README.md"; fi
		row 9 "revocation across servers: revoke -> Disconnect-ACK (${#lat[@]}; $sent Disconnect-Requests answered)" \
			"p50 $p50 ms, p99 $p99 ms, max $mx ms" "p99 < 250 ms" "$st" "$why"
	fi

	# (9c) Spool replay.
	say "9c. spool replay: $PG_SPOOL accounting Starts in (q)'s spool"
	stop_instance q
	spool=${INST_DIR[q]}/lib/cetbyod/store.spool
	[ -f "$spool" ] || { broken "(q) has no $spool (store { spool_max_mb } off?)"; return 1; }
	pg_bench_spool "$spool" "$PG_SPOOL" || { broken "cannot write the spool"; return 1; }
	size=$(stat -c %s "$spool")
	t0=$(ms_now)
	start_instances q || { broken "(q) did not start with a full spool"; return 1; }
	n=0
	for _ in $(seq 1 3000); do
		n=$(pg_bench_sql "SELECT count(*) FROM sessions WHERE acct_session_id LIKE 'spool-%'")
		[ "$n" = "$PG_SPOOL" ] && break
		sleep 0.2
	done
	t1=$(ms_now)
	sleep 1
	n=$(pg_bench_sql "SELECT count(DISTINCT acct_session_id) || ' ' || count(*) FROM sessions WHERE acct_session_id LIKE 'spool-%'")
	left=$(stat -c %s "$spool")
	if [ "$n" = "$PG_SPOOL $PG_SPOOL" ] && [ "$left" = 40 ]; then
		secs=$(calc '%.1f' "($t1 - $t0) / 1000000")
		row 9 "spool replay: $PG_SPOOL accounting Starts ($(calc '%.1f' "$size / 1048576") MB), radiusd start to the last in the database" \
			"$secs s ($(calc '%.0f' "$PG_SPOOL / $secs") records/s), each once, spool cut back" "" info \
			"runs of 64 records per transaction; radiusd's start-up (about 1 s) included"
	else
		broken "the spool was not replayed exactly once: sessions (distinct, rows) '$n' of $PG_SPOOL, spool $left bytes"
	fi
	stop_instance a
	stop_instance p
	stop_instance q
	pg_bench_stop
}
