#!/bin/bash
# nas-fixture.sh - a real 802.1X NAS and staff device for the tests: hostapd
# (driver=wired) on one end of a veth pair, wpa_supplicant (-D wired) on the
# other, both with their control sockets in the caller's directory.
#
#   nas-fixture.sh start DIR --auth-port P --acct-port P --secret S \
#                            --das-port P --das-secret S --network FILE \
#                            [--nas-identifier ID]
#                            [--secondary-auth-port P --secondary-acct-port P]
#                            [--retry-primary-interval SECONDS]
#   nas-fixture.sh stop DIR
#   nas-fixture.sh status DIR
#
# DIR is a directory the caller owns (mktemp -d).  start creates a veth pair
# with unique names (cbv<6 hex>a, cbv<6 hex>b), brings both ends up, starts
# hostapd on the "a" end as the NAS -- RADIUS authentication and accounting
# to 127.0.0.1 with the given ports and secret, its RFC 5176 DAS on the given
# port accepting only 127.0.0.1 with its own secret, Event-Timestamp and
# Message-Authenticator required -- and wpa_supplicant on the "b" end with
# the network block in FILE (EAP-TTLS/PAP or PEAP, chosen by the caller).
# (hostapd 2.10 has no bind address for its DAS: it listens on the port on
# every address, and answers only radius_das_client, 127.0.0.1.)
# With --secondary-auth-port and --secondary-acct-port, hostapd has a second
# RADIUS server on 127.0.0.1 (the same secret) for authentication and for
# accounting, and fails over to it as hostapd 2.10 does: once a request has
# gone unanswered four times (3 + 6 + 12 + 24 s: about 45 s); with
# --retry-primary-interval, it goes back to the first server after that many
# seconds.  Both servers send their Disconnect-Requests from 127.0.0.1, the
# one radius_das_client hostapd 2.10 holds.
#
# It records what it made in DIR: ifaces (the two interface names),
# hostapd.pid, wpa_supplicant.pid, hostapd.conf, wpa_supplicant.conf, their
# logs (hostapd.log, wpa_supplicant.log), the control directories
# (hostapd-ctrl, wpa-ctrl), and env, a file to source:
#   NAS_IF, STA_IF, HOSTAPD_CTRL, WPA_CTRL, HOSTAPD_LOG, WPA_LOG,
#   NAS_DAS_PORT, NAS_IDENTIFIER
# Observe with  hostapd_cli -p "$HOSTAPD_CTRL" -i "$NAS_IF" all_sta  and
# wpa_cli -p "$WPA_CTRL" -i "$STA_IF" status.
#
# stop ends only the processes whose PIDs it recorded (and only while their
# command line still names DIR), and deletes only the veth pair it recorded.
# A failed start cleans up after itself.  Needs root.  Every wait is bounded.
set -u

fixture_die() {
	echo "nas-fixture: $*" >&2
	exit 1
}

fixture_usage() {
	sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 64
}

# fixture_is_ours PID DIR - whether PID is alive and its command line names DIR.
fixture_is_ours() {
	pid=$1
	dir=$2
	case $pid in ''|*[!0-9]*) return 1 ;; esac
	[ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/"
}

# fixture_stop_pid FILE DIR - stop the process recorded in FILE (TERM, then KILL after 5 s).
fixture_stop_pid() {
	file=$1
	dir=$2
	[ -f "$file" ] || return 0
	pid=$(head -n 1 "$file")
	if fixture_is_ours "$pid" "$dir"; then
		kill "$pid" 2>/dev/null
		for _ in $(seq 1 50); do
			fixture_is_ours "$pid" "$dir" || break
			sleep 0.1
		done
		if fixture_is_ours "$pid" "$dir"; then
			kill -9 "$pid" 2>/dev/null
		fi
	fi
	rm -f "$file"
}

fixture_stop() {
	dir=$1
	fixture_stop_pid "$dir/wpa_supplicant.pid" "$dir"
	fixture_stop_pid "$dir/hostapd.pid" "$dir"
	if [ -f "$dir/ifaces" ]; then
		read -r nas_if _ < "$dir/ifaces"
		case $nas_if in
		cbv[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]a)
			# Deleting one end of a veth pair deletes the other.
			if ip link show dev "$nas_if" >/dev/null 2>&1; then
				ip link del dev "$nas_if" 2>/dev/null || echo "nas-fixture: could not delete $nas_if" >&2
			fi
			;;
		*)
			echo "nas-fixture: $dir/ifaces does not name a pair this fixture makes; left alone" >&2
			;;
		esac
		rm -f "$dir/ifaces"
	fi
	return 0
}

# fixture_wait_ping CLI CTRL IFACE PID NAME - wait (10 s) for the control socket to answer.
fixture_wait_ping() {
	cli=$1
	ctrl=$2
	iface=$3
	pid=$4
	name=$5
	for _ in $(seq 1 100); do
		if [ -S "$ctrl/$iface" ] && [ "$("$cli" -p "$ctrl" -i "$iface" ping 2>/dev/null)" = PONG ]; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || {
			echo "nas-fixture: $name exited during start-up:" >&2
			return 1
		}
		sleep 0.1
	done
	echo "nas-fixture: $name did not answer on $ctrl within 10 s" >&2
	return 1
}

# fixture_check_value NAME VALUE - config values must be one line without '#'.
fixture_check_value() {
	case $2 in
	'') fixture_die "$1 is empty" ;;
	*"
"*|*'#'*) fixture_die "$1 must be one line without '#'" ;;
	esac
}

fixture_start() {
	dir=$1
	shift
	auth_port= acct_port= secret= das_port= das_secret= network= nas_id=cetbyod-test-nas
	auth_port2= acct_port2= retry_primary=
	while [ $# -gt 0 ]; do
		[ $# -ge 2 ] || fixture_die "$1 needs a value"
		case $1 in
		--auth-port) auth_port=$2 ;;
		--acct-port) acct_port=$2 ;;
		--secret) secret=$2 ;;
		--das-port) das_port=$2 ;;
		--das-secret) das_secret=$2 ;;
		--network) network=$2 ;;
		--nas-identifier) nas_id=$2 ;;
		--secondary-auth-port) auth_port2=$2 ;;
		--secondary-acct-port) acct_port2=$2 ;;
		--retry-primary-interval) retry_primary=$2 ;;
		*) fixture_die "unknown option $1" ;;
		esac
		shift 2
	done
	for p in "$auth_port" "$acct_port" "$das_port"; do
		case $p in ''|*[!0-9]*) fixture_die "ports must be numbers (got '$p')" ;; esac
	done
	for p in "$auth_port2" "$acct_port2" "$retry_primary"; do
		case $p in *[!0-9]*) fixture_die "the secondary ports and --retry-primary-interval are numbers (got '$p')" ;; esac
	done
	if { [ -n "$auth_port2" ] && [ -z "$acct_port2" ]; } || { [ -z "$auth_port2" ] && [ -n "$acct_port2" ]; }; then
		fixture_die "--secondary-auth-port and --secondary-acct-port go together"
	fi
	fixture_check_value --secret "$secret"
	fixture_check_value --das-secret "$das_secret"
	fixture_check_value --nas-identifier "$nas_id"
	[ -r "$network" ] || fixture_die "--network: cannot read '$network'"
	[ "$(id -u)" = 0 ] || fixture_die "needs root (veth pair, raw 802.1X sockets)"
	for c in ip hostapd wpa_supplicant hostapd_cli wpa_cli; do
		command -v "$c" >/dev/null 2>&1 || fixture_die "$c not found"
	done
	[ -d "$dir" ] || fixture_die "$dir is not a directory"
	dir=$(cd "$dir" && pwd)
	[ ! -f "$dir/ifaces" ] || fixture_die "$dir already holds a running fixture (stop it first)"

	# From here on, any failure undoes what was done.
	trap 'fixture_stop "$dir"' EXIT
	trap 'exit 1' INT TERM

	made=
	for _ in 1 2 3 4 5; do
		r=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
		nas_if=cbv${r}a
		sta_if=cbv${r}b
		ip link show dev "$nas_if" >/dev/null 2>&1 && continue
		ip link show dev "$sta_if" >/dev/null 2>&1 && continue
		if ip link add "$nas_if" type veth peer name "$sta_if"; then
			made=yes
			break
		fi
	done
	[ -n "$made" ] || fixture_die "could not create a veth pair"
	echo "$nas_if $sta_if" > "$dir/ifaces"
	ip link set dev "$nas_if" up || fixture_die "cannot bring $nas_if up"
	ip link set dev "$sta_if" up || fixture_die "cannot bring $sta_if up"

	mkdir -p "$dir/hostapd-ctrl" "$dir/wpa-ctrl"
	cat > "$dir/hostapd.conf" <<EOF
# hostapd as a wired 802.1X NAS for the cetbyod tests (made by nas-fixture.sh).
interface=$nas_if
driver=wired
ctrl_interface=$dir/hostapd-ctrl
logger_stdout=-1
logger_stdout_level=1
ieee8021x=1
eapol_version=2
use_pae_group_addr=1
eap_reauth_period=0
own_ip_addr=127.0.0.1
nas_identifier=$nas_id
auth_server_addr=127.0.0.1
auth_server_port=$auth_port
auth_server_shared_secret=$secret
acct_server_addr=127.0.0.1
acct_server_port=$acct_port
acct_server_shared_secret=$secret
radius_das_port=$das_port
radius_das_client=127.0.0.1 $das_secret
radius_das_require_event_timestamp=1
radius_das_require_message_authenticator=1
EOF
	if [ -n "$auth_port2" ]; then
		cat >> "$dir/hostapd.conf" <<EOF
# The secondary RADIUS server: a second auth_server_addr and acct_server_addr.
auth_server_addr=127.0.0.1
auth_server_port=$auth_port2
auth_server_shared_secret=$secret
acct_server_addr=127.0.0.1
acct_server_port=$acct_port2
acct_server_shared_secret=$secret
EOF
	fi
	[ -z "$retry_primary" ] || echo "radius_retry_primary_interval=$retry_primary" >> "$dir/hostapd.conf"
	hostapd -t -d "$dir/hostapd.conf" > "$dir/hostapd.log" 2>&1 &
	echo $! > "$dir/hostapd.pid"
	if ! fixture_wait_ping hostapd_cli "$dir/hostapd-ctrl" "$nas_if" "$(cat "$dir/hostapd.pid")" hostapd; then
		tail -n 30 "$dir/hostapd.log" >&2
		exit 1
	fi

	{
		echo "# wpa_supplicant as a staff device for the cetbyod tests (made by nas-fixture.sh)."
		echo "ctrl_interface=$dir/wpa-ctrl"
		echo "ap_scan=0"
		cat "$network"
	} > "$dir/wpa_supplicant.conf"
	wpa_supplicant -t -d -D wired -i "$sta_if" -c "$dir/wpa_supplicant.conf" > "$dir/wpa_supplicant.log" 2>&1 &
	echo $! > "$dir/wpa_supplicant.pid"
	if ! fixture_wait_ping wpa_cli "$dir/wpa-ctrl" "$sta_if" "$(cat "$dir/wpa_supplicant.pid")" wpa_supplicant; then
		tail -n 30 "$dir/wpa_supplicant.log" >&2
		exit 1
	fi

	cat > "$dir/env" <<EOF
NAS_IF='$nas_if'
STA_IF='$sta_if'
HOSTAPD_CTRL='$dir/hostapd-ctrl'
WPA_CTRL='$dir/wpa-ctrl'
HOSTAPD_LOG='$dir/hostapd.log'
WPA_LOG='$dir/wpa_supplicant.log'
NAS_DAS_PORT='$das_port'
NAS_IDENTIFIER='$nas_id'
EOF
	trap - EXIT INT TERM
	echo "nas-fixture: hostapd on $nas_if (DAS port $das_port), wpa_supplicant on $sta_if"
}

fixture_status() {
	dir=$1
	rc=0
	[ -f "$dir/env" ] || { echo "nas-fixture: not started in $dir"; return 1; }
	. "$dir/env"
	for p in hostapd wpa_supplicant; do
		pid=$(head -n 1 "$dir/$p.pid" 2>/dev/null)
		if fixture_is_ours "$pid" "$dir"; then
			echo "$p: running (pid $pid)"
		else
			echo "$p: not running"
			rc=1
		fi
	done
	for i in "$NAS_IF" "$STA_IF"; do
		if ip link show dev "$i" >/dev/null 2>&1; then
			echo "$i: present"
		else
			echo "$i: missing"
			rc=1
		fi
	done
	echo "--- hostapd_cli all_sta"
	timeout 5 hostapd_cli -p "$HOSTAPD_CTRL" -i "$NAS_IF" all_sta 2>&1
	echo "--- wpa_cli status"
	timeout 5 wpa_cli -p "$WPA_CTRL" -i "$STA_IF" status 2>&1
	return $rc
}

[ $# -ge 2 ] || fixture_usage
cmd=$1
dir=$2
shift 2
case $cmd in
start) fixture_start "$dir" "$@" ;;
stop) [ -d "$dir" ] || fixture_die "$dir is not a directory"; fixture_stop "$(cd "$dir" && pwd)" ;;
status) fixture_status "$dir" ;;
*) fixture_usage ;;
esac
