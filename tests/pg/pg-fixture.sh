#!/bin/sh
# pg-fixture.sh - a throwaway PostgreSQL 15 on 127.0.0.1 for the tests.
#
#   pg-fixture.sh start DIR     initdb into DIR/data (first time), start it
#   pg-fixture.sh stop DIR      stop the server "start DIR" started (by its PID)
#   pg-fixture.sh standby PRIMARY DIR
#                               a streaming standby of the server "start
#                               PRIMARY" started: pg_basebackup -R into
#                               DIR/data, started on its own port (DIR as
#                               for start; the same roles and password)
#   pg-fixture.sh promote DIR   promote the standby in DIR (pg_ctl promote)
#   pg-fixture.sh run CMD...    a fresh DIR in $TMPDIR: start, run CMD with
#                               CB_TEST_PG_CONNINFO, CB_TEST_PG_PASSWORD_FILE
#                               and CB_TEST_PG_ADMIN set, stop and remove DIR
#                               (also when CMD fails or the run is killed);
#                               CMD's exit status is the result
#
# The server runs from Debian's binaries (/usr/lib/postgresql/15/bin, or
# PG_BINDIR) as an unprivileged user: the caller itself, or, when the tests
# run as root, the `postgres` system user the package creates (runuser).
# It listens on a free loopback port and on a unix socket inside DIR, never
# touches the system cluster, and writes into DIR:
#   port             the TCP port (127.0.0.1 only)
#   conninfo         what the module is given: host, port, dbname, user
#   password         the password of the cetbyod role (mode 0600)
#   admin_conninfo   the superuser "pgadmin" over the socket (tests only: to
#                    drop and recreate the cetbyod schema between tests)
#   postgres.log     the server's log
#
# Least privilege: the role cetbyod may log in (scram-sha-256 over TCP),
# connect to the database cetbyod and owns the schema cetbyod (its
# search_path): it creates its tables there and nothing else anywhere.
# Every wait is bounded.
set -eu

BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
ROLE=cetbyod
DB=cetbyod

die() {
	echo "pg-fixture: $*" >&2
	exit 1
}

# as_owner CMD... - run CMD as the user that owns the cluster.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

port_free() {
	command -v ss > /dev/null 2>&1 || return 0
	! ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

pick_port() {
	i=0
	while [ $i -lt 50 ]; do
		p=$(( 20000 + ($(od -An -N2 -tu2 /dev/urandom) % 30000) ))
		if port_free "$p"; then echo "$p"; return 0; fi
		i=$((i + 1))
	done
	die "no free loopback port"
}


init_cluster() {
	dir=$1
	[ -x "$BINDIR/initdb" ] || die "$BINDIR/initdb not found (apt-get install postgresql-15)"
	if [ "$(id -u)" -eq 0 ]; then
		id postgres > /dev/null 2>&1 || die "no 'postgres' user: install postgresql-15"
		chown postgres "$dir"
	fi
	chmod 0700 "$dir"
	as_owner "$BINDIR/initdb" -D "$dir/data" -U pgadmin -A trust --auth-host=scram-sha-256 -E UTF8 \
		--locale=C.UTF-8 > "$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
	od -An -N18 -tx1 /dev/urandom | tr -d ' \n' > "$dir/password"
	chmod 0600 "$dir/password"
	# Only the socket for pgadmin, TCP with a password for everyone else.
	cat > "$dir/data/pg_hba.conf" <<HBA
local	all	pgadmin			trust
local	replication	pgadmin			trust
host	$DB	$ROLE	127.0.0.1/32	scram-sha-256
HBA
}

setup_role() {
	dir=$1 port=$2
	pw=$(cat "$dir/password")
	as_owner /usr/bin/psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U pgadmin -d postgres > "$dir/setup.log" 2>&1 <<SQL || { cat "$dir/setup.log" >&2; die "creating the role failed"; }
CREATE ROLE $ROLE LOGIN PASSWORD '$pw' NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
CREATE DATABASE $DB OWNER pgadmin;
REVOKE ALL ON DATABASE $DB FROM PUBLIC;
GRANT CONNECT ON DATABASE $DB TO $ROLE;
\c $DB
REVOKE ALL ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA $ROLE AUTHORIZATION $ROLE;
ALTER ROLE $ROLE IN DATABASE $DB SET search_path = $ROLE;
SQL
}

start() {
	dir=$1
	mkdir -p "$dir"
	fresh=0
	[ -d "$dir/data" ] || { init_cluster "$dir"; fresh=1; }
	# A port taken between the check and the bind: a first start tries
	# another one; a restart (a test stopping and starting the same
	# server) keeps its port, as the module's conninfo names it.
	keep=0
	[ -s "$dir/port" ] && keep=1
	tries=0
	while :; do
		[ -s "$dir/port" ] || pick_port > "$dir/port"
		port=$(cat "$dir/port")
		rm -f "$dir/postgres.log"
		as_owner "$BINDIR/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
			-o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=off" \
			start > /dev/null && break
		tries=$((tries + 1))
		if [ $tries -ge 5 ] || ! grep -q "Address already in use" "$dir/postgres.log" 2>/dev/null; then
			cat "$dir/postgres.log" >&2
			die "the server did not start"
		fi
		[ $keep -eq 1 ] && sleep 1 || rm -f "$dir/port"
	done
	[ $fresh -eq 0 ] || setup_role "$dir" "$port"
	echo "host=127.0.0.1 port=$port dbname=$DB user=$ROLE connect_timeout=5" > "$dir/conninfo"
	echo "host=$dir port=$port dbname=$DB user=pgadmin" > "$dir/admin_conninfo"
	if [ "$(id -u)" -eq 0 ]; then chmod 0755 "$dir"; fi
}

stop() {
	dir=$1
	[ -s "$dir/data/postmaster.pid" ] || return 0
	as_owner "$BINDIR/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop > /dev/null 2>&1 || {
		pid=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null || true)
		[ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true
	}
}

standby() {
	primary=$1 dir=$2
	[ -s "$primary/port" ] || die "no server started in $primary"
	mkdir -p "$dir"
	if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; fi
	chmod 0700 "$dir"
	as_owner "$BINDIR/pg_basebackup" -D "$dir/data" -R -X stream -c fast -h "$primary" -p "$(cat "$primary/port")" \
		-U pgadmin > "$dir/basebackup.log" 2>&1 || { cat "$dir/basebackup.log" >&2; die "pg_basebackup failed"; }
	cp "$primary/password" "$dir/password"
	chmod 0600 "$dir/password"
	rm -f "$dir/data/postmaster.pid" "$dir/data/postmaster.opts"
	start "$dir"
}

promote() {
	as_owner "$BINDIR/pg_ctl" -D "$1/data" -w -t 30 promote > /dev/null || die "pg_ctl promote failed"
}

run() {
	dir=$(mktemp -d "${TMPDIR:-/tmp}/cb-pg.XXXXXX")
	trap 'stop "$dir"; rm -rf "$dir"' EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	start "$dir"
	rc=0
	CB_TEST_PG_CONNINFO=$(cat "$dir/conninfo") CB_TEST_PG_PASSWORD_FILE="$dir/password" \
		CB_TEST_PG_ADMIN=$(cat "$dir/admin_conninfo") CB_TEST_PG_DIR="$dir" "$@" || rc=$?
	return $rc
}

[ $# -ge 1 ] || die "usage: pg-fixture.sh start|stop|promote DIR | standby PRIMARY DIR | run CMD..."
cmd=$1
shift
case $cmd in
start) [ $# -eq 1 ] || die "usage: start DIR"; start "$1" ;;
stop) [ $# -eq 1 ] || die "usage: stop DIR"; stop "$1" ;;
standby) [ $# -eq 2 ] || die "usage: standby PRIMARY DIR"; standby "$1" "$2" ;;
promote) [ $# -eq 1 ] || die "usage: promote DIR"; promote "$1" ;;
run) [ $# -ge 1 ] || die "usage: run CMD..."; run "$@" ;;
*) die "unknown command $cmd" ;;
esac
