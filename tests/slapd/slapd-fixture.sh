#!/bin/sh
# slapd-fixture.sh - a throwaway OpenLDAP slapd on 127.0.0.1 for the tests.
#
#   slapd-fixture.sh start DIR         set DIR up (first time) and start slapd
#   slapd-fixture.sh stop DIR          stop the slapd that "start DIR" started;
#                                      exit 3 when it had crashed (a signal
#                                      such as SIGSEGV, from slapd.exit)
#   slapd-fixture.sh pause DIR         SIGSTOP it (it stops answering)
#   slapd-fixture.sh resume DIR        SIGCONT it
#   slapd-fixture.sh check-schema DIR  load schema/ldap/cetbyod.ldif into a
#                                      cn=config (slapd.d) and verify it
#
# The first "start DIR" makes, inside DIR (which it creates):
#   ca.pem ca.key                test CA; the server and client certificates
#   server.pem server.key        server certificate for IP 127.0.0.1
#   client.pem client.key        client certificate whose subject is the
#                                module's DN (SASL EXTERNAL)
#   untrusted-ca.pem             a second CA nobody trusts, and
#   untrusted-server.pem/.key    a server certificate for 127.0.0.1 it issued
#   cadir/                       ca.pem under its OpenSSL hash name
#   slapd.conf db/               the configuration and the loaded directory
# and every start writes:
#   ldap_port ldaps_port         the ports slapd listens on (127.0.0.1 only)
#   slapd.pid                    the PID of that slapd; stop kills only it
#   slapd.exit                   its exit status, once it has ended
#   slapd.log                    slapd's stderr (SLAPD_DEBUG=level for more)
#
# A later "start DIR" reuses DIR's certificates, data and ports, so a test
# can stop slapd and start the same directory again.  Every wait is bounded.
# With SLAPD_SERVER_CERT=untrusted in the environment, slapd presents
# untrusted-server.pem (issued by the CA nobody trusts) instead of server.pem.
# With SLAPD_LDIF=FILE, the first start loads FILE instead of directory.ldif
# (the demo loads demo/directory.ldif).
# Debian 12 paths: /usr/sbin/slapd, modules in /usr/lib/ldap, schema in
# /etc/ldap/schema (override with SLAPD, SLAPD_MODULEDIR, SLAPD_SCHEMADIR).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
SLAPD=${SLAPD:-/usr/sbin/slapd}
SLAPADD=${SLAPADD:-/usr/sbin/slapadd}
SLAPTEST=${SLAPTEST:-/usr/sbin/slaptest}
MODULEDIR=${SLAPD_MODULEDIR:-/usr/lib/ldap}
SCHEMADIR=${SLAPD_SCHEMADIR:-/etc/ldap/schema}
SUFFIX="dc=school,dc=example"

die() {
	echo "slapd-fixture: $*" >&2
	exit 1
}

# is_alive PID - true when PID is a live (not zombie) process.
is_alive() {
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$state" != "Z" ]
}

# is_running PID - true when PID is a live (not zombie) slapd.
is_running() {
	is_alive "$1" && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = slapd ]
}

# port_free PORT - true when nothing listens on PORT (as far as ss can tell;
# a port taken in between makes slapd fail, and start tries other ports).
port_free() {
	command -v ss > /dev/null 2>&1 || return 0
	! ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

# pick_port - a free port in 20000-32767: below Linux's ephemeral range
# (32768-60999), so that while slapd is stopped no client connection of
# another test can take its port as a local one and make a restart on the
# same port fail (radiusd, already configured, would then ask a dead port).
pick_port() {
	i=0
	while [ $i -lt 50 ]; do
		p=$(( $(od -An -N2 -tu2 /dev/urandom) % 12768 + 20000 ))
		if port_free "$p"; then
			echo "$p"
			return 0
		fi
		i=$((i + 1))
	done
	die "no free port found"
}

make_ca() {	# make_ca NAME SUBJECT
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$D/$1.key" -out "$D/$1.pem" -days 30 -subj "$2" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

make_cert() {	# make_cert NAME CA SUBJECT EXTENSIONS
	printf '%s\n' "$4" > "$D/$1.ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$D/$1.key" -out "$D/$1.csr" -subj "$3" 2>/dev/null
	openssl x509 -req -in "$D/$1.csr" -CA "$D/$2.pem" -CAkey "$D/$2.key" \
		-set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
		-days 30 -out "$D/$1.pem" -extfile "$D/$1.ext" 2>/dev/null
	rm -f "$D/$1.csr" "$D/$1.ext"
}

make_certs() {
	make_ca ca "/O=cetbyod tests/CN=cetbyod test CA"
	make_ca untrusted-ca "/O=somebody else/CN=untrusted test CA"
	make_cert server ca "/O=cetbyod tests/CN=127.0.0.1" \
"basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1"
	make_cert untrusted-server untrusted-ca "/O=somebody else/CN=127.0.0.1" \
"basicConstraints=CA:FALSE
keyUsage=digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1"
	make_cert client ca "/DC=example/DC=school/OU=services/CN=cetbyod" \
"basicConstraints=CA:FALSE
keyUsage=digitalSignature
extendedKeyUsage=clientAuth"
	mkdir -p "$D/cadir"
	cp "$D/ca.pem" "$D/cadir/ca.pem"
	ln -sf ca.pem "$D/cadir/$(openssl x509 -hash -noout -in "$D/ca.pem").0"
	chmod 600 "$D"/*.key
}

write_conf() {
	case ${SLAPD_SERVER_CERT:-trusted} in
	trusted)	server_cert=server ;;
	untrusted)	server_cert=untrusted-server ;;
	*)		die "SLAPD_SERVER_CERT must be trusted or untrusted" ;;
	esac
	cat > "$D/slapd.conf" <<EOF
# Written by slapd-fixture.sh for the cetbyod tests.
include		$SCHEMADIR/core.schema
include		$SCHEMADIR/cosine.schema
include		$SCHEMADIR/inetorgperson.schema
include		$SCHEMADIR/nis.schema
include		$SCHEMADIR/misc.schema
include		$TOP/schema/ldap/cetbyod.schema
include		$HERE/ad-test.schema

pidfile		$D/slapd.own.pid
argsfile	$D/slapd.args
modulepath	$MODULEDIR
moduleload	back_mdb.so
moduleload	memberof.so
moduleload	ppolicy.so

TLSCACertificateFile	$D/ca.pem
TLSCertificateFile	$D/$server_cert.pem
TLSCertificateKeyFile	$D/$server_cert.key
TLSVerifyClient		allow

sizelimit	500

database	mdb
maxsize		16777216
suffix		"$SUFFIX"
rootdn		"cn=admin,$SUFFIX"
rootpw		admin-secret
directory	$D/db
index		objectClass,uid,mail,member eq

overlay		memberof
overlay		ppolicy
ppolicy_default	"cn=default,ou=policies,$SUFFIX"

access to dn.base="" by * read
access to dn.base="cn=Subschema" by * read
access to attrs=userPassword
	by self write
	by dn.exact="cn=cetbyod,ou=services,$SUFFIX" read
	by anonymous auth
	by * none
access to *
	by users read
	by anonymous auth
EOF
}

setup() {
	command -v openssl >/dev/null || die "openssl not found (Debian package 'openssl')"
	[ -x "$SLAPD" ] || die "$SLAPD not found (Debian package 'slapd')"
	[ -r "$MODULEDIR/back_mdb.so" ] || die "no back_mdb.so in $MODULEDIR (Debian package 'slapd')"
	make_certs
	write_conf
	rm -rf "$D/db"
	mkdir -p "$D/db"
	"$SLAPADD" -q -f "$D/slapd.conf" -l "${SLAPD_LDIF:-$HERE/directory.ldif}" > "$D/slapadd.log" 2>&1 || {
		cat "$D/slapadd.log" >&2
		die "slapadd failed"
	}
}

# answers PORT - true when slapd answers a root DSE search on PORT.
answers() {
	ldapsearch -x -LLL -o nettimeout=1 -l 1 -H "ldap://127.0.0.1:$1" -s base -b "" \
		namingContexts > /dev/null 2>&1
}

start() {
	mkdir -p "$D"
	D=$(cd "$D" && pwd)
	if [ -f "$D/slapd.pid" ] && is_running "$(cat "$D/slapd.pid")"; then
		die "slapd already running in $D (PID $(cat "$D/slapd.pid"))"
	fi
	[ -f "$D/slapd.conf" ] || setup
	write_conf	# Every start: SLAPD_SERVER_CERT may differ.
	attempt=0
	while [ $attempt -lt 5 ]; do
		attempt=$((attempt + 1))
		if [ -f "$D/ldap_port" ] && [ -f "$D/ldaps_port" ]; then
			lport=$(cat "$D/ldap_port")
			sport=$(cat "$D/ldaps_port")
		else
			lport=$(pick_port)
			sport=$(pick_port)
			[ "$lport" != "$sport" ] || continue
		fi
		# In a session of its own, so that nothing that kills the
		# caller's process group (check does, after each test) kills it.
		# A shell in that session waits for slapd and writes how it
		# ended to slapd.exit, so that stop can tell a crash.
		rm -f "$D/slapd.pid" "$D/slapd.exit"
		CB_SLAPD_D=$D setsid sh -c '"$@" < /dev/null & echo $! > "$CB_SLAPD_D/slapd.pid"
			wait $!; echo $? > "$CB_SLAPD_D/slapd.exit"' slapd-wait \
			"$SLAPD" -d "${SLAPD_DEBUG:-0}" -f "$D/slapd.conf" \
			-h "ldap://127.0.0.1:$lport/ ldaps://127.0.0.1:$sport/" \
			< /dev/null > "$D/slapd.log" 2>&1 &
		pid=$(started_pid) || die "slapd's PID was not written within 10 s"
		# Up to 20 s for slapd to answer (a loaded machine).
		i=0
		while [ $i -lt 200 ]; do
			if answers "$lport"; then
				echo "$lport" > "$D/ldap_port"
				echo "$sport" > "$D/ldaps_port"
				return 0
			fi
			# Alive, not is_running: on a loaded machine the child may
			# not have become slapd yet (still setsid, or the shell).
			is_alive "$pid" || break
			sleep 0.1
			i=$((i + 1))
		done
		stop_pid "$pid"
		rm -f "$D/slapd.pid"
		if grep -qi "address already in use" "$D/slapd.log"; then
			# Someone took a port: pick new ones (a restart loses its ports).
			rm -f "$D/ldap_port" "$D/ldaps_port"
			continue
		fi
		cat "$D/slapd.log" >&2
		die "slapd did not start (log above, $D/slapd.log)"
	done
	die "slapd did not start after $attempt attempts"
}

# stop_pid PID - end slapd at once: SIGCONT (it may be paused), SIGKILL.
#
# Not SIGTERM: Debian 12's slapd 2.5 can crash in its own exit, after it
# has logged "slapd stopped." (seen once in a full test run under load:
# SIGSEGV on an instruction fetch from an unmapped page, in a worker
# thread's outermost frames: most likely code of a module that main had
# already unloaded; not reproduced in 300 start/stop cycles at rest),
# and a crash fails the test that started it (see stop).  That exit path
# is slapd's, not what the tests are about: to them "slapd stops" means
# the directory is gone, its sockets closed by the kernel, as when its
# host fails.  LMDB keeps every committed write across a kill (the data
# is in the page cache; its readers' table is checked on the next open),
# so a restarted slapd serves the same directory.  A crash while slapd
# serves is still seen: it has then ended by that signal before this one.
stop_pid() {
	is_running "$1" || return 0
	kill -CONT "$1" 2>/dev/null || true
	kill -KILL "$1" 2>/dev/null || true
	i=0
	while [ $i -lt 100 ] && is_running "$1"; do
		sleep 0.1
		i=$((i + 1))
	done
	! is_running "$1" || die "slapd PID $1 did not exit"
}

# started_pid - the PID the waiting shell wrote to slapd.pid (10 s at most).
started_pid() {
	i=0
	while [ $i -lt 100 ]; do
		p=$(cat "$D/slapd.pid" 2>/dev/null) || p=
		[ -z "$p" ] || { echo "$p"; return 0; }
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# ended_by_crash - true when slapd.exit (written by the shell that waited
# for slapd, 2 s at most after it ended) says slapd ended by a signal that
# means a crash (SIGILL, SIGABRT, SIGBUS, SIGFPE, SIGSEGV), not by stop's
# SIGKILL (or a SIGTERM from elsewhere).
ended_by_crash() {
	i=0
	while [ $i -lt 20 ] && [ ! -s "$D/slapd.exit" ]; do
		sleep 0.1
		i=$((i + 1))
	done
	status=$(cat "$D/slapd.exit" 2>/dev/null) || return 1
	case $status in
	132|134|135|136|139) return 0 ;;
	esac
	return 1
}

# stop - stop slapd; exit 3 (and say so) when it had crashed, before or
# while it was stopped, so that the test that started it fails.
stop() {
	[ -f "$D/slapd.pid" ] || return 0
	stop_pid "$(cat "$D/slapd.pid")"
	rm -f "$D/slapd.pid"
	if ended_by_crash; then
		echo "slapd-fixture: slapd crashed (exit status $status: signal $((status - 128))); the end of $D/slapd.log:" >&2
		tail -n 20 "$D/slapd.log" >&2
		exit 3
	fi
}

signal() {	# signal SIG
	[ -f "$D/slapd.pid" ] || die "no slapd.pid in $D"
	pid=$(cat "$D/slapd.pid")
	is_running "$pid" || die "slapd PID $pid is not running"
	kill "-$1" "$pid"
	[ "$1" = STOP ] || return 0
	# kill returns before every thread has stopped (on a loaded machine a
	# thread on the other core may answer one more request): wait, 5 s at
	# most, until each of slapd's threads is in state T.
	i=0
	while [ $i -lt 50 ]; do
		all_stopped "$pid" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	die "slapd PID $pid did not stop within 5 s of SIGSTOP"
}

# all_stopped PID - true when every thread of PID is stopped (state T).
all_stopped() {
	for st in /proc/"$1"/task/*/stat; do
		state=$(sed 's/^.*) \(.\).*$/\1/' "$st" 2>/dev/null) || return 1
		[ "$state" = T ] || return 1
	done
}

check_schema() {
	mkdir -p "$D"
	D=$(cd "$D" && pwd)
	rm -rf "$D/schema-check"
	mkdir -p "$D/schema-check/slapd.d"
	{
		cat <<EOF
dn: cn=config
objectClass: olcGlobal
cn: config

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

EOF
		for f in "$SCHEMADIR/core.ldif" "$SCHEMADIR/cosine.ldif" \
			 "$SCHEMADIR/inetorgperson.ldif" "$TOP/schema/ldap/cetbyod.ldif"; do
			grep -v '^#' "$f"
			echo
		done
	} > "$D/schema-check/config.ldif"
	"$SLAPADD" -n 0 -F "$D/schema-check/slapd.d" -l "$D/schema-check/config.ldif" \
		> "$D/schema-check/slapadd.log" 2>&1 || {
		cat "$D/schema-check/slapadd.log" >&2
		die "cetbyod.ldif does not load into cn=config"
	}
	"$SLAPTEST" -u -F "$D/schema-check/slapd.d" > "$D/schema-check/slaptest.log" 2>&1 || {
		cat "$D/schema-check/slaptest.log" >&2
		die "slaptest refuses the cn=config built from cetbyod.ldif"
	}
	# Both forms must define the same attribute types and object class.
	for name in cetbyodRevoked cetbyodRevokedReason cetbyodExceptionReason \
		    cetbyodExceptionApprovedBy cetbyodExceptionUntil cetbyodPerson; do
		grep -q "NAME '$name'" "$TOP/schema/ldap/cetbyod.schema" || die "$name missing from cetbyod.schema"
		grep -rq "NAME '$name'" "$D/schema-check/slapd.d" || die "$name missing from cetbyod.ldif"
	done
	rm -rf "$D/schema-check"
}

[ $# -eq 2 ] || die "usage: slapd-fixture.sh start|stop|pause|resume|check-schema DIR"
D=$2
case $1 in
start)		start ;;
stop)		stop ;;
pause)		signal STOP ;;
resume)		signal CONT ;;
check-schema)	check_schema ;;
*)		die "unknown command '$1' (start, stop, pause, resume, check-schema)" ;;
esac
