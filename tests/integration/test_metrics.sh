#!/bin/bash
# test_metrics.sh - metrics for monitoring (issue 16, item 4), with real
# parts: radiusd with the module (metrics { filename, interval = 1 }),
# radclient as the NAS's RADIUS side, tests/nas/das-fault-nas.py --mode ack
# as the NAS's DAS (a healthy NAS answering Disconnect-ACK), the local
# acknowledgements file as the source, cetbyodctl as IT uses it.
#
#   1. A metrics { filename } whose directory does not exist: radiusd
#      refuses to start, naming the option.
#   2. The textfile exists, and parses as Prometheus text format 0.0.4 (a
#      strict parser below: HELP/TYPE before samples, cetbyod_ names,
#      counters ending _total, escaped label values, numeric values).
#   3. Decisions: an admit (acknowledged) and a refusal (not_staff) show in
#      cetbyod_decisions_total by status and reason.
#   4. Syncs: the acknowledgements file removed -> cetbyod_sync_last_ok 0
#      and the age grows; put back -> 1 and the age small again.
#   5. Disconnects: IT revokes a person with an open session -> the NAS
#      gets a Disconnect-Request, cetbyod_disconnects_total{outcome="acked"}
#      goes to 1.
#   6. cetbyodctl metrics: exit 0, the same strict parse, decisions and the
#      acked disconnect counted from the audit index, the sync's source.
here=$(cd "$(dirname "$0")" && pwd)
command -v sqlite3 >/dev/null 2>&1 || { echo "SKIP: sqlite3 not installed"; exit 77; }
. "$here/lib.sh"

FAULT_NAS=$CB_SRCDIR/tests/nas/das-fault-nas.py
DAS_SECRET=das-Secret-3c9d
CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $CB_TMP/state"
PROM=$CB_TMP/prom/cetbyod.prom
now=$(date +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# prom_check FILE - the strict parser: exit 0 and the samples as
# "name{labels} value" lines on stdout, or exit 1 naming the first fault.
prom_check() {
	/usr/bin/python3 - "$1" <<'EOF2'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
def bad(n, why):
    sys.exit("line %d: %s" % (n, why))
if not text.endswith("\n"):
    bad(0, "no newline at the end")
name_re = r"cetbyod_[a-zA-Z0-9_]*"
label_re = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
sample_re = re.compile(r"^(%s)(\{%s(?:,%s)*\})? (-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?|NaN|[+-]Inf)$"
                       % (name_re, label_re, label_re))
types, helps, seen_samples, done = {}, set(), set(), set()
current = None
for n, line in enumerate(text.split("\n")[:-1], 1):
    m = re.match(r"^# (HELP|TYPE) (%s) (.+)$" % name_re, line)
    if m:
        kind, name, rest = m.groups()
        if name in done or (current and name != current and name in types):
            bad(n, "%s described twice or after its samples" % name)
        if kind == "TYPE":
            if rest not in ("counter", "gauge"):
                bad(n, "type %s" % rest)
            if rest == "counter" and not name.endswith("_total"):
                bad(n, "counter %s does not end in _total" % name)
            types[name] = rest
        else:
            helps.add(name)
        if current and current != name:
            done.add(current)
        current = name
        continue
    if line.startswith("#") or not line:
        bad(n, "unexpected line %r" % line)
    m = sample_re.match(line)
    if not m:
        bad(n, "not a sample: %r" % line)
    name = m.group(1)
    if name not in types or name not in helps or name != current:
        bad(n, "%s has no HELP and TYPE just before it" % name)
    key = name + (m.group(2) or "")
    if key in seen_samples:
        bad(n, "sample %s twice" % key)
    seen_samples.add(key)
    print(line)
EOF2
}

# value FILE SAMPLE - the value of one sample (exact name and labels), or "".
value() {
	prom_check "$1" 2>/dev/null | awk -v k="$2" '$1 == k { print $2 }'
}

# wait_value FILE SAMPLE VALUE - wait (10 s at most) until SAMPLE reads VALUE.
wait_value() {
	for _ in $(seq 1 100); do
		[ "$(value "$1" "$2")" = "$3" ] && return 0
		sleep 0.1
	done
	return 1
}

start_das() {
	rm -f "$CB_TMP/das.port"
	/usr/bin/python3 "$FAULT_NAS" --mode ack --listen 127.0.0.1 --port-file "$CB_TMP/das.port" \
		--log "$CB_TMP/das.log" --secret "$DAS_SECRET" --max-seconds 600 &
	CB_PIDS="$CB_PIDS $!"
	for _ in $(seq 1 50); do
		[ -s "$CB_TMP/das.port" ] && break
		sleep 0.1
	done
	DAS_PORT=$(cat "$CB_TMP/das.port" 2>/dev/null)
	[ -n "$DAS_PORT" ]
}
start_das || { cb_fail "the DAS (das-fault-nas.py --mode ack) starts"; cb_finish; }

# module_conf METRICS_FILE - the shipped configuration with the test's
# acknowledgements, state directory, metrics and one NAS (this host).
module_conf() {
	/usr/bin/python3 - "$CB_SRCDIR/raddb/mods-available/cetbyod" "$CB_TMP/cetbyod.conf" "$1" <<EOF2
import re, sys
src, dst, prom = sys.argv[1:]
c = open(src).read()
c = c.replace("filename = \${modconfdir}/cetbyod/acknowledgements", "filename = $CB_TMP/acknowledgements")
c = c.replace("check_interval = 5", "check_interval = 1")
# Refusals not coalesced: cetbyodctl metrics counts olly's second refusal
# from the index at once (coalesced, it would count once summarised).
c = c.replace("coalesce_window = 300", "coalesce_window = 0")
c = c.replace("state_dir = \${localstatedir}/lib/cetbyod", 'state_dir = "$CB_TMP/state"')
c = re.sub(r"(\tmetrics \{.*?filename = )\"\"(.*?interval = )30", r'\g<1>"%s"\g<2>1' % prom, c, count=1, flags=re.S)
table = ("\t\tnas ap1 {\n\t\t\tipaddr = 127.0.0.1\n\t\t\tdas_address = 127.0.0.1\n\t\t\tport = $DAS_PORT\n"
         "\t\t\tsecret = \"$DAS_SECRET\"\n\t\t\tprofile = rfc5176\n\t\t}\n")
c = re.sub(r"\tenforce \{.*?\n\t\}", lambda m: m.group(0)[:-2] + table + "\t}", c, count=1, flags=re.S)
open(dst, "w").write(c)
EOF2
	cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod" 2>/dev/null
	return 0
}

cat > "$CB_TMP/users" <<'EOF2'
bob	Cleartext-Password := "bobpw", Cetbyod-Role := Staff
olly	Cleartext-Password := "ollypw", Cetbyod-Role := Other
EOF2
printf 'bob@school.example\t%s\n' "$(iso $((now - 86400)))" > "$CB_TMP/acknowledgements"
mkdir -p "$CB_TMP/state"

# --- 1. A directory that does not exist is refused ------------------------------
module_conf "$CB_TMP/no-such-dir/cetbyod.prom"
cb_make_raddb "$CB_TMP/users" "$CB_TMP/acknowledgements" "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }
grep -q "no-such-dir/cetbyod.prom" "$CB_TMP/raddb/mods-available/cetbyod" || { cb_fail "metrics { filename } set"; cb_finish; }
if cb_radiusd_check "$CB_TMP/check.out"; then
	cb_fail "1: a metrics { filename } in a missing directory is refused"
elif grep -q "'metrics { filename }'.*no-such-dir.*does not exist" "$CB_TMP/check.out"; then
	cb_pass "1: a metrics { filename } in a missing directory is refused, naming the option"
else
	cb_fail "1: the refusal names metrics { filename }"; grep -i metrics "$CB_TMP/check.out" | sed 's/^/    # /'
fi

# --- 2. The textfile exists and parses -------------------------------------------
mkdir -p "$CB_TMP/prom"
module_conf "$PROM"
cb_start_radiusd || { cb_fail "radiusd starts with metrics { filename = $PROM }"; cb_finish; }
for _ in $(seq 1 50); do [ -s "$PROM" ] && break; sleep 0.1; done
if [ -s "$PROM" ] && prom_check "$PROM" > "$CB_TMP/samples.out"; then
	cb_pass "2: the textfile is written and parses as Prometheus text ($(wc -l < "$CB_TMP/samples.out") samples)"
else
	cb_fail "2: the textfile is written and parses"; prom_check "$PROM" 2>&1 | tail -3 | sed 's/^/    # /'
fi
if [ -z "$(find "$CB_TMP/prom" -name '.*')" ]; then
	cb_pass "2: no temporary file is left in the textfile directory"
else
	cb_fail "2: temporary files left: $(find "$CB_TMP/prom" -name '.*')"
fi

# --- 3. Decisions ----------------------------------------------------------------
admit='cetbyod_decisions_total{status="admit",reason="acknowledged"}'
refuse='cetbyod_decisions_total{status="reject",reason="not_staff"}'
cb_pap bob bobpw
cb_expect_reply "3: bob (acknowledged) admitted" 'Received Access-Accept'
bob_reply=$CB_REPLY
cb_pap olly ollypw
cb_expect_reply "3: olly (not staff) refused" 'Received Access-Reject'
cb_pap olly ollypw
if wait_value "$PROM" "$admit" 1 && wait_value "$PROM" "$refuse" 2; then
	cb_pass "3: the textfile counts the decisions: $admit 1, $refuse 2"
else
	cb_fail "3: decisions counted (admit: '$(value "$PROM" "$admit")', refuse: '$(value "$PROM" "$refuse")')"
fi

# --- 4. Syncs ---------------------------------------------------------------------
if wait_value "$PROM" cetbyod_sync_last_ok 1 && [ "$(value "$PROM" 'cetbyod_sync_info{source="file"}')" = 1 ]; then
	cb_pass "4: the sync's last read succeeded (cetbyod_sync_last_ok 1, source file)"
else
	cb_fail "4: cetbyod_sync_last_ok 1 at the start"
fi
mv "$CB_TMP/acknowledgements" "$CB_TMP/acknowledgements.away"
if wait_value "$PROM" cetbyod_sync_last_ok 0; then
	a1=$(value "$PROM" cetbyod_sync_age_seconds)
	sleep 2.2
	a2=$(value "$PROM" cetbyod_sync_age_seconds)
	if [ -n "$a1" ] && [ -n "$a2" ] && [ "$a2" -ge $((a1 + 2)) ]; then
		cb_pass "4: the file gone: cetbyod_sync_last_ok 0 and the age grows ($a1 s, then $a2 s)"
	else
		cb_fail "4: the age grows while the source fails ($a1, then $a2)"
	fi
else
	cb_fail "4: the file gone: cetbyod_sync_last_ok 0"
fi
mv "$CB_TMP/acknowledgements.away" "$CB_TMP/acknowledgements"
if wait_value "$PROM" cetbyod_sync_last_ok 1 && [ "$(value "$PROM" cetbyod_sync_age_seconds)" -le 2 ]; then
	cb_pass "4: the file back: cetbyod_sync_last_ok 1, age $(value "$PROM" cetbyod_sync_age_seconds) s"
else
	cb_fail "4: the file back: last_ok 1 and a small age ($(value "$PROM" cetbyod_sync_age_seconds))"
fi

# --- 5. Disconnects ---------------------------------------------------------------
acked='cetbyod_disconnects_total{outcome="acked"}'
if [ "$(value "$PROM" "$acked")" = 0 ]; then cb_pass "5: no disconnect yet ($acked 0)"
else cb_fail "5: $acked 0 before any disconnect ($(value "$PROM" "$acked"))"; fi
class=$(printf '%s\n' "$bob_reply" | sed -n 's/.*Class = \(0x[0-9a-f]*\).*/\1/p' | head -n 1)
printf 'Acct-Status-Type = Start\nAcct-Session-Id = "m-1"\nUser-Name = "bob"\nNAS-IP-Address = 127.0.0.1\nCalling-Station-Id = "02-00-00-00-01-01"\nClass = %s\n' "$class" |
	"$RADCLIENT" -r 1 -t 3 "127.0.0.1:$CB_ACCT_PORT" acct testing123 >/dev/null 2>&1
for _ in $(seq 1 50); do $CTL --json sessions --user bob 2>/dev/null | grep -q '"m-1"' && break; sleep 0.1; done
cb_run "revoke bob" $CTL revoke bob --reason "metrics test" --by it-office
if wait_value "$PROM" "$acked" 1 && grep -q "session=m-1 answered=Disconnect-ACK" "$CB_TMP/das.log"; then
	cb_pass "5: IT revokes bob: the NAS acknowledged the Disconnect-Request and $acked is 1"
else
	cb_fail "5: the revocation's disconnect counted ($acked: '$(value "$PROM" "$acked")')"
	sed 's/^/    # /' "$CB_TMP/das.log" 2>/dev/null | tail -3
fi

# --- 6. cetbyodctl metrics ------------------------------------------------------
$CTL metrics > "$CB_TMP/ctl.prom" 2> "$CB_TMP/ctl.err"
rc=$?
if [ $rc = 0 ] && prom_check "$CB_TMP/ctl.prom" > "$CB_TMP/ctl-samples.out"; then
	cb_pass "6: cetbyodctl metrics exits 0 and its output parses ($(wc -l < "$CB_TMP/ctl-samples.out") samples)"
else
	cb_fail "6: cetbyodctl metrics exit $rc, parse: $(prom_check "$CB_TMP/ctl.prom" 2>&1 >/dev/null | tail -1)"
	sed 's/^/    # /' "$CB_TMP/ctl.err" | head -5
fi
# The audit index holds what the writer copied there, and the module
# refreshes its status keys every CB_HEARTBEAT_INTERVAL (5 s): wait for both.
for _ in $(seq 1 100); do
	[ "$(value "$CB_TMP/ctl.prom" "$acked")" = 1 ] && [ "$(value "$CB_TMP/ctl.prom" "$refuse")" = 2 ] &&
		[ "$(value "$CB_TMP/ctl.prom" cetbyod_sync_last_ok)" = 1 ] && break
	sleep 0.1
	$CTL metrics > "$CB_TMP/ctl.prom" 2>/dev/null
done
if [ "$(value "$CB_TMP/ctl.prom" "$admit")" = 1 ] && [ "$(value "$CB_TMP/ctl.prom" "$refuse")" = 2 ] &&
   [ "$(value "$CB_TMP/ctl.prom" "$acked")" = 1 ] && [ "$(value "$CB_TMP/ctl.prom" cetbyod_sync_last_ok)" = 1 ] &&
   [ "$(value "$CB_TMP/ctl.prom" 'cetbyod_sync_info{source="file"}')" = 1 ] &&
   [ -n "$(value "$CB_TMP/ctl.prom" cetbyod_audit_queued)" ]; then
	cb_pass "6: cetbyodctl metrics: the decisions, the acked disconnect, the sync and the audit queue, from the store"
else
	cb_fail "6: cetbyodctl metrics' figures"; sed 's/^/    # /' "$CB_TMP/ctl.prom" | grep -v '^    # #'
fi
if grep -q cetbyod_store_errors_total "$CB_TMP/ctl.prom"; then
	cb_fail "6: cetbyodctl metrics does not claim the module's error counters"
else
	cb_pass "6: cetbyodctl metrics leaves out the module-only error counters (documented)"
fi
$CTL metrics --bogus > /dev/null 2>&1
rc=$?
if [ $rc = 1 ]; then cb_pass "6: cetbyodctl metrics --bogus is a usage error (exit 1)"
else cb_fail "6: cetbyodctl metrics --bogus exit $rc"; fi

cb_stop_radiusd
cb_finish
