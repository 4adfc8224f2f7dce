#!/bin/sh
# test_deb.sh DIST - the freeradius-cetbyod package of DIST (bookworm or
# trixie) in a clean chroot of DIST: a fresh copy of the cached minbase
# chroot (scripts/deb-chroot.sh).  Builds the package first when
# _build/deb/DIST/ has none (scripts/build-deb.sh).  Run as root.
#
#   1. apt-get install ./the.deb (pulls FreeRADIUS from Debian's archive);
#      the state directory is freerad:freerad 0750, nothing is enabled.
#   2. the links and the $INCLUDE line README.Debian gives, a minimal test
#      configuration (the localhost client with require_message_authenticator
#      = yes, as README.Debian recommends for 3.2.1 and 3.2.7 alike),
#      freeradius -XC (tests/deb/smoke.sh enable).
#   3. in a new network namespace (nothing touches the host's ports):
#      freeradius -X, radclient PAP and eapol_test PEAP-MSCHAPv2, one person
#      admitted and one refused each, logrotate between them, freeradius
#      stopped by PID, no BlastRADIUS warning (3.2.7), cetbyodctl audit
#      verify (smoke.sh serve 1).
#   4. an upgrade to the same package with a higher version keeps
#      /var/lib/cetbyod and the audit chain (the store unchanged by the
#      upgrade; a second serve round and verify pass).
#   5. apt-get remove leaves the state and the conffiles, removes the module
#      and cetbyodctl; apt-get purge leaves nothing of ours but the audit
#      files (kept on purpose, README.Debian).
# Prints the time each part took.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
DEB_TOP=$top
. "$top/scripts/deb-chroot.sh"

deb_start test_deb.sh "chroot, unshare" "$@"

t0=$(date +%s)
failed=0
ok() { echo "ok - $dist: $1"; }
nok() { echo "not ok - $dist: $1"; failed=1; }

if ! ls "$top/_build/deb/$dist"/freeradius-cetbyod_*.deb >/dev/null 2>&1; then
	"$top/scripts/build-deb.sh" "$dist" || { echo "not ok - $dist: build-deb.sh"; exit 1; }
fi
deb=$(ls "$top/_build/deb/$dist"/freeradius-cetbyod_*.deb | head -n 1)
t_build=$(date +%s)

root=$DEB_CHROOTS/$dist-test.$$
trap 'deb_chroot_cleanup' EXIT
trap 'exit 1' INT TERM HUP
deb_chroot_new "$dist" "$root" || { echo "not ok - $dist: chroot"; exit 1; }
mkdir -p "$root/root/deb"
cp "$deb" "$root/root/deb/"
cp "$top/tests/deb/smoke.sh" "$root/root/smoke.sh"
name=$(basename "$deb")
log=$top/_build/deb/$dist/test-apt.log

# cin CMD... - run in the chroot; smoke - smoke.sh in the chroot, its lines shown.
cin() { deb_in "$root" "$@"; }
# smoke [--netns] ARG... - smoke.sh in the chroot (in new namespaces, only lo,
# for --netns: deb_in_netns); its lines shown, a "not ok" fails the test.
smoke() {
	if [ "$1" = --netns ]; then
		shift
		deb_in_netns "$root" sh /root/smoke.sh "$@" >"$root/smoke.out" 2>&1
	else
		cin sh /root/smoke.sh "$@" >"$root/smoke.out" 2>&1
	fi
	rc=$?
	sed "s/^\(not \)\{0,1\}ok - /&$dist: /" "$root/smoke.out"
	if [ $rc -ne 0 ] || grep -q '^not ok' "$root/smoke.out"; then failed=1; fi
}

# --- 1. install ------------------------------------------------------------
if cin apt-get update -q >"$log" 2>&1 &&
	cin apt-get install -y -q --no-install-recommends "/root/deb/$name" freeradius-utils eapoltest logrotate >>"$log" 2>&1; then
	ok "apt-get install ./$name (with FreeRADIUS $(cin dpkg-query -W -f='${Version}' freeradius))"
else
	tail -n 30 "$log"; nok "apt-get install ./$name"; exit 1
fi
t_install=$(date +%s)
perm=$(cin stat -c '%U:%G %a' /var/lib/cetbyod)
[ "$perm" = "freerad:freerad 750" ] && ok "/var/lib/cetbyod is freerad:freerad 0750" || nok "/var/lib/cetbyod is $perm"
for f in /usr/lib/freeradius/rlm_cetbyod.so /usr/sbin/cetbyodctl /usr/share/man/man8/cetbyodctl.8.gz \
	/etc/freeradius/3.0/mods-available/cetbyod /etc/freeradius/3.0/sites-available/cetbyod \
	/etc/freeradius/3.0/sites-available/cetbyod-inner-tunnel /etc/freeradius/3.0/mods-config/cetbyod/acknowledgements \
	/etc/freeradius/3.0/dictionary.cetbyod /usr/share/cetbyod/schema/ldap/cetbyod.schema \
	/usr/share/cetbyod/schema/sql/cetbyod.sql /etc/logrotate.d/freeradius-cetbyod; do
	[ -e "$root$f" ] || nok "installed: $f missing"
done
ok "installed: the module, cetbyodctl and its man page, the raddb files, the schemas, the logrotate file"
enabled=$(find "$root/etc/freeradius/3.0/mods-enabled" "$root/etc/freeradius/3.0/sites-enabled" -name '*cetbyod*')
[ -z "$enabled" ] && ok "nothing enabled by the package" || nok "the package enabled: $enabled"
cin grep -q cetbyod /etc/freeradius/3.0/dictionary && nok "the package edited raddb/dictionary" || :
cin freeradius -XC >/dev/null 2>&1 && ok "stock configuration still passes freeradius -XC" || nok "stock configuration broken by the install"

# --- 2. enable, 3. serve -----------------------------------------------------
smoke enable
t_enable=$(date +%s)
smoke --netns serve 1
t_serve=$(date +%s)

# --- 4. upgrade --------------------------------------------------------------
sum_before=$(cin sh -c 'ls -l /var/lib/cetbyod; sha256sum /var/lib/cetbyod/cetbyod.db')
rm -rf "$root/root/up"
dpkg-deb -R "$deb" "$root/root/up"
sed -i 's/^Version: \(.*\)$/Version: \1+1/' "$root/root/up/DEBIAN/control"
dpkg-deb -b "$root/root/up" "$root/root/deb/upgrade.deb" >/dev/null
if cin apt-get install -y -q --no-install-recommends /root/deb/upgrade.deb >>"$log" 2>&1; then
	ok "upgrade to $(cin dpkg-query -W -f='${Version}' freeradius-cetbyod)"
else
	tail -n 20 "$log"; nok "upgrade"
fi
sum_after=$(cin sh -c 'ls -l /var/lib/cetbyod; sha256sum /var/lib/cetbyod/cetbyod.db')
[ -n "$sum_before" ] && [ "$sum_before" = "$sum_after" ] && ok "upgrade keeps /var/lib/cetbyod as it was" ||
	nok "upgrade changed /var/lib/cetbyod: $sum_before / $sum_after"
smoke --netns serve 2

# --- 5. remove, purge --------------------------------------------------------
smoke disable
cin apt-get remove -y -q freeradius-cetbyod >>"$log" 2>&1 || nok "apt-get remove"
left=$(cin sh -c 'ls /usr/lib/freeradius/rlm_cetbyod.so /usr/sbin/cetbyodctl 2>/dev/null')
[ -z "$left" ] && ok "remove: the module and cetbyodctl gone" || nok "remove left $left"
cin test -f /var/lib/cetbyod/cetbyod.db && cin test -f /etc/freeradius/3.0/mods-available/cetbyod &&
	ok "remove: the state and the conffiles kept" || nok "remove: state or conffiles gone"
cin apt-get purge -y -q freeradius-cetbyod >>"$log" 2>&1 || nok "apt-get purge"
left=$(cd "$root" && find etc usr var -xdev -name '*cetbyod*' ! -path 'var/log/freeradius/cetbyod-audit.jsonl*' \
	! -path 'var/lib/dpkg/*' ! -path 'var/cache/*' ! -path 'var/lib/apt/*' 2>/dev/null)
[ -z "$left" ] && ok "purge: nothing of ours left (the audit files kept)" || nok "purge left: $left"
cin test -d /etc/freeradius/3.0/mods-enabled && cin freeradius -XC >/dev/null 2>&1 &&
	ok "purge: FreeRADIUS's own configuration intact (freeradius -XC)" || nok "FreeRADIUS configuration broken after purge"
cin dpkg -s freeradius-cetbyod >/dev/null 2>&1 && nok "dpkg still knows freeradius-cetbyod" || :

t_end=$(date +%s)
echo "timing: $dist: build $((t_build - t0)) s, chroot and install $((t_install - t_build)) s, enable $((t_enable - t_install)) s, serve $((t_serve - t_enable)) s, upgrade, remove and purge $((t_end - t_serve)) s, total $((t_end - t0)) s"
[ $failed -eq 0 ] && echo "PASS: $dist" || echo "FAIL: $dist"
exit $failed
