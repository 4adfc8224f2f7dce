#!/bin/sh
# run.sh - run the libFuzzer targets of fuzz/ for `make fuzz-smoke` and
# `make fuzz-regress` (mk/fuzz.am), from the build directory.
#
#   run.sh smoke   SRCDIR SECONDS RSS_MB TIMEOUT NAME...
#       each fuzz/fuzz_NAME for SECONDS on a copy of SRCDIR/fuzz/corpus/NAME
#   run.sh regress SRCDIR SECONDS RSS_MB TIMEOUT NAME...
#       each fuzz/fuzz_NAME once over every file of its corpus (SECONDS unused)
#
# Nothing is written into the source tree: the corpus is copied into a
# temporary directory, where libFuzzer also puts the inputs it finds and
# any crash, leak or timeout reproducer.  A target's directory is removed
# when it passes and kept when it fails; the failure is printed with the
# reproducer's path and the command that reproduces it.  Exits 1 when any
# target failed, after running them all.
set -u

if [ $# -lt 6 ]; then
	echo "usage: $0 smoke|regress SRCDIR SECONDS RSS_MB TIMEOUT NAME..." >&2
	exit 2
fi
mode=$1 srcdir=$2 seconds=$3 rss=$4 timeout=$5
shift 5
case $mode in smoke|regress) ;; *) echo "$0: unknown mode '$mode'" >&2; exit 2 ;; esac

# Leaks are errors; UBSan prints where (it aborts: -fno-sanitize-recover).
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS UBSAN_OPTIONS

failed=""
for name in "$@"; do
	bin=fuzz/fuzz_$name
	corpus=$srcdir/fuzz/corpus/$name
	if [ ! -x "$bin" ]; then
		echo "FAIL $name: $bin was not built" >&2
		failed="$failed $name"
		continue
	fi
	if [ ! -d "$corpus" ]; then
		echo "FAIL $name: no seed corpus $corpus" >&2
		failed="$failed $name"
		continue
	fi
	work=$(mktemp -d "${TMPDIR:-/tmp}/cetbyod-fuzz-$name.XXXXXX") || exit 1
	flags="-rss_limit_mb=$rss -timeout=$timeout -artifact_prefix=$work/"
	if [ "$mode" = smoke ]; then
		# A copy of the seeds, where libFuzzer adds what it finds.
		mkdir "$work/corpus" && cp "$corpus"/* "$work/corpus/" 2>/dev/null
		# shellcheck disable=SC2086
		"./$bin" $flags -max_total_time="$seconds" -print_final_stats=1 "$work/corpus" >"$work/log" 2>&1
		rc=$?
	else
		# Files given one by one are only run, never written.
		# shellcheck disable=SC2086
		"./$bin" $flags "$corpus"/* >"$work/log" 2>&1
		rc=$?
	fi
	if [ $rc -eq 0 ]; then
		if [ "$mode" = smoke ]; then
			runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
			echo "PASS $name: ${runs:-?} runs in $seconds s, $(ls "$work/corpus" | wc -l) corpus inputs"
		else
			echo "PASS $name: $(ls "$corpus" | wc -l) corpus inputs"
		fi
		rm -rf "$work"
		continue
	fi
	failed="$failed $name"
	repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/log" | tail -n 1)
	[ -n "$repro" ] || repro=$(sed -n 's/^Running: \(.*\)$/\1/p' "$work/log" | tail -n 1)
	echo "FAIL $name (exit $rc); libFuzzer's output is in $work/log:" >&2
	# The sanitizer's or libFuzzer's report up to its SUMMARY line, and libFuzzer's last words.
	awk '!s && /ERROR|runtime error|ALARM|out-of-memory/ { s = NR } s && !e && NR < s + 80 { print } s && /^SUMMARY/ { e = 1 }' \
		"$work/log" >&2
	echo "..." >&2
	tail -n 8 "$work/log" >&2
	echo "---- $name" >&2
	if [ -n "$repro" ]; then
		echo "reproducer: $repro" >&2
		echo "reproduce:  (cd $(pwd) && ./$bin $repro)" >&2
		case $repro in
		"$corpus"/*) ;;
		*) echo "keep it:    cp $repro $corpus/   (once fixed; a regression test from then on, see fuzz/README.md)" >&2 ;;
		esac
	else
		echo "no reproducer written; rerun: (cd $(pwd) && ./$bin $flags $work/corpus)" >&2
	fi
done

if [ -n "$failed" ]; then
	echo "fuzz $mode: FAILED:$failed (work directories kept in ${TMPDIR:-/tmp}/cetbyod-fuzz-*)" >&2
	exit 1
fi
echo "fuzz $mode: all $# targets passed"
