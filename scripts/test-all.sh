#!/bin/sh
# test-all.sh - set everything up on a fresh Debian 12 machine and run the
# whole test suite: unit and integration tests in a normal build, again in an
# AddressSanitizer + UndefinedBehaviorSanitizer build, the benchmark's short
# mode, the unit tests under valgrind, and make distcheck.  Run as root from the top of the source tree.
#
#   SKIP_SETUP=1   do not run scripts/setup-debian.sh (packages already there)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if [ -z "${SKIP_SETUP:-}" ]; then
	"$top/scripts/setup-debian.sh"
fi

echo "==> autoreconf"
autoreconf -fi >/dev/null

# The FreeRADIUS source package is fetched once and shared by every build.
frsrc=$("$top/scripts/fetch-freeradius-source.sh" "$top/_build/freeradius-src")

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

run_build "$top/_build/normal"
run_check "$top/_build/normal"

run_build "$top/_build/sanitizers" --enable-sanitizers
run_check "$top/_build/sanitizers"

echo "==> benchmark, short mode (checks that it runs; figures in bench/README.md)"
make -C "$top/_build/normal" bench-quick

echo "==> unit tests under valgrind"
make -C "$top/_build/normal" check-valgrind

echo "==> make distcheck"
make -C "$top/_build/normal" distcheck >"$top/_build/normal/distcheck.out" 2>&1 || {
	tail -n 80 "$top/_build/normal/distcheck.out"
	exit 1
}
echo "distcheck passed"
echo "==> all tests passed"
