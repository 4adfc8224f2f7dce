# lib.sh - shared helpers of the integration tests (sourced, POSIX sh + bash).
#
# Each test gets a temporary directory with a test CA, a raddb built from
# the project's raddb/ files (plus the stock FreeRADIUS modules it needs),
# and a real radiusd -X on free loopback ports.  Everything a test started
# is stopped by PID, and the directory removed, when the test exits, also on
# failure; radiusd's debug output is printed when any check failed.
#
# The test runner (make check) sets srcdir and top_builddir-relative paths.
set -u
CB_SRCDIR=$(cd "${srcdir:-.}" && pwd)
CB_BUILDDIR=$(pwd)
. "$CB_BUILDDIR/tests/integration/env.sh"

# radclient's -r (tries) for a request that must be answered.  Debian 13's
# radclient (FreeRADIUS 3.2.7) with -r 1 sets its give-up time to the
# second it sent in: when the clock passes a whole second before its first
# wait, it exits 0 at once, printing neither a reply nor "No reply" (seen
# on a loaded machine; 3.2.1 waits the -t timeout).  With -r 2 it waits the
# timeout, then sends once more.  3.2.1's keeps one try, so that the
# whole suite there sees each request sent once, as before.
case $("$RADCLIENT" -v 2>&1) in
*'version 3.2.1,'*) CB_RC_TRIES=1 ;;
*) CB_RC_TRIES=2 ;;
esac

CB_PASSED=0
CB_FAILED=0
CB_PIDS=""
CB_TMP=$(mktemp -d /tmp/cetbyod-test.XXXXXX)

cb_pass() { CB_PASSED=$((CB_PASSED + 1)); echo "ok - $*"; }
CB_FAILURES=
cb_fail() {
	CB_FAILED=$((CB_FAILED + 1))
	CB_FAILURES="$CB_FAILURES
not ok - $*"
	echo "not ok - $*"
}

# cb_run WHAT COMMAND... - run an admin's COMMAND (its stdout dropped) as
# a step of the check WHAT: when it exits non-zero the check fails there,
# naming the exit code and showing what it printed on stderr, instead of a
# later check failing for a step that never happened.
cb_run() {
	cb_run_what=$1
	shift
	"$@" >/dev/null 2>"$CB_TMP/cb_run.err"
	cb_run_rc=$?
	if [ "$cb_run_rc" -eq 0 ]; then
		cat "$CB_TMP/cb_run.err" >&2
		return 0
	fi
	cb_fail "$cb_run_what: $(basename "$1") exited $cb_run_rc"
	sed 's/^/    # /' "$CB_TMP/cb_run.err"
	return "$cb_run_rc"
}

# cb_own_child PID - true when PID is still a process this shell started
# (its parent is this shell).  A PID recorded earlier may have ended and,
# since the system reuses PIDs, may now belong to a stranger: never signal
# it then.
cb_own_child() {
	[ "$(ps -o ppid= -p "$1" 2>/dev/null | tr -d ' ')" = "$$" ]
}

# cb_forget_pid PID - take PID out of the list cb_cleanup stops.
cb_forget_pid() {
	CB_PIDS=$(printf '%s\n' $CB_PIDS | grep -vx -- "$1" | tr '\n' ' ')
}

cb_cleanup() {
	cb_stop_radiusd
	for pid in $CB_PIDS; do
		cb_own_child "$pid" && kill "$pid" 2>/dev/null
	done
	for pid in $CB_PIDS; do
		for _ in $(seq 1 50); do
			cb_own_child "$pid" || break
			sleep 0.1
		done
		cb_own_child "$pid" && kill -9 "$pid" 2>/dev/null
	done
	if [ "$CB_FAILED" -gt 0 ] && [ -f "$CB_TMP/radiusd.out" ]; then
		echo "---- radiusd output (last 300 lines) ----"
		tail -n 300 "$CB_TMP/radiusd.out"
		echo "---- end of radiusd output ----"
	fi
	# Repeated last, where the tail of a long log shows them.
	[ "$CB_FAILED" -gt 0 ] && printf 'failed checks:%s\n' "$CB_FAILURES"
	rm -rf "$CB_TMP"
}
trap cb_cleanup EXIT
trap 'exit 1' INT TERM

# cb_start_smtp_sink - the loopback SMTP listener (tests/smtp/smtp-sink.py)
# writing each message it accepts into $CB_TMP/mail; its port goes to
# CB_SMTP_PORT and its PID to CB_PIDS (stopped by cb_cleanup).  1 when it
# did not start within 5 s.
cb_start_smtp_sink() {
	mkdir -p "$CB_TMP/mail"
	/usr/bin/python3 "$CB_SRCDIR/tests/smtp/smtp-sink.py" --outdir "$CB_TMP/mail" --port 0 \
		--port-file "$CB_TMP/sink.port" --log "$CB_TMP/sink.log" &
	CB_PIDS="$CB_PIDS $!"
	for _ in $(seq 1 50); do [ -s "$CB_TMP/sink.port" ] && break; sleep 0.1; done
	[ -s "$CB_TMP/sink.port" ] || return 1
	CB_SMTP_PORT=$(cat "$CB_TMP/sink.port")
}

# cb_finish - stop radiusd (a crash or a sanitizer report is a failure),
# print the totals and exit non-zero when anything failed.
cb_finish() {
	cb_stop_radiusd
	cb_check_sanitizers "$CB_TMP/radiusd.out" radiusd
	echo "$CB_PASSED passed, $CB_FAILED failed"
	[ "$CB_FAILED" -eq 0 ]
	exit $?
}

# cb_check_sanitizers FILE WHAT - a failure when FILE (a server's output)
# holds an AddressSanitizer, LeakSanitizer or UndefinedBehaviorSanitizer
# report.
cb_check_sanitizers() {
	[ -f "$1" ] || return 0
	if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$1"; then
		cb_fail "$2 left a sanitizer report"
		grep -E -A 20 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$1" | head -n 60 | sed 's/^/    # /'
		return 1
	fi
}

# cb_free_udp_port - a UDP port on 127.0.0.1 that nothing is bound to now.
cb_free_udp_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# cb_make_certs DIR - a test CA and a server certificate for EAP.
cb_make_certs() {
	d=$1
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=cetbyod test CA" \
		-keyout "$d/ca.key" -out "$d/ca.pem" >/dev/null 2>&1 || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=radius.test" \
		-keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1 || return 1
	printf 'extendedKeyUsage = serverAuth\nsubjectAltName = DNS:radius.test\n' > "$d/ext.cnf"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
		-days 30 -extfile "$d/ext.cnf" -out "$d/server.pem" >/dev/null 2>&1 || return 1
	openssl dhparam -dsaparam -out "$d/dh" 1024 >/dev/null 2>&1 || true
	chmod 600 "$d"/*.key
}

# cb_make_raddb USERS_FILE ACK_FILE [MODULE_CONF] - build $CB_TMP/raddb.
#   USERS_FILE: the users file (authorize) for the files module.
#   ACK_FILE: the acknowledgements file for the cetbyod module.
#   MODULE_CONF: the module configuration (default: the project's, with the
#   filename pointing at ACK_FILE).
cb_make_raddb() {
	users=$1
	acks=$2
	modconf=${3:-}
	stock=$FR_RADDBDIR
	r=$CB_TMP/raddb

	mkdir -p "$r/mods-enabled" "$r/sites-enabled" "$r/mods-config/files" "$CB_TMP/log" "$CB_TMP/run" "$CB_TMP/radacct" \
		"$CB_TMP/lib/cetbyod"
	cb_make_certs "$CB_TMP/certs" || { echo "cannot make test certificates" >&2; return 1; }
	cp -r "$stock/mods-available" "$stock/policy.d" "$r/"
	cp -r "$stock/mods-config/attr_filter" "$stock/mods-config/preprocess" "$r/mods-config/"
	libdir="$CB_BUILDDIR/.libs:$FR_MODULEDIR"
	sed -e "s|@TMP@|$CB_TMP|g" -e "s|@LIBDIR@|$libdir|g" "$CB_SRCDIR/tests/integration/raddb/radiusd.conf.in" > "$r/radiusd.conf"
	cp "$CB_SRCDIR/tests/integration/raddb/clients.conf" "$r/clients.conf"
	cp "$CB_SRCDIR/raddb/dictionary.cetbyod" "$r/dictionary.cetbyod"
	echo '$INCLUDE dictionary.cetbyod' > "$r/dictionary"
	cp "$CB_SRCDIR/tests/integration/raddb/eap" "$r/mods-available/eap"
	mkdir -p "$r/mods-config/cetbyod"
	cp "$CB_SRCDIR/raddb/mods-config/cetbyod/reminder.txt" "$r/mods-config/cetbyod/reminder.txt"
	cp "$users" "$r/mods-config/files/authorize"
	: > "$r/mods-config/files/accounting"
	: > "$r/mods-config/files/pre-proxy"
	if [ -n "$modconf" ]; then
		cp "$modconf" "$r/mods-available/cetbyod"
	else
		sed -e "s|filename = \${modconfdir}/cetbyod/acknowledgements|filename = $acks|" \
			-e 's|check_interval = 5|check_interval = 1|' \
			"$CB_SRCDIR/raddb/mods-available/cetbyod" > "$r/mods-available/cetbyod"
	fi
	for m in always attr_filter expr preprocess files pap mschap eap replicate cetbyod; do
		ln -s ../mods-available/$m "$r/mods-enabled/$m"
	done
	CB_AUTH_PORT=$(cb_free_udp_port)
	CB_ACCT_PORT=$(cb_free_udp_port)
	while [ "$CB_ACCT_PORT" = "$CB_AUTH_PORT" ]; do CB_ACCT_PORT=$(cb_free_udp_port); done
	sed -e "s|ipaddr = \*|ipaddr = 127.0.0.1|" -e "s|port = 1812|port = $CB_AUTH_PORT|" \
		-e "s|port = 1813|port = $CB_ACCT_PORT|" \
		"$CB_SRCDIR/raddb/sites-available/cetbyod" > "$r/sites-enabled/cetbyod"
	cp "$CB_SRCDIR/raddb/sites-available/cetbyod-inner-tunnel" "$r/sites-enabled/cetbyod-inner-tunnel"
}

# cb_radiusd_env - the environment radiusd runs in.  Under the sanitizer
# build the module needs the ASan runtime preloaded, and radiusd's
# RTLD_DEEPBIND (which ASan refuses) is taken out by a small preloaded test
# shim.  The order of LD_PRELOAD matters.  A preloaded ASan runtime is
# initialised lazily, by the first malloc, and the constructors of the
# libraries radiusd links run before it: libgpg-error's (through libsystemd
# and libgcrypt) calls bindtextdomain, whose malloc, made while it holds
# glibc's _nl_state_lock for writing, is the first one; ASan's start-up
# calls dlerror, which takes and releases the same lock as a reader.  The
# writer's lock is released by the reader's unlock and the reader count
# ends at -1: every later bindtextdomain (GnuTLS's constructor in the
# module's dlopen, libpq's first connection) then waits for ever.  Libraries
# preloaded ahead of the ASan runtime are initialised after it, so the
# libraries whose constructors call bindtextdomain (libgpg-error, GnuTLS
# pulled in by libldap) come first in LD_PRELOAD and ASan is up before them.
cb_radiusd_env() {
	if [ -n "$LIBASAN" ]; then
		nls=$( { ldd "$RADIUSD"; ldd "$CB_BUILDDIR/.libs/rlm_cetbyod.so"; } 2>/dev/null |
			awk '/libgpg-error|libgnutls/ && $3 ~ /^\// && !seen[$3]++ { printf "%s:", $3 }')
		echo "LD_PRELOAD=$nls$CB_BUILDDIR/tests/integration/.libs/libnodeepbind.so:$LIBASAN" \
			"ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0:abort_on_error=1" \
			"UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
	fi
}

# cb_start_radiusd - start radiusd -X in the background; wait until it serves.
# Its output is appended to $CB_TMP/radiusd.out, so a restarted radiusd
# keeps the history of the ones before it.
cb_start_radiusd() {
	touch "$CB_TMP/radiusd.out"
	from=$(( $(wc -l < "$CB_TMP/radiusd.out") + 1 ))
	env $(cb_radiusd_env) "$RADIUSD" -X -d "$CB_TMP/raddb" >> "$CB_TMP/radiusd.out" 2>&1 &
	cb_radiusd_wait_ready $! "$from"
}

# cb_radiusd_wait_ready PID FROM - record PID as the test's radiusd and wait
# (15 s at most) until its output from line FROM on says it serves.  1 when
# it ended during start-up (its status is collected then, so that the
# failure is reported once) or did not become ready.
cb_radiusd_wait_ready() {
	CB_RADIUSD_PID=$1
	CB_PIDS="$CB_PIDS $CB_RADIUSD_PID"
	for _ in $(seq 1 150); do
		if tail -n "+$2" "$CB_TMP/radiusd.out" | grep -q "Ready to process requests"; then
			return 0
		fi
		if ! cb_own_child "$CB_RADIUSD_PID"; then
			wait "$CB_RADIUSD_PID" 2>/dev/null
			rc=$?
			echo "radiusd exited during start-up (status $rc):" >&2
			# Refusing to start is an exit with a message, never a crash.
			[ $rc -gt 128 ] && cb_fail "radiusd ended by signal $((rc - 128)) during start-up"
			tail -n 40 "$CB_TMP/radiusd.out" >&2
			cb_forget_pid "$CB_RADIUSD_PID"
			CB_RADIUSD_PID=
			return 1
		fi
		sleep 0.1
	done
	echo "radiusd did not become ready within 15 s" >&2
	return 1
}

# cb_radiusd_check OUT - radiusd -XC (check the configuration, then exit)
# on the test's raddb, its output in OUT; returns radiusd's exit status. A
# refused configuration is an exit with a message: ending by a signal (a
# crash on the way out) is a failure of its own.
cb_radiusd_check() {
	env $(cb_radiusd_env) "$RADIUSD" -XC -d "$CB_TMP/raddb" > "$1" 2>&1
	rc=$?
	if [ $rc -gt 128 ]; then
		cb_fail "radiusd -XC ended by signal $((rc - 128))"
		tail -n 5 "$1" | sed 's/^/    # /'
	fi
	return $rc
}

# cb_stop_radiusd - stop the radiusd this test started, and check how it
# ended: SIGTERM (ours) or a clean exit is fine; any other signal (SIGSEGV,
# SIGABRT from a sanitizer, ...) or an exit before we asked is a failure.
cb_stop_radiusd() {
	[ -n "${CB_RADIUSD_PID:-}" ] || return 0
	pid=$CB_RADIUSD_PID
	CB_RADIUSD_PID=
	cb_forget_pid "$pid"
	if ! cb_own_child "$pid"; then
		wait "$pid" 2>/dev/null
		cb_fail "radiusd (pid $pid) ended before the test stopped it (exit status $?)"
		return 1
	fi
	kill "$pid" 2>/dev/null
	for _ in $(seq 1 50); do
		cb_own_child "$pid" || break
		sleep 0.1
	done
	if cb_own_child "$pid"; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		cb_fail "radiusd (pid $pid) did not stop within 5 s of SIGTERM"
		return 1
	fi
	wait "$pid" 2>/dev/null
	rc=$?
	case $rc in
	0 | 143) return 0 ;;
	esac
	cb_fail "radiusd (pid $pid) ended with status $rc after SIGTERM (signal $((rc - 128)) if over 128)"
	return 1
}

# cb_pap USER PASSWORD - send an Access-Request; the reply (radclient -x) is in $CB_REPLY.
cb_pap() {
	CB_REPLY=$(printf 'User-Name = "%s"\nUser-Password = "%s"\nNAS-IP-Address = 127.0.0.1\n' "$1" "$2" |
		"$RADCLIENT" -x -r "$CB_RC_TRIES" -t 3 "127.0.0.1:$CB_AUTH_PORT" auth testing123 2>&1)
}

# cb_pap_raw FILE - send the attributes in FILE (radclient syntax).
cb_pap_raw() {
	CB_REPLY=$("$RADCLIENT" -x -r "$CB_RC_TRIES" -t 3 -f "$1" "127.0.0.1:$CB_AUTH_PORT" auth testing123 2>&1)
}

# cb_expect_reply DESCRIPTION PATTERN... - every grep -E pattern must match $CB_REPLY.
cb_expect_reply() {
	desc=$1
	shift
	for pat in "$@"; do
		if ! printf '%s\n' "$CB_REPLY" | grep -Eq -- "$pat"; then
			cb_fail "$desc: reply lacks /$pat/"
			printf '%s\n' "$CB_REPLY" | sed 's/^/    # /'
			return 1
		fi
	done
	cb_pass "$desc"
}

# cb_eapol METHOD USER PASSWORD - run eapol_test with an anonymous outer
# identity (METHOD: PEAP or TTLS); its output is in $CB_REPLY.
cb_eapol() {
	method=$1
	user=$2
	pass=$3
	conf=$CB_TMP/eapol-$method-$user.conf
	if [ "$method" = PEAP ]; then
		phase2='auth=MSCHAPV2'
	else
		phase2='auth=PAP'
	fi
	cat > "$conf" <<EOC
network={
	ssid="cetbyod-test"
	key_mgmt=WPA-EAP
	eap=$method
	identity="$user"
	anonymous_identity="anonymous@school.example"
	password="$pass"
	ca_cert="$CB_TMP/certs/ca.pem"
	phase2="$phase2"
}
EOC
	CB_REPLY=$(timeout 30 "$EAPOL_TEST" -c "$conf" -a 127.0.0.1 -p "$CB_AUTH_PORT" -s testing123 -r 0 -t 10 2>&1)
}

# cb_expect_not DESCRIPTION PATTERN - the grep -E pattern must not match $CB_REPLY.
cb_expect_not() {
	if printf '%s\n' "$CB_REPLY" | grep -Eq -- "$2"; then
		cb_fail "$1: reply has /$2/"
		printf '%s\n' "$CB_REPLY" | sed 's/^/    # /'
		return 1
	fi
	cb_pass "$1"
}

# --- A small file system a test fills (the disk-full tests) -------------------

# cb_wait_until SECONDS COMMAND... - run COMMAND every 0.2 s until it
# succeeds or SECONDS pass.  Returns its last status.
cb_wait_until() {
	cb_wu_limit=$(( $(date +%s%3N) + $1 * 1000 ))
	shift
	while :; do
		"$@" && return 0
		[ "$(date +%s%3N)" -ge "$cb_wu_limit" ] && return 1
		sleep 0.2
	done
}

# cb_tmpfs_mount DIR SIZE WHAT - mount a tmpfs of SIZE (mount's size=) on
# DIR.  Needs root: when the mount is refused the test FAILS (it does not
# skip: the disk-full behaviour would be untested), naming WHAT.
cb_tmpfs_mount() {
	mkdir -p "$1"
	if ! cb_mout=$(mount -t tmpfs -o "size=$2,mode=0755" cetbyod-testfs "$1" 2>&1); then
		cb_mout=$(printf '%s' "$cb_mout" | tr -s '\n\t ' ' ')
		echo "# cannot mount a tmpfs on $1 (uid $(id -u)): ${cb_mout:-mount failed}"
		echo "# this test needs root (or CAP_SYS_ADMIN) to create a small file system it can fill"
		cb_fail "mount a $2 tmpfs for $3 (mount refused: ${cb_mout:-no message})"
		cb_finish
	fi
	cb_pass "a $2 tmpfs is mounted for $3"
}

# cb_tmpfs_umount DIR - unmount DIR (call it after stopping what holds
# files open there, before cb_cleanup); when it stays mounted, CB_TMP is
# left in place, so that rm -rf never walks into a mounted file system.
cb_tmpfs_umount() {
	if mountpoint -q "$1" 2>/dev/null; then
		umount "$1" 2>/dev/null || umount -l "$1" 2>/dev/null || echo "# WARNING: cannot unmount $1" >&2
	fi
	if mountpoint -q "$1" 2>/dev/null; then
		echo "# WARNING: $1 still mounted; leaving $CB_TMP in place" >&2
		CB_TMP=/nonexistent-cetbyod-test
	fi
}

# cb_tmpfs_fill DIR FILE - write FILE until ENOSPC; true when no block is left.
cb_tmpfs_fill() {
	dd if=/dev/zero of="$2" bs=4k >/dev/null 2>&1
	[ "$(df --output=avail -k "$1" | tail -n 1 | tr -d ' ')" -eq 0 ]
}
