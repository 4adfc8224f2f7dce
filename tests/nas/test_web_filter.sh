#!/bin/bash
# test_web_filter.sh - the web filter sees the real person (README "The web
# filter: who is on which address").
#
# A staff device (wpa_supplicant, PEAP/MSCHAPv2, outer identity
# anonymous@school.example) authenticates through hostapd (driver=wired, on a
# veth pair) to radiusd -X with the project's raddb files; the shipped
# example realm (end of sites-available/cetbyod) points web_filter { realm }
# at a second, real radiusd playing the web filter's RADIUS accounting
# receiver, whose detail module writes what it receives to a file.  Checks:
#
#   1. The Access-Accept path: the Access-Accept carries User-Name = alice;
#      hostapd honours it (RFC 2865 section 5.1) and accounts as alice; the
#      receiver gets Start and Interim-Update with alice and the device's
#      Framed-IP-Address.
#   2. The rewrite path (reply_user_name = no: the NAS accounts under the
#      outer identity): the receiver gets Start, Interim-Update (the address,
#      then a changed address, which the store's session row follows too)
#      and Stop with alice.
#   3. A forged Class (unknown id), a Class that is not ours, and alice's
#      Class echoed for another device: the receiver gets the outer name.
#
# hostapd learns a station's address only by DHCP snooping (proxy_arp on a
# bridge), which this wired NAS does not do: the Interim-Updates carrying
# Framed-IP-Address are sent by radclient playing the NAS, with hostapd's
# session (Acct-Session-Id, Calling-Station-Id, Class) from its Start.
#
# Needs root (veth, 802.1X raw sockets), hostapd, wpa_supplicant; skipped
# (77) without them.  WEB_FILTER_TEST_KEEP=DIR keeps the logs.  Everything
# started is stopped by PID, the veth pair deleted, also on failure.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/lib.sh"
. "$here/nas-lib.sh"
nas_need_root

FIXTURE=$here/nas-fixture.sh
FX=$CB_TMP/nas
CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $CB_TMP/lib/cetbyod"
F=$CB_TMP/filter
FILTER_SECRET=filter-Secret-41d7
FILTER_PID=
RECEIVED=$F/received

wf_cleanup() {
	if [ -n "${WEB_FILTER_TEST_KEEP:-}" ] && [ -d "$WEB_FILTER_TEST_KEEP" ]; then
		cp "$CB_TMP/radiusd.out" "$F/radiusd.out" "$RECEIVED" "$FX"/*.log "$WEB_FILTER_TEST_KEEP/" 2>/dev/null
	fi
	if [ "$CB_FAILED" -gt 0 ]; then
		echo "---- what the web filter's receiver got ----"
		cat "$RECEIVED" 2>/dev/null
		echo "---- the receiver's output (last 40 lines) ----"
		tail -n 40 "$F/radiusd.out" 2>/dev/null
	fi
	nas_fixture_stop
	cb_cleanup
}
trap wf_cleanup EXIT

# --- the web filter's accounting receiver: a second radiusd, detail to a file
FILTER_PORT=$(cb_free_udp_port)
mkdir -p "$F/raddb" "$F/log" "$F/run"
cat > "$F/raddb/radiusd.conf" <<EOF
# The web filter's RADIUS accounting receiver (test_web_filter.sh).
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = $F
sbindir = /usr/sbin
logdir = $F/log
raddbdir = $F/raddb
radacctdir = $F
name = radiusd
confdir = \${raddbdir}
run_dir = $F/run
libdir = $FR_MODULEDIR
pidfile = \${run_dir}/radiusd.pid
hostname_lookups = no
log {
	destination = files
	file = \${logdir}/radius.log
}
security {
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = no
}
client cetbyod-server {
	ipaddr = 127.0.0.1
	secret = $FILTER_SECRET
	require_message_authenticator = no
}
modules {
	detail received {
		filename = $RECEIVED
		header = "%t"
		permissions = 0600
		locking = no
	}
}
server web-filter {
	listen {
		type = acct
		ipaddr = 127.0.0.1
		port = $FILTER_PORT
	}
	accounting {
		received
	}
}
EOF
: > "$F/radiusd.out"
"$RADIUSD" -X -d "$F/raddb" > "$F/radiusd.out" 2>&1 &
FILTER_PID=$!
CB_PIDS="$CB_PIDS $FILTER_PID"
for _ in $(seq 1 150); do
	grep -q "Ready to process requests" "$F/radiusd.out" && break
	cb_own_child "$FILTER_PID" || break
	sleep 0.1
done
if grep -q "Ready to process requests" "$F/radiusd.out"; then
	cb_pass "the web filter's receiver (radiusd, detail module) listens on 127.0.0.1:$FILTER_PORT"
else
	cb_fail "the web filter's receiver starts"
	tail -n 20 "$F/radiusd.out" | sed 's/^/    # /'
	cb_finish
fi

# --- radiusd with the project's raddb, forwarding to the filter --------------
now=$(date +%s)
cat > "$CB_TMP/users" <<EOF
alice	Cleartext-Password := "alicepw", Cetbyod-Role := Staff
EOF
echo "alice@school.example	$(date -u -d "@$((now - 86400))" +%Y-%m-%dT%H:%M:%SZ)" > "$CB_TMP/acks"
cb_make_raddb "$CB_TMP/users" "$CB_TMP/acks" || { cb_fail "build raddb"; cb_finish; }
# The shipped example receiver, its "#" taken off, with this test's address, port and secret.
sed -n '/^##  --- web filter receiver: begin ---$/,/^##  --- web filter receiver: end ---$/p' \
	"$CB_SRCDIR/raddb/sites-available/cetbyod" | grep -v '^##' | sed -e 's/^#//' \
	-e 's/^\tipaddr = 192\.0\.2\.10$/\tipaddr = 127.0.0.1/' -e "s/^\tport = 1813\$/\tport = $FILTER_PORT/" \
	-e "s/^\tsecret = change-this-secret\$/\tsecret = $FILTER_SECRET/" > "$CB_TMP/raddb/sites-enabled/web-filter"
if grep -q "^realm cetbyod_web_filter {" "$CB_TMP/raddb/sites-enabled/web-filter" &&
	grep -q "port = $FILTER_PORT" "$CB_TMP/raddb/sites-enabled/web-filter"; then
	cb_pass "the example receiver of sites-available/cetbyod, uncommented, points at the test's receiver"
else
	cb_fail "the example receiver of sites-available/cetbyod can be uncommented and filled in"
	sed 's/^/    # /' "$CB_TMP/raddb/sites-enabled/web-filter"
fi
MODCONF=$CB_TMP/raddb/mods-available/cetbyod
sed -i 's/^\t\trealm = ""$/\t\trealm = "cetbyod_web_filter"/' "$MODCONF"
grep -q '^		realm = "cetbyod_web_filter"$' "$MODCONF" || cb_fail "web_filter { realm } set in the test's module configuration"

# A realm that does not exist is refused at start-up, naming the option.
cp "$MODCONF" "$CB_TMP/modconf.good"
sed -i 's/^\t\trealm = "cetbyod_web_filter"$/\t\trealm = "no_such_realm"/' "$MODCONF"
cb_radiusd_check "$CB_TMP/check.out"
if [ $? != 0 ] && grep -q "Invalid value \"no_such_realm\" for 'web_filter { realm }'" "$CB_TMP/check.out"; then
	cb_pass "web_filter { realm } naming no realm: start-up refused, naming the option"
else
	cb_fail "web_filter { realm } naming no realm is refused"
	tail -n 5 "$CB_TMP/check.out" | sed 's/^/    # /'
fi
cp "$CB_TMP/modconf.good" "$MODCONF"

if cb_start_radiusd; then cb_pass "radiusd starts"; else cb_fail "radiusd starts"; cb_finish; fi

# --- the NAS and the device ---------------------------------------------------
nas_network PEAP MSCHAPV2 alice alicepw > "$CB_TMP/alice.network"
DAS_PORT=$(cb_free_udp_port)
while [ "$DAS_PORT" = "$CB_AUTH_PORT" ] || [ "$DAS_PORT" = "$CB_ACCT_PORT" ] || [ "$DAS_PORT" = "$FILTER_PORT" ]; do
	DAS_PORT=$(cb_free_udp_port)
done
if nas_fixture_start "$DAS_PORT" das-Secret-77ab "$CB_TMP/alice.network"; then
	cb_pass "fixture: hostapd (wired NAS) and wpa_supplicant (PEAP, anonymous outer identity) on a veth pair"
else
	cb_fail "fixture starts (root and veth support needed)"
	cb_finish
fi

# received STATUS SESSION - the records of that status and session the receiver wrote, one per paragraph.
received() {
	awk -v st="$1" -v sid="$2" 'BEGIN { RS = ""; ORS = "\n\n" }
		index($0, "\tAcct-Status-Type = " st "\n") && index($0, "\tAcct-Session-Id = \"" sid "\"\n")' \
		"$RECEIVED" 2>/dev/null
}

# expect_received DESCRIPTION STATUS SESSION USER [IP] - (10 s) the receiver got
# that accounting with User-Name USER (and Framed-IP-Address IP), and no
# record of it with another User-Name.
expect_received() {
	want="	User-Name = \"$4\""
	for _ in $(seq 1 100); do
		if received "$2" "$3" | grep -qxF -- "$want" &&
			{ [ -z "${5:-}" ] || received "$2" "$3" | grep -qxF -- "	Framed-IP-Address = $5"; }; then
			break
		fi
		sleep 0.1
	done
	others=$(received "$2" "$3" | grep '^	User-Name = ' | grep -vxF -- "$want")
	if received "$2" "$3" | grep -qxF -- "$want" && [ -z "$others" ] &&
		{ [ -z "${5:-}" ] || received "$2" "$3" | grep -qxF -- "	Framed-IP-Address = $5"; }; then
		cb_pass "$1"
	else
		cb_fail "$1"
		received "$2" "$3" | sed 's/^/    # /'
	fi
}

# nas_acct STATUS SESSION USER CALLING CLASS [EXTRA] - radclient playing the NAS
# (an accounting packet of that session from 127.0.0.1).
nas_acct() {
	printf 'Acct-Status-Type = %s\nAcct-Session-Id = "%s"\nUser-Name = "%s"\nNAS-IP-Address = %s\nNAS-Identifier = "%s"\nCalling-Station-Id = "%s"\nClass = %s\n%b' \
		"$1" "$2" "$3" "$NASIP" "$NAS_IDENTIFIER" "$4" "$5" "${6:-}" |
		"$RADCLIENT" -r 3 -t 3 -x "127.0.0.1:$CB_ACCT_PORT" acct testing123 > "$CB_TMP/nas_acct.out" 2>&1 || cat "$CB_TMP/nas_acct.out" >&2
	grep -q 'Received Accounting-Response' "$CB_TMP/nas_acct.out"
}

# === 1. The Access-Accept path: hostapd accounts under the inner identity ===
if wait_authorized ""; then
	cb_pass "PEAP/MSCHAPv2 with outer identity anonymous@school.example: the device is authorised"
else
	cb_fail "the device is authorised"
	cb_finish
fi
ASID=$(sta_field dot1xAuthSessionId)
if grep -Eq '^\([0-9]+\) Sent Access-Accept' "$CB_TMP/radiusd.out" &&
	sed -n '/Sent Access-Accept/,/Finished request/p' "$CB_TMP/radiusd.out" | grep -qE '^\([0-9]+\)   User-Name :?= "alice"$'; then
	cb_pass "the Access-Accept carries User-Name = \"alice\" (the outer identity was anonymous)"
else
	cb_fail "the Access-Accept carries User-Name = \"alice\""
fi
if grep -q "old identity 'anonymous@school.example' updated with User-Name from Access-Accept 'alice'" "$HOSTAPD_LOG"; then
	cb_pass "hostapd takes the Access-Accept's User-Name as the station's identity"
else
	cb_fail "hostapd takes the Access-Accept's User-Name"
fi
if start=$(acct_request Start "$ASID"); then
	cb_pass "radiusd received hostapd's accounting Start ($ASID)"
else
	cb_fail "hostapd's accounting Start"
	cb_finish
fi
if [ "$(acct_attr "$start" User-Name)" = alice ]; then
	cb_pass "hostapd accounts under User-Name = \"alice\" (RFC 2865 section 5.1)"
else
	cb_fail "hostapd accounts under alice, not \"$(acct_attr "$start" User-Name)\""
fi
CSID=$(acct_attr "$start" Calling-Station-Id)
NASIP=$(acct_attr "$start" NAS-IP-Address)
CLASS=$(acct_attr "$start" Class)
expect_received "the filter's receiver got the Start with User-Name = \"alice\"" Start "$ASID" alice
nas_acct Interim-Update "$ASID" alice "$CSID" "$CLASS" 'Framed-IP-Address = 10.20.0.11\n' ||
	cb_fail "the NAS's Interim-Update is answered"
expect_received "the receiver got the Interim-Update with alice and the device's address 10.20.0.11" \
	Interim-Update "$ASID" alice 10.20.0.11

# === 2. The rewrite path: a NAS accounting under the outer identity ==========
cb_stop_radiusd
sed -i 's/^\t\treply_user_name = yes$/\t\treply_user_name = no/' "$MODCONF"
CB_LOG_FROM=$(( $(wc -l < "$CB_TMP/radiusd.out") + 1 ))
if cb_start_radiusd; then cb_pass "radiusd restarts with web_filter { reply_user_name = no }"; else cb_fail "radiusd restarts"; cb_finish; fi
# A new session: the device logs off, hostapd ends the session (Stop) and,
# a few seconds later, forgets the station; then the device logs on again.
wcli logoff >/dev/null
for _ in $(seq 1 150); do
	[ -z "$(hcli all_sta | grep -E '^([0-9a-f]{2}:){5}[0-9a-f]{2}$')" ] && break
	sleep 0.1
done
wcli logon >/dev/null
if wait_authorized "$ASID"; then
	cb_pass "the device authenticates again: a new session ($(sta_field dot1xAuthSessionId))"
else
	cb_fail "the device authenticates again"
	cb_finish
fi
ASID2=$(sta_field dot1xAuthSessionId)
if start2=$(acct_request Start "$ASID2"); then
	cb_pass "radiusd received the new session's Start"
else
	cb_fail "the new session's Start"
	cb_finish
fi
if [ "$(acct_attr "$start2" User-Name)" = anonymous@school.example ]; then
	cb_pass "without User-Name in the Access-Accept hostapd accounts under the outer identity"
else
	cb_fail "hostapd accounts under the outer identity, not \"$(acct_attr "$start2" User-Name)\""
fi
CLASS2=$(acct_attr "$start2" Class)
expect_received "rewrite: the receiver got the Start with User-Name = \"alice\"" Start "$ASID2" alice
if grep -q "Web filter: Class cetbyod:[0-9a-f]* ties this session to \"alice\"; Cetbyod-User-Name = \"alice\": the site rewrites User-Name \"anonymous@school.example\"" "$CB_TMP/radiusd.out"; then
	cb_pass "radiusd -X says whose session it is and what it rewrites"
else
	cb_fail "radiusd -X explains the rewrite"
fi
nas_acct Interim-Update "$ASID2" anonymous@school.example "$CSID" "$CLASS2" 'Framed-IP-Address = 10.20.0.12\n' ||
	cb_fail "the NAS's Interim-Update is answered"
expect_received "rewrite: the Interim-Update with the address: alice on 10.20.0.12" \
	Interim-Update "$ASID2" alice 10.20.0.12
nas_acct Interim-Update "$ASID2" anonymous@school.example "$CSID" "$CLASS2" 'Framed-IP-Address = 10.20.0.99\n' ||
	cb_fail "the NAS's second Interim-Update is answered"
expect_received "rewrite: the address changes: alice on 10.20.0.99" Interim-Update "$ASID2" alice 10.20.0.99
if $CTL --json sessions | tr -d ' \n' | grep -q "\"acct_session_id\":\"$ASID2\"[^}]*\"framed_ip\":\"10.20.0.99\"" ||
	$CTL --json sessions | tr -d ' \n' | grep -q "\"framed_ip\":\"10.20.0.99\"[^}]*\"acct_session_id\":\"$ASID2\""; then
	cb_pass "the store's session follows the new address (cetbyodctl sessions)"
else
	cb_fail "the store's session follows the new address"
	$CTL --json sessions | sed 's/^/    # /'
fi
if grep -q "Session $ASID2: the device's address changed from 10.20.0.12 to 10.20.0.99" "$CB_TMP/radiusd.out"; then
	cb_pass "radiusd -X says the address changed"
else
	cb_fail "radiusd -X says the address changed"
fi
wcli logoff >/dev/null
if acct_request Stop "$ASID2" >/dev/null; then
	cb_pass "hostapd sends the Stop when the device logs off"
else
	cb_fail "hostapd's Stop"
fi
expect_received "rewrite: the receiver got the Stop with User-Name = \"alice\"" Stop "$ASID2" alice

# === 3. Classes that must not rewrite ========================================
FORGED=cetbyod:$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
nas_acct Start forged-1 anonymous@school.example 02-00-00-00-00-51 "\"$FORGED\"" 'Framed-IP-Address = 10.20.0.51\n' ||
	cb_fail "the forged Start is answered"
expect_received "a forged Class (unknown id): the receiver gets the outer name" Start forged-1 \
	anonymous@school.example 10.20.0.51
if grep -q "Web filter: Class $FORGED names no decision of this server (forged, or older than the state store): User-Name \"anonymous@school.example\" is forwarded unchanged" "$CB_TMP/radiusd.out"; then
	cb_pass "radiusd -X says the forged Class rewrites nothing"
else
	cb_fail "radiusd -X says the forged Class rewrites nothing"
fi
nas_acct Start foreign-1 anonymous@school.example 02-00-00-00-00-52 '"some-other-server:alice"' ||
	cb_fail "the Start with another server's Class is answered"
expect_received "another server's Class: the receiver gets the outer name" Start foreign-1 anonymous@school.example
nas_acct Start copied-1 anonymous@school.example 02-00-00-00-00-53 "$CLASS2" ||
	cb_fail "the Start with alice's Class for another device is answered"
expect_received "alice's Class echoed for another device: the receiver gets the outer name" Start copied-1 \
	anonymous@school.example
if grep -q "was issued to device $CSID, but this accounting is for device 02-00-00-00-00-53" "$CB_TMP/radiusd.out"; then
	cb_pass "radiusd -X says the Class belongs to another device"
else
	cb_fail "radiusd -X says the Class belongs to another device"
fi

# The receiver must have ended cleanly too.
cb_forget_pid "$FILTER_PID"
if cb_own_child "$FILTER_PID"; then
	kill "$FILTER_PID" 2>/dev/null
	for _ in $(seq 1 50); do cb_own_child "$FILTER_PID" || break; sleep 0.1; done
	cb_own_child "$FILTER_PID" && kill -9 "$FILTER_PID" 2>/dev/null
	wait "$FILTER_PID" 2>/dev/null
else
	cb_fail "the web filter's receiver ended before the test stopped it"
fi
cb_finish
