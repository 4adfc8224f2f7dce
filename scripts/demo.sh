#!/bin/sh
# demo.sh - set everything up on a fresh Debian 12 machine, build, and run the
# demo: a local radiusd with the module admitting, onboarding, promoting and
# rejecting staff devices, with the reason for each decision.  Run as root
# from the top of the source tree.
#
#   SKIP_SETUP=1   do not run scripts/setup-debian.sh (packages already there)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if [ -z "${SKIP_SETUP:-}" ]; then
	"$top/scripts/setup-debian.sh" >/dev/null
fi
autoreconf -fi >/dev/null 2>&1
frsrc=$("$top/scripts/fetch-freeradius-source.sh" "$top/_build/freeradius-src")
mkdir -p "$top/_build/normal"
cd "$top/_build/normal"
if [ ! -f Makefile ]; then
	"$top/configure" --with-freeradius-source="$frsrc" >configure.out 2>&1 || { tail -n 30 configure.out; exit 1; }
fi
make -j"$(nproc)" >make.out 2>&1 || { tail -n 50 make.out; exit 1; }
make tests/integration/libnodeepbind.la >/dev/null 2>&1 || true
srcdir=$top exec bash "$top/demo/run-demo.sh"
