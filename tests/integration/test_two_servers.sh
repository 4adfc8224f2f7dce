#!/bin/bash
# test_two_servers.sh - two radiusd (A and B) sharing one throwaway
# PostgreSQL 15 (tests/pg/pg-fixture.sh), each with its own state_dir and
# audit file and the same Class key, both configured with the same NAS,
# whose RFC 5176 side is tests/nas/das-fault-nas.py (mode ack, later
# silent; it logs every request it receives, so the test counts them per
# session).
# radclient is the NAS's RADIUS side, tests/smtp/smtp-sink.py the mail
# relay.  What is checked is what the NAS, the users and the relay see:
#   - both servers started at the same moment: one reminder email per
#     person and window; one server keeps the list of people;
#   - a session admitted and accounted through A; `cetbyodctl revoke`
#     pointed at server B's configuration (--raddb: its store { } names
#     the shared store): the NAS receives exactly one
#     Disconnect-Request, within a bound (the figure is printed), and the
#     next Access-Request to B is refused;
#   - CB_TWO_LATENCY (20) revocations timed one by one, each session
#     admitted through one server and accounted through the other: p50 and
#     p99 printed, each under 1 s;
#   - N revocations (CB_TWO_N, 1,000 by default) with sessions spread over
#     both servers: every session gets exactly one Disconnect-Request;
#   - a server killed (SIGKILL) holding a claimed disconnect for a NAS
#     that does not answer: the other server sends it after the lease
#     (14 s here: retry_interval 3, max_duration 2);
#   - radiusd ends cleanly (no crash).
# Needs root (the fixture runs the server as the postgres user).  2 to 3 minutes
# (the 1,000 revocations are made by 4 cetbyodctl at a time: 50 to 70 s of it);
# about 7 minutes in the sanitizer build on a loaded machine.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
PGFX=$CB_SRCDIR/tests/pg/pg-fixture.sh
FAULT_NAS=$CB_SRCDIR/tests/nas/das-fault-nas.py
DAS_SECRET=das-Secret-two-7d1
# 1,000 (the issue's figure); 200 in the sanitizer build, where 1,000 take some 7 minutes.
if [ -n "${LIBASAN:-}" ]; then N=${CB_TWO_N:-200}; else N=${CB_TWO_N:-1000}; fi
L=${CB_TWO_LATENCY:-20}	# Revocations timed one by one.
PGDIR=$(mktemp -d /tmp/cb-pg-two.XXXXXX)
PID_A= PID_B=

# stop_server PID NAME - SIGTERM, and a clean end (0 or 143) within 5 s.
stop_server() {
	[ -n "$1" ] || return 0
	cb_forget_pid "$1"
	if ! cb_own_child "$1"; then
		wait "$1" 2>/dev/null
		cb_fail "radiusd $2 ended before the test stopped it (status $?)"
		return 1
	fi
	kill "$1" 2>/dev/null
	for _ in $(seq 1 50); do cb_own_child "$1" || break; sleep 0.1; done
	if cb_own_child "$1"; then kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null; cb_fail "radiusd $2 did not stop within 5 s"; return 1; fi
	wait "$1" 2>/dev/null
	case $? in 0 | 143) return 0 ;; esac
	cb_fail "radiusd $2 ended badly after SIGTERM"
}

two_cleanup() {
	stop_server "$PID_A" A
	stop_server "$PID_B" B
	PID_A= PID_B=
	"$PGFX" stop "$PGDIR" >/dev/null 2>&1
	if [ "$CB_FAILED" -gt 0 ]; then
		for s in a b; do
			[ -f "$CB_TMP/$s/radiusd.out" ] || continue
			echo "---- radiusd $s (last 60 lines) ----"
			tail -n 60 "$CB_TMP/$s/radiusd.out"
		done
		[ -f "$PGDIR/postgres.log" ] && { echo "---- postgres.log (last 20 lines) ----"; tail -n 20 "$PGDIR/postgres.log"; }
	fi
	rm -rf "$PGDIR"
	cb_cleanup
}
trap two_cleanup EXIT

"$PGFX" start "$PGDIR" || { cb_fail "PostgreSQL 15 starts (tests/pg/pg-fixture.sh)"; cb_finish; }
CONNINFO=$(cat "$PGDIR/conninfo")
PWFILE=$CB_TMP/pg-password
cp "$PGDIR/password" "$PWFILE" && chmod 0600 "$PWFILE"
ctl() { "$CB_BUILDDIR/cetbyodctl/cetbyodctl" --store-conninfo "$CONNINFO" --store-password-file "$PWFILE" "$@"; }
# ctl_b - cetbyodctl pointed at server B's configuration, as an admin on B runs it (--raddb: the store, its
# password file and server_id from B's module, read with FreeRADIUS's parser).
ctl_b() { "$CB_BUILDDIR/cetbyodctl/cetbyodctl" --raddb "$CB_TMP/b/raddb" "$@"; }

# start_das NAME MODE [PORT] - the NAS's DAS on 127.0.0.1 (PORT, or a free one written to $CB_TMP/NAME.port),
# logging to $CB_TMP/NAME.log; its PID in DAS_PID.
start_das() {
	/usr/bin/python3 "$FAULT_NAS" --mode "$2" --listen 127.0.0.1 --port "${3:-0}" --port-file "$CB_TMP/$1.port" \
		--log "$CB_TMP/$1.log" --secret "$DAS_SECRET" --max-seconds 400 &
	DAS_PID=$!
	CB_PIDS="$CB_PIDS $DAS_PID"
	for _ in $(seq 1 50); do [ -s "$CB_TMP/$1.port" ] && return 0; sleep 0.1; done
	return 1
}
start_das das ack || { cb_fail "the NAS's DAS starts"; cb_finish; }
cb_start_smtp_sink || { cb_fail "the SMTP listener starts"; cb_finish; }

now=$(date +%s)
ack_time=$(date -u -d "@$((now - 10 * 86400))" +%Y-%m-%dT%H:%M:%SZ)
printf 'DEFAULT\tCleartext-Password := "staffpw", Cetbyod-Role := Staff\n' > "$CB_TMP/users"
{
	for u in alice bob carol; do printf '%s@school.example\t%s\n' "$u" "$ack_time"; done
	for i in $(seq 1 "$N"); do printf 'u%d@school.example\t%s\n' "$i" "$ack_time"; done
	for i in $(seq 1 "$L"); do printf 'l%d@school.example\t%s\n' "$i" "$ack_time"; done
	# Acknowledged 360 days ago: lapsing in 5 days, in the 7-day reminder window.
	for u in r1 r2 r3; do printf '%s@school.example\t%s\n' "$u" "$(date -u -d "@$((now - 360 * 86400))" +%Y-%m-%dT%H:%M:%SZ)"; done
} > "$CB_TMP/acknowledgements"

# make_server NAME - the raddb of server NAME in $CB_TMP/NAME (its own state_dir, log and audit file),
# on the shared store; its ports in AUTH_NAME and ACCT_NAME.
make_server() {
	d=$CB_TMP/$1
	mkdir -p "$d/state"
	/usr/bin/python3 - "$CB_SRCDIR/raddb/mods-available/cetbyod" "$d/cetbyod.conf" "$CB_TMP" "$d" "$CONNINFO" \
		"$PWFILE" "$(cat "$CB_TMP/das.port")" "$DAS_SECRET" "radius-$1" "$CB_SMTP_PORT" <<'EOF2'
import re, sys
src, dst, tmp, d, conninfo, pwfile, das_port, secret, sid, smtp_port = sys.argv[1:11]
c = open(src).read()
c = c.replace("filename = ${modconfdir}/cetbyod/acknowledgements", "filename = %s/acknowledgements" % tmp)
c = c.replace("check_interval = 5", "check_interval = 1")
c = c.replace("state_dir = ${localstatedir}/lib/cetbyod", 'state_dir = "%s/state"' % d)
c = c.replace("\t\tbackend = sqlite\n", "\t\tbackend = postgresql\n", 1)
c = c.replace('\t\t\tconninfo = ""\n', '\t\t\tconninfo = "%s"\n' % conninfo, 1)
c = c.replace('\t\t\tpassword_file = ""\n', '\t\t\tpassword_file = %s\n' % pwfile, 1)
c = c.replace('\t\t\tserver_id = ""\n', '\t\t\tserver_id = "%s"\n' % sid, 1)
c = c.replace('\tclass_key_file = ""\n', '\tclass_key_file = "%s/class.key"\n' % tmp, 1)
nas = ('\t\tnas ap1 {\n\t\t\tipaddr = 127.0.0.1\n\t\t\tport = %s\n\t\t\tsecret = "%s"\n'
       '\t\t\tprofile = rfc5176\n\t\t}\n' % (das_port, secret))
c = re.sub(r"\tenforce \{.*?\n\t\}", lambda m: m.group(0)[:-2] + nas + "\t}", c, count=1, flags=re.S)
c = re.sub(r"(\n\t\tretry_interval = )\S+", r"\g<1>3", c, count=1)
c = re.sub(r"(\n\t\tmax_duration = )\S+", r"\g<1>2", c, count=1)	# The lease: 3 + 2 * (2 + 1) + 5 = 14 s.
def reminders(m):
    b = m.group(0).replace("enabled = no", "enabled = yes", 1).replace("require_tls = yes", "require_tls = no", 1)
    return re.sub(r'smtp_url = "[^"]*"', 'smtp_url = "smtp://127.0.0.1:%s"' % smtp_port, b, count=1)
c = re.sub(r"\n\treminders \{.*?\n\t\}", reminders, c, count=1, flags=re.S)
open(dst, "w").write(c)
EOF2
	grep -q "backend = postgresql" "$d/cetbyod.conf" && grep -q "nas ap1" "$d/cetbyod.conf" &&
		grep -q "class.key" "$d/cetbyod.conf" && grep -q "smtp://127.0.0.1:$CB_SMTP_PORT" "$d/cetbyod.conf" || return 1
	saved=$CB_TMP
	CB_TMP=$d
	cb_make_raddb "$saved/users" "$saved/acknowledgements" "$d/cetbyod.conf"
	rc=$?
	CB_TMP=$saved
	eval "AUTH_$1=$CB_AUTH_PORT ACCT_$1=$CB_ACCT_PORT"
	return $rc
}

# launch_server NAME - radiusd -X on $CB_TMP/NAME in the background; its PID in PID_NAME.
launch_server() {
	env $(cb_radiusd_env) "$RADIUSD" -X -d "$CB_TMP/$1/raddb" >> "$CB_TMP/$1/radiusd.out" 2>&1 &
	eval "PID_$1=$!"
	CB_PIDS="$CB_PIDS $!"
}
# ready_server NAME - wait (15 s at most) until server NAME serves.
ready_server() {
	pid=$(eval echo "\$PID_$1")
	for _ in $(seq 1 150); do
		grep -q "Ready to process requests" "$CB_TMP/$1/radiusd.out" && return 0
		cb_own_child "$pid" || break
		sleep 0.1
	done
	tail -n 30 "$CB_TMP/$1/radiusd.out" >&2
	return 1
}
start_server() { launch_server "$1" && ready_server "$1"; }

# The shared Class key: the same file for both (state_dir/class.key would differ).
printf '1 %s 0\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$CB_TMP/class.key"
chmod 0600 "$CB_TMP/class.key"
make_server a && make_server b || { cb_fail "two servers' configurations (the shipped lines changed?)"; cb_finish; }
# Both at once: their first reminder rounds run together.
launch_server a; launch_server b
ready_server a && ready_server b || { cb_fail "radiusd A and B start on the shared PostgreSQL store"; cb_finish; }
cb_pass "radiusd A and B start on one PostgreSQL store, each with its own state_dir and audit file"

# --- Reminders and the list of people: once, by one server ----------------------------
mails_to() { grep -l "\"$1\"" "$CB_TMP/mail"/*.json 2>/dev/null | wc -l; }
three() { [ "$(mails_to r1@school.example)" -ge 1 ] && [ "$(mails_to r2@school.example)" -ge 1 ] &&
	[ "$(mails_to r3@school.example)" -ge 1 ]; }
if cb_wait_until 30 three; then
	sleep 3	# Both servers' reminder rounds have run (they start with the listing).
	counts="$(mails_to r1@school.example) $(mails_to r2@school.example) $(mails_to r3@school.example)"
	if [ "$counts" = "1 1 1" ]; then
		cb_pass "two servers: one reminder email per person and window (r1, r2, r3: $counts)"
	else
		cb_fail "two servers: one reminder email per person and window (r1, r2, r3: $counts)"
	fi
else
	cb_fail "the reminders to r1, r2 and r3 are sent ($(ls "$CB_TMP/mail" | wc -l) mails)"
fi
sent_by() { grep -c "reminders: sent to" "$CB_TMP/$1/radiusd.out"; }
echo "    # reminders sent by A: $(sent_by a), by B: $(sent_by b)"
keepers=$(grep -l "this server keeps the list of people" "$CB_TMP/a/radiusd.out" "$CB_TMP/b/radiusd.out" | wc -l)
if [ "$keepers" = 1 ]; then
	cb_pass "one server of the two keeps the list of people in the shared store"
else
	cb_fail "one server of the two keeps the list of people in the shared store ($keepers do)"
fi

# pap PORT USER - an Access-Request; the reply in CB_REPLY.
pap() {
	CB_REPLY=$(printf 'User-Name = "%s"\nUser-Password = "staffpw"\nNAS-IP-Address = 127.0.0.1\nCalling-Station-Id = "02-00-00-00-00-01"\nCalled-Station-Id = "AA-BB-CC-DD-EE-FF:Staff"\n' "$2" |
		"$RADCLIENT" -x -r 1 -t 3 "127.0.0.1:$1" auth testing123 2>&1)
}
class_of_reply() {
	printf '%s\n' "$CB_REPLY" | sed -n 's/.*Class = \(0x63657462796f643a[0-9a-f]*\).*/\1/p' | head -n 1
}
# acct PORT STATUS SESSION CLASS NAS-IP - one Accounting-Request; true when answered.
acct() {
	printf 'Acct-Status-Type = %s\nAcct-Session-Id = "%s"\nUser-Name = "anonymous@school.example"\nNAS-IP-Address = %s\nCalling-Station-Id = "02-00-00-00-00-01"\nCalled-Station-Id = "AA-BB-CC-DD-EE-FF:Staff"\nClass = %s\n' \
		"$2" "$3" "$5" "$4" | "$RADCLIENT" -x -r 1 -t 3 "127.0.0.1:$1" acct testing123 2>&1 |
		grep -q 'Received Accounting-Response'
}
open_session() {
	ctl --json sessions --user "$1" 2>/dev/null | /usr/bin/python3 -c '
import json, sys
sys.exit(0 if [x for x in json.load(sys.stdin)["sessions"] if x["acct_session_id"] == sys.argv[1]] else 1)' "$2"
}
# sent SESSION [LOG] - how many Disconnect-Requests the NAS received for SESSION, a
# retransmission (the same Identifier from the same port, RFC 5080: the ACK was late
# on a loaded machine) counted once: what is counted is requests sent, not packets.
sent() { grep " session=$1 answered=" "$CB_TMP/${2:-das}.log" 2>/dev/null | grep -o ' id=[0-9]* from=[0-9]* ' | sort -u | wc -l; }
# requests_per_bulk_session - "session id from" once per request sent for the bulk sessions.
requests_per_bulk_session() {
	sed -n 's/.* \(id=[0-9]* from=[0-9]*\) session=\(bulk-[0-9]*\) .*/\2 \1/p' "$CB_TMP/das.log" | sort -u
}

# --- A revocation on the shared store: the session A holds goes, once, fast -------------
pap "$AUTH_a" alice
class_a=$(class_of_reply)
if [ -n "$class_a" ] && acct "$ACCT_a" Start s-alice "$class_a" 127.0.0.1 && cb_wait_until 5 open_session alice s-alice; then
	cb_pass "alice is admitted and accounted through server A"
else
	cb_fail "alice is admitted and accounted through server A"
	printf '%s\n' "$CB_REPLY" | sed 's/^/    # /'
fi
pap "$AUTH_b" alice
cb_expect_reply "server B admits alice too (the same store, the same key)" 'Received Access-Accept'
t0=$(date +%s%3N)
ctl_b revoke alice --reason "lost phone" --by tester >/dev/null || cb_fail "cetbyodctl --raddb <B's raddb> revoke alice exits 0"
got_one() { [ "$(sent s-alice)" -ge 1 ]; }
if cb_wait_until 10 got_one; then
	t1=$(awk '/session=s-alice answered=/ { printf "%.0f\n", $1 * 1000; exit }' "$CB_TMP/das.log")
	ms=$((t1 - t0))
	echo "    # revocation -> Disconnect-Request at the NAS: $ms ms (cetbyodctl's own start included)"
	if [ "$ms" -lt 1000 ]; then
		cb_pass "the NAS receives the Disconnect-Request for alice's session within 1 s ($ms ms)"
	else
		cb_fail "the NAS receives the Disconnect-Request for alice's session within 1 s ($ms ms)"
	fi
else
	cb_fail "the NAS receives a Disconnect-Request for alice's session"
fi
pap "$AUTH_b" alice
cb_expect_reply "alice's next Access-Request to server B is refused" 'Received Access-Reject'
sleep 2	# Both enforcers have seen the revocation many times over.
if [ "$(sent s-alice)" = 1 ]; then
	cb_pass "exactly one Disconnect-Request was sent for alice's session (two servers)"
else
	cb_fail "exactly one Disconnect-Request was sent for alice's session (got $(sent s-alice))"
fi
if grep -q "duplicate key\|unique constraint" "$CB_TMP/a/radiusd.out" "$CB_TMP/b/radiusd.out"; then
	cb_fail "no duplicate-key error in either server's log"
else
	cb_pass "no duplicate-key error in either server's log"
fi

# --- Latency, one revocation at a time: admitted through one server, revoked, the NAS told --
: > "$CB_TMP/latency"
for i in $(seq 1 "$L"); do
	if [ $((i % 2)) = 1 ]; then auth=$AUTH_a acctp=$ACCT_b; else auth=$AUTH_b acctp=$ACCT_a; fi
	pap "$auth" "l$i"
	acct "$acctp" Start "lat-$i" "$(class_of_reply)" 127.0.0.1 || continue
	t0=$(date +%s%3N)
	ctl_b revoke "l$i" --reason "timed" --by tester >/dev/null || continue
	lat_seen() { [ "$(sent "lat-$i")" -ge 1 ]; }
	cb_wait_until 5 lat_seen || continue
	awk -v s="session=lat-$i" -v t0="$t0" '$0 ~ s " " { printf "%.0f\n", $1 * 1000 - t0; exit }' "$CB_TMP/das.log" >> "$CB_TMP/latency"
done
read -r lat_n lat_p50 lat_p99 lat_max <<EOF3
$(sort -n "$CB_TMP/latency" | awk '{ v[NR] = $1 } END { if (!NR) { print 0, 0, 0, 0; exit }
	p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]; print NR, p50, p99, v[NR] }')
EOF3
echo "    # revocation (cetbyodctl revoke, its start included) -> Disconnect-Request at the NAS, session accounted through the other server: n=$lat_n p50=${lat_p50} ms p99=${lat_p99} ms max=${lat_max} ms"
if [ "$lat_n" = "$L" ] && [ "$lat_p99" -lt 1000 ]; then
	cb_pass "$L revocations one by one: each Disconnect-Request at the NAS within 1 s (p50 $lat_p50 ms, p99 $lat_p99 ms)"
else
	cb_fail "$L revocations one by one: each Disconnect-Request at the NAS within 1 s ($lat_n timed, p99 $lat_p99 ms)"
fi

# --- N revocations, sessions spread over both servers: each disconnect sent once ------
# batch_auth PORT - Access-Requests for u1..uN in one radclient run; "user class" lines on stdout.
batch_auth() {
	for i in $(seq 1 "$N"); do
		printf 'User-Name = "u%d"\nUser-Password = "staffpw"\nNAS-IP-Address = 127.0.0.1\nCalling-Station-Id = "02-00-00-00-%02x-%02x"\nCalled-Station-Id = "AA-BB-CC-DD-EE-FF:Staff"\n\n' \
			"$i" $((i / 256)) $((i % 256))
	done > "$CB_TMP/auth.req"
	"$RADCLIENT" -x -r 2 -t 5 -p 20 -f "$CB_TMP/auth.req" "127.0.0.1:$1" auth testing123 2>&1 | /usr/bin/python3 -c '
import re, sys
sent, user, out = {}, None, []
cur = None
for line in sys.stdin:
    m = re.match(r"(Sent|Received) (\S+) Id (\d+)", line)
    if m:
        cur = (m.group(1), m.group(3))
        continue
    if cur and cur[0] == "Sent":
        u = re.search(r"User-Name = \"(\S+)\"", line)
        if u: sent[cur[1]] = u.group(1)
    elif cur and cur[0] == "Received":
        c = re.search(r"Class = (0x[0-9a-f]+)", line)
        if c and cur[1] in sent:
            print(sent.pop(cur[1]), c.group(1))
'
}
batch_auth "$AUTH_a" > "$CB_TMP/classes"
got=$(wc -l < "$CB_TMP/classes")
# Starts: odd users through A, even through B (one radclient run each).
: > "$CB_TMP/acct-a.req"; : > "$CB_TMP/acct-b.req"
while read -r user class; do
	i=${user#u}
	printf 'Acct-Status-Type = Start\nAcct-Session-Id = "bulk-%s"\nUser-Name = "anonymous"\nNAS-IP-Address = 127.0.0.1\nCalling-Station-Id = "02-00-00-00-%02x-%02x"\nClass = %s\n\n' \
		"$i" $((i / 256)) $((i % 256)) "$class" >> "$CB_TMP/acct-$([ $((i % 2)) = 1 ] && echo a || echo b).req"
done < "$CB_TMP/classes"
answered=0
for s in a b; do
	port=$([ $s = a ] && echo "$ACCT_a" || echo "$ACCT_b")
	n=$("$RADCLIENT" -r 2 -t 5 -p 20 -f "$CB_TMP/acct-$s.req" "127.0.0.1:$port" acct testing123 2>&1 | grep -c 'Received Accounting-Response')
	answered=$((answered + n))
done
active() { [ "$(ctl --json sessions 2>/dev/null | /usr/bin/python3 -c '
import json, sys; print(len([x for x in json.load(sys.stdin)["sessions"] if x["acct_session_id"].startswith("bulk-")]))')" = "$N" ]; }
if [ "$got" = "$N" ] && [ "$answered" = "$N" ] && cb_wait_until 10 active; then
	cb_pass "$N people admitted; their $N sessions accounted, half through A and half through B"
else
	cb_fail "$N people admitted ($got) and accounted ($answered) over both servers"
fi
t0=$(date +%s%3N)
# Bounded in time too: 600 s (1,000 took 49 to 68 s in the normal build, 274 s in the sanitizer
# build, on a 2-core machine with a load average near 20).
seq 1 "$N" | timeout 600 xargs -P 4 -I{} "$CB_BUILDDIR/cetbyodctl/cetbyodctl" --store-conninfo "$CONNINFO" \
	--store-password-file "$PWFILE" revoke u{} --reason "bulk" --by tester >/dev/null 2>&1
[ $? = 124 ] && cb_fail "the $N revocations are made within 600 s"
t_rev=$(( $(date +%s%3N) - t0 ))
all_sent() { [ "$(grep -o ' session=bulk-[0-9]* ' "$CB_TMP/das.log" | sort -u | wc -l)" -ge "$N" ]; }
if cb_wait_until 60 all_sent; then
	echo "    # $N revocations made in $t_rev ms (4 cetbyodctl at a time); the last disconnect $(( $(date +%s%3N) - t0 )) ms after the first revoke"
	sleep 3	# Both enforcers keep passing: a late second send would show now.
	dups=$(requests_per_bulk_session | cut -d' ' -f1 | uniq -d | wc -l)
	echo "    # packets the NAS received for the bulk sessions: $(grep -c ' session=bulk-' "$CB_TMP/das.log") (retransmissions included)"
	if [ "$dups" = 0 ]; then
		cb_pass "each of the $N sessions received exactly one Disconnect-Request"
	else
		cb_fail "each of the $N sessions received exactly one Disconnect-Request ($dups received more)"
	fi
else
	cb_fail "every one of the $N sessions received a Disconnect-Request ($(grep -o ' session=bulk-[0-9]* ' "$CB_TMP/das.log" | sort -u | wc -l))"
fi
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$(cat "$PGDIR/admin_conninfo") options=-csearch_path=cetbyod" -c "$1" 2>&1; }
echo "    # disconnects sent per server (claimed_by): $(sql "SELECT claimed_by || '=' || count(*) FROM disconnects WHERE acct_session_id LIKE 'bulk-%' GROUP BY claimed_by ORDER BY claimed_by" | tr '\n' ' ')"

# --- A server killed holding a claim: the other sends it after the lease ------------
stop_server "$PID_b" B
PID_b=
# The NAS stops answering (its DAS now silent on the same port), so A's claim stays open while A retransmits.
kill "$DAS_PID"; wait "$DAS_PID" 2>/dev/null; cb_forget_pid "$DAS_PID"
start_das mute silent "$(cat "$CB_TMP/das.port")" || cb_fail "the NAS's DAS restarts, silent"
pap "$AUTH_a" carol
class_c=$(class_of_reply)
acct "$ACCT_a" Start s-mute "$class_c" 127.0.0.1 && cb_wait_until 5 open_session carol s-mute ||
	cb_fail "carol's session is recorded"
ctl_b revoke carol --reason "left" --by tester >/dev/null || cb_fail "cetbyodctl --raddb <B's raddb> revoke carol exits 0"
a_sent() { [ "$(sent s-mute mute)" -ge 1 ]; }
cb_wait_until 5 a_sent || cb_fail "server A sends carol's Disconnect-Request (to a NAS that does not answer)"
claim=$(sql "SELECT claimed_by || ' ' || (next_attempt - extract(epoch FROM now())::bigint) FROM disconnects WHERE acct_session_id = 's-mute'")
kill -9 "$PID_a"; wait "$PID_a" 2>/dev/null; cb_forget_pid "$PID_a"; PID_a=
t_kill=$(date +%s%3N)
before=$(sent s-mute mute)
start_server b || cb_fail "radiusd B starts again"
b_sent() { [ "$(sent s-mute mute)" -gt "$before" ]; }
if cb_wait_until 30 b_sent; then
	after=$(( $(date +%s%3N) - t_kill ))
	by=$(sql "SELECT claimed_by FROM disconnects WHERE acct_session_id = 's-mute'")
	echo "    # A's claim when killed: $claim s of lease left; B sent it $after ms after the kill"
	if [ "$by" = radius-b ] && [ "${claim%% *}" = radius-a ]; then
		cb_pass "server A killed (SIGKILL) holding the claim: B takes the disconnect over after the lease and sends it"
	else
		cb_fail "the disconnect A claimed ($claim) is taken over by B (claimed_by now '$by')"
	fi
else
	cb_fail "server B sends the disconnect A claimed before it was killed (claim: $claim)"
fi

cb_finish
