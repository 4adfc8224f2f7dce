#!/bin/sh
# check-source.sh - the habits the build enforces on the product's C code
# (lib/, rlm_cetbyod/, cetbyodctl/), run by `make check`:
#
#   1. no banned function: unbounded string functions (sprintf, vsprintf,
#      strcpy, strncpy, strcat, strncat, gets), parsers that cannot report
#      errors (atoi, atol, atoll, atof, sscanf), and functions that are not
#      reentrant in threaded code (strtok, localtime, gmtime, ctime,
#      asctime, rand, tmpnam); use snprintf, strtol/strtoll, the _r forms,
#      and OpenSSL's RAND_bytes.  (strerror is allowed: glibc's is MT-Safe
#      since 2.32 for every errno it knows.)
#   2. the core (lib/) never includes a FreeRADIUS header: only the glue in
#      rlm_cetbyod/ sees them;
#   3. the layers: lib/base/ includes no header of another lib/ folder, and
#      lib/core/ none but base/ and core/ (the other folders call the core,
#      the core calls them only through interfaces it defines);
#   4. no product source file over 1,200 lines, no function over 80 lines
#      (a function is measured from its opening brace in column 0 to its
#      closing brace in column 0, as the code's style writes them).
#
# Usage: check-source.sh [SRCDIR]   (default: $srcdir, or the tree this
# script is in).  Prints every violation as FILE:LINE: what, exits 1 if any.
set -u
top=${1:-${srcdir:-$(dirname "$0")/..}}
cd "$top" || exit 2

files=$(find lib rlm_cetbyod cetbyodctl -name '*.[ch]' | sort)
status=0

banned='sprintf|vsprintf|strcpy|strncpy|strcat|strncat|gets|atoi|atol|atoll|atof|sscanf|strtok|localtime|gmtime|ctime|asctime|rand|tmpnam'

# Comments are blanked first (block comments across lines, then // ones),
# and string literals, so that prose and messages never count.
strip() {
	sed -e ':a' -e '/\/\*/{/\*\//!{N;ba' -e '}}' -e 's|/\*.*\*/||g' "$1" |
		sed -e 's|//.*$||' -e 's/"\([^"\\]\|\\.\)*"/""/g'
}

for f in $files; do
	hits=$(strip "$f" | grep -nE "(^|[^A-Za-z0-9_>.])($banned)[[:space:]]*\(" || true)
	if [ -n "$hits" ]; then
		echo "$hits" | sed "s|^|$f:|; s|\$|   <- banned function|"
		status=1
	fi
done

for f in $(find lib -name '*.[ch]' | sort); do
	hits=$(grep -nE '#[[:space:]]*include[[:space:]]*[<"](freeradius|freeradius-devel)/' "$f" || true)
	if [ -n "$hits" ]; then
		echo "$hits" | sed "s|^|$f:|; s|\$|   <- the core must not include FreeRADIUS headers|"
		status=1
	fi
done

# layer_check FOLDER ALLOWED...: FOLDER's files include only ALLOWED folders of lib/.
layer_check() {
	layer=$1
	shift
	others=$(cd lib && for d in *; do [ -d "$d" ] && echo "$d"; done)
	for a in "$@"; do others=$(echo "$others" | grep -vx "$a"); done
	others=$(echo "$others" | paste -sd '|' -)
	[ -n "$others" ] || return 0
	for f in $(find "lib/$layer" -name '*.[ch]' | sort); do
		hits=$(grep -nE "#[[:space:]]*include[[:space:]]*[<\"](\.\./)*($others)/" "$f" || true)
		if [ -n "$hits" ]; then
			echo "$hits" | sed "s|^|$f:|; s|\$|   <- lib/$layer/ may include only $(echo "$@" | sed 's| |/, |g')/|"
			status=1
		fi
	done
}
layer_check base base
layer_check core base core

for f in $files; do
	case "$f" in *.c) ;; *) continue ;; esac
	n=$(wc -l < "$f")
	if [ "$n" -gt 1200 ]; then
		echo "$f:1: $n lines   <- over 1,200: split it along its seams"
		status=1
	fi
	awk -v f="$f" '
		/^{/ { start = NR; next }
		/^}/ && start { len = NR - start - 1
			if (len > 80) { printf "%s:%d: function of %d lines   <- over 80: split it\n", f, start, len; bad = 1 }
			start = 0 }
		END { exit bad }' "$f" || status=1
done

if [ "$status" -eq 0 ]; then
	echo "check-source: $(echo "$files" | wc -l) files: no banned function, no FreeRADIUS header in lib/, lib/base and lib/core include no higher layer, no file over 1,200 lines, no function over 80"
fi
exit $status
