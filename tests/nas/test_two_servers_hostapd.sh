#!/bin/bash
# test_two_servers_hostapd.sh - the NAS with both servers: hostapd (wired,
# on a veth pair, tests/nas/nas-fixture.sh) configured with radiusd A as its
# primary and radiusd B as its secondary authentication and accounting
# server, both sharing one throwaway PostgreSQL 15 store
# (tests/pg/pg-fixture.sh), and a real wpa_supplicant (EAP-TTLS/PAP,
# anonymous outer identity) as alice's device.  Both servers disconnect at
# hostapd's RFC 5176 DAS; both send from 127.0.0.1, the one
# radius_das_client hostapd 2.10 holds.
#
# What the device, hostapd and the servers' logs show:
#   - alice's device is admitted through A (the primary);
#   - `cetbyodctl --raddb <server B's raddb> revoke` (the store from B's
#     module configuration, read with FreeRADIUS's parser):
#     hostapd sends the Disconnect-ACK within 1 s of the revoke starting
#     (cetbyodctl's own start included; the figure is printed; the 250 ms
#     target is bench figure 9's; CB_TWO_ACK_MS overrides), the station
#     is gone, and exactly one Disconnect-Request was sent in all (hostapd's
#     DAS log, and the two servers' logs);
#   - reinstated, the device comes back through A; then A is killed
#     (SIGKILL) and the device logs off and on: hostapd fails over to B
#     (hostapd 2.10: after four unanswered transmissions, about 45 s; the
#     time is printed), B admits, the new session is accounted through B;
#   - a revocation then disconnects the session B holds: the Disconnect-ACK
#     from hostapd (time printed), one more Disconnect-Request, sent by B;
#   - radiusd B ends cleanly (A was killed on purpose).
# Needs root (veth pair, 802.1X sockets, the PostgreSQL fixture), hostapd,
# wpa_supplicant and postgresql-15; skipped (77) without them.  About 90 s.
# TWO_TEST_KEEP=DIR keeps the logs.
# Every PID is the test's own; the veth pair, PostgreSQL and the temporary
# directories go at exit, also on failure.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
. "$here/nas-lib.sh"
. "$here/../integration/pg-lib.sh"
nas_need_root
if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then echo "SKIP: postgresql-15 not installed"; exit 77; fi

FIXTURE=$here/nas-fixture.sh
PGFX=$CB_SRCDIR/tests/pg/pg-fixture.sh
FX=$CB_TMP/nas
DAS_SECRET=das-Secret-two-hostapd-5e1
PGDIR=$(mktemp -d /tmp/cb-pg-hap.XXXXXX)
OUT_A=$CB_TMP/radiusd.out
OUT_B=$CB_TMP/radiusd-b.out
# The bound on revoke -> Disconnect-ACK: 1 s, what a test beside the whole suite can hold (it failed
# 3 runs in 10 at 250 ms under load average 10 to 13); the issue's 250 ms p99 is judged by
# `make bench` (figure 9, on a machine doing nothing else); CB_TWO_ACK_MS overrides the bound.
ACK_MS=${CB_TWO_ACK_MS:-1000}

# stop_b - stop radiusd B as cb_stop_radiusd stops A: SIGTERM, and a failure unless it ends with 0 or 143.
stop_b() {
	[ -n "${B_PID:-}" ] || return 0
	saved_pid=${CB_RADIUSD_PID:-}
	CB_RADIUSD_PID=$B_PID
	B_PID=
	cb_stop_radiusd
	CB_RADIUSD_PID=$saved_pid
}
# two_finish - stop B and check its output for sanitizer reports (both count), then cb_finish (A).
two_finish() {
	stop_b
	cb_check_sanitizers "$OUT_B" "radiusd B"
	cb_finish
}
two_cleanup() {
	# TWO_TEST_KEEP=DIR keeps the logs (both radiusd, hostapd, wpa_supplicant) for a look.
	if [ -n "${TWO_TEST_KEEP:-}" ] && [ -d "$TWO_TEST_KEEP" ]; then
		cp "$OUT_A" "$OUT_B" "$FX"/*.log "$FX"/*.conf "$TWO_TEST_KEEP/" 2>/dev/null
	fi
	nas_fixture_stop
	stop_b
	cb_stop_radiusd
	"$PGFX" stop "$PGDIR" >/dev/null 2>&1
	if [ "$CB_FAILED" -gt 0 ] && [ -f "$OUT_B" ]; then
		echo "---- radiusd B (last 80 lines) ----"
		tail -n 80 "$OUT_B"
	fi
	rm -rf "$PGDIR"
	cb_cleanup
}
trap two_cleanup EXIT

# --- the store, the two servers -------------------------------------------
"$PGFX" start "$PGDIR" >/dev/null || { cb_fail "PostgreSQL 15 starts (tests/pg/pg-fixture.sh)"; two_finish; }
CONNINFO=$(cat "$PGDIR/conninfo")
PWFILE=$CB_TMP/pg-password
cp "$PGDIR/password" "$PWFILE" && chmod 0600 "$PWFILE"
ctl() { "$CB_BUILDDIR/cetbyodctl/cetbyodctl" --store-conninfo "$CONNINFO" --store-password-file "$PWFILE" "$@"; }
# ctl_b - cetbyodctl pointed at server B's configuration (raddb-b, made by cb_pg_start_b), as an admin on B runs it.
ctl_b() { "$CB_BUILDDIR/cetbyodctl/cetbyodctl" --raddb "$CB_TMP/raddb-b" "$@"; }

cb_pg_people alice
DAS_PORT=$(cb_free_udp_port)
for s in a b; do
	cb_pg_modconf "$CB_TMP/cetbyod-$s.conf" postgresql "$CONNINFO" "$PWFILE" "radius-$s" "$DAS_PORT" "$DAS_SECRET" ||
		{ cb_fail "server $s's module configuration (the shipped lines changed?)"; two_finish; }
	sed -i 's/profile = rfc5176/profile = hostapd/' "$CB_TMP/cetbyod-$s.conf"
done
# Each server its own state_dir (its spool): B's is state-b.
mkdir -p "$CB_TMP/state" "$CB_TMP/state-b"
sed -i "s|state_dir = \"$CB_TMP/state\"|state_dir = \"$CB_TMP/state-b\"|" "$CB_TMP/cetbyod-b.conf"
grep -q "state-b" "$CB_TMP/cetbyod-b.conf" || { cb_fail "B's state_dir (the shipped line changed?)"; two_finish; }
# One Class key for both: a Class sealed by one server opens on the other.
printf '1 %s 0\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$CB_TMP/class.key"
chmod 0600 "$CB_TMP/class.key"
sed -i "s|^\tclass_key_file = \"\"|\tclass_key_file = \"$CB_TMP/class.key\"|" "$CB_TMP/cetbyod-a.conf" "$CB_TMP/cetbyod-b.conf"
grep -q "class.key" "$CB_TMP/cetbyod-a.conf" && grep -q "class.key" "$CB_TMP/cetbyod-b.conf" ||
	{ cb_fail "the shared class_key_file in both configurations (the shipped line changed?)"; two_finish; }
cb_make_raddb "$CB_TMP/users" "$CB_TMP/acknowledgements" "$CB_TMP/cetbyod-a.conf" || { cb_fail "build raddb"; two_finish; }
cb_start_radiusd || { cb_fail "radiusd A starts on the PostgreSQL store"; two_finish; }
cb_pg_start_b "$CB_TMP/cetbyod-b.conf" || { cb_fail "radiusd B starts on the same store"; two_finish; }
case " $CB_AUTH_PORT $CB_ACCT_PORT $B_AUTH $B_ACCT " in
*" $DAS_PORT "*) cb_fail "the DAS port $DAS_PORT is free of the servers' ports (rerun)"; two_finish ;;
esac
cb_pass "radiusd A (127.0.0.1:$CB_AUTH_PORT) and B (127.0.0.1:$B_AUTH) on one PostgreSQL store, the same Class key"

# --- the NAS with both servers, and alice's device --------------------------
nas_network TTLS PAP alice staffpw > "$CB_TMP/network"
mkdir -p "$FX"
if "$FIXTURE" start "$FX" --auth-port "$CB_AUTH_PORT" --acct-port "$CB_ACCT_PORT" --secret testing123 \
	--secondary-auth-port "$B_AUTH" --secondary-acct-port "$B_ACCT" --retry-primary-interval 600 \
	--das-port "$DAS_PORT" --das-secret "$DAS_SECRET" --network "$CB_TMP/network" >/dev/null; then
	. "$FX/env"
	cb_pass "hostapd (wired) with A and B as authentication and accounting servers, and wpa_supplicant, on a veth pair"
else
	cb_fail "the NAS fixture starts with two servers"
	two_finish
fi

admits() { grep -c "cetbyod: alice.* -> admit" "$1"; }
das_received() { grep -c "DAS: Received [0-9]* bytes from 127.0.0.1" "$HOSTAPD_LOG"; }
# sent_by OUT - the Disconnect-Requests for alice that server OUT logged as acknowledged.
sent_by() { grep -c "Disconnect-Request for alice .* acknowledged" "$1"; }
# store_has SESSION - cetbyodctl lists SESSION as alice's open session.
store_has() { ctl --json sessions --user alice 2>/dev/null | grep -q "\"acct_session_id\": *\"$1\""; }
# gone - (5 s) hostapd has no authorised station.
gone() {
	for _ in $(seq 1 50); do authorized || return 0; sleep 0.1; done
	return 1
}
# ack_ms T0 N - milliseconds from T0 (ms) to hostapd's Nth DAS reply (hostapd -t stamps its log lines).
ack_ms() {
	awk -v t0="$1" -v n="$2" '/DAS: Reply to 127.0.0.1:/ { if (++i == n) { sub(/:$/, "", $1); printf "%.0f\n", $1 * 1000 - t0; exit } }' "$HOSTAPD_LOG"
}
# revoke_and_time N WHAT - revoke alice; the Disconnect-ACK (hostapd's Nth DAS reply) within 250 ms, station gone.
revoke_and_time() {
	t0=$(ms_now)
	ctl_b revoke alice --reason "$2" --by tester >/dev/null || cb_fail "cetbyodctl --raddb <B's raddb> revoke alice exits 0 ($2)"
	t1=$(ms_now)
	nth() { [ "$(das_received)" -ge "$1" ] && [ -n "$(ack_ms "$t0" "$1")" ]; }
	if cb_wait_until 10 nth "$1"; then
		ms=$(ack_ms "$t0" "$1")
		echo "    # cetbyodctl revoke -> Disconnect-ACK from hostapd ($2): $ms ms (cetbyodctl's start included; cetbyodctl ran $((t1 - t0)) ms)"
		if [ "$ms" -lt "$ACK_MS" ]; then
			cb_pass "$2: hostapd sends the Disconnect-ACK within $ACK_MS ms of the revoke ($ms ms)"
		else
			cb_fail "$2: hostapd sends the Disconnect-ACK within $ACK_MS ms of the revoke ($ms ms)"
		fi
	else
		cb_fail "$2: hostapd receives a Disconnect-Request"
	fi
	if gone; then cb_pass "$2: the station is gone from hostapd"; else cb_fail "$2: the station is gone from hostapd"; fi
}

if wait_authorized ""; then
	S1=$(session_id)
	cb_pass "alice's device authenticates through hostapd (EAP-TTLS/PAP, anonymous outer identity)"
else
	cb_fail "alice's device authenticates"
	two_finish
fi
if [ "$(admits "$OUT_A")" -ge 1 ] && [ "$(admits "$OUT_B")" = 0 ]; then
	cb_pass "A, the primary, admitted alice; B saw nothing"
else
	cb_fail "A admitted alice, not B (A: $(admits "$OUT_A"), B: $(admits "$OUT_B"))"
fi
cb_wait_until 10 store_has "$S1" && cb_pass "alice's session $S1 (accounted through A) is in the shared store" ||
	cb_fail "alice's session $S1 reaches the shared store"

# --- revoked on the shared store: one Disconnect-Request, ACKed fast ---------
revoke_and_time 1 "revocation while A holds the session"
sleep 2	# Both enforcers have seen the revocation many times over: a second send would show now.
n_a=$(sent_by "$OUT_A") n_b=$(sent_by "$OUT_B") n_h=$(das_received)
if [ "$n_h" = 1 ] && [ $((n_a + n_b)) = 1 ]; then
	cb_pass "exactly one Disconnect-Request in all (hostapd received $n_h; A sent $n_a, B $n_b)"
else
	cb_fail "exactly one Disconnect-Request in all (hostapd received $n_h; A sent $n_a, B $n_b)"
fi

# --- reinstated, back through A; A killed: hostapd fails over to B ----------
# hostapd forgets a disconnected station 5 s later (AP_MAX_INACTIVITY_AFTER_DEAUTH); a device back
# before that keeps the old session and is dropped when the timer fires.
no_station() { [ -z "$(hcli all_sta | grep -E '^([0-9a-f]{2}:){5}[0-9a-f]{2}$')" ]; }
cb_wait_until 10 no_station || cb_fail "hostapd forgets the disconnected station"
ctl reinstate alice --by tester >/dev/null || cb_fail "cetbyodctl reinstate alice exits 0"
sleep 1	# In force on both servers within 250 ms (LISTEN/NOTIFY); a device refused meanwhile would be held 60 s.
wcli reauthenticate >/dev/null
if wait_authorized "$S1"; then
	S2=$(session_id)
	cb_pass "reinstated, the device is back on through A (session $S2)"
else
	cb_fail "reinstated, the device comes back"
	two_finish
fi
cb_wait_until 10 store_has "$S2" || cb_fail "session $S2 reaches the shared store"
kill -9 "$CB_RADIUSD_PID"
wait "$CB_RADIUSD_PID" 2>/dev/null
cb_forget_pid "$CB_RADIUSD_PID"
CB_RADIUSD_PID=
t_kill=$(ms_now)
# The device leaves and comes back: hostapd's accounting Stop and then its Access-Request go to A,
# unanswered.  (It comes back once hostapd has forgotten it: an EAPOL-Start before that is ignored.)
wcli logoff >/dev/null
cb_wait_until 10 no_station || cb_fail "hostapd forgets the station that logged off"
wcli logon >/dev/null
back=
for _ in $(seq 1 1200); do	# 120 s at most: hostapd 2.10 fails over after about 45 s.
	if authorized && [ "$(session_id)" != "$S2" ] && [ -n "$(session_id)" ]; then back=yes; break; fi
	sleep 0.1
done
if [ -n "$back" ]; then
	S3=$(session_id)
	echo "    # radiusd A killed -> the device authorised again through B: $(( $(ms_now) - t_kill )) ms"
	cb_pass "A killed (SIGKILL): the device is back on, session $S3"
else
	cb_fail "A killed: the device comes back on through B within 120 s"
	two_finish
fi
if grep -q "No response from Authentication server 127.0.0.1:$CB_AUTH_PORT - failover" "$HOSTAPD_LOG"; then
	cb_pass "hostapd failed its authentication over from A to B"
else
	cb_fail "hostapd logged its authentication failover from A"
fi
if [ "$(admits "$OUT_B")" -ge 1 ]; then
	cb_pass "B admitted alice ($(grep -h "cetbyod: alice.* -> admit" "$OUT_B" | tail -n 1 | sed 's/.*-> /-> /'))"
else
	cb_fail "B admitted alice"
fi
if cb_wait_until 60 store_has "$S3"; then
	cb_pass "the new session $S3 is in the store, accounted through B"
else
	cb_fail "the new session $S3 reaches the store through B's accounting"
fi

# --- a revocation: B disconnects the session it holds -----------------------
revoke_and_time 2 "revocation while B holds the session"
sleep 2
n_b2=$(sent_by "$OUT_B") n_h=$(das_received)
if [ "$n_h" = 2 ] && [ "$n_b2" = $((n_b + 1)) ]; then
	cb_pass "one more Disconnect-Request, sent by B (hostapd received $n_h in all; B sent $n_b2)"
else
	cb_fail "one more Disconnect-Request, sent by B (hostapd received $n_h in all; B sent $n_b2, before $n_b)"
fi
wcli reauthenticate >/dev/null
refused() { grep -q "cetbyod: alice.* -> reject (revoked_by_admin)" "$OUT_B"; }
cb_wait_until 15 refused && cb_pass "the device asks again: B refuses alice (revoked_by_admin)" ||
	cb_fail "B refuses alice's next authentication"
authorized && cb_fail "the port stays unauthorised" || cb_pass "the port stays unauthorised"

stop_b && cb_pass "radiusd B ends cleanly on SIGTERM"
cb_check_sanitizers "$OUT_B" "radiusd B"
cb_finish
