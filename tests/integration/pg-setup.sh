# pg-setup.sh - sourced after lib.sh by the tests that run radiusd on the
# PostgreSQL store (test_store_pg.sh, test_pg_outage.sh): a throwaway
# PostgreSQL 15 (tests/pg/pg-fixture.sh), the NAS's DAS
# (tests/nas/das-fault-nas.py, mode ack), the module configured for both,
# and the helpers they share.  (pg-lib.sh holds the pieces that the
# two-server tests and the demo compose themselves.)  Every PID is the test's own; pg_cleanup
# (the EXIT trap) stops and removes all of it, also on failure.
PGFX=$CB_SRCDIR/tests/pg/pg-fixture.sh
FAULT_NAS=$CB_SRCDIR/tests/nas/das-fault-nas.py
DAS_SECRET=das-Secret-pg-4c2
PGDIR=$(mktemp -d /tmp/cb-pg-it.XXXXXX)
PGDIR2=			# A standby (pg_standby), when the test makes one.
STATE=$CB_TMP/state
OUT=$CB_TMP/radiusd.out

pg_cleanup() {
	cb_stop_radiusd
	"$PGFX" stop "$PGDIR" >/dev/null 2>&1
	[ -z "$PGDIR2" ] || "$PGFX" stop "$PGDIR2" >/dev/null 2>&1
	if [ "$CB_FAILED" -gt 0 ] && [ -f "$PGDIR/postgres.log" ]; then
		echo "---- postgres.log (last 30 lines) ----"
		tail -n 30 "$PGDIR/postgres.log"
	fi
	rm -rf "$PGDIR" ${PGDIR2:+"$PGDIR2"}
	cb_cleanup
}
trap pg_cleanup EXIT

# pg_start - the fixture, its conninfo (CONNINFO), the password (PWFILE, PW), the NAS's DAS (DAS_PORT).
pg_start() {
	"$PGFX" start "$PGDIR" || { cb_fail "PostgreSQL 15 starts (tests/pg/pg-fixture.sh)"; cb_finish; }
	cb_pass "PostgreSQL 15 starts on loopback with a least-privilege role"
	CONNINFO=$(cat "$PGDIR/conninfo")
	PWFILE=$CB_TMP/pg-password
	cp "$PGDIR/password" "$PWFILE" && chmod 0600 "$PWFILE"
	PW=$(cat "$PWFILE")
	/usr/bin/python3 "$FAULT_NAS" --mode ack --listen 127.0.0.1 --port-file "$CB_TMP/das.port" \
		--log "$CB_TMP/das.log" --secret "$DAS_SECRET" --max-seconds 600 &
	CB_PIDS="$CB_PIDS $!"
	for _ in $(seq 1 50); do [ -s "$CB_TMP/das.port" ] && break; sleep 0.1; done
	DAS_PORT=$(cat "$CB_TMP/das.port" 2>/dev/null)
	[ -n "$DAS_PORT" ] || { cb_fail "the NAS's DAS starts"; cb_finish; }
}

# pg_standby - a streaming standby of the fixture in PGDIR2.
pg_standby() {
	PGDIR2=$(mktemp -d /tmp/cb-pg-sb.XXXXXX)
	"$PGFX" standby "$PGDIR" "$PGDIR2"
}

# ctl ARGS... - cetbyodctl on the PostgreSQL store.
ctl() { "$CB_BUILDDIR/cetbyodctl/cetbyodctl" --store-conninfo "$CONNINFO" --store-password-file "$PWFILE" "$@"; }

# pg_sql SQL - one value from the fixture's database, as its superuser (in the store's schema).
pg_sql() {
	PGOPTIONS="-c search_path=cetbyod" psql -X -At -v ON_ERROR_STOP=1 \
		-d "$(cat "${PGADMIN_DIR:-$PGDIR}/admin_conninfo")" -c "$1" 2>&1
}

# pg_acks USER... - the acknowledgements file: each USER@school.example acknowledged 10 days ago.
pg_acks() {
	printf 'DEFAULT\tCleartext-Password := "staffpw", Cetbyod-Role := Staff\n' > "$CB_TMP/users"
	: > "$CB_TMP/acknowledgements"
	for u in "$@"; do
		printf '%s@school.example\t%s\n' "$u" "$(date -u -d "@$(( $(date +%s) - 864000 ))" +%Y-%m-%dT%H:%M:%SZ)" \
			>> "$CB_TMP/acknowledgements"
	done
}

# pg_raddb [EXTRA_STORE_LINES] - the module on the PostgreSQL store (conninfo CONNINFO, server_id radius-a),
# the NAS ap1 (127.0.0.1, its DAS) in enforce { }, the raddb built.
pg_raddb() {
	mkdir -p "$STATE"
	/usr/bin/python3 - "$CB_SRCDIR/raddb/mods-available/cetbyod" "$CB_TMP/cetbyod.conf" "$CB_TMP" "$CONNINFO" \
		"$PWFILE" "$DAS_PORT" "$DAS_SECRET" "${1:-}" <<'EOF2'
import re, sys
src, dst, tmp, conninfo, pwfile, das_port, secret, extra = sys.argv[1:9]
c = open(src).read()
c = c.replace("filename = ${modconfdir}/cetbyod/acknowledgements", "filename = %s/acknowledgements" % tmp)
c = c.replace("check_interval = 5", "check_interval = 1")
c = c.replace("state_dir = ${localstatedir}/lib/cetbyod", 'state_dir = "%s/state"' % tmp)
c = c.replace("\t\tbackend = sqlite\n", "\t\tbackend = postgresql\n" + extra, 1)
c = c.replace('\t\t\tconninfo = ""\n', '\t\t\tconninfo = "%s"\n' % conninfo, 1)
c = c.replace('\t\t\tpassword_file = ""\n', '\t\t\tpassword_file = %s\n' % pwfile, 1)
c = c.replace('\t\t\tserver_id = ""\n', '\t\t\tserver_id = "radius-a"\n', 1)
nas = ('\t\tnas ap1 {\n\t\t\tipaddr = 127.0.0.1\n\t\t\tport = %s\n\t\t\tsecret = "%s"\n'
       '\t\t\tprofile = rfc5176\n\t\t}\n' % (das_port, secret))
c = re.sub(r"\tenforce \{.*?\n\t\}", lambda m: m.group(0)[:-2] + nas + "\t}", c, count=1, flags=re.S)
c = re.sub(r"(\n\t\tretry_interval = )\S+", r"\g<1>2", c, count=1)
open(dst, "w").write(c)
EOF2
	grep -q "backend = postgresql" "$CB_TMP/cetbyod.conf" && grep -q "nas ap1" "$CB_TMP/cetbyod.conf" ||
		{ cb_fail "module configuration with store { backend = postgresql } (the shipped lines changed?)"; cb_finish; }
	cb_make_raddb "$CB_TMP/users" "$CB_TMP/acknowledgements" "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }
}

log_since() { tail -n "+$1" "$OUT" | grep -Eq -- "$2"; }
log_lines() { wc -l < "$OUT"; }

class_of_reply() {
	printf '%s\n' "$CB_REPLY" | sed -n 's/.*Class = \(0x63657462796f643a[0-9a-f]*\).*/\1/p' | head -n 1
}
# acct STATUS SESSION CLASS [TIMEOUT] - one Accounting-Request (one try); true when answered.
# ACCT_MAC: its Calling-Station-Id (a keyed Class is bound to the MAC it was issued to).
acct() {
	printf 'Acct-Status-Type = %s\nAcct-Session-Id = "%s"\nUser-Name = "anonymous@school.example"\nNAS-IP-Address = 127.0.0.1\nCalling-Station-Id = "%s"\nCalled-Station-Id = "AA-BB-CC-DD-EE-FF:Staff"\nClass = %s\n' \
		"$1" "$2" "${ACCT_MAC:-02-00-00-00-00-01}" "$3" | "$RADCLIENT" -x -r 1 -t "${4:-3}" "127.0.0.1:$CB_ACCT_PORT" acct testing123 2>&1 |
		grep -q 'Received Accounting-Response'
}
# open_session USER SESSION - cetbyodctl lists SESSION as USER's open session.
open_session() {
	ctl --json sessions --user "$1" 2>/dev/null | /usr/bin/python3 -c '
import json, sys
sys.exit(0 if [x for x in json.load(sys.stdin)["sessions"] if x["acct_session_id"] == sys.argv[1]] else 1)' "$2"
}
# refused USER - USER's next Access-Request is refused.
refused() {
	cb_pap "$1" staffpw
	printf '%s\n' "$CB_REPLY" | grep -q 'Received Access-Reject'
}
# das_got SESSION - the NAS's DAS received a Disconnect-Request for SESSION.
das_got() { grep -q "session=$1 answered=" "$CB_TMP/das.log" 2>/dev/null; }
