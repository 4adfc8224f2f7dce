#!/bin/sh
# test-all.sh - set everything up on a fresh Debian 12 machine and run the
# whole test suite: unit and integration tests in a normal build, again in an
# AddressSanitizer + UndefinedBehaviorSanitizer build, the libFuzzer targets'
# smoke run in a clang fuzzing build (in the background, beside the
# sanitizer build's tests), the benchmark's short mode, the unit tests under
# valgrind, make distcheck (the tarball, with a subset of the tests), and
# the Debian 12 and 13 packages built and smoke-tested in clean chroots of
# their distributions (in the background from the start: mostly network).  Run as root from the top of the source tree.
#
#   SKIP_SETUP=1     do not run scripts/setup-debian.sh (packages already there)
#   FUZZ_SECONDS=N   seconds per fuzz target in the smoke run (default 20)
#   SKIP_DEB=1       do not build and test the Debian packages (they need
#                    deb.debian.org: debootstrap and the chroots' apt-get)
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

# show_failed_logs DIR: the end of each failed test's log under DIR
# (automake's .trs beside it says which failed).
show_failed_logs() {
	for log in "$1"/tests/*/*.log "$1"/scripts/*.log; do
		case "$log" in *test-suite.log) continue ;; esac
		if grep -qE ':test-result: (FAIL|ERROR)' "${log%.log}.trs" 2>/dev/null; then
			echo "---- $log ----"
			tail -n 200 "$log"
		fi
	done
}

run_check() {
	dir=$1
	echo "==> make check in $dir"
	if ! make -C "$dir" check; then
		show_failed_logs "$dir"
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

# deb_job: the packages of both distributions, built (scripts/build-deb.sh)
# and tested in clean chroots (tests/deb/test_deb.sh), the two at once;
# started by this script as "test-all.sh --deb-job".  On Debian 13 the
# build tree also runs integration tests against FreeRADIUS 3.2.7 (the
# whole suite runs against Debian 12's 3.2.1 above).
DEB13_TESTS="tests/integration/test_radius.sh tests/integration/test_ldap.sh tests/integration/test_google.sh"
deb_job() {
	for d in bookworm trixie; do
		tests=
		[ "$d" = trixie ] && tests=$DEB13_TESTS
		( CETBYOD_DEB_TESTS=$tests "$top/scripts/build-deb.sh" "$d" && "$top/tests/deb/test_deb.sh" "$d" ) \
			>"$top/_build/deb-$d.log" 2>&1 &
		eval "pid_$d=\$!"
	done
	rc=0
	wait "$pid_bookworm" || rc=1
	wait "$pid_trixie" || rc=1
	cat "$top/_build/deb-bookworm.log" "$top/_build/deb-trixie.log"
	return $rc
}

if [ "${1:-}" = --deb-job ]; then
	deb_job
	exit
fi

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

# The Debian packages: built and tested in chroots, in the background from
# here on (niced, in a session of their own, like the fuzzing job below).
deb_log="$top/_build/deb.log"
deb_pid=
if [ -z "${SKIP_DEB:-}" ]; then
	mkdir -p "$top/_build"
	echo "==> Debian packages (bookworm, trixie): build and chroot tests in the background (log: $deb_log)"
	setsid -w nice -n 10 "$top/scripts/test-all.sh" --deb-job >"$deb_log" 2>&1 &
	deb_pid=$!
fi
stop_jobs() {
	[ -n "$deb_pid" ] && kill -- -"$deb_pid" 2>/dev/null
	[ -n "${fuzz_pid:-}" ] && kill -- -"$fuzz_pid" 2>/dev/null
	:
}
trap stop_jobs EXIT

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

run_check "$top/_build/sanitizers"

echo "==> waiting for the fuzzing job"
if wait "$fuzz_pid"; then
	fuzz_pid=
	grep -E '^(PASS|FAIL|fuzz smoke)' "$fuzz_log" || :
else
	fuzz_pid=
	echo "---- $fuzz_log ----"
	cat "$fuzz_log"
	echo "fuzzing build or smoke run FAILED"
	exit 1
fi

# The package job works the processor while it compiles: the benchmark's
# figures need a quiet machine, so it is waited for first.
if [ -n "$deb_pid" ]; then
	echo "==> waiting for the Debian package job"
	if wait "$deb_pid"; then
		deb_pid=
		grep -E '^(ok|not ok|timing|lintian|PASS|FAIL)' "$deb_log" || :
	else
		deb_pid=
		echo "---- $deb_log ----"
		cat "$deb_log"
		echo "Debian package build or chroot test FAILED"
		exit 1
	fi
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
	show_failed_logs "$top/_build/normal/cetbyod-$(sed -n 's/^PACKAGE_VERSION = //p' "$top/_build/normal/Makefile")/_build/sub"
	exit 1
}
echo "distcheck passed"
echo "==> all tests passed"
