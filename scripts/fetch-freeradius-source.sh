#!/bin/sh
# fetch-freeradius-source.sh - unpack the Debian source package of exactly the
# installed FreeRADIUS version into DIR (apt-get source, deb-src must be
# enabled: scripts/setup-debian.sh does it).  Prints the source tree's path.
#
# Usage: fetch-freeradius-source.sh DIR
set -eu
dir=$1
version=$(dpkg-query -W -f='${Version}' freeradius 2>/dev/null || true)
if [ -z "$version" ]; then
	echo "fetch-freeradius-source.sh: the freeradius package is not installed (apt-get install freeradius libfreeradius-dev)" >&2
	exit 1
fi
tree="$dir/freeradius-$version"
if [ -f "$tree/src/include/radiusd.h" ]; then
	echo "$tree"
	exit 0
fi
mkdir -p "$dir"
work=$(mktemp -d "$dir/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && apt-get source --download-only "freeradius=$version" >&2); then
	echo "fetch-freeradius-source.sh: 'apt-get source freeradius=$version' failed; enable deb-src (scripts/setup-debian.sh does) and run apt-get update, or pass --with-freeradius-source=DIR" >&2
	exit 1
fi
(cd "$work" && dpkg-source --no-check -x ./*.dsc src >&2)
rm -rf "$tree"
mv "$work/src" "$tree"
echo "$tree"
