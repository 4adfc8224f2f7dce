# bench/storm.sh - figure 7, the refusal storm (issue 13), sourced by
# bench/run (it uses run's helpers: new_instance, start_instances,
# stop_instance, row, calc, field, say, fits).
#
# STORM_USERS pupils, each with one phone (loadgen --device-per-user), are
# refused again and again by a radiusd with the shipped module
# configuration: (s1) with refusal coalescing, (s0) with coalesce_window
# = 0.  loadgen keeps 64 requests in flight, users round-robin, so each
# phone retries every STORM_USERS / rate seconds.  Time compression: a
# school's phone retries every 30 s; here it retries every STORM_USERS /
# rate s, k = 30 * rate / STORM_USERS times faster, so the coalescing
# settings are divided by the same k (coalesce_window 300 s / k,
# coalesce_summary_every 3600 s / k, whole seconds, at least 1), from the
# rate (s1) reaches in a short first run.  Every request is a real one,
# answered by radiusd and audited.  A run of T s then stands for k * T s of
# a school's day.  Measured: the answers per second of each, the bytes the
# audit file and the state store (database and WAL) grew by (after a clean
# stop, so the summaries of open runs are in), and, from s1's trail, the
# records it wrote per phone: first refusals (a run opened) and summaries;
# and the module's lines in radius.log (log_decisions as shipped, refusals):
# a refusal's line for each record of the trail (the run's first refusal,
# and its summaries, "refused N more times"), not one per refusal.
# Per simulated 8-hour day (28,800 s): s0 grows by its bytes / (k0 * T) *
# 28,800 (one record per request, whatever k); s1 by bytes per record (its
# own measured mean, file + store) * records per day, where a phone whose
# run held (one first record in the run) writes one first record and one
# summary per coalesce_summary_every: 1 + 28,800 / 3,600 = 9 records a day.
# Runs that broke (more than one first record per phone: the phone's
# retries came further apart than the window) are shown as such and
# counted at the rate measured.

storm_instance() {	# storm_instance NAME WINDOW EVERY - the instance, with the pupils in its users file
	new_instance "$1" || return 1
	d=${INST_DIR[$1]}
	cat "$CB_TMP/storm-authorize" >> "$d/raddb/mods-config/files/authorize"
	sed -i -e "s|^\t\tcoalesce_window = .*|\t\tcoalesce_window = $2|" \
		-e "s|^\t\tcoalesce_summary_every = .*|\t\tcoalesce_summary_every = $3|" "$d/raddb/mods-available/cetbyod"
	grep -q "^		coalesce_window = $2\$" "$d/raddb/mods-available/cetbyod" ||
		{ broken "cannot set audit { coalesce_window } in ($1): the module configuration changed shape"; return 1; }
}

storm_bytes() {	# storm_bytes NAME - audit file + state store (db, WAL) of the instance, in bytes
	d=${INST_DIR[$1]}
	du -cb "$d/log/cetbyod-audit.jsonl"* "$d/lib/cetbyod/cetbyod.db"* 2>/dev/null | awk 'END { print $1 + 0 }'
}

storm_log() {	# storm_log NAME - "bytes lines" of the module's refusal lines in the instance's log (radiusd -l stdout, its radius.log)
	grep -a 'cetbyod.*pupil[0-9]* -> reject' "${INST_DIR[$1]}/radiusd.out" 2>/dev/null | wc -cl | awk '{ print $2, $1 }'
}

storm_run() {	# storm_run NAME SECONDS - loadgen's line in $LG; 1 when it broke
	LG=$("$BENCH_TOOLS/loadgen" --server "127.0.0.1:${INST_PORT[$1]}" --secret "$SECRET" --users "$CB_TMP/storm-users" \
		--inflight 64 --duration "$2" --timeout 5000 --device-per-user 2>"$CB_TMP/loadgen.err")
	if [ $? -ne 0 ] || [ "$(field reject "$LG")" = 0 ] || [ "$(field accept "$LG")" != 0 ] ||
	   [ "$(field bad "$LG")" != 0 ]; then
		broken "the refusal storm against $1 failed (every answer must be an Access-Reject): $(head -c 300 "$CB_TMP/loadgen.err") $LG"
		return 1
	fi
}

storm_counts() {	# storm_counts NAME - "firsts summaries repeats" of the pupils' refusals in the trail
	/usr/bin/python3 - "${INST_DIR[$1]}/log/cetbyod-audit.jsonl" <<'EOP'
import json, sys
firsts = summaries = repeats = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("type") != "decision" or not str(r.get("identity", "")).startswith("pupil"):
        continue
    if "count" in r:
        summaries += 1
        repeats += r["count"]
    else:
        firsts += 1
print(firsts, summaries, repeats)
EOP
}

bench_storm() {
	: > "$CB_TMP/storm-users"
	: > "$CB_TMP/storm-authorize"
	for i in $(seq 1 "$STORM_USERS"); do
		printf 'pupil%d\tCleartext-Password := "pp%d", Cetbyod-Role := Pupil\n' "$i" "$i" >> "$CB_TMP/storm-authorize"
		printf 'pupil%d pp%d\n' "$i" "$i" >> "$CB_TMP/storm-users"
	done
	# A first short run of s1 for its rate, so that the settings fit it.
	storm_instance sp 300 3600 && start_instances sp || { broken "radiusd (storm) did not start"; return 1; }
	storm_run sp "$STORM_PRIME" || return 1
	stop_instance sp
	rate=$(field rate "$LG")
	k=$(calc '%.3f' "30 * $rate / $STORM_USERS")
	w=$(calc '%d' "300 / $k + 0.5"); [ "$w" -ge 1 ] || w=1
	m=$(calc '%d' "3600 / $k + 0.5"); [ "$m" -ge 1 ] || m=1
	say "   storm: $STORM_USERS phones at ~$(calc '%.0f' "$rate")/s: each retries every $(calc '%.2f' "$STORM_USERS / $rate") s, k = $k; coalesce_window = $w, coalesce_summary_every = $m"
	storm_instance s1 "$w" "$m" && storm_instance s0 0 "$m" || return 1
	for name in s1 s0; do
		start_instances "$name" || { broken "radiusd ($name, storm) did not start"; return 1; }
		sleep 0.5
		b0=$(storm_bytes "$name")
		storm_run "$name" "$STORM_SECONDS" || return 1
		stop_instance "$name"	# A clean stop: open runs are summarised.
		# The index of the burst's records waited (audit { index_defer }) and a stop
		# copies only what it can in its few seconds: 'audit query' copies the rest
		# from the file first, so that the store's growth counts every record.
		"$CB_BUILDDIR/cetbyodctl/cetbyodctl" --raddb "${INST_DIR[$name]}/raddb" audit query --user nobody \
			--limit 1 >/dev/null 2>"$CB_TMP/storm-query.err"
		rc=$?	# 2: nothing matched (nobody), as it should
		[ "$rc" = 2 ] || { broken "cetbyodctl audit query on ($name) exited $rc, not 2: $(head -c 300 "$CB_TMP/storm-query.err")"; return 1; }
		STORM_RATE[$name]=$(field rate "$LG")
		STORM_SENT[$name]=$(field reject "$LG")
		STORM_GROWTH[$name]=$(( $(storm_bytes "$name") - b0 ))
		read -r STORM_LOGB[$name] STORM_LOGN[$name] <<< "$(storm_log "$name")"
	done
	read -r firsts summaries repeats <<< "$(storm_counts s1)"
	records=$((firsts + summaries))
	per_rec=$(calc '%.1f' "${STORM_GROWTH[s1]} / ($records > 0 ? $records : 1)")
	k1=$(calc '%.3f' "30 * ${STORM_RATE[s1]} / $STORM_USERS")
	k0=$(calc '%.3f' "30 * ${STORM_RATE[s0]} / $STORM_USERS")
	sim1=$(calc '%.0f' "$k1 * $STORM_SECONDS")
	runs_per_phone=$(calc '%.2f' "$firsts / $STORM_USERS")
	# A day: per phone, its runs as measured (scaled to the day) plus a summary per run and per M.
	day_records=$(calc '%.0f' "$STORM_USERS * ($runs_per_phone > 1 ? $runs_per_phone * 28800 / $sim1 : 1) + $STORM_USERS * 28800 / ($m * $k1)")
	day1=$(calc '%.1f' "$day_records * $per_rec / 1e6")
	day0=$(calc '%.1f' "${STORM_GROWTH[s0]} / ($k0 * $STORM_SECONDS) * 28800 / 1e6")
	full=$([ "$STORM_USERS" = 2000 ] && echo "" || echo " (scaled from $STORM_USERS phones)")
	scale=$(calc '%.4f' "2000 / $STORM_USERS")
	day1=$(calc '%.1f' "$day1 * $scale"); day0=$(calc '%.1f' "$day0 * $scale")
	row 7 "storm s1 (coalescing): $STORM_USERS phones, ${STORM_SECONDS}s = $(calc '%.1f' "$sim1 / 3600") h simulated" \
		"${STORM_SENT[s1]} refusals -> $firsts first + $summaries summaries (count $repeats), $(calc '%.2f' "${STORM_GROWTH[s1]} / 1e6") MB, $per_rec B/record" "" info \
		"window $w s x k $k1 = $(calc '%.0f' "$w * $k1") s simulated, summary every $m s x k = $(calc '%.0f' "$m * $k1") s simulated; $runs_per_phone runs per phone"
	if awk "BEGIN { exit !($day1 <= 50) }"; then st=met; why=; else st=MISSED; why="see bench/README.md (figure 7)"; fi
	row 7 "storm: audit file + store growth per 8-hour day, 2,000 phones$full" "$day1 MB (without coalescing: $day0 MB, $(calc '%.0f' "${STORM_GROWTH[s0]} / (${STORM_SENT[s0]} > 0 ? ${STORM_SENT[s0]} : 1)") B/refusal)" "<= 50 MB" "$st" "$why"
	# radius.log: s1's lines per record as measured, times the day's records; s0's bytes per simulated day.
	log1=$(calc '%.1f' "$day_records * ${STORM_LOGB[s1]} / (${STORM_LOGN[s1]} > 0 ? ${STORM_LOGN[s1]} : 1) / 1e6 * $scale")
	log0=$(calc '%.1f' "${STORM_LOGB[s0]} / ($k0 * $STORM_SECONDS) * 28800 / 1e6 * $scale")
	row 7 "storm: the module's lines in radius.log per 8-hour day, 2,000 phones$full" \
		"$log1 MB, ${STORM_LOGN[s1]} lines for ${STORM_SENT[s1]} refusals (without coalescing: $log0 MB, ${STORM_LOGN[s0]} lines)" "" info \
		"log_decisions = refusals (shipped): a line per first refusal of a run and per summary; radiusd's own log { auth = yes } line per refusal not counted"
	row 7 "storm: radiusd's answer rate, coalescing on / off" \
		"$(calc '%.0f' "${STORM_RATE[s1]}")/s / $(calc '%.0f' "${STORM_RATE[s0]}")/s = $(calc '%.2f' "${STORM_RATE[s1]} / ${STORM_RATE[s0]}")" "" info
}
