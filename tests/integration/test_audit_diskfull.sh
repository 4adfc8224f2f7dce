#!/bin/bash
# test_audit_diskfull.sh - the audit trail on a full disk, through a real
# radiusd.  The audit file lives on a small tmpfs that the test mounts
# itself and fills with a filler file, so the writer's write() fails with
# ENOSPC; deleting the filler frees the space again.
#
#   fail_open (the default): while the disk is full radiusd keeps admitting,
#   says loudly that the trail cannot be written, and keeps the records in
#   memory; once the space is freed they are written by themselves (no new
#   traffic needed), every decision made while full is in the file and in
#   the store's copy, and 'cetbyodctl audit verify' passes.
#
#   fail_closed (radiusd restarted): while full, a person who would be
#   admitted is refused with reason audit_unavailable (Reply-Message and
#   the decision line in the log), radiusd keeps answering; after the space
#   is freed admissions resume, the refusals themselves are in the trail,
#   and verify passes.
#
# Finally every decision radiusd logged in either run must be in the trail.
#
# Needs root (mount -t tmpfs).  When the mount is refused the test FAILS
# (it does not skip): the disk-full behaviour is then untested.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/audit-lib.sh"

MNT=$CB_TMP/auditfs
AUDIT=$MNT/cetbyod-audit.jsonl
FILLER=$MNT/filler
OUT=$CB_TMP/radiusd.out
T0=$(date +%s)

# Stop radiusd first (it holds the audit file open), then unmount, then
# lib.sh's cleanup (remaining PIDs, radiusd output on failure, rm -rf).
diskfull_cleanup() {
	cb_stop_radiusd
	if mountpoint -q "$MNT" 2>/dev/null; then
		umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null ||
			echo "# WARNING: cannot unmount $MNT" >&2
	fi
	if mountpoint -q "$MNT" 2>/dev/null; then
		# Never let rm -rf walk into a mounted file system.
		echo "# WARNING: $MNT still mounted; leaving $CB_TMP in place" >&2
		CB_TMP=/nonexistent-cetbyod-test
	fi
	cb_cleanup
}
trap diskfull_cleanup EXIT

# log_since LINE PATTERN - PATTERN (grep -E) in radiusd's output from LINE on.
log_since() { tail -n "+$1" "$OUT" | grep -Eq -- "$2"; }
log_lines() { wc -l < "$OUT"; }

# audit_count IDENTITY STATUS REASON - decision records in the audit file.
audit_count() {
	/usr/bin/python3 - "$AUDIT" "$1" "$2" "$3" <<'EOP'
import json, sys
path, ident, status, reason = sys.argv[1:5]
n = 0
try:
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if (r.get("type") == "decision" and r.get("identity") == ident
                    and r.get("status") == status and r.get("reason") == reason):
                n += 1
except OSError:
    pass
print(n)
EOP
}
audit_has() { [ "$(audit_count "$1" "$2" "$3")" -ge "${4:-1}" ]; }

# query_has USER STATUS REASON - cetbyodctl audit query (the store's copy)
# lists a decision of USER with STATUS and REASON.
query_has() {
	$CTL audit query --user "$1" --format json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
status, reason = sys.argv[1:3]
text = sys.stdin.read()
try:
    data = json.loads(text)
except ValueError:
    sys.exit(1)
recs = data if isinstance(data, list) else next((v for v in data.values() if isinstance(v, list)), [])
sys.exit(0 if any(r.get("type") == "decision" and r.get("status") == status and r.get("reason") == reason
                  for r in recs) else 1)' "$2" "$3"
}

# fill - fill the tmpfs with a filler file until ENOSPC; true when no block is left.
fill() {
	dd if=/dev/zero of="$FILLER" bs=4k >/dev/null 2>&1
	[ "$(df --output=avail -k "$MNT" | tail -n 1 | tr -d ' ')" -eq 0 ]
}

# prime FROM - until the writer reports ENOSPC: send refusals (a person
# unknown to the directory, so nobody is admitted while priming) to use up
# the slack in the audit file's last page.  FROM: the log line to search from.
PRIMES=0
ENOSPC_MSG="audit: cannot write $AUDIT: No space left on device"
prime() {
	prime_from=$1
	for _ in $(seq 1 40); do
		size_before=$(stat -c %s "$AUDIT")
		cb_pap nobody nobodypw
		PRIMES=$((PRIMES + 1))
		# Either that refusal is written (the page had room) or the writer fails.
		wait_until 2 eval 'log_since "$prime_from" "$ENOSPC_MSG" || [ "$(stat -c %s "$AUDIT")" -ne "$size_before" ]'
		log_since "$prime_from" "$ENOSPC_MSG" && return 0
	done
	return 1
}

# --- The small file system ----------------------------------------------------
mkdir -p "$MNT"
if ! mout=$(mount -t tmpfs -o size=256k,mode=0755 cetbyod-auditfs "$MNT" 2>&1); then
	mout=$(printf '%s' "$mout" | tr -s '\n\t ' ' ')
	echo "# cannot mount a tmpfs on $MNT (uid $(id -u)): ${mout:-mount failed}"
	echo "# this test needs root (or CAP_SYS_ADMIN) to create a small file system it can fill"
	cb_fail "mount a 256 KiB tmpfs for the audit file (mount refused: ${mout:-no message})"
	cb_finish
fi
cb_pass "a 256 KiB tmpfs is mounted for the audit file"

now=$(date +%s)
cat > "$CB_TMP/users" <<EOF2
nobody	Cleartext-Password := "nobodypw"
DEFAULT	Cleartext-Password := "staffpw", Cetbyod-Role := Staff
EOF2
acks=$CB_TMP/acknowledgements
: > "$acks"
for u in alice fo1 fo2 fo3 fo4 fc0 fc1 fc2 fc3; do
	printf '%s@school.example\t%s\n' "$u" "$(iso $((now - 10 * 86400)))" >> "$acks"
done
# coalesce_window = 0: prime's repeated refusals of "nobody" must each be a record.
sed -e "s|filename = \${modconfdir}/cetbyod/acknowledgements|filename = $acks|" \
	-e 's|check_interval = 5|check_interval = 1|' \
	-e 's|coalesce_window = 300|coalesce_window = 0|' \
	-e "s|filename = \${logdir}/cetbyod-audit.jsonl|filename = $AUDIT|" \
	"$CB_SRCDIR/raddb/mods-available/cetbyod" > "$CB_TMP/cetbyod.conf"
if ! grep -q "filename = $AUDIT" "$CB_TMP/cetbyod.conf"; then
	cb_fail "point audit { filename } at the tmpfs (the shipped line changed?)"
	cb_finish
fi
cb_make_raddb "$CB_TMP/users" "$acks" "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }
MODCONF=$CB_TMP/raddb/mods-available/cetbyod

# =============================================================================
# fail_open
# =============================================================================
from=1
if cb_start_radiusd; then cb_pass "fail_open: radiusd starts with the audit file on the tmpfs"; else cb_fail "fail_open: radiusd starts"; cb_finish; fi

cb_pap alice staffpw
cb_expect_reply "fail_open: before the disk fills, acknowledged staff admitted" 'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"'
if wait_until 5 audit_has alice admit acknowledged; then
	cb_pass "fail_open: the decision is written to the audit file on the tmpfs"
else
	cb_fail "fail_open: the decision is written to the audit file on the tmpfs"
fi

if fill; then cb_pass "fail_open: the tmpfs is full (filler written to ENOSPC)"; else cb_fail "fail_open: the tmpfs is full"; df -k "$MNT" | sed 's/^/    # /'; fi
size_full=$(stat -c %s "$AUDIT")
if prime "$from"; then
	cb_pass "fail_open: the writer hits ENOSPC and radiusd's log says so ($PRIMES refusal(s) to use up the last page)"
else
	cb_fail "fail_open: the writer hits ENOSPC and radiusd's log says so (nothing after $PRIMES requests)"
	cb_finish
fi
if log_since "$from" "rlm_cetbyod \(cetbyod\): audit: cannot write $AUDIT: No space left on device; [0-9]+ records? waiting in memory \(at most 10000\), still admitting \(on_failure = fail_open\)"; then
	cb_pass "fail_open: the failure is logged naming the file, the errno, the queue and fail_open"
else
	cb_fail "fail_open: the failure is logged naming the file, the errno, the queue and fail_open"
	grep -n 'audit:' "$OUT" | sed 's/^/    # /'
fi
size_failed=$(stat -c %s "$AUDIT")

# Decisions while the disk is full.
t_full=$(ms_now)
for u in fo1 fo2 fo3; do
	cb_pap $u staffpw
	cb_expect_reply "fail_open: while the disk is full, $u (acknowledged staff) is still admitted" \
		'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"'
	if log_since "$from" "cetbyod: $u -> admit \(acknowledged\)"; then
		cb_pass "fail_open: radiusd logs the admission of $u"
	else
		cb_fail "fail_open: radiusd logs the admission of $u"
	fi
done
sleep 0.5
n=0
for u in fo1 fo2 fo3; do n=$((n + $(audit_count $u admit acknowledged))); done
if [ "$n" -eq 0 ]; then
	cb_pass "fail_open: while full, the decisions are held in memory, not in the file"
else
	cb_fail "fail_open: while full, the decisions are held in memory, not in the file ($n in the file)"
fi
size_now=$(stat -c %s "$AUDIT")
if [ "$size_now" -eq "$size_failed" ] && [ "$(tail -c 1 "$AUDIT" | od -An -c | tr -d ' ')" = '\n' ]; then
	cb_pass "fail_open: a failed write leaves no partial line behind (file ends with a complete line)"
else
	cb_fail "fail_open: a failed write leaves no partial line behind (size $size_full at full, $size_failed after the failure, $size_now now)"
fi
check_verify "fail_open: cetbyodctl audit verify passes while the disk is full"
if kill -0 "$CB_RADIUSD_PID" 2>/dev/null; then cb_pass "fail_open: radiusd is still running"; else cb_fail "fail_open: radiusd is still running"; fi

# Free the space; no further traffic: the writer must retry by itself.  Its
# retries back off from 1 s to at most 5 s apart (CB_AUDIT_RETRY_MAX_MS in
# audit.h), and new records do not hurry them, so the bound is 5 s (7 s
# with the margin of a loaded machine).
rm -f "$FILLER"
t_free=$(ms_now)
if wait_until 7 eval 'audit_has fo1 admit acknowledged && audit_has fo2 admit acknowledged && audit_has fo3 admit acknowledged'; then
	took=$(( $(ms_now) - t_free ))
	cb_pass "fail_open: once the space is freed, the decisions made while full are written within 7 s without new traffic (after $took ms)"
else
	cb_fail "fail_open: once the space is freed, the decisions made while full are written within 7 s without new traffic"
fi
if wait_until 3 log_since "$from" "audit: writing $AUDIT again"; then
	cb_pass "fail_open: radiusd's log says the trail is written again"
else
	cb_fail "fail_open: radiusd's log says the trail is written again"
fi
if wait_until 3 eval 'query_has fo1 admit acknowledged && query_has fo2 admit acknowledged && query_has fo3 admit acknowledged'; then
	cb_pass "fail_open: cetbyodctl audit query finds the decisions made while full"
else
	cb_fail "fail_open: cetbyodctl audit query finds the decisions made while full"
	$CTL audit query --user fo1 --format json 2>&1 | sed 's/^/    # /'
fi
if grep -q '"type":"audit_gap"' "$AUDIT"; then
	cb_fail "fail_open: no audit_gap record (nothing was dropped with a queue of 10000)"
else
	cb_pass "fail_open: no audit_gap record (nothing was dropped with a queue of 10000)"
fi
check_verify "fail_open: cetbyodctl audit verify passes after the recovery (chain intact, file and store agree)"
cb_pap fo4 staffpw
cb_expect_reply "fail_open: after the recovery, admissions go on" 'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"'
if wait_until 5 audit_has fo4 admit acknowledged; then
	cb_pass "fail_open: and are written at once again"
else
	cb_fail "fail_open: and are written at once again"
fi
echo "# fail_open: admissions made while full: 3, over $(( t_free - t_full )) ms"

# =============================================================================
# fail_closed
# =============================================================================
cb_stop_radiusd
sed -i 's/^\([[:space:]]*\)on_failure = fail_open/\1on_failure = fail_closed/' "$MODCONF"
if ! grep -q 'on_failure = fail_closed' "$MODCONF"; then
	cb_fail "fail_closed: set audit { on_failure = fail_closed }"
	cb_finish
fi
from=$(( $(log_lines) + 1 ))
if cb_start_radiusd; then cb_pass "fail_closed: radiusd restarts with on_failure = fail_closed"; else cb_fail "fail_closed: radiusd restarts"; cb_finish; fi

cb_pap fc0 staffpw
cb_expect_reply "fail_closed: before the disk fills, acknowledged staff admitted" 'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"'
if wait_until 5 audit_has fc0 admit acknowledged; then
	cb_pass "fail_closed: the decision is written to the audit file"
else
	cb_fail "fail_closed: the decision is written to the audit file"
fi

if fill; then cb_pass "fail_closed: the tmpfs is full again"; else cb_fail "fail_closed: the tmpfs is full again"; df -k "$MNT" | sed 's/^/    # /'; fi
PRIMES=0
if prime "$from"; then
	cb_pass "fail_closed: the writer hits ENOSPC and radiusd's log says so ($PRIMES refusal(s) to use up the last page)"
else
	cb_fail "fail_closed: the writer hits ENOSPC and radiusd's log says so (nothing after $PRIMES requests)"
	cb_finish
fi
if log_since "$from" "rlm_cetbyod \(cetbyod\): audit: cannot write $AUDIT: No space left on device; [0-9]+ records? waiting in memory \(at most 10000\), refusing admissions \(on_failure = fail_closed\)"; then
	cb_pass "fail_closed: the failure is logged, saying that admissions are refused"
else
	cb_fail "fail_closed: the failure is logged, saying that admissions are refused"
	tail -n "+$from" "$OUT" | grep -n 'audit:' | sed 's/^/    # /'
fi

for u in fc1 fc2; do
	cb_pap $u staffpw
	cb_expect_reply "fail_closed: while the disk is full, $u (acknowledged staff) is refused and told why" \
		'Received Access-Reject' 'Reply-Message = "Connections cannot be recorded at the moment; please try again later."'
	cb_expect_not "fail_closed: no VLAN, Class or Session-Timeout for $u" 'Tunnel-Private-Group-Id|Class = |Session-Timeout'
	if log_since "$from" "cetbyod: $u -> reject \(audit_unavailable\)"; then
		cb_pass "fail_closed: radiusd logs \"$u -> reject (audit_unavailable)\""
	else
		cb_fail "fail_closed: radiusd logs \"$u -> reject (audit_unavailable)\""
		tail -n "+$from" "$OUT" | grep "cetbyod: $u" | sed 's/^/    # /'
	fi
done
if kill -0 "$CB_RADIUSD_PID" 2>/dev/null; then cb_pass "fail_closed: radiusd is still running"; else cb_fail "fail_closed: radiusd is still running"; fi
cb_pap nobody nobodypw
cb_expect_reply "fail_closed: other refusals keep their own reason while full" 'Received Access-Reject' 'not found in the school directory'
check_verify "fail_closed: cetbyodctl audit verify passes while the disk is full"

rm -f "$FILLER"
t_free=$(ms_now)
tries=0
admitted=
while [ $(( $(ms_now) - t_free )) -lt 15000 ]; do
	tries=$((tries + 1))
	cb_pap fc3 staffpw
	if printf '%s\n' "$CB_REPLY" | grep -q 'Tunnel-Private-Group-Id:0 = "100"'; then admitted=1; break; fi
	sleep 0.5
done
if [ -n "$admitted" ]; then
	cb_pass "fail_closed: after the space is freed, admissions resume ($tries request(s), $(( $(ms_now) - t_free )) ms)"
else
	cb_fail "fail_closed: after the space is freed, admissions resume within 15 s ($tries requests)"
	printf '%s\n' "$CB_REPLY" | sed 's/^/    # /'
fi
if [ "$tries" -gt 1 ]; then
	echo "# NOTE: fail_closed: $((tries - 1)) request(s) after the space was freed were still refused (audit_unavailable)"
fi
if wait_until 5 eval 'audit_has fc1 reject audit_unavailable && audit_has fc2 reject audit_unavailable'; then
	cb_pass "fail_closed: the refusals made while full are in the trail (reject, audit_unavailable)"
else
	cb_fail "fail_closed: the refusals made while full are in the trail (reject, audit_unavailable)"
fi
if wait_until 5 audit_has fc3 admit acknowledged; then
	cb_pass "fail_closed: the admission after the recovery is in the trail"
else
	cb_fail "fail_closed: the admission after the recovery is in the trail"
fi
if audit_has fc1 admit acknowledged || audit_has fc2 admit acknowledged; then
	cb_fail "fail_closed: nobody refused while full is recorded as admitted"
else
	cb_pass "fail_closed: nobody refused while full is recorded as admitted"
fi
if wait_until 3 eval 'query_has fc1 reject audit_unavailable && query_has fc3 admit acknowledged'; then
	cb_pass "fail_closed: cetbyodctl audit query finds the refusal and the admission"
else
	cb_fail "fail_closed: cetbyodctl audit query finds the refusal and the admission"
	$CTL audit query --user fc1 --format json 2>&1 | sed 's/^/    # /'
fi
check_verify "fail_closed: cetbyodctl audit verify passes after the recovery"

# =============================================================================
# Nothing lost: every decision radiusd logged (both runs) is in the trail.
# =============================================================================
cb_stop_radiusd
if /usr/bin/python3 - "$OUT" "$AUDIT" <<'EOP'
import collections, json, re, sys
out, audit = sys.argv[1:3]
logged = collections.Counter()
pat = re.compile(r"cetbyod: (\S+) -> (\S+) \((\S+)\)")
with open(out, encoding="utf-8", errors="replace") as f:
    for line in f:
        m = pat.search(line)
        if m:
            logged[m.groups()] += 1
written = collections.Counter()
with open(audit, encoding="utf-8") as f:
    for line in f:
        r = json.loads(line)
        if r.get("type") == "decision":
            written[(r.get("identity"), r.get("status"), r.get("reason"))] += 1
if logged != written or not logged:
    for k in sorted(set(logged) | set(written)):
        if logged[k] != written[k]:
            print("    # %s -> %s (%s): %d logged, %d in the trail" % (k + (logged[k], written[k])))
    sys.exit(1)
print("    # %d decisions logged, all %d in the trail" % (sum(logged.values()), sum(written.values())))
EOP
then
	cb_pass "every decision radiusd logged in both runs is in the audit trail, none twice"
else
	cb_fail "every decision radiusd logged in both runs is in the audit trail, none twice"
fi
check_verify "cetbyodctl audit verify passes after radiusd stopped"

echo "# run time $(( $(date +%s) - T0 )) s"
cb_finish
