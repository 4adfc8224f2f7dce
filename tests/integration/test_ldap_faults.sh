#!/bin/bash
# test_ldap_faults.sh - the directory fails under load (issue 15, fault
# tests): a threaded radiusd with directory = ldap (StartTLS, simple bind,
# connect_timeout_ms = search_timeout_ms = 1000, found_ttl = 2,
# admit_cached_when_unavailable = 0) answers a steady PAP load from four
# radclient loops while the fixture's slapd is
#   1. killed (SIGKILL of the PID the fixture recorded) for 7 s, then
#      started again on the same port, and later
#   2. paused (SIGSTOP) for 6 s, then resumed (SIGCONT).
# Every request's start, end and decision is recorded; afterwards:
#   - every request was answered, none later than BOUND_MS (the documented
#     worst case, connect_timeout_ms + search_timeout_ms, plus MARGIN_MS);
#   - every decision is the person's usual one or directory_unavailable
#     (a cached answer may be used within found_ttl, nothing else);
#   - once every cached answer has lapsed, until slapd is back, every
#     decision is directory_unavailable (the reply's Reply-Message and
#     radiusd's decision lines agree);
#   - from RECOVERY_MS after slapd answers again, every decision is the
#     usual one again: staff admitted without restarting radiusd;
#   - radiusd is the process started at the beginning and ends cleanly
#     (cb_finish: no crash, no sanitizer report).
# Everything started here (slapd, radiusd, the load loops) is stopped by
# PID.  About 45 s.
. "$(dirname "$0")/lib.sh"
. "$CB_SRCDIR/tests/integration/ldap/ldap-lib.sh"

TIMEOUT_MS=1000		# connect_timeout_ms and search_timeout_ms
FOUND_TTL=2		# cache { found_ttl } (and not_found_ttl), seconds
RETRY_DELAY=1		# pool { retry_delay }, seconds
# One URI: a request waits at most connect_timeout_ms (a new connection)
# plus search_timeout_ms.  MARGIN_MS covers radclient's own start-up and a
# loaded 2-core machine (sanitizers included); a request that hangs
# (30 s, say) is far outside, and radclient gives up on it after
# RADCLIENT_TIMEOUT s anyway, which is a failure of its own.
MARGIN_MS=1500
BOUND_MS=$((2 * TIMEOUT_MS + MARGIN_MS))
RADCLIENT_TIMEOUT=10
# A cached answer is fresh for found_ttl seconds from the second it was
# stored (second resolution: up to found_ttl + 1 s); 500 ms more for the
# request to reach radiusd.  After that, during an outage, only
# directory_unavailable is right.
STRICT_AFTER_MS=$(( (FOUND_TTL + 1) * 1000 + 500 ))
# After slapd answers again the pool may wait retry_delay before it tries
# a new connection; then one request's worst case.
RECOVERY_MS=$(( RETRY_DELAY * 1000 + BOUND_MS ))
KILL_S=7		# slapd killed this long
PAUSE_S=6		# slapd paused this long
LOAD_WORKERS=4
LOAD_MAX_REQUESTS=400	# per worker
LOAD_MAX_S=75		# a worker stops after this long whatever happens
LOAD=$CB_TMP/load.log	# "start_ms end_ms user class took_ms", one line a request
EVENTS=$CB_TMP/events	# "name ms", one line an event
T_BEGIN=$(cb_ms)
now=$(date +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

event() { echo "$1 $(cb_ms)" >> "$EVENTS"; }
event_ms() { awk -v n="$1" '$1 == n { print $2 }' "$EVENTS"; }

# --- The directory and radiusd ------------------------------------------------
if cb_slapd start > "$CB_TMP/slapd-start.out" 2>&1; then
	cb_pass "slapd starts"
else
	cat "$CB_TMP/slapd-start.out"
	cb_fail "slapd starts"
	cb_finish
fi
LDAP_PORT=$(cat "$CB_SLAPD_DIR/ldap_port")
LDAP_URI="ldap://127.0.0.1:$LDAP_PORT"

: > "$CB_TMP/users"
for u in alice erin bob pupil1; do
	printf '%s\tCleartext-Password := "%s-password"\n' "$u" "$u" >> "$CB_TMP/users"
done
acks=$CB_TMP/acknowledgements
cat > "$acks" <<EOF
# test_ldap_faults.sh acknowledgements
alice@school.example		$(iso $((now - 10 * 86400)))
e.upper@school.example		$(iso $((now - 5 * 86400)))
EOF
# What each person gets while the directory answers (the class cls() gives).
usual() {
	case $1 in
	alice | erin)	echo accept-100 ;;	# staff, acknowledged: admit
	bob)		echo accept-200 ;;	# staff, no acknowledgement: onboard
	pupil1)		echo pupil ;;		# pupil_without_exception
	esac
}

cb_ldap_module_conf "$CB_TMP/cetbyod.conf" "$acks" "
		uri = \"$LDAP_URI\"
		base_dn = \"ou=people,dc=school,dc=example\"
		user_filter = \"(&(objectClass=inetOrgPerson)(uid=%s))\"
		bind_dn = \"cn=cetbyod,ou=services,dc=school,dc=example\"
		bind_password = \"module-secret\"
		start_tls = yes
		ca_file = \"$CB_SLAPD_DIR/ca.pem\"
		require_cert = yes
		connect_timeout_ms = $TIMEOUT_MS
		search_timeout_ms = $TIMEOUT_MS
		email_attribute = \"mail\"
		email_attribute = \"mailLocalAddress\"
		staff_group = \"cn=staff,ou=groups,dc=school,dc=example\"
		pupil_group = \"cn=pupils,ou=groups,dc=school,dc=example\"
		disabled_mode = ppolicy_locked
		admit_cached_when_unavailable = 0
		cache {
			found_ttl = $FOUND_TTL
			not_found_ttl = $FOUND_TTL
		}
		pool {
			max = 16
			retry_delay = $RETRY_DELAY
		}"
cb_make_raddb "$CB_TMP/users" "$acks" "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }
if cb_start_radiusd_threaded; then
	cb_pass "threaded radiusd starts with directory = ldap"
else
	cb_fail "threaded radiusd starts with directory = ldap"
	cb_finish
fi
RADIUSD_PID=$CB_RADIUSD_PID

# --- The load -------------------------------------------------------------------
# cls - the class of a radclient -x output on stdin: accept-VLAN,
# unavailable (directory_unavailable's Reply-Message), pupil
# (pupil_without_exception's), reject (any other refusal) or noreply.
cls() {
	awk '
		/Received Access-Accept/			{ acc = 1 }
		/Received Access-Reject/			{ rej = 1 }
		/Tunnel-Private-Group-Id:0 = "/			{ split($0, v, "\""); vlan = v[2] }
		/Reply-Message = "The school directory cannot be reached/	{ unav = 1 }
		/Reply-Message = "Pupils may not connect/	{ pupil = 1 }
		END {
			if (acc) print "accept-" vlan
			else if (rej && unav) print "unavailable"
			else if (rej && pupil) print "pupil"
			else if (rej) print "reject"
			else print "noreply"
		}'
}

# load_worker N - PAP requests one after another (100 ms apart) for the
# four people in turn, starting with the Nth, until $CB_TMP/load.stop
# exists, LOAD_MAX_REQUESTS are sent or LOAD_MAX_S have passed.
load_worker() {
	users=(alice erin bob pupil1)
	deadline=$(( $(cb_ms) + LOAD_MAX_S * 1000 ))
	i=0
	while [ ! -e "$CB_TMP/load.stop" ] && [ $i -lt $LOAD_MAX_REQUESTS ] && [ "$(cb_ms)" -lt $deadline ]; do
		u=${users[$(( (i + $1) % 4 ))]}
		s=$(cb_ms)
		printf 'User-Name = "%s"\nUser-Password = "%s-password"\nNAS-IP-Address = 127.0.0.1\n' "$u" "$u" |
			"$RADCLIENT" -x -r 1 -t $RADCLIENT_TIMEOUT "127.0.0.1:$CB_AUTH_PORT" auth testing123 \
			> "$CB_TMP/load-$1.out" 2>&1
		e=$(cb_ms)
		c=$(cls < "$CB_TMP/load-$1.out")
		echo "$s $e $u $c $((e - s))" >> "$CB_TMP/load-$1.log"
		[ "$c" = noreply ] && cp "$CB_TMP/load-$1.out" "$CB_TMP/noreply-$1-$i.out"
		i=$((i + 1))
		sleep 0.1
	done
}

for u in alice erin bob pupil1; do
	cb_pap "$u" "$u-password"
	c=$(printf '%s\n' "$CB_REPLY" | cls)
	if [ "$c" = "$(usual "$u")" ]; then
		cb_pass "before the load: $u gets $c"
	else
		cb_fail "before the load: $u gets $(usual "$u") (got $c)"
		printf '%s\n' "$CB_REPLY" | sed 's/^/    # /'
	fi
done

LOAD_PIDS=
for n in $(seq 1 $LOAD_WORKERS); do
	: > "$CB_TMP/load-$n.log"
	load_worker "$n" < /dev/null &
	LOAD_PIDS="$LOAD_PIDS $!"
	CB_PIDS="$CB_PIDS $!"
done
event load

# slapd_pid - the PID the fixture recorded, when it is a live slapd.
slapd_pid() {
	pid=$(cat "$CB_SLAPD_DIR/slapd.pid" 2>/dev/null) || return 1
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = slapd ] || return 1
	state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$pid/stat" 2>/dev/null)
	[ -n "$state" ] && [ "$state" != Z ] && echo "$pid"
}

# 1. slapd killed, and started again on the same port.
sleep 3
if pid=$(slapd_pid); then
	kill -KILL "$pid"
	event kill
	for _ in $(seq 1 50); do slapd_pid > /dev/null || break; sleep 0.1; done
	if slapd_pid > /dev/null; then
		cb_fail "slapd (PID $pid) ends on SIGKILL"
	else
		cb_pass "slapd (PID $pid) killed with SIGKILL"
	fi
else
	cb_fail "the fixture's slapd.pid names a live slapd"
	event kill
fi
sleep $KILL_S
event restart
if cb_slapd start > "$CB_TMP/slapd-restart.out" 2>&1; then
	event back
	if [ "$(cat "$CB_SLAPD_DIR/ldap_port")" = "$LDAP_PORT" ]; then
		cb_pass "slapd started again on the same port ($LDAP_PORT)"
	else
		cb_fail "slapd started again on the same port ($LDAP_PORT, now $(cat "$CB_SLAPD_DIR/ldap_port"))"
	fi
else
	event back
	cb_fail "slapd starts again"
	sed 's/^/    # /' "$CB_TMP/slapd-restart.out"
fi
sleep $(( RECOVERY_MS / 1000 + 3 ))

# 2. slapd paused, and resumed.
cb_slapd pause
event pause
sleep $PAUSE_S
event resume
cb_slapd resume
event resumed
sleep $(( RECOVERY_MS / 1000 + 3 ))

touch "$CB_TMP/load.stop"
event stop
for pid in $LOAD_PIDS; do
	wait "$pid"	# Each ends within RADCLIENT_TIMEOUT s.
	cb_forget_pid "$pid"
done
sort -n "$CB_TMP"/load-[0-9]*.log > "$LOAD"

# --- What the load saw ----------------------------------------------------------
# sel FROM TO - the requests that started at or after FROM and ended by TO.
sel() { awk -v f="$1" -v t="$2" '$1 >= f && $2 <= t' "$LOAD"; }
# not_usual - the lines on stdin whose class is not the person's usual one.
not_usual() {
	while read -r s e u c took; do
		[ "$c" = "$(usual "$u")" ] || echo "$s $e $u $c $took"
	done
}
# expect_window DESCRIPTION FROM TO WANT - the requests of the window (at
# least 3) all got WANT: "usual" or "unavailable".
expect_window() {
	sel "$2" "$3" > "$CB_TMP/window"
	n=$(wc -l < "$CB_TMP/window")
	if [ "$4" = usual ]; then
		not_usual < "$CB_TMP/window" > "$CB_TMP/wrong"
	else
		awk '$4 != "unavailable"' "$CB_TMP/window" > "$CB_TMP/wrong"
	fi
	if [ "$n" -ge 3 ] && [ ! -s "$CB_TMP/wrong" ]; then
		cb_pass "$1 ($n requests, $(( $3 - $2 )) ms)"
	else
		cb_fail "$1 ($n requests, $(wc -l < "$CB_TMP/wrong") wrong, at least 3 needed)"
		head -n 10 "$CB_TMP/wrong" | sed 's/^/    # /'
	fi
}
# max_took FROM TO - the longest request that started in [FROM, TO).
max_took() { awk -v f="$1" -v t="$2" '$1 >= f && $1 < t && $5 > m { m = $5 } END { print m + 0 }' "$LOAD"; }

L=$(event_ms load); K=$(event_ms kill); R0=$(event_ms restart); R=$(event_ms back)
P=$(event_ms pause); C=$(event_ms resume); S=$(event_ms stop)
total=$(wc -l < "$LOAD")
echo "# $total requests from $LOAD_WORKERS radclient loops in $(( S - L )) ms;" \
	"slapd killed at +$(( K - L )) ms, restarted at +$(( R0 - L )) ms (answering at +$(( R - L )) ms)," \
	"paused at +$(( P - L )) ms, resumed at +$(( C - L )) ms"

noreply=$(awk '$4 == "noreply"' "$LOAD" | wc -l)
if [ "$total" -ge 40 ] && [ "$noreply" -eq 0 ]; then
	cb_pass "every one of the $total requests was answered"
else
	cb_fail "every request answered: $total sent (at least 40 needed), $noreply without an answer"
	for f in "$CB_TMP"/noreply-*.out; do [ -f "$f" ] && tail -n 5 "$f" | sed 's/^/    # /'; done
fi
slow=$(awk -v b="$BOUND_MS" '$5 > b' "$LOAD")
max=$(max_took 0 "$S")
if [ -z "$slow" ]; then
	cb_pass "no request took more than $BOUND_MS ms (timeouts $TIMEOUT_MS + $TIMEOUT_MS ms, margin $MARGIN_MS ms; longest $max ms)"
else
	cb_fail "no request took more than $BOUND_MS ms: $(printf '%s\n' "$slow" | wc -l) did (longest $max ms)"
	printf '%s\n' "$slow" | head -n 10 | sed 's/^/    # /'
fi
echo "# longest request: slapd killed $(max_took "$K" "$R") ms, paused $(max_took "$P" "$C") ms," \
	"directory up $(max_took "$L" "$K") ms"
other=$(while read -r s e u c took; do
	[ "$c" = "$(usual "$u")" ] || [ "$c" = unavailable ] || echo "$s $e $u $c $took"
done < "$LOAD")
if [ -z "$other" ]; then
	cb_pass "every decision is the person's usual one or directory_unavailable"
else
	cb_fail "every decision is the person's usual one or directory_unavailable"
	printf '%s\n' "$other" | head -n 10 | sed 's/^/    # /'
fi

expect_window "directory up: the usual decisions" "$L" "$K" usual
expect_window "slapd killed, the cache lapsed: directory_unavailable for everyone" \
	$(( K + STRICT_AFTER_MS )) "$R0" unavailable
expect_window "slapd back for $RECOVERY_MS ms: the usual decisions, without restarting radiusd" \
	$(( R + RECOVERY_MS )) "$P" usual
expect_window "slapd paused, the cache lapsed: directory_unavailable for everyone" \
	$(( P + STRICT_AFTER_MS )) "$C" unavailable
expect_window "slapd resumed for $RECOVERY_MS ms: the usual decisions" $(( C + RECOVERY_MS )) "$S" usual

# How long recovery took: from slapd answering to the first admitted
# staff request sent after it, and to the last directory_unavailable.
recovery() {
	awk -v from="$1" -v to="$2" '
		$1 >= from && $1 < to && $4 == "accept-100" && !first { first = $2 - from }
		$1 >= from && $1 < to && $4 == "unavailable" { last = $2 - from }
		END { printf "first staff admitted after %d ms, last directory_unavailable %s\n",
			first, last == "" ? "none" : "after " last " ms" }' "$LOAD"
}
echo "# recovery after the restart: $(recovery "$R" "$P")"
echo "# recovery after SIGCONT: $(recovery "$C" "$S")"

# radiusd's decision lines say the same as the replies.
replies=$(awk '$4 == "unavailable"' "$LOAD" | wc -l)
lines=$(grep -c 'cetbyod: [a-z0-9]* -> reject (directory_unavailable)' "$CB_TMP/radiusd.out")
if [ "$replies" -gt 0 ] && [ "$replies" -eq "$lines" ]; then
	cb_pass "radiusd logged \"-> reject (directory_unavailable)\" once per such reply ($lines)"
else
	cb_fail "radiusd's directory_unavailable decision lines ($lines) match the replies ($replies)"
fi
cb_log_has "slapd killed: -X says why the directory is unavailable" 'Directory unavailable: '
cb_log_has "slapd paused: -X names the timeout" 'no answer within search_timeout_ms'

if [ "$CB_RADIUSD_PID" = "$RADIUSD_PID" ] && cb_own_child "$RADIUSD_PID" &&
   [ "$(grep -c 'Ready to process requests' "$CB_TMP/radiusd.out")" -eq 1 ]; then
	cb_pass "radiusd is the process started at the beginning (PID $RADIUSD_PID)"
else
	cb_fail "radiusd is the process started at the beginning (PID $RADIUSD_PID)"
fi
echo "# test_ldap_faults.sh ran for $(( $(cb_ms) - T_BEGIN )) ms"
cb_finish
