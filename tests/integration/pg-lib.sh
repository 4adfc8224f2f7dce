# pg-lib.sh - what the PostgreSQL integration tests share (sourced after
# lib.sh): the NAS's DAS that ACKs, the users and acknowledgements, and the
# module's configuration on either backend.

# cb_pg_das SECRET - tests/nas/das-fault-nas.py (mode ack) on loopback, its
# log in $CB_TMP/das.log ("session=ID answered=..." per request); its port
# in DAS_PORT.  1 when it did not start within 5 s.
cb_pg_das() {
	/usr/bin/python3 "$CB_SRCDIR/tests/nas/das-fault-nas.py" --mode ack --listen 127.0.0.1 \
		--port-file "$CB_TMP/das.port" --log "$CB_TMP/das.log" --secret "$1" --max-seconds 300 &
	CB_PIDS="$CB_PIDS $!"
	for _ in $(seq 1 50); do [ -s "$CB_TMP/das.port" ] && break; sleep 0.1; done
	DAS_PORT=$(cat "$CB_TMP/das.port" 2>/dev/null)
	[ -n "$DAS_PORT" ]
}

# cb_pg_people USER... - $CB_TMP/users (every user staff, password staffpw)
# and $CB_TMP/acknowledgements (each USER@school.example acknowledged 10 days ago).
cb_pg_people() {
	cb_pg_t=$(date -u -d "@$(( $(date +%s) - 10 * 86400 ))" +%Y-%m-%dT%H:%M:%SZ)
	printf 'DEFAULT\tCleartext-Password := "staffpw", Cetbyod-Role := Staff\n' > "$CB_TMP/users"
	: > "$CB_TMP/acknowledgements"
	for u in "$@"; do printf '%s@school.example\t%s\n' "$u" "$cb_pg_t" >> "$CB_TMP/acknowledgements"; done
}

# cb_pg_modconf OUT BACKEND CONNINFO PWFILE SERVER_ID DAS_PORT DAS_SECRET -
# the shipped module configuration for the test: the acknowledgements
# file, state_dir $CB_TMP/state, store { backend = BACKEND } (sqlite or
# postgresql, then with CONNINFO, PWFILE and SERVER_ID), and the NAS ap1
# (127.0.0.1:DAS_PORT, RFC 5176) to disconnect at; retried every 2 s.
# CB_PG_MODCONF_SRC: another configuration to start from (bench/pg.sh).
cb_pg_modconf() {
	/usr/bin/python3 - "${CB_PG_MODCONF_SRC:-$CB_SRCDIR/raddb/mods-available/cetbyod}" "$CB_TMP" "$@" <<'EOF2'
import re, sys
src, tmp, dst, backend, conninfo, pwfile, server, das_port, secret = sys.argv[1:10]
c = open(src).read()
c = c.replace("filename = ${modconfdir}/cetbyod/acknowledgements", "filename = %s/acknowledgements" % tmp)
c = c.replace("check_interval = 5", "check_interval = 1")
c = c.replace("state_dir = ${localstatedir}/lib/cetbyod", 'state_dir = "%s/state"' % tmp)
if backend == "postgresql":
    c = c.replace("\t\tbackend = sqlite\n", "\t\tbackend = postgresql\n", 1)
    c = c.replace('\t\t\tconninfo = ""\n', '\t\t\tconninfo = "%s"\n' % conninfo, 1)
    c = c.replace('\t\t\tpassword_file = ""\n', '\t\t\tpassword_file = %s\n' % pwfile, 1)
    c = c.replace('\t\t\tserver_id = ""\n', '\t\t\tserver_id = "%s"\n' % server, 1)
nas = ('\t\tnas ap1 {\n\t\t\tipaddr = 127.0.0.1\n\t\t\tport = %s\n\t\t\tsecret = "%s"\n'
       '\t\t\tprofile = rfc5176\n\t\t}\n' % (das_port, secret))
c = re.sub(r"\tenforce \{.*?\n\t\}", lambda m: m.group(0)[:-2] + nas + "\t}", c, count=1, flags=re.S)
c = re.sub(r"(\n\t\tretry_interval = )\S+", r"\g<1>2", c, count=1)
open(dst, "w").write(c)
EOF2
	grep -q "nas ap1" "$1" && { [ "$2" != postgresql ] || grep -q "backend = postgresql" "$1"; }
}

# cb_pg_start_b MODCONF - a second radiusd ("server B") beside the test's:
# a copy of $CB_TMP/raddb with its own ports (B_AUTH, B_ACCT), log
# directory $CB_TMP/log-b (so its own audit file, $CB_TMP/log-b/
# cetbyod-audit.jsonl, by default), run directory, and MODCONF as its
# module configuration (its own server_id).  Its output is in
# $CB_TMP/radiusd-b.out, its PID in B_PID (and CB_PIDS).  1 when it did
# not become ready within 15 s.
cb_pg_start_b() {
	rm -rf "$CB_TMP/raddb-b"
	cp -a "$CB_TMP/raddb" "$CB_TMP/raddb-b"
	mkdir -p "$CB_TMP/log-b" "$CB_TMP/run-b"
	B_AUTH=$(cb_free_udp_port); B_ACCT=$(cb_free_udp_port)
	while [ "$B_ACCT" = "$B_AUTH" ] || [ "$B_AUTH" = "$CB_AUTH_PORT" ] || [ "$B_AUTH" = "$CB_ACCT_PORT" ] ||
		[ "$B_ACCT" = "$CB_AUTH_PORT" ] || [ "$B_ACCT" = "$CB_ACCT_PORT" ]; do
		B_AUTH=$(cb_free_udp_port); B_ACCT=$(cb_free_udp_port)
	done
	sed -i -e "s|^logdir = .*|logdir = $CB_TMP/log-b|" -e "s|^run_dir = .*|run_dir = $CB_TMP/run-b|" \
		-e "s|^raddbdir = .*|raddbdir = $CB_TMP/raddb-b|" "$CB_TMP/raddb-b/radiusd.conf"
	sed -i -e "s|port = $CB_AUTH_PORT\$|port = $B_AUTH|" -e "s|port = $CB_ACCT_PORT\$|port = $B_ACCT|" \
		"$CB_TMP/raddb-b/sites-enabled/cetbyod"
	cp "$1" "$CB_TMP/raddb-b/mods-available/cetbyod"
	: > "$CB_TMP/radiusd-b.out"
	env $(cb_radiusd_env) "$RADIUSD" -X -d "$CB_TMP/raddb-b" > "$CB_TMP/radiusd-b.out" 2>&1 &
	B_PID=$!
	CB_PIDS="$CB_PIDS $B_PID"
	for _ in $(seq 1 150); do
		grep -q "Ready to process requests" "$CB_TMP/radiusd-b.out" && return 0
		cb_own_child "$B_PID" || return 1
		sleep 0.1
	done
	return 1
}

# cb_pg_stop_b - stop server B (by its PID), SIGKILL after 5 s.
cb_pg_stop_b() {
	[ -n "${B_PID:-}" ] || return 0
	kill "$B_PID" 2>/dev/null
	for _ in $(seq 1 50); do cb_own_child "$B_PID" || break; sleep 0.1; done
	cb_own_child "$B_PID" && kill -9 "$B_PID" 2>/dev/null
	wait "$B_PID" 2>/dev/null
	cb_forget_pid "$B_PID"
	B_PID=
}
