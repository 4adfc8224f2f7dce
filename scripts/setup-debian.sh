#!/bin/sh
# setup-debian.sh - install everything cetbyod needs to build, test and run
# its demo on Debian 12 (bookworm) or Ubuntu, from the distribution's own
# packages.  Run as root.  Safe to run again.
#
# It enables deb-src for the distribution's main archive, because the build
# takes the FreeRADIUS headers that libfreeradius-dev does not ship from the
# Debian source package of exactly the installed FreeRADIUS version.
set -eu

if [ "$(id -u)" -ne 0 ]; then
	echo "setup-debian.sh: run this as root (it installs packages with apt-get)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive

enable_deb_src() {
	# Already enabled?  (any deb-src line or Types: deb-src stanza)
	if grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		return 0
	fi
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		# Deb822 format (Debian 12 default): add deb-src to the main archive stanza.
		awk 'BEGIN{RS="";ORS="\n\n"} /debian-security/ {next} {sub(/Types: deb/,"Types: deb-src"); print}' \
			/etc/apt/sources.list.d/debian.sources > /etc/apt/sources.list.d/cetbyod-src.sources
	elif [ -f /etc/apt/sources.list ]; then
		grep -E '^deb ' /etc/apt/sources.list | grep -v security | sed 's/^deb /deb-src /' \
			> /etc/apt/sources.list.d/cetbyod-src.list
	else
		echo "setup-debian.sh: no APT sources found to derive deb-src from" >&2
		exit 1
	fi
}

enable_deb_src
apt-get update

# clang and libclang-rt-14-dev are for the fuzzing build (CC=clang
# ./configure --enable-fuzzing, fuzz/README.md): the latter holds libFuzzer
# and clang 14's ASan and UBSan runtimes, and clang only recommends it
# (through libclang-common-14-dev).  debootstrap and lintian are for the
# Debian packages (scripts/build-deb.sh builds them in chroots it makes).
apt-get install -y --no-install-recommends \
	build-essential autoconf automake libtool pkg-config dpkg-dev ca-certificates \
	freeradius freeradius-utils freeradius-ldap libfreeradius-dev libtalloc-dev \
	libldap2-dev libcurl4-openssl-dev libssl-dev libjson-c-dev libsqlite3-dev libpq-dev \
	libicu-dev libpcre3-dev check \
	slapd ldap-utils postgresql-15 \
	eapoltest hostapd wpasupplicant iproute2 \
	python3 python3-cryptography openssl curl \
	valgrind sqlite3 xz-utils \
	clang libclang-rt-14-dev \
	debootstrap lintian

# The Debian packages start daemons we do not use: the tests and the demo run
# their own radiusd, slapd, hostapd and PostgreSQL (tests/pg/pg-fixture.sh) on
# loopback ports.  Stop the packaged
# ones where an init system runs them so their ports are free.
for svc in freeradius slapd hostapd postgresql; do
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
		systemctl stop "$svc" || true
	fi
done
exit 0
