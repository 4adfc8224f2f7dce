# bench/acct.sh - figure 8, accounting (issue 13), sourced by bench/run (it
# uses run's helpers: new_instance, stock_site, start_instances,
# stop_instance, row, calc, field, say, stats, broken).
#
# Accounting Start/Stop pairs against (b) (the module, its store and audit
# trail as shipped) and against (t), stock radiusd whose accounting section
# runs the `detail` module (one line-per-attribute record per request
# appended to a file, as a site without BYOD gating would keep it).
# loadgen --acct-only authenticates each of ACCT_USERS users once (not
# measured: the module's Accept carries the keyed Class, stock's none), then
# keeps 64 sessions in flight: a Start with the user's Class (and the
# Calling-Station-Id of its Accept, so the keyed Class is trusted), and when
# it is answered the Stop of the same session.  Every accounting answer is
# measured: the rate is Accounting-Requests per second, Starts and Stops
# together.  They run in turn, ACCT_REPS times; the ratio is the
# median of the per-repetition ratios; each run starts once (b)'s audit
# index has copied what (b) wrote (index_settle), so that no run shares the
# cores with that copy.  Any accounting request unanswered
# breaks the figure (the module answers only what it recorded).  (o), the
# module without its audit trail, runs too, as a diagnostic, and so does
# bench/acctbench: the store's accounting write alone, outside radiusd.
# (a), stock radiusd as figure 1 left it (still running; its accounting
# section answers with `ok`, recording nothing), runs too: (t) against (a)
# is what detail's line costs, the recording the stock twin does; the
# module's recording (the store's write, its audit records, the Class
# opened) is measured against that.

# busy_ticks - "busy idle" clock ticks of all cores since boot (/proc/stat).
busy_ticks() {
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat
}

acct_run() {	# acct_run NAME - loadgen's line in $LG, ACCT_USE "busy% thread us ...": 1 when it broke
	local b0 i0 b1 i1 c0 c1
	read -r b0 i0 <<< "$(busy_ticks)"
	c0=$(thread_cpu "${INST_PID[$1]}")
	LG=$("$BENCH_TOOLS/loadgen" --server "127.0.0.1:${INST_PORT[$1]}" --acct-port "${INST_ACCT[$1]}" --acct-only \
		--secret "$SECRET" --users "$CB_TMP/acct-users" --inflight 64 --duration "$ACCT_SECONDS" \
		--warmup "$ACCT_WARMUP" --timeout 5000 --session-prefix "bench-$1" 2>"$CB_TMP/loadgen.err")
	if [ $? -ne 0 ] || [ "$(field acct_ok "$LG")" = 0 ] || [ "$(field acct_timeout "$LG")" != 0 ] ||
	   [ "$(field reject "$LG")" != 0 ] || [ "$(field bad "$LG")" != 0 ]; then
		broken "accounting against $1 failed (every Start and Stop must be answered): $(head -c 300 "$CB_TMP/loadgen.err") $LG"
		return 1
	fi
	read -r b1 i1 <<< "$(busy_ticks)"
	c1=$(thread_cpu "${INST_PID[$1]}")
	# How busy the cores were, and radiusd's CPU per accounting answer by
	# thread: whether the rate is bound by CPU or by waiting, and where.
	ACCT_USE="$(awk -v b="$((b1 - b0))" -v i="$((i1 - i0))" 'BEGIN { printf "%.0f", (b + i > 0 ? 100 * b / (b + i) : 0) }')"
	ACCT_USE="$ACCT_USE $(per_answer "$c0" "$c1" "$(field acct_ok "$LG")")"
}

bench_acct() {
	head -n "$ACCT_USERS" "$CB_TMP/pap-users" > "$CB_TMP/acct-users"
	new_instance t || return 1
	d=${INST_DIR[t]}
	rm -f "$d/raddb/mods-enabled/cetbyod"
	stock_site "$d/raddb/sites-enabled/cetbyod" || return 1
	ln -s ../mods-available/detail "$d/raddb/mods-enabled/detail"
	# stock_site put "ok" where the module was; the stock twin logs with detail there.
	awk '/^\taccounting \{$/ { acct = 1 } acct && /^\t\tok$/ { print "\t\tdetail"; acct = 0; next } { print }' \
		"$d/raddb/sites-enabled/cetbyod" > "$d/site.new" && mv "$d/site.new" "$d/raddb/sites-enabled/cetbyod"
	grep -q '^		detail$' "$d/raddb/sites-enabled/cetbyod" ||
		{ broken "cannot put detail into (t)'s accounting section: update bench/acct.sh"; return 1; }
	start_instances t || { broken "radiusd (t), stock with detail, did not start"; return 1; }
	# BENCH_PERF_ACCT=FILE (opt-in, needs perf): perf record -g of (b)'s radiusd
	# for one accounting run, before and apart from the measured runs
	# (BENCH_PERF_CALLGRAPH=dwarf: DWARF call graphs, run's PERF_GRAPH).
	if [ -n "${BENCH_PERF_ACCT:-}" ] && command -v perf >/dev/null 2>&1; then
		perf record -q "${PERF_GRAPH[@]}" -p "${INST_PID[b]}" -o "$BENCH_PERF_ACCT" -- sleep "$ACCT_SECONDS" >/dev/null 2>&1 &
		perf_pid=$!
		acct_run b || return 1
		wait "$perf_pid"
		say "   perf profile of (b)'s accounting: $BENCH_PERF_ACCT ($(field rate "$LG")/s while recording)"
	fi
	# BENCH_PERF_ACCT_OFF=FILE: an off-CPU profile of the same (perf record
	# --call-graph dwarf -e sched:sched_switch): where (b)'s threads wait
	# (perf report -i FILE --sort comm,sym).
	if [ -n "${BENCH_PERF_ACCT_OFF:-}" ] && command -v perf >/dev/null 2>&1; then
		perf record -q --call-graph dwarf,16384 -e sched:sched_switch -p "${INST_PID[b]}" -o "$BENCH_PERF_ACCT_OFF" \
			-- sleep "$ACCT_SECONDS" >/dev/null 2>&1 &
		perf_pid=$!
		acct_run b || return 1
		wait "$perf_pid"
		say "   off-CPU profile of (b)'s accounting: $BENCH_PERF_ACCT_OFF ($(field rate "$LG")/s while recording)"
	fi
	declare -A ACCT_RATE ACCT_P99 ACCT_SAY ACCT_BUSY ACCT_SETTLE
	for rep in $(seq 1 "$ACCT_REPS"); do
		for name in b o t a; do
			# (b)'s index copies the Starts and Stops of its last run once it
			# is over; each run starts after that copy (index_settle).
			ACCT_SETTLE[$name,$rep]=$(index_settle b)
			acct_run "$name" || return 1
			ACCT_RATE[$name,$rep]=$(field rate "$LG")
			ACCT_P99[$name,$rep]=$(field p99_us "$LG")
			read -r busy us <<< "$ACCT_USE"
			ACCT_BUSY[$name,$rep]=$busy
			ACCT_SAY[$name]="$(calc '%.0f' "${ACCT_RATE[$name,$rep]}")/s (after ${ACCT_SETTLE[$name,$rep]} s for (b)'s index; cores $busy % busy; CPU per answer, us: ${us% })"
		done
		say "   accounting repetition $rep: (b) ${ACCT_SAY[b]}, (o) ${ACCT_SAY[o]}, (t) ${ACCT_SAY[t]}, (a) ${ACCT_SAY[a]}"
	done
	[ -n "$(find "$d/radacct" -name 'detail-*' -size +0 2>/dev/null | head -n 1)" ] ||
		{ broken "(t) answered accounting but its detail file is empty"; return 1; }
	stop_instance t
	v=(); vo=(); rb=(); rt=(); ra=(); pb=(); pt=(); ct=(); ca=(); cb=()
	for rep in $(seq 1 "$ACCT_REPS"); do
		v+=("$(calc '%.4f' "${ACCT_RATE[b,$rep]} / ${ACCT_RATE[t,$rep]}")")
		vo+=("$(calc '%.4f' "${ACCT_RATE[o,$rep]} / ${ACCT_RATE[t,$rep]}")")
		rb+=("${ACCT_RATE[b,$rep]}"); rt+=("${ACCT_RATE[t,$rep]}"); ra+=("${ACCT_RATE[a,$rep]}")
		pb+=("${ACCT_P99[b,$rep]}"); pt+=("${ACCT_P99[t,$rep]}")
		# The machine's CPU per (t) answer: both cores, the load generator's share included.
		ct+=("$(machine_us t "$rep")"); ca+=("$(machine_us a "$rep")"); cb+=("$(machine_us b "$rep")")
	done
	read -r m lo hi <<< "$(stats "${v[@]}")"
	read -r bm _ _ <<< "$(stats "${rb[@]}")"; read -r tm _ _ <<< "$(stats "${rt[@]}")"
	read -r bp _ _ <<< "$(stats "${pb[@]}")"; read -r tp _ _ <<< "$(stats "${pt[@]}")"
	row 8 "Accounting (b) + cetbyod, Start/Stop, 64 in flight" "$(calc '%.0f' "$bm")/s, p99 $(calc '%.2f' "$bp/1000") ms" "" info
	row 8 "Accounting (t) stock radiusd + detail, Start/Stop, 64 in flight" "$(calc '%.0f' "$tm")/s, p99 $(calc '%.2f' "$tp/1000") ms" "" info
	if awk "BEGIN { exit !($m >= 0.9) }"; then st=met; why=
	else st=MISSED; why="each Start records the session and its decision (from the keyed Class) in one store transaction, each Stop closes it, both audited, and each is answered once its group is committed: the request sleeps until then and is woken, CPU that detail's append, made without waiting, does not spend; see bench/README.md"; fi
	read -r om olo ohi <<< "$(stats "${vo[@]}")"
	row 8 "(o)/(t) accounting rate: the module without its audit trail" "$(calc '%.3f' "$om") ($(calc '%.3f' "$olo")-$(calc '%.3f' "$ohi"))" "" info \
		"diagnostic: (b)/(t) against (o)/(t) is what auditing each Start and Stop costs"
	row 8 "(b)/(t) accounting rate (median of $ACCT_REPS, min-max)" "$(calc '%.3f' "$m") ($(calc '%.3f' "$lo")-$(calc '%.3f' "$hi"))" ">= 0.9" "$st" "$why"
	read -r tu _ _ <<< "$(stats "${ct[@]}")"
	acct_recording_cost
	acct_store_alone "$tu"
}

# machine_us NAME REP - the machine's CPU per accounting answer of NAME in
# repetition REP, in microseconds: all cores' busy time (busy_ticks counts
# every online CPU) over its answers, the load generator's share included.
machine_us() {
	calc '%.1f' "$(getconf _NPROCESSORS_ONLN) * ${ACCT_BUSY[$1,$2]} / 100 * 1000000 / ${ACCT_RATE[$1,$2]}"
}

# acct_recording_cost - (a), stock answering without recording, beside (t)
# and (b): what detail's record costs the machine per answer ((t) - (a)),
# what the module's recording costs ((b) - (a)), and what (b) may add to
# (t)'s answer for the target ((t) / 9: 0.9 = C / (C + C / 9)), and how
# busy the cores were in each: a rate is the cores' busy share over the
# CPU per answer.  Reads bench_acct's ra, ca, cb and tu, (t)'s median.
acct_recording_cost() {
	local am au bu n m rep v busy=()
	read -r am _ _ <<< "$(stats "${ra[@]}")"
	read -r au _ _ <<< "$(stats "${ca[@]}")"; read -r bu _ _ <<< "$(stats "${cb[@]}")"
	for n in a t b; do
		v=(); for rep in $(seq 1 "$ACCT_REPS"); do v+=("${ACCT_BUSY[$n,$rep]}"); done
		read -r m _ _ <<< "$(stats "${v[@]}")"; busy+=("$(calc '%.0f' "$m")")
	done
	row 8 "Accounting (a) stock radiusd recording nothing (diagnostic)" "$(calc '%.0f' "$am")/s" "" info
	row 8 "the machine's CPU per accounting answer: (a), (t), (b)" \
		"$(calc '%.1f' "$au"), $(calc '%.1f' "$tu"), $(calc '%.1f' "$bu") us; cores ${busy[0]}, ${busy[1]}, ${busy[2]} % busy" "" info \
		"diagnostic (medians): detail's record costs $(calc '%.1f' "$tu - $au") us an answer ((t) - (a)), the module's recording $(calc '%.1f' "$bu - $au") us ((b) - (a)); 0.9 allows (b) $(calc '%.1f' "$tu / 9") us more than (t) with the cores as busy; (b)'s rate is its cores' busy share over its CPU per answer, and both fall short of (t)'s: bench/README.md"
}

# acct_store_alone TCPU - the store's write alone, outside radiusd
# (bench/acctbench, 16 writing threads): the work each Start and Stop must
# have committed before it is answered, beside TCPU, the machine's CPU per
# answer of (t) (the median of the repetitions); and the same while the audit
# index copies a backlog of ten records per pair (acctbench -a).
acct_store_alone() {
	local ab tcpu=$1
	[ -x "$BENCH_TOOLS/acctbench" ] || return 0
	ab=$("$BENCH_TOOLS/acctbench" -n "$ACCT_STORE_PAIRS" -t 16 -u "$ACCT_USERS" -a $((ACCT_STORE_PAIRS * 10)) -d "$CB_TMP" \
		2>"$CB_TMP/acctbench.err") || { broken "bench/acctbench failed: $(head -c 300 "$CB_TMP/acctbench.err")"; return 1; }
	row 8 "the store's write alone, outside radiusd (bench/acctbench, 16 threads)" \
		"$(field write_us "$ab") us CPU per write, $(field rate "$ab") writes/s" "" info \
		"diagnostic: what a Start or a Stop must have committed before it is answered (RFC 2866), group commit and hand-offs included; a whole answer of (t) costs $(calc '%.0f' "$tcpu") us of the machine's CPU (all its cores, the load generator's share included)"
	# Figure 8 runs each repetition after (b)'s index caught up; a load that
	# outlasts index_defer also pays the index's copy, which this measures.
	row 8 "... while the audit index copies a backlog (acctbench -a)" \
		"$(field backlog_write_us "$ab") us CPU per write (the index's included), $(field backlog_rate "$ab") writes/s" "" info \
		"diagnostic: a load that lasts longer than audit { index_defer } (30 s) shares the cores with the index's copy ($(field index_copied "$ab") records copied during the run)"
}
