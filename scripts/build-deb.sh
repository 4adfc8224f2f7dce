#!/bin/sh
# build-deb.sh DIST - build the freeradius-cetbyod package for DIST
# (bookworm = Debian 12, FreeRADIUS 3.2.1; trixie = Debian 13, FreeRADIUS
# 3.2.7) in a clean chroot of DIST, into _build/deb/DIST/.  Run as root from
# anywhere in the source tree.
#
# The chroot is a fresh copy of the cached minbase chroot
# (scripts/deb-chroot.sh) plus the build dependencies (apt-get build-dep on
# debian/control) and the source package of exactly that FreeRADIUS
# (scripts/fetch-freeradius-source.sh, as the source build does).  The
# package is built with dpkg-buildpackage -us -uc -b from a clean export of
# the tree (git's files, or the unpacked tarball's), its version marked with
# the distribution (0.1.0-1~deb12, 0.1.0-1~deb13), and checked with lintian
# (no errors allowed).  Timings are printed.
#
#   CETBYOD_CHROOT_MAX_AGE_DAYS=N  rebuild the cached base chroot after N days (7)
#   CETBYOD_KEEP_CHROOT=1          keep the build chroot for a look inside
#   CETBYOD_DEB_TESTS="T..."       also run these tests of the suite
#                                  (make check TESTS=...) in the build tree,
#                                  against DIST's radiusd, in a new network
#                                  namespace: the module's own integration
#                                  tests on that FreeRADIUS
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
DEB_TOP=$top
. "$top/scripts/deb-chroot.sh"

deb_start build-deb.sh "debootstrap, chroot" "$@"
case $dist in
bookworm) tag=deb12 ;;
trixie) tag=deb13 ;;
esac

t0=$(date +%s)
out=$top/_build/deb/$dist
root=$DEB_CHROOTS/$dist-build.$$
trap 'deb_chroot_cleanup' EXIT
trap 'exit 1' INT TERM HUP

deb_base_tarball "$dist" >/dev/null
t_base=$(date +%s)
deb_chroot_new "$dist" "$root"

# The clean export: what git tracks (and new files not ignored), else the
# tree minus the build directories (an unpacked release tarball).
src=$root/build/cetbyod
mkdir -p "$src"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$top" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf - --no-recursion) |
		tar -C "$src" -xf -
else
	tar -C "$top" --exclude=./_build --exclude='./cetbyod-*' -cf - . | tar -C "$src" -xf -
fi
upstream=$(sed -n 's/^AC_INIT(\[cetbyod\], \[\([^]]*\)\].*/\1/p' "$src/configure.ac")
debver=$(sed -n '1s/^cetbyod (\([^)]*\)).*/\1/p' "$src/debian/changelog")
version=$debver~$tag
{
	printf 'cetbyod (%s) %s; urgency=medium\n\n' "$version" "$dist"
	printf '  * Built for Debian %s by scripts/build-deb.sh.\n\n' "$dist"
	printf ' -- cetbyod developers <cetbyod@users.noreply.github.com>  %s\n\n' "$(date -R)"
	cat "$src/debian/changelog"
} > "$src/debian/changelog.new"
mv "$src/debian/changelog.new" "$src/debian/changelog"
[ "${debver%-*}" = "$upstream" ] || { echo "build-deb.sh: debian/changelog says $debver but configure.ac $upstream" >&2; exit 1; }

echo "==> $dist: build dependencies"
mkdir -p "$top/_build/deb"
aptlog=$top/_build/deb/$dist-apt.log
deb_in "$root" apt-get update -q >"$aptlog" 2>&1 || { tail -n 30 "$aptlog"; exit 1; }
deb_in "$root" apt-get build-dep -y -q --no-install-recommends /build/cetbyod >>"$aptlog" 2>&1 || {
	tail -n 30 "$aptlog"; exit 1; }
frsrc=$(deb_in "$root" sh /build/cetbyod/scripts/fetch-freeradius-source.sh /build/freeradius-src 2>>"$aptlog") || {
	tail -n 30 "$aptlog"; exit 1; }
frver=$(deb_in "$root" dpkg-query -W -f='${Version}' freeradius)
if [ -n "${CETBYOD_DEB_TESTS:-}" ]; then
	# What the tests drive (configure finds radclient and eapol_test).
	deb_in "$root" apt-get install -y -q --no-install-recommends freeradius-utils eapoltest procps openssl curl \
		python3 python3-cryptography slapd ldap-utils hostapd wpasupplicant iproute2 sqlite3 >>"$aptlog" 2>&1 || {
		tail -n 30 "$aptlog"; exit 1; }
fi
t_deps=$(date +%s)

echo "==> $dist: dpkg-buildpackage (FreeRADIUS $frver)"
rm -rf "$out"
mkdir -p "$out"
if ! deb_in "$root" sh -c "cd /build/cetbyod && DEB_BUILD_OPTIONS=parallel=$(nproc) CETBYOD_FREERADIUS_SOURCE='$frsrc' dpkg-buildpackage -us -uc -b" \
	>"$out/build.log" 2>&1; then
	tail -n 60 "$out/build.log"
	echo "build-deb.sh: the $dist build failed (log: $out/build.log)" >&2
	exit 1
fi
cp "$root"/build/*.deb "$root"/build/*.changes "$root"/build/*.buildinfo "$out/"
mv "$aptlog" "$out/apt.log"
t_build=$(date +%s)

if [ -n "${CETBYOD_DEB_TESTS:-}" ]; then
	echo "==> $dist: make check TESTS='$CETBYOD_DEB_TESTS' against FreeRADIUS $frver"
	# One at a time: this runs beside the rest of the test command, niced.
	if ! deb_in_netns "$root" make -C /build/cetbyod check TESTS="$CETBYOD_DEB_TESTS" \
		>"$out/check.log" 2>&1; then
		# The failed checks come last, where a reader of the tail sees them.
		tail -n 30 "$out/check.log"
		for t in $CETBYOD_DEB_TESTS; do
			if grep -qE ':test-result: (FAIL|ERROR)' "$src/$t.trs" 2>/dev/null; then
				echo "---- $t: the end of its log, then its failed checks with their details ----"
				tail -n 60 "$src/$t.log"
				awk '/^failed checks:/ { exit } /^not ok/ { d = 1; print; next }
					d && /^    # / { print; next } { d = 0 }' "$src/$t.log"
			fi
		done
		echo "build-deb.sh: tests failed against FreeRADIUS $frver (log: $out/check.log)" >&2
		exit 1
	fi
	grep -E '^(PASS|FAIL|ERROR|# )' "$out/check.log" || :
fi
t_tests=$(date +%s)

deb=$(ls "$out"/freeradius-cetbyod_*.deb)
echo "==> $dist: $(basename "$deb"): $(dpkg-deb -f "$deb" Depends)"
if command -v lintian >/dev/null 2>&1; then
	# lintian leaves its ELF caches (mldbm-elf-*) in TMPDIR: give it one of ours, removed after.
	rm -rf "$out/lintian-tmp" && mkdir "$out/lintian-tmp" || exit 1
	lintian_rc=0
	TMPDIR=$out/lintian-tmp lintian --fail-on error "$out"/*.changes >"$out/lintian.txt" 2>&1 || lintian_rc=$?
	rm -rf "$out/lintian-tmp"
	[ "$lintian_rc" -eq 0 ] || { cat "$out/lintian.txt"; echo "build-deb.sh: lintian found errors" >&2; exit 1; }
	echo "lintian: $(grep -c '^E:' "$out/lintian.txt") errors, $(grep -c '^W:' "$out/lintian.txt") warnings ($out/lintian.txt)"
	grep '^[EW]:' "$out/lintian.txt" || :
else
	echo "lintian not installed: not checked (scripts/setup-debian.sh installs it)"
fi
echo "timing: $dist base chroot $((t_base - t0)) s, build dependencies $((t_deps - t_base)) s, build $((t_build - t_deps)) s, tests $((t_tests - t_build)) s, total $(( $(date +%s) - t0 )) s"
