#!/bin/sh
# deb-chroot.sh - Debian chroots for scripts/build-deb.sh and
# tests/deb/test_deb.sh (sourced, not run).
#
# A minbase chroot per distribution is made once with debootstrap from
# http://deb.debian.org/debian (the only network use: it and the chroots'
# apt-get), kept as _build/chroots/DIST-base.tar.gz and reused while younger
# than CETBYOD_CHROOT_MAX_AGE_DAYS (default 7).  Every build and every test
# unpacks a fresh copy.  Callers set a trap that runs deb_chroot_cleanup, so
# /proc is unmounted and the copy removed also on failure.

DEB_MIRROR=http://deb.debian.org/debian
DEB_TOP=${DEB_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
DEB_CHROOTS=$DEB_TOP/_build/chroots
DEB_CHROOT_DIRS=

# deb_dist_ok DIST - only the two distributions this is made for.
deb_dist_ok() {
	case $1 in
	bookworm | trixie) return 0 ;;
	*) echo "unknown distribution '$1' (bookworm or trixie)" >&2; return 1 ;;
	esac
}

# deb_start NAME WHY ARG... - the callers' one argument, DIST, checked
# (exits 2 when wrong), and root required (WHY needs it): sets dist.
deb_start() {
	name=$1
	why=$2
	shift 2
	[ $# -eq 1 ] || { echo "usage: $name bookworm|trixie" >&2; exit 2; }
	deb_dist_ok "$1" || exit 2
	[ "$(id -u)" -eq 0 ] || { echo "$name: run as root ($why)" >&2; exit 1; }
	dist=$1
}

# deb_base_tarball DIST - print the base tarball's path, made when missing or
# older than the limit.  debootstrap is bounded (15 minutes), and a lock
# keeps two callers from making the same one.
deb_base_tarball() {
	dist=$1
	tarball=$DEB_CHROOTS/$dist-base.tar.gz
	age=${CETBYOD_CHROOT_MAX_AGE_DAYS:-7}
	mkdir -p "$DEB_CHROOTS"
	(
		flock -w 1200 9 || { echo "deb-chroot: $tarball is locked" >&2; exit 1; }
		if [ -f "$tarball" ] && [ -n "$(find "$tarball" -mtime -"$age")" ]; then
			exit 0
		fi
		tmp=$DEB_CHROOTS/$dist-debootstrap
		rm -rf --one-file-system "$tmp"
		start=$(date +%s)
		echo "deb-chroot: debootstrap --variant=minbase $dist from $DEB_MIRROR" >&2
		if ! timeout 900 debootstrap --variant=minbase "$dist" "$tmp" "$DEB_MIRROR" >"$DEB_CHROOTS/$dist-debootstrap.log" 2>&1; then
			tail -n 30 "$DEB_CHROOTS/$dist-debootstrap.log" >&2
			rm -rf --one-file-system "$tmp"
			echo "deb-chroot: debootstrap $dist failed or took over 15 minutes" >&2
			exit 1
		fi
		rm -f "$tmp"/var/cache/apt/archives/*.deb
		tar -C "$tmp" -czf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
		rm -rf --one-file-system "$tmp"
		echo "deb-chroot: timing: debootstrap $dist $(( $(date +%s) - start )) s" >&2
	) 9>"$DEB_CHROOTS/$dist.lock" || return 1
	echo "$tarball"
}

# deb_chroot_new DIST DIR - a fresh chroot in DIR from the base tarball, with
# the distribution's updates and security archives and their sources, and a
# policy-rc.d that keeps packages from starting daemons (a freeradius
# started there would listen on the host's ports).  /proc is mounted.
deb_chroot_new() {
	dist=$1
	dir=$2
	tarball=$(deb_base_tarball "$dist") || return 1
	deb_chroot_remove "$dir"
	mkdir -p "$dir"
	DEB_CHROOT_DIRS="$DEB_CHROOT_DIRS $dir"
	tar -C "$dir" -xzf "$tarball"
	cat > "$dir/etc/apt/sources.list" <<SRC
deb $DEB_MIRROR $dist main
deb $DEB_MIRROR $dist-updates main
deb http://deb.debian.org/debian-security $dist-security main
deb-src $DEB_MIRROR $dist main
deb-src $DEB_MIRROR $dist-updates main
deb-src http://deb.debian.org/debian-security $dist-security main
SRC
	printf '#!/bin/sh\nexit 101\n' > "$dir/usr/sbin/policy-rc.d"
	chmod 755 "$dir/usr/sbin/policy-rc.d"
	cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || :
	mount -t proc proc "$dir/proc"
}

# deb_in DIR CMD... - run CMD in the chroot with a clean environment.
deb_in() {
	dir=$1
	shift
	chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
		DEBIAN_FRONTEND=noninteractive "$@"
}

# deb_in_netns DIR CMD... - run CMD in the chroot in new network, PID and
# mount namespaces: only lo, up (nothing touches the host's ports), and
# /proc of its own.  It runs in the background so that the callers' traps
# run at once on a signal; deb_chroot_cleanup then ends it, and with it,
# through the PID namespace, everything it started.
DEB_NETNS_PID=
deb_in_netns() {
	dir=$1
	shift
	unshare --net --pid --mount --kill-child sh -c 'ip link set lo up && mount -t proc proc "$0/proc" &&
		exec chroot "$0" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"' \
		"$dir" "$@" &
	DEB_NETNS_PID=$!
	rc=0
	wait "$DEB_NETNS_PID" || rc=$?
	DEB_NETNS_PID=
	return $rc
}

# deb_chroot_remove DIR - unmount what is mounted below DIR and remove it.
deb_chroot_remove() {
	dir=$1
	[ -d "$dir" ] || return 0
	for m in "$dir/dev/pts" "$dir/proc"; do
		if mountpoint -q "$m" 2>/dev/null; then
			umount "$m" || umount -l "$m"
		fi
	done
	rm -rf --one-file-system "$dir"
}

# deb_chroot_cleanup - for the callers' trap: every chroot made here.
deb_chroot_cleanup() {
	if [ -n "$DEB_NETNS_PID" ]; then
		kill "$DEB_NETNS_PID" 2>/dev/null
		wait "$DEB_NETNS_PID" 2>/dev/null
		DEB_NETNS_PID=
	fi
	for d in $DEB_CHROOT_DIRS; do
		if [ -n "${CETBYOD_KEEP_CHROOT:-}" ]; then
			for m in "$d/dev/pts" "$d/proc"; do
				mountpoint -q "$m" 2>/dev/null && umount "$m"
			done
			echo "deb-chroot: kept $d" >&2
		else
			deb_chroot_remove "$d"
		fi
	done
	DEB_CHROOT_DIRS=
}
