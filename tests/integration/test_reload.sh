#!/bin/bash
# test_reload.sh - the module's life cycle in a real radiusd: shutdown while
# a disconnect waits on a NAS that never answers, and a reload (SIGHUP) with
# a changed module configuration under load.  Real parts: radiusd, radclient,
# cetbyodctl; a NAS whose DAS drops every packet (a small python3 listener
# on loopback) and one that answers (bench/das-responder, which logs every
# Disconnect-Request it answers).
#
# Scenarios (issue 15, items 4 and 5):
#   1. alice has a session on a NAS whose DAS never answers; IT revokes her;
#      while a Disconnect-Request is in flight (the second attempt, whose
#      pass goes on to a heartbeat once the send is cut short), radiusd gets
#      SIGTERM: it exits by itself within 5 s, with no crash and (in the
#      --enable-sanitizers build) no sanitizer report.  The disconnect is
#      not lost: after a restart pointing at an answering DAS it goes out.
#   2. radiusd under PAP load; the module's configuration is changed (the
#      staff VLAN) and radiusd gets SIGHUP; IT revokes bob during it: the
#      DAS sees exactly one Disconnect-Request for bob's session, every
#      request of the load is answered, the audit trail has one writer (one
#      audit_start since the start) and 'cetbyodctl audit verify' passes.
#      The module is not HUP-safe, so the running module keeps its
#      configuration (the admin sees VLAN 100 still) until a restart, after
#      which the new VLAN is served.
. "$(dirname "$0")/lib.sh"

DAS_SECRET=das-Secret-91c2
CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $CB_TMP/lib/cetbyod"
RESPONDER=$CB_BUILDDIR/bench/das-responder
[ -x "$RESPONDER" ] || { echo "SKIP: $RESPONDER not built"; exit 77; }

now=$(date +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
cat > "$CB_TMP/users" <<EOF2
alice	Cleartext-Password := "alicepw", Cetbyod-Role := Staff
bob	Cleartext-Password := "bobpw", Cetbyod-Role := Staff
carol	Cleartext-Password := "carolpw", Cetbyod-Role := Staff
EOF2
acks=$CB_TMP/acknowledgements
for u in alice bob carol; do
	printf '%s@school.example\t%s\n' "$u" "$(iso $((now - 86400)))"
done > "$acks"

# module_conf DAS_PORT VLAN - the shipped configuration, the acknowledgements
# file above, and one nas whose DAS is 127.0.0.1:DAS_PORT.  One attempt of a
# disconnect lasts up to 6 s (transmissions at 0, 2 and 6 s), the next one
# follows at once, up to 1000 attempts: against a silent NAS every pass of
# the enforcer after the first waits 6 s and ends with a heartbeat (due
# every 5 s).
module_conf() {
	sed -e "s|filename = \${modconfdir}/cetbyod/acknowledgements|filename = $acks|" \
		-e 's|check_interval = 5|check_interval = 1|' \
		-e 's|retry_interval = 60|retry_interval = 0|' \
		-e 's|max_attempts = 5|max_attempts = 1000|' \
		-e 's|max_duration = 30|max_duration = 6|' \
		-e "s|staff_vlan = \"100\"|staff_vlan = \"$2\"|" \
		"$CB_SRCDIR/raddb/mods-available/cetbyod" |
	awk -v port="$1" -v secret="$DAS_SECRET" '
		{ print }
		/^\t\twatch_interval = / {
			print "\t\tnas ap1 {"
			print "\t\t\tipaddr = 127.0.0.1"
			print "\t\t\tport = " port
			print "\t\t\tsecret = \"" secret "\""
			print "\t\t}"
		}'
}

# A DAS that never answers: it counts what it receives, one line a packet.
SILENT_LOG=$CB_TMP/silent.log
/usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
s.settimeout(1)
end = time.monotonic() + 300
while time.monotonic() < end:
    try:
        data, peer = s.recvfrom(4096)
    except socket.timeout:
        continue
    with open(sys.argv[2], "a") as f:
        f.write("code=%d id=%d len=%d\n" % (data[0], data[1], len(data)))' "$CB_TMP/silent.port" "$SILENT_LOG" &
CB_PIDS="$CB_PIDS $!"
for _ in $(seq 1 50); do [ -s "$CB_TMP/silent.port" ] && break; sleep 0.1; done
SILENT_PORT=$(cat "$CB_TMP/silent.port" 2>/dev/null)
[ -n "$SILENT_PORT" ] || { cb_fail "the silent DAS listener starts"; cb_finish; }

module_conf "$SILENT_PORT" 100 > "$CB_TMP/cetbyod.conf"
cb_make_raddb "$CB_TMP/users" "$acks" "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }
MODCONF=$CB_TMP/raddb/mods-available/cetbyod
cb_start_radiusd || { cb_fail "radiusd starts"; cb_finish; }
cb_pass "radiusd starts with an enforce { nas } entry whose DAS never answers"

# session USER SID - an Access-Accept for USER, then an Accounting Start tied to it by its Class.
session() {
	cb_pap "$1" "$1pw"
	class=$(printf '%s\n' "$CB_REPLY" | sed -n 's/.*Class = \(0x63657462796f643a[0-9a-f]*\).*/\1/p' | head -n 1)
	[ -n "$class" ] || return 1
	printf 'Acct-Status-Type = Start\nAcct-Session-Id = "%s"\nUser-Name = "%s"\nNAS-IP-Address = 127.0.0.1\nCalling-Station-Id = "02-00-00-00-00-0%s"\nClass = %s\n' \
		"$2" "$1" "${#1}" "$class" | "$RADCLIENT" -r 1 -t 3 "127.0.0.1:$CB_ACCT_PORT" acct testing123 >/dev/null 2>&1
}
# wait_for SECONDS COMMAND... - until COMMAND succeeds (polled every 0.1 s).
wait_for() {
	n=$(( $1 * 10 ))
	shift
	for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
active() { $CTL sessions --user "$1" 2>/dev/null | grep -q -- "$2"; }

# --- 1. SIGTERM while a disconnect waits on a silent NAS ---------------------
if session alice sess-alice && wait_for 5 active alice sess-alice; then
	cb_pass "alice has an open session on the silent NAS"
else
	cb_fail "alice has an open session on the silent NAS"
fi
cb_run "revoke alice" $CTL revoke alice --reason "shutdown test" --by tester
if wait_for 10 test -s "$SILENT_LOG"; then
	cb_pass "the Disconnect-Request for alice is in flight (the NAS received it and does not answer)"
else
	cb_fail "the Disconnect-Request for alice reaches the silent NAS"
fi
# SIGTERM during the enforcer's second attempt (a new Identifier at the
# NAS): that pass, cut short by the shutdown, goes on to its heartbeat,
# which reads the sync thread's status (freed already by the old shutdown
# order: a use after free that ASan reports).
attempts() { awk '{ print $2 }' "$SILENT_LOG" 2>/dev/null | sort -u | wc -l; }
second_attempt() { [ "$(attempts)" -ge 2 ]; }
if wait_for 20 second_attempt; then
	cb_pass "the enforcer tries again while the NAS stays silent (a second attempt in flight)"
else
	cb_fail "the enforcer tries again while the NAS stays silent"
fi
sleep 0.5
t0=$(date +%s%3N)
if cb_stop_radiusd; then
	cb_pass "SIGTERM with a disconnect in flight: radiusd exits cleanly ($(( $(date +%s%3N) - t0 )) ms)"
fi
if grep -q "Exiting normally" "$CB_TMP/radiusd.out"; then
	cb_pass "radiusd says it exited normally"
else
	cb_fail "radiusd says it exited normally"
fi
cb_check_sanitizers "$CB_TMP/radiusd.out" "radiusd (shutdown with a disconnect in flight)" &&
	cb_pass "no sanitizer report after the shutdown"

# --- 2. SIGHUP with a changed configuration, under load ----------------------
"$RESPONDER" --listen 127.0.0.1 --secret "$DAS_SECRET" --port-file "$CB_TMP/das.port" \
	--log "$CB_TMP/das.log" --max-seconds 300 2>"$CB_TMP/das.err" &
CB_PIDS="$CB_PIDS $!"
for _ in $(seq 1 50); do [ -s "$CB_TMP/das.port" ] && break; sleep 0.1; done
DAS_PORT=$(cat "$CB_TMP/das.port" 2>/dev/null)
[ -n "$DAS_PORT" ] || { cb_fail "das-responder starts: $(cat "$CB_TMP/das.err")"; cb_finish; }
module_conf "$DAS_PORT" 100 > "$MODCONF"
cb_start_radiusd || { cb_fail "radiusd starts again"; cb_finish; }
started=$(date +%s)
from=$(wc -l < "$CB_TMP/radiusd.out")
das_count() { grep -c "session=$1 dup=0" "$CB_TMP/das.log" 2>/dev/null; }
das_seen() { [ "$(das_count "$1")" -ge 1 ]; }
if wait_for 10 das_seen sess-alice; then
	cb_pass "alice's disconnect, cut short by the shutdown, goes out after the restart"
else
	cb_fail "alice's disconnect goes out after the restart"
fi

session bob sess-bob && wait_for 5 active bob sess-bob ||
	cb_fail "bob has an open session on the answering NAS"
audit_starts() { grep -c '"type":"audit_start"' "$CB_TMP/log/cetbyod-audit.jsonl"; }
starts_before=$(audit_starts)

# The load: 4 radclient loops, 60 PAP requests each, for carol.
for l in 1 2 3 4; do
	(
		for _ in $(seq 1 60); do
			printf 'User-Name = "carol"\nUser-Password = "carolpw"\nNAS-IP-Address = 127.0.0.1\n' |
				"$RADCLIENT" -r 2 -t 3 "127.0.0.1:$CB_AUTH_PORT" auth testing123 2>&1 |
				grep -c 'Received Access-Accept' >> "$CB_TMP/load.$l"
		done
	) &
	CB_PIDS="$CB_PIDS $!"
	LOAD_PIDS="${LOAD_PIDS:-} $!"
done
# FreeRADIUS does not reload a module within 2 s of loading it: wait 4 s
# (a real reload comes long after the start).
sleep 1
while [ "$(date +%s)" -lt $((started + 4)) ]; do sleep 0.2; done
module_conf "$DAS_PORT" 101 > "$MODCONF"
touch -d '+2 seconds' "$MODCONF"	# radiusd compares whole seconds
kill -HUP "$CB_RADIUSD_PID"
if wait_for 10 grep -q "HUP - loading modules" "$CB_TMP/radiusd.out"; then
	cb_pass "radiusd re-read its configuration on SIGHUP"
else
	cb_fail "radiusd re-read its configuration on SIGHUP"
fi
cb_run "revoke bob" $CTL revoke bob --reason "revoked during a reload" --by tester
wait_for 10 das_seen sess-bob
sleep 4	# A second enforcer would have sent its own by now (a pass every 0.1 s).
n=$(das_count sess-bob)
if [ "$n" = 1 ]; then
	cb_pass "a revocation during the reload: exactly one Disconnect-Request at the NAS"
else
	cb_fail "a revocation during the reload: $n Disconnect-Requests at the NAS (1 expected)"
	sed 's/^/    # /' "$CB_TMP/das.log"
fi
for p in $LOAD_PIDS; do
	for _ in $(seq 1 600); do cb_own_child "$p" || break; sleep 0.1; done
done
answered=$(cat "$CB_TMP"/load.* | awk '{ s += $1 } END { print s + 0 }')
if [ "$answered" = 240 ]; then
	cb_pass "every request of the load (240) was answered Access-Accept across the reload"
else
	cb_fail "the load across the reload: $answered of 240 answered Access-Accept"
fi
cb_pap bob bobpw
cb_expect_reply "bob, revoked during the reload, is refused" 'Received Access-Reject' 'revoked by IT'
cb_pap carol carolpw
cb_expect_reply "after the HUP the running module keeps its configuration (VLAN 100)" \
	'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"'
if tail -n "+$from" "$CB_TMP/radiusd.out" | grep -q 'reload module "cetbyod"'; then
	cb_fail "the HUP does not build a second cetbyod instance"
else
	cb_pass "the HUP does not build a second cetbyod instance"
fi
sleep 1	# The audit writer flushes in batches.
if [ "$(audit_starts)" = "$starts_before" ]; then
	cb_pass "one audit writer: no audit trail opened by the reload"
else
	cb_fail "one audit writer: $(( $(audit_starts) - starts_before )) audit trail(s) opened by the reload"
fi
out=$($CTL audit verify 2>&1); rc=$?
if [ "$rc" = 0 ]; then
	cb_pass "cetbyodctl audit verify passes after the reload"
else
	cb_fail "cetbyodctl audit verify after the reload (exit $rc)"
	printf '%s\n' "$out" | head -20 | sed 's/^/    # /'
fi

# --- A restart applies the change --------------------------------------------
cb_stop_radiusd && cb_pass "radiusd stops cleanly after the reload"
cb_start_radiusd || { cb_fail "radiusd restarts"; cb_finish; }
cb_pap carol carolpw
cb_expect_reply "a restart applies the changed configuration (VLAN 101)" \
	'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "101"'
cb_finish
