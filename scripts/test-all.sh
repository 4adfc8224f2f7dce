#!/bin/sh
# test-all.sh - set everything up on a fresh Debian 12 machine and run the
# whole test suite: unit and integration tests in a normal build, again in an
# AddressSanitizer + UndefinedBehaviorSanitizer build, the libFuzzer targets'
# smoke run in a clang fuzzing build (in the background, beside the
# sanitizer build's tests), the benchmark's short mode, the unit tests under
# valgrind, and make distcheck (the tarball, with a subset of the tests).  Run as root from the top of the source tree.
#
#   SKIP_SETUP=1     do not run scripts/setup-debian.sh (packages already there)
#   FUZZ_SECONDS=N   seconds per fuzz target in the smoke run (default 20)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

run_build() {
	dir=$1
	shift
	echo "==> build in $dir ($*)"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" --with-freeradius-source="$frsrc" "$@" >configure.out 2>&1) || {
		tail -n 30 "$dir/configure.out"
		exit 1
	}
	make -C "$dir" -j"$(nproc)" >"$dir/make.out" 2>&1 || {
		tail -n 50 "$dir/make.out"
		exit 1
	}
}

run_check() {
	dir=$1
	echo "==> make check in $dir"
	if ! make -C "$dir" check; then
		for log in "$dir"/tests/*/*.log; do
			case "$log" in *test-suite.log) continue ;; esac
			if grep -qE ':test-result: (FAIL|ERROR)' "${log%.log}.trs" 2>/dev/null; then
				echo "---- $log ----"
				tail -n 200 "$log"
			fi
		done
		exit 1
	fi
}

# fuzz_job: the fuzzing build (clang, ASan, UBSan, libFuzzer) and its smoke
# run; started by this script as "test-all.sh --fuzz-job FRSRC".
fuzz_job() {
	run_build "$top/_build/fuzz" CC=clang --enable-fuzzing
	echo "==> make fuzz-smoke in $top/_build/fuzz"
	make -C "$top/_build/fuzz" fuzz-smoke FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
}

if [ "${1:-}" = --fuzz-job ]; then
	frsrc=$2
	fuzz_job
	exit 0
fi

if [ -z "${SKIP_SETUP:-}" ]; then
	"$top/scripts/setup-debian.sh"
fi

echo "==> autoreconf"
autoreconf -fi >/dev/null

# The FreeRADIUS source package is fetched once and shared by every build.
frsrc=$("$top/scripts/fetch-freeradius-source.sh" "$top/_build/freeradius-src")

run_build "$top/_build/normal"
run_check "$top/_build/normal"

run_build "$top/_build/sanitizers" --enable-sanitizers

# The fuzzing build and smoke run go on beside the sanitizer build's tests,
# niced so that those keep their timing, in a session of their own so that
# an early exit can stop the whole job; they are waited for before the
# benchmark, whose figures need a quiet machine.
fuzz_log="$top/_build/fuzz.log"
echo "==> fuzzing build and make fuzz-smoke in $top/_build/fuzz, in the background (log: $fuzz_log)"
setsid -w nice -n 10 "$top/scripts/test-all.sh" --fuzz-job "$frsrc" >"$fuzz_log" 2>&1 &
fuzz_pid=$!
trap 'kill -- -"$fuzz_pid" 2>/dev/null || :' EXIT

run_check "$top/_build/sanitizers"

echo "==> waiting for the fuzzing job"
if wait "$fuzz_pid"; then
	trap - EXIT
	grep -E '^(PASS|FAIL|fuzz smoke)' "$fuzz_log" || :
else
	trap - EXIT
	echo "---- $fuzz_log ----"
	cat "$fuzz_log"
	echo "fuzzing build or smoke run FAILED"
	exit 1
fi

echo "==> benchmark, short mode (checks that it runs; figures in bench/README.md)"
make -C "$top/_build/normal" bench-quick

echo "==> unit tests under valgrind"
make -C "$top/_build/normal" check-valgrind

# distcheck builds the release tarball and checks it builds, installs and
# tests from it.  The whole suite already ran twice above; from the tarball
# it runs the unit and command-line tests, the source check, the emulator's
# self-test and one integration test per fixture (radiusd, the Google
# emulator, slapd; hostapd comes with the unit tests of the DAS), which is
# what shows the tarball complete.
dist_tests="$(grep -h '^TESTS += tests/\(unit\|cli\)/' "$top"/mk/*.am | sed 's/^TESTS += //' | tr '\n' ' ')"
dist_tests="$dist_tests scripts/check-source.sh tests/google-emulator/selftest.sh tests/integration/test_radius.sh"
dist_tests="$dist_tests tests/integration/test_google.sh tests/integration/test_ldap.sh"
echo "==> make distcheck (from the tarball: $(echo $dist_tests | wc -w) tests)"
make -C "$top/_build/normal" distcheck TESTS="$dist_tests" >"$top/_build/normal/distcheck.out" 2>&1 || {
	tail -n 80 "$top/_build/normal/distcheck.out"
	exit 1
}
echo "distcheck passed"
echo "==> all tests passed"
