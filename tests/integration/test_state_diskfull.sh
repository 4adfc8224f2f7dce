#!/bin/bash
# test_state_diskfull.sh - the disk holding the state directory full,
# through a real radiusd (issue 15, fault tests).  The whole state
# directory (cetbyod.db with its -wal and -shm, the status the module
# reports) lives on a small tmpfs that the test mounts itself and fills
# with a filler file, so SQLite's writes fail with SQLITE_FULL; the audit
# file is elsewhere (on the test's ordinary temporary directory).  Deleting
# the filler frees the space again.
#
# A PAP load (radclient, one request every 0.2 s, bounded) runs from before
# the disk fills until after it recovers, and the enforcer runs all along.
# What is checked is what users and the admin see:
#   - radiusd answers every Access-Request, full or not, within radclient's
#     timeout; acknowledged staff are admitted from what the module holds
#     in memory (acknowledgements, revocations, exceptions);
#   - an Accounting-Request that cannot be recorded is not answered
#     (RFC 2866: the NAS keeps it and sends it again), and radiusd logs why;
#     once there is room, the NAS's retransmission is recorded, tied to the
#     person by the Class of a decision made while the disk was full (the
#     decision waited in memory and was written when the disk had room);
#   - 'cetbyodctl status' says that the state store cannot be written and
#     exits 4 (attention); it never says that radiusd is not running;
#   - 'cetbyodctl revoke' fails loudly (exit 3, the disk named), never
#     claims success, and the person is not shown as revoked;
#   - after the filler is removed, without restarting radiusd: status is
#     clean again, a new session is recorded, a revocation works end to end
#     (cetbyodctl revoke -> the next decision is revoked_by_admin), and the
#     database passes PRAGMA integrity_check;
#   - radiusd ends cleanly (cb_finish: no crash, no sanitizer report).
#   - the audit records written while the disk was full (the audit file is
#     elsewhere and holds them) reach the store's copy once there is room
#     ('cetbyodctl audit query' reads it): after the recovery it holds as
#     many records as the file, each once; and 'cetbyodctl audit verify'
#     notices a copy that lacks records (exit 4, how many).
#
# Needs root (mount -t tmpfs).  When the mount is refused the test FAILS
# (it does not skip): the disk-full behaviour is then untested.  About 60 s.
. "$(dirname "$0")/lib.sh"

MNT=$CB_TMP/statefs
STATE=$MNT/cetbyod
DB=$STATE/cetbyod.db
FILLER=$MNT/filler
OUT=$CB_TMP/radiusd.out
CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $STATE"
LOAD=$CB_TMP/load.log		# "start_ms end_ms user result", one line a request
LOAD_STOP=$CB_TMP/load.stop
LOAD_MAX_REQUESTS=600		# the load loop stops after this many requests ...
LOAD_MAX_S=150			# ... or this long, whatever happens
LOAD_PID=
T0=$(date +%s)

# Stop the load and radiusd first (radiusd holds the database open), then
# unmount, then lib.sh's cleanup (remaining PIDs, radiusd output on
# failure, rm -rf).
diskfull_cleanup() {
	stop_load
	cb_stop_radiusd
	cb_tmpfs_umount "$MNT"
	cb_cleanup
}
trap diskfull_cleanup EXIT

ms_now() { date +%s%3N; }
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
wait_until() { cb_wait_until "$@"; }
log_since() { tail -n "+$1" "$OUT" | grep -Eq -- "$2"; }
log_lines() { wc -l < "$OUT"; }

# class_of_reply - the Class of the last reply ($CB_REPLY), as radclient prints it (0x...).
class_of_reply() {
	printf '%s\n' "$CB_REPLY" | sed -n 's/.*Class = \(0x63657462796f643a[0-9a-f]*\).*/\1/p' | head -n 1
}

# acct STATUS SESSION CLASS [TIMEOUT] - one Accounting-Request from NAS
# 127.0.0.9 (one try); true when radiusd answered it.
acct() {
	printf 'Acct-Status-Type = %s\nAcct-Session-Id = "%s"\nUser-Name = "anonymous@school.example"\nNAS-IP-Address = 127.0.0.9\nCalling-Station-Id = "02-00-00-00-00-%02x"\nCalled-Station-Id = "AA-BB-CC-DD-EE-FF:Staff"\nClass = %s\n' \
		"$1" "$2" "$(( $(printf '%s' "$2" | cksum | cut -d ' ' -f 1) % 256 ))" "$3" |
		"$RADCLIENT" -x -r 1 -t "${4:-3}" "127.0.0.1:$CB_ACCT_PORT" acct testing123 2>&1 |
		grep -q 'Received Accounting-Response'
}

# session_of USER SESSION - cetbyodctl lists SESSION as USER's open session.
session_of() {
	$CTL --json sessions --user "$1" 2>/dev/null | /usr/bin/python3 -c '
import json, sys
sid = sys.argv[1]
s = [x for x in json.load(sys.stdin)["sessions"] if x["acct_session_id"] == sid]
sys.exit(0 if s else 1)' "$2"
}

# --- The load: PAP for staff, every 0.2 s, from before the fill to after the recovery.
load_loop() {
	n=0
	end=$(( $(date +%s) + LOAD_MAX_S ))
	while [ ! -e "$LOAD_STOP" ] && [ "$n" -lt "$LOAD_MAX_REQUESTS" ] && [ "$(date +%s)" -lt "$end" ]; do
		n=$((n + 1))
		u=load$(( n % 4 ))
		s=$(ms_now)
		r=$(printf 'User-Name = "%s"\nUser-Password = "staffpw"\nNAS-IP-Address = 127.0.0.1\n' "$u" |
			"$RADCLIENT" -x -r 1 -t 3 "127.0.0.1:$CB_AUTH_PORT" auth testing123 2>&1)
		if printf '%s\n' "$r" | grep -q 'Tunnel-Private-Group-Id:0 = "100"'; then
			res=admit
		elif printf '%s\n' "$r" | grep -q 'Received Access-'; then
			res=other
		else
			res=none
		fi
		echo "$s $(ms_now) $u $res" >> "$LOAD"
		sleep 0.2
	done
}
stop_load() {
	[ -n "$LOAD_PID" ] || return 0
	touch "$LOAD_STOP"
	for _ in $(seq 1 60); do cb_own_child "$LOAD_PID" || break; sleep 0.1; done
	cb_own_child "$LOAD_PID" && kill "$LOAD_PID" 2>/dev/null
	wait "$LOAD_PID" 2>/dev/null
	cb_forget_pid "$LOAD_PID"
	LOAD_PID=
}

# --- The small file system ------------------------------------------------------
cb_tmpfs_mount "$MNT" 6m "the state directory"
mkdir -m 0700 "$STATE"

now=$(date +%s)
cat > "$CB_TMP/users" <<EOF2
DEFAULT	Cleartext-Password := "staffpw", Cetbyod-Role := Staff
EOF2
acks=$CB_TMP/acknowledgements
: > "$acks"
for u in pre1 full1 full2 new1 load0 load1 load2 load3; do
	printf '%s@school.example\t%s\n' "$u" "$(iso $((now - 10 * 86400)))" >> "$acks"
done
cb_make_raddb "$CB_TMP/users" "$acks" || { cb_fail "build raddb"; cb_finish; }
sed -i "s|^\([[:space:]]*\)state_dir = .*|\1state_dir = $STATE|" "$CB_TMP/raddb/mods-available/cetbyod"
if ! grep -q "state_dir = $STATE\$" "$CB_TMP/raddb/mods-available/cetbyod"; then
	cb_fail "point state_dir at the tmpfs (the shipped line changed?)"
	cb_finish
fi
AUDIT=$CB_TMP/log/cetbyod-audit.jsonl

if cb_start_radiusd; then cb_pass "radiusd starts with its state directory on the tmpfs"; else cb_fail "radiusd starts"; cb_finish; fi
if [ -s "$DB" ] && [ -s "$AUDIT" ]; then
	cb_pass "the store is on the tmpfs, the audit file is not"
else
	cb_fail "the store is on the tmpfs ($DB), the audit file is not ($AUDIT)"
fi

# --- Before the disk fills -------------------------------------------------------
cb_pap pre1 staffpw
cb_expect_reply "before the disk fills, acknowledged staff admitted" 'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"'
class_pre=$(class_of_reply)
if acct Start s-pre "$class_pre" && wait_until 3 session_of pre1 s-pre; then
	cb_pass "before the disk fills, a session is recorded and tied to pre1"
else
	cb_fail "before the disk fills, a session is recorded and tied to pre1"
fi
if $CTL status >/dev/null 2>&1; then cb_pass "cetbyodctl status exits 0 before the disk fills"; else cb_fail "cetbyodctl status exits 0 before the disk fills (exit $?)"; $CTL status 2>&1 | sed 's/^/    # /'; fi

: > "$LOAD"
load_loop &
LOAD_PID=$!
CB_PIDS="$CB_PIDS $LOAD_PID"
sleep 1

# --- The disk fills ----------------------------------------------------------------
from=$(( $(log_lines) + 1 ))
if cb_tmpfs_fill "$MNT" "$FILLER"; then cb_pass "the tmpfs is full (filler written to ENOSPC)"; else cb_fail "the tmpfs is full"; df -k "$MNT" | sed 's/^/    # /'; fi
# SQLite may still have room in pages it already holds (the WAL is reused
# from its start after a checkpoint): accounting records use it up until a
# commit fails, i.e. a Start goes unanswered.  (The store's checkpointer
# thread may log "disk is full" first, while commits still fit in the WAL.)
primes=0
full_seen=
for i in $(seq 1 60); do
	primes=$i
	answered=1
	acct Start "s-prime-$i" "$class_pre" 1 || answered=
	if [ -z "$answered" ] && log_since "$from" 'database or disk is full'; then full_seen=1; break; fi
done
if [ -n "$full_seen" ]; then
	cb_pass "the store's writes fail and radiusd's log says why ($primes accounting record(s) to use up the room SQLite held)"
else
	cb_fail "the store's writes fail and radiusd's log says why (nothing after $primes accounting records)"
	cb_finish
fi
t_full=$(ms_now)

# --- While the disk is full ---------------------------------------------------------
for u in full1 full2; do
	cb_pap $u staffpw
	cb_expect_reply "while the disk is full, $u (acknowledged staff) is admitted" 'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"'
done
class_full=$(class_of_reply)	# full2's
if [ -n "$class_full" ]; then cb_pass "the admission made while full carries a Class"; else cb_fail "the admission made while full carries a Class"; fi
acct_from=$(( $(log_lines) + 1 ))
if acct Start s-full2 "$class_full" 2; then
	cb_fail "while the disk is full, an Accounting-Request that cannot be recorded is not answered (RFC 2866)"
else
	cb_pass "while the disk is full, an Accounting-Request that cannot be recorded is not answered (RFC 2866)"
fi
if wait_until 3 log_since "$acct_from" 'Cannot record accounting for session s-full2 on 127.0.0.9'; then
	cb_pass "radiusd logs that the session could not be recorded"
else
	cb_fail "radiusd logs that the session could not be recorded"
fi

status_out=$($CTL status 2>&1); status_rc=$?
if [ "$status_rc" -eq 4 ] && printf '%s\n' "$status_out" | grep -q 'the state store cannot be written'; then
	cb_pass "cetbyodctl status while full: exit 4, says the state store cannot be written"
else
	cb_fail "cetbyodctl status while full: exit 4, says the state store cannot be written (exit $status_rc)"
	printf '%s\n' "$status_out" | sed 's/^/    # /'
fi
# Whatever the heartbeat's age, status must not blame radiusd.
sleep $((3 * 5 + 1))
status_out=$($CTL status 2>&1); status_rc=$?
if [ "$status_rc" -eq 4 ] && printf '%s\n' "$status_out" | grep -q 'the state store cannot be written' &&
	! printf '%s\n' "$status_out" | grep -q 'radiusd is not running'; then
	cb_pass "cetbyodctl status after 16 s full: still the store, never \"radiusd is not running\""
else
	cb_fail "cetbyodctl status after 16 s full: still the store, never \"radiusd is not running\" (exit $status_rc)"
	printf '%s\n' "$status_out" | sed 's/^/    # /'
fi

rev_out=$($CTL revoke full1 --reason "lost phone" --by tester 2>&1); rev_rc=$?
if [ "$rev_rc" -eq 3 ] && printf '%s\n' "$rev_out" | grep -q 'disk is full'; then
	cb_pass "cetbyodctl revoke while full: exit 3 and says the disk is full"
else
	cb_fail "cetbyodctl revoke while full: exit 3 and says the disk is full (exit $rev_rc)"
fi
if printf '%s\n' "$rev_out" | grep -Eqi 'revoked|will be refused|disconnects'; then
	cb_fail "cetbyodctl revoke while full never claims success"
	printf '%s\n' "$rev_out" | sed 's/^/    # /'
else
	cb_pass "cetbyodctl revoke while full never claims success"
fi
if $CTL --json status 2>/dev/null | /usr/bin/python3 -c 'import json, sys
sys.exit(0 if any(r.get("identity") == "full1" for r in json.load(sys.stdin)["revocations"]) else 1)'; then
	cb_fail "the failed revocation is not in the store"
else
	cb_pass "the failed revocation is not in the store"
fi
cb_pap full1 staffpw
cb_expect_reply "full1 is still admitted (the revocation failed, as it said)" 'Received Access-Accept'
if kill -0 "$CB_RADIUSD_PID" 2>/dev/null; then cb_pass "radiusd is still running"; else cb_fail "radiusd is still running"; fi

# --- The space is freed ------------------------------------------------------------
rm -f "$FILLER"
t_free=$(ms_now)
# The NAS sends the unanswered Start again (hostapd retransmits accounting
# for minutes); with room on the disk it is recorded, tied to full2 by the
# Class of the decision made while full.
tries=0
retransmit() { tries=$((tries + 1)); acct Start s-full2 "$class_full" 2; }
if wait_until 15 retransmit; then
	cb_pass "after the space is freed, the retransmitted Start is answered ($tries tries, $(( $(ms_now) - t_free )) ms)"
else
	cb_fail "after the space is freed, the retransmitted Start is answered within 15 s ($tries tries)"
fi
if wait_until 3 session_of full2 s-full2; then
	cb_pass "the session is recorded and tied to full2 (the decision made while full was kept and written)"
else
	cb_fail "the session is recorded and tied to full2 (the decision made while full was kept and written)"
	$CTL --json sessions 2>&1 | grep -B3 -A12 s-full2 | sed 's/^/    # /'
fi
if wait_until 10 eval '$CTL status >/dev/null 2>&1'; then
	cb_pass "cetbyodctl status exits 0 again without a restart ($(( $(ms_now) - t_free )) ms after the space was freed)"
else
	cb_fail "cetbyodctl status exits 0 again without a restart"
	$CTL status 2>&1 | sed 's/^/    # /'
fi
cb_pap new1 staffpw
cb_expect_reply "after the recovery, staff admitted" 'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"'
if acct Start s-new1 "$(class_of_reply)" && wait_until 3 session_of new1 s-new1; then
	cb_pass "after the recovery, a new session is recorded and tied to new1"
else
	cb_fail "after the recovery, a new session is recorded and tied to new1"
fi
rev_out=$($CTL revoke full1 --reason "lost phone" --by tester 2>&1); rev_rc=$?
if [ "$rev_rc" -eq 0 ]; then cb_pass "after the recovery, cetbyodctl revoke succeeds"; else cb_fail "after the recovery, cetbyodctl revoke succeeds (exit $rev_rc)"; printf '%s\n' "$rev_out" | sed 's/^/    # /'; fi
refused() { cb_pap "$1" staffpw; printf '%s\n' "$CB_REPLY" | grep -q 'Received Access-Reject'; }
if wait_until 3 refused full1 && grep -q 'cetbyod: full1 -> reject (revoked_by_admin)' "$OUT"; then
	cb_pass "the revocation works end to end: full1's next decision is reject (revoked_by_admin)"
else
	cb_fail "the revocation works end to end: full1's next decision is reject (revoked_by_admin)"
	printf '%s\n' "$CB_REPLY" | sed 's/^/    # /'
fi
sleep 1
stop_load

# --- The load ------------------------------------------------------------------------
total=$(wc -l < "$LOAD")
unanswered=$(awk '$4 == "none"' "$LOAD" | wc -l)
refused=$(awk '$4 == "other"' "$LOAD" | wc -l)
during=$(awk -v a="$t_full" -v b="$t_free" '$1 >= a && $2 <= b' "$LOAD" | wc -l)
slowest=$(awk 'BEGIN { m = 0 } { if ($2 - $1 > m) m = $2 - $1 } END { print m }' "$LOAD")
echo "# load: $total requests ($during while the disk was full), slowest $slowest ms"
if [ "$total" -gt 0 ] && [ "$unanswered" -eq 0 ]; then
	cb_pass "every Access-Request of the load was answered ($total, $during while full)"
else
	cb_fail "every Access-Request of the load was answered ($unanswered of $total unanswered)"
fi
if [ "$during" -ge 10 ] && [ "$refused" -eq 0 ]; then
	cb_pass "every load request admitted acknowledged staff, full or not"
else
	cb_fail "every load request admitted acknowledged staff, full or not ($refused refused, $during while full)"
fi

# --- The database ---------------------------------------------------------------------
cb_stop_radiusd
if $CTL audit verify >/dev/null 2>&1; then cb_pass "cetbyodctl audit verify passes"; else cb_fail "cetbyodctl audit verify passes"; $CTL audit verify 2>&1 | sed 's/^/    # /'; fi
# The audit file is elsewhere and complete; its copy in the store (what
# 'cetbyodctl audit query' reads) could not be written while the disk was
# full, and the writer copied the missing records from the file once it could.
in_file=$(grep -c . "$AUDIT")
in_store=$(sqlite3 "$DB" 'SELECT count(*) FROM audit' 2>/dev/null || echo '?')
distinct=$(sqlite3 "$DB" 'SELECT count(DISTINCT seq) FROM audit' 2>/dev/null || echo '?')
echo "# audit records: $in_file in the file, $in_store in the store's copy ($distinct distinct)"
if [ "$in_store" = "$in_file" ] && [ "$distinct" = "$in_file" ]; then
	cb_pass "after the recovery the store's audit copy holds every record of the file, once ($in_file)"
else
	cb_fail "after the recovery the store's audit copy holds every record of the file, once ($in_store of $in_file, $distinct distinct)"
fi
q=$($CTL --json audit query --user full2 2>/dev/null | /usr/bin/python3 -c 'import json, sys
print(sum(1 for r in json.load(sys.stdin) if r.get("type") == "decision"))' 2>/dev/null)
if [ "${q:-0}" -ge 1 ]; then
	cb_pass "cetbyodctl audit query finds full2's decision made while the disk was full"
else
	cb_fail "cetbyodctl audit query finds full2's decision made while the disk was full (${q:-none})"
fi
# A copy that lacks records (as it did before the writer caught up) is
# reported by audit verify, with how many.
sqlite3 "$DB" "DELETE FROM audit WHERE seq IN (SELECT seq FROM audit ORDER BY seq LIMIT 2 OFFSET 5)"
vout=$($CTL audit verify 2>&1); vrc=$?
if [ "$vrc" -eq 4 ] && printf '%s\n' "$vout" | grep -q 'lacks 2 of the records'; then
	cb_pass "cetbyodctl audit verify: a store copy lacking 2 records -> exit 4, says how many"
else
	cb_fail "cetbyodctl audit verify: a store copy lacking 2 records -> exit 4, says how many (exit $vrc)"
	printf '%s\n' "$vout" | sed 's/^/    # /'
fi
ic=$(sqlite3 "$DB" 'PRAGMA integrity_check' 2>&1)
if [ "$ic" = ok ]; then cb_pass "the database passes PRAGMA integrity_check"; else cb_fail "the database passes PRAGMA integrity_check: $ic"; fi

echo "# run time $(( $(date +%s) - T0 )) s"
cb_finish
