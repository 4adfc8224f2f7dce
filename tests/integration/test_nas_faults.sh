#!/bin/bash
# test_nas_faults.sh - access points that fail, end to end with real parts:
# hostapd (driver=wired, veth pair, via tests/nas/nas-fixture.sh) as the
# healthy NAS with a real wpa_supplicant as bob's device, and faulty NASes
# played by tests/nas/das-fault-nas.py on other loopback addresses; radiusd
# with the module; cetbyodctl as IT uses it.
#
#   A. A NAS that never answers does not hold up the others (issue 15,
#      item 2): a revocation whose session is on the silent NAS is being
#      tried (max_duration 20 s) when IT revokes bob, whose session is on
#      hostapd: Disconnect-ACK and accounting Stop within a second, hostapd
#      drops the station, and `cetbyodctl status` keeps saying radiusd is
#      running for the whole time the silent NAS is tried.
#   B. Failed disconnects (item 3 and the fault tests): a NAS that answers
#      Disconnect-NAK 503 (the session is closed, the disconnect done, no
#      alarm), one that never answers and one that answers with a wrong
#      authenticator (each logged by name, a bounded number of
#      transmissions, the session still open, failed); `cetbyodctl status`
#      names them and exits 4.
#   C. Revocations never fail open (item 8): an identity revoked while
#      radiusd is down is refused on the very first request after the
#      start, also when the store holds an unreadable revocation row, which
#      is reported.
# Needs root (veth, 802.1X sockets); skipped (77) without hostapd.
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root"; exit 77; fi
for c in hostapd wpa_supplicant hostapd_cli wpa_cli ip sqlite3; do
	command -v "$c" >/dev/null 2>&1 || { echo "SKIP: $c not installed"; exit 77; }
done
. "$here/lib.sh"
. "$CB_SRCDIR/tests/nas/nas-lib.sh"

FIXTURE=$CB_SRCDIR/tests/nas/nas-fixture.sh
FAULT_NAS=$CB_SRCDIR/tests/nas/das-fault-nas.py
FX=$CB_TMP/nas
DAS_SECRET=das-Secret-7a1b
CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $CB_TMP/state"

faults_cleanup() {
	# NAS_FAULTS_KEEP=DIR keeps the logs for a look.
	if [ -n "${NAS_FAULTS_KEEP:-}" ] && [ -d "$NAS_FAULTS_KEEP" ]; then
		cp "$CB_TMP/radiusd.out" "$CB_TMP"/fault-*.log "$CB_TMP"/status-*.out "$NAS_FAULTS_KEEP/" 2>/dev/null
	fi
	if [ -f "$FX/ifaces" ]; then
		if [ "$CB_FAILED" -gt 0 ]; then
			echo "---- hostapd log (last 40 lines) ----"
			tail -n 40 "$FX/hostapd.log" 2>/dev/null
		fi
		"$FIXTURE" stop "$FX"
	fi
	cb_cleanup
}
trap faults_cleanup EXIT

# start_fault MODE ADDRESS - a faulty DAS on ADDRESS; its port in FAULT_PORT.
start_fault() {
	rm -f "$CB_TMP/fault-$1.port"
	/usr/bin/python3 "$FAULT_NAS" --mode "$1" --listen "$2" --port-file "$CB_TMP/fault-$1.port" \
		--log "$CB_TMP/fault-$1.log" --secret "$DAS_SECRET" --max-seconds 600 &
	CB_PIDS="$CB_PIDS $!"
	for _ in $(seq 1 50); do
		[ -s "$CB_TMP/fault-$1.port" ] && break
		sleep 0.1
	done
	FAULT_PORT=$(cat "$CB_TMP/fault-$1.port" 2>/dev/null)
	[ -n "$FAULT_PORT" ]
}
start_fault silent 127.0.0.2 || { cb_fail "the silent NAS starts"; cb_finish; }
SILENT_PORT=$FAULT_PORT
start_fault nak503 127.0.0.3 || { cb_fail "the NAK 503 NAS starts"; cb_finish; }
NAK_PORT=$FAULT_PORT
start_fault badauth 127.0.0.4 || { cb_fail "the wrong-authenticator NAS starts"; cb_finish; }
BAD_PORT=$FAULT_PORT

cat > "$CB_TMP/users" <<'EOF2'
bob	Cleartext-Password := "bobpw", Cetbyod-Role := Staff
DEFAULT	Cleartext-Password := "anypw", Cetbyod-Role := Staff
EOF2
: > "$CB_TMP/acknowledgements"
mkdir -p "$CB_TMP/state"

# module_conf IRT_MS MRC MAX_DURATION RETRY_INTERVAL MAX_ATTEMPTS - the
# project's configuration with the state directory, the retransmission
# settings and the four NASes (the faulty ones first: each matches its
# sessions by NAS-Identifier).
module_conf() {
	{
		nas_entry ap-silent "identifier = ap-silent" 127.0.0.2 "$SILENT_PORT" rfc5176
		nas_entry ap-nak503 "identifier = ap-nak503" 127.0.0.3 "$NAK_PORT" rfc5176
		nas_entry ap-badauth "identifier = ap-badauth" 127.0.0.4 "$BAD_PORT" rfc5176
		nas_entry hostapd "ipaddr = 127.0.0.1" 127.0.0.1 "$DAS_PORT" hostapd
	} > "$CB_TMP/nas-table"
	nas_enforce_conf "$CB_TMP/nas-table" initial_retransmit_ms="$1" max_transmissions="$2" max_duration="$3" \
		retry_interval="$4" max_attempts="$5"
}
# nas_entry NAME IDENT ADDRESS PORT PROFILE - one nas section.
nas_entry() {
	printf '\t\tnas %s {\n\t\t\t%s\n\t\t\tdas_address = %s\n\t\t\tport = %s\n\t\t\tsecret = "%s"\n\t\t\tprofile = %s\n\t\t}\n' \
		"$1" "$2" "$3" "$4" "$DAS_SECRET" "$5"
}

DAS_PORT=$(cb_free_udp_port)
module_conf 2000 5 20 2 5
cb_make_raddb "$CB_TMP/users" "$CB_TMP/acknowledgements" "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }
while [ "$DAS_PORT" = "$CB_AUTH_PORT" ] || [ "$DAS_PORT" = "$CB_ACCT_PORT" ]; do
	DAS_PORT=$(cb_free_udp_port)
	module_conf 2000 5 20 2 5
done
grep -q "nas ap-badauth" "$CB_TMP/raddb/mods-available/cetbyod" || { cb_fail "module configuration with four NASes"; cb_finish; }
# Sessions belong to the RADIUS client that sent their accounting (its
# address), so each faulty NAS is a client of its own and sends its own
# accounting: radiusd hears accounting on each of their addresses.
for addr in 127.0.0.3 127.0.0.4; do
	printf 'client fault-%s {\n\tipaddr = %s\n\tsecret = testing123\n\trequire_message_authenticator = no\n}\n' \
		"$addr" "$addr" >> "$CB_TMP/raddb/clients.conf"
done
for addr in 127.0.0.2 127.0.0.3 127.0.0.4; do
	printf 'listen {\n\ttype = acct\n\tipaddr = %s\n\tport = %s\n\tvirtual_server = cetbyod\n}\n' \
		"$addr" "$CB_ACCT_PORT" >> "$CB_TMP/raddb/radiusd.conf"
done
cb_start_radiusd || { cb_fail "radiusd starts"; cb_finish; }
cb_pass "radiusd starts with four enforce { nas } entries (three faulty, hostapd)"

if nas_fixture_start "$DAS_PORT" "$DAS_SECRET"; then
	cb_pass "hostapd (wired NAS) and wpa_supplicant (bob's device) on a veth pair"
else
	cb_fail "fixture starts (root and veth support needed)"
	cb_finish
fi
# fault_session USER NAS_ID SESSION - USER authenticates (PAP) and a
# session of that decision starts on the NAS named NAS_ID, whose accounting
# comes from its own address (radclient binds to Packet-Src-IP-Address).
fault_session() {
	cb_pap "$1" anypw
	class=$(printf '%s\n' "$CB_REPLY" | sed -n 's/.*Class = \(0x[0-9a-f]*\).*/\1/p' | head -n 1)
	[ -n "$class" ] || return 1
	case $2 in
	ap-silent) addr=127.0.0.2 ;;
	ap-nak503) addr=127.0.0.3 ;;
	*) addr=127.0.0.4 ;;
	esac
	printf 'Packet-Src-IP-Address = %s\nAcct-Status-Type = Start\nAcct-Session-Id = "%s"\nUser-Name = "%s"\nNAS-Identifier = "%s"\nCalling-Station-Id = "02-00-00-00-01-%02d"\nClass = %s\n' \
		"$addr" "$3" "$1" "$2" "$((RANDOM % 90 + 10))" "$class" |
		"$RADCLIENT" -r 1 -t 3 "$addr:$CB_ACCT_PORT" acct testing123 >/dev/null 2>&1
	wait_active "$3"
}

# --- A. A silent NAS does not hold up hostapd, nor the heartbeat -------------
for _ in $(seq 1 200); do authorized && break; sleep 0.1; done
bob_session=$(session_id)
if authorized && wait_active "$bob_session"; then
	cb_pass "A: bob's device is authorised by hostapd and his session known ($bob_session)"
else
	cb_fail "A: bob's device is authorised by hostapd and his session known"
fi
if fault_session dave ap-silent silent-1; then
	cb_pass "A: dave has a session on ap-silent (a NAS that never answers)"
else
	cb_fail "A: dave has a session on ap-silent"
fi
$CTL status > "$CB_TMP/status-before.out" 2>&1
if grep -q "^radiusd  *running" "$CB_TMP/status-before.out"; then
	cb_pass "A: cetbyodctl status says radiusd is running"
else
	cb_fail "A: cetbyodctl status says radiusd is running"; sed 's/^/    # /' "$CB_TMP/status-before.out" | head -20
fi
silent_before=$(wc -l < "$CB_TMP/fault-silent.log")
cb_run "revoke dave" $CTL revoke dave --reason "silent NAS test" --by it-office
for _ in $(seq 1 50); do
	[ "$(wc -l < "$CB_TMP/fault-silent.log")" -gt "$silent_before" ] && break
	sleep 0.1
done
if [ "$(wc -l < "$CB_TMP/fault-silent.log")" -gt "$silent_before" ]; then
	cb_pass "A: dave's Disconnect-Request reached ap-silent, which does not answer"
else
	cb_fail "A: dave's Disconnect-Request reached ap-silent"
fi
sleep 2
ACKED='Disconnect-Request for bob (session .* on hostapd) acknowledged'
mark "$ACKED"; mark "Acct-Status-Type = Stop"
t0=$(ms_now)
cb_run "revoke bob" $CTL revoke bob --reason "device reported lost" --by it-office
if wait_new "$ACKED" 25; then
	t1=$(ms_now)
	if [ $((t1 - t0)) -le 1000 ]; then
		cb_pass "A: while ap-silent is tried, cetbyodctl revoke bob -> Disconnect-ACK from hostapd in $((t1 - t0)) ms"
	else
		cb_fail "A: while ap-silent is tried, cetbyodctl revoke bob -> Disconnect-ACK took $((t1 - t0)) ms (more than a second)"
	fi
	echo "# revocation latency with a silent NAS: $((t1 - t0)) ms"
else
	cb_fail "A: cetbyodctl revoke bob -> Disconnect-ACK from hostapd"
fi
gone=no
for _ in $(seq 1 30); do
	authorized || { gone=yes; break; }
	sleep 0.1
done
if [ "$gone" = yes ] && wait_new "Acct-Status-Type = Stop" 2; then
	t2=$(ms_now)
	if [ $((t2 - t0)) -le 1500 ]; then
		cb_pass "A: hostapd dropped bob's station and sent accounting Stop $((t2 - t0)) ms after the revocation"
	else
		cb_fail "A: hostapd's accounting Stop came $((t2 - t0)) ms after the revocation"
	fi
else
	cb_fail "A: hostapd dropped bob's station (hostapd_cli) and sent accounting Stop"
fi
# The heartbeat: status every 2 s while dave's request to ap-silent is still
# being retransmitted (max_duration 20 s from its first transmission).
bad=0
for i in $(seq 1 9); do
	$CTL status > "$CB_TMP/status-$i.out" 2>&1
	grep -q "^radiusd  *running" "$CB_TMP/status-$i.out" || bad=$((bad + 1))
	sleep 2
done
if [ "$bad" -eq 0 ]; then
	cb_pass "A: cetbyodctl status said radiusd is running at each of 9 looks over 18 s while ap-silent was tried"
else
	cb_fail "A: cetbyodctl status did not say radiusd is running $bad times out of 9 while ap-silent was tried"
	grep -h "^radiusd" "$CB_TMP"/status-[0-9].out | sed 's/^/    # /'
fi
if wait_log "disconnect of dave (session silent-1 on ap-silent) failed after [0-9] transmission(s): no answer from 127.0.0.2:$SILENT_PORT" 1 10; then
	cb_pass "A: dave's disconnect on ap-silent timed out (max_duration), logged with the NAS's name and address"
else
	cb_fail "A: dave's disconnect on ap-silent timed out, logged with the NAS's name"
fi

# --- B. NAK 503, silence, a wrong authenticator: bounded, named, alarmed ------
cb_stop_radiusd
cb_run "reinstate dave" $CTL reinstate dave --by it-office
module_conf 300 3 2 1 2
cb_start_radiusd || { cb_fail "B: radiusd restarts with max_transmissions 3, max_attempts 2"; cb_finish; }
for f in silent nak503 badauth; do : > "$CB_TMP/fault-$f.log"; done
ok=yes
fault_session erin ap-nak503 nak-1 || ok=no
fault_session frank ap-silent silent-2 || ok=no
fault_session gina ap-badauth bad-1 || ok=no
[ "$ok" = yes ] && cb_pass "B: erin on ap-nak503, frank on ap-silent, gina on ap-badauth have sessions" ||
	cb_fail "B: sessions on the three faulty NASes"
$CTL status > "$CB_TMP/status-b0.out" 2>&1
b0=$?
for u in erin frank gina; do cb_run "revoke $u" $CTL revoke "$u" --reason "fault test" --by it-office; done
if wait_log "Disconnect-NAK from ap-nak503: Error-Cause 503 (Session Context Not Found)" 1 10; then
	cb_pass "B: ap-nak503's Disconnect-NAK is logged by the NAS's name, with Error-Cause 503 by name"
else
	cb_fail "B: ap-nak503's Disconnect-NAK is logged by name"
fi
if wait_log "ap-nak503 no longer has erin's session nak-1: closed, nothing left to disconnect" 1 5; then
	cb_pass "B: NAK 503: the module closes erin's session (nothing left to disconnect)"
else
	cb_fail "B: NAK 503: the module closes erin's session"
fi
st=$(session_state erin nak-1)
case $st in
"stopped Session-Context-Not-Found") cb_pass "B: cetbyodctl sessions shows erin's session stopped (Session-Context-Not-Found)" ;;
*) cb_fail "B: cetbyodctl sessions shows erin's session stopped, got: $st" ;;
esac
if wait_log "disconnect of frank (session silent-2 on ap-silent) failed after 3 transmission(s): .*giving up: not enforced" 1 20; then
	cb_pass "B: ap-silent: frank's disconnect failed after 3 transmissions, tried twice, given up (logged by name)"
else
	cb_fail "B: ap-silent: frank's disconnect given up after two attempts"
fi
if wait_log "disconnect of gina (session bad-1 on ap-badauth) failed after 3 transmission(s): .*giving up: not enforced" 1 20; then
	cb_pass "B: ap-badauth: gina's disconnect failed after 3 transmissions each of two attempts, given up (logged by name)"
else
	cb_fail "B: ap-badauth: gina's disconnect given up after two attempts"
fi
if grep -q "DAS: dropped an answer from 127.0.0.4:$BAD_PORT to id [0-9]*: .*uthenticator" "$CB_TMP/radiusd.out"; then
	cb_pass "B: the answers with a wrong authenticator are dropped and logged with their sender"
else
	cb_fail "B: the answers with a wrong authenticator are dropped and logged"
	grep "DAS: dropped" "$CB_TMP/radiusd.out" | tail -3 | sed 's/^/    # /'
fi
sleep 3
n_silent=$(grep -c "session=silent-2 " "$CB_TMP/fault-silent.log"); n_bad=$(grep -c "session=bad-1 " "$CB_TMP/fault-badauth.log")
n_nak=$(grep -c "session=nak-1 " "$CB_TMP/fault-nak503.log")
if [ "$n_silent" -eq 6 ] && [ "$n_bad" -eq 6 ] && [ "$n_nak" -eq 1 ]; then
	cb_pass "B: bounded: ap-silent and ap-badauth got 6 requests each (3 transmissions x 2 attempts), ap-nak503 one"
else
	cb_fail "B: bounded retries: ap-silent got $n_silent, ap-badauth $n_bad, ap-nak503 $n_nak requests (want 6, 6, 1)"
fi
st_f=$(session_state frank silent-2); st_g=$(session_state gina bad-1)
if [ "$st_f" = active ] && [ "$st_g" = active ]; then
	cb_pass "B: cetbyodctl sessions still shows frank's and gina's sessions active (not disconnected)"
else
	cb_fail "B: frank's and gina's sessions: $st_f, $st_g (want active, active)"
fi
$CTL status > "$CB_TMP/status-b1.out" 2>&1
b1=$?
if [ "$b0" -eq 0 ] && [ "$b1" -eq 4 ] &&
	grep -q "could not be enforced" "$CB_TMP/status-b1.out" &&
	grep -A12 "Needs attention" "$CB_TMP/status-b1.out" | grep -q "frank" &&
	grep -A12 "Needs attention" "$CB_TMP/status-b1.out" | grep -q "gina" &&
	! grep -A12 "Needs attention" "$CB_TMP/status-b1.out" | grep -q "erin"; then
	cb_pass "B: cetbyodctl status: exit 0 before, exit 4 after, naming frank's and gina's disconnects that could not be enforced, not erin's"
else
	cb_fail "B: cetbyodctl status raises the failed disconnects (exit $b0 before, $b1 after)"
	sed -n '/Needs attention/,$p' "$CB_TMP/status-b1.out" | sed 's/^/    # /'
fi

# --- C. Revoked before the start: refused on the very first request ---------
cb_stop_radiusd
cb_run "revoke carol" $CTL revoke carol --reason "revoked while radiusd was down" --by it-office
# A row cetbyod never writes (an identity longer than any it accepts), as an
# edited database would hold: it must not hide carol's revocation.
long=$(printf 'x%.0s' $(seq 1 300))
sqlite3 "$CB_TMP/state/cetbyod.db" "INSERT INTO revocations (identity, reason, revoked_by, revoked_at) VALUES ('$long', 'edited', 'nobody', strftime('%s','now'))" 2>"$CB_TMP/sqlite.err" ||
	{ cb_fail "C: insert a bad revocation row"; sed 's/^/    # /' "$CB_TMP/sqlite.err"; }
cb_start_radiusd || { cb_fail "C: radiusd restarts"; cb_finish; }
cb_pap carol anypw
cb_expect_reply "C: carol, revoked while radiusd was down, is refused on the very first request after the start" \
	"Received Access-Reject"
if grep -q "carol -> reject (revoked_by_admin)" "$CB_TMP/radiusd.out"; then
	cb_pass "C: the refusal's reason is revoked_by_admin"
else
	cb_fail "C: the refusal's reason is revoked_by_admin"
fi
if grep -q "1 revocation row(s) in the store cannot be read (first: row id [0-9]*.*left out, the other" "$CB_TMP/radiusd.out"; then
	cb_pass "C: the unreadable revocation row is logged with its id, and the others hold"
else
	cb_fail "C: the unreadable revocation row is logged"
fi
$CTL status > "$CB_TMP/status-c.out" 2>&1
if [ $? -eq 4 ] && grep -q "revocation row" "$CB_TMP/status-c.out"; then
	cb_pass "C: cetbyodctl status names the unreadable revocation row and exits 4"
else
	cb_fail "C: cetbyodctl status names the unreadable revocation row"
	sed -n '/Needs attention/,$p' "$CB_TMP/status-c.out" | sed 's/^/    # /'
fi
cb_pap bob bobpw
cb_expect_reply "C: bob, revoked before the restart, is still refused" "Received Access-Reject"

cb_finish
