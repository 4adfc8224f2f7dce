#!/bin/sh
# freeradius-headers.sh - assemble the FreeRADIUS headers the module compiles
# against.
#
# Debian's libfreeradius-dev installs the generated headers of the build
# (autoconf.h, radpaths.h, features.h, missing.h, tls.h, attributes.h, ...)
# but not all the headers radiusd.h includes (connection.h, log.h, xlat.h,
# tmpl.h, clients.h, listen.h, process.h, automask.h).  This script builds a
# directory OUT/freeradius-devel/ that holds every header of the FreeRADIUS
# source tree SRC (of exactly the installed version), with the installed
# headers of INSTALLED taking precedence, so the generated ones match the
# radiusd that loads the module.  The source headers include each other as
# <freeradius-devel/...>, Debian's installed ones as <freeradius/...>: both
# names lead to the same merged directory.
#
# Usage: freeradius-headers.sh SRC INSTALLED OUT
set -eu
src=$1
installed=$2
out=$3

if [ ! -d "$src/src/include" ]; then
	echo "freeradius-headers.sh: $src is not a FreeRADIUS source tree (no src/include)" >&2
	exit 1
fi
rm -rf "$out/freeradius-devel" "$out/freeradius"
mkdir -p "$out/freeradius-devel"
for h in "$src"/src/include/*.h; do
	ln -s "$(cd "$(dirname "$h")" && pwd)/$(basename "$h")" "$out/freeradius-devel/"
done
for h in "$installed"/*.h; do
	ln -sf "$h" "$out/freeradius-devel/"
done
ln -s freeradius-devel "$out/freeradius"
