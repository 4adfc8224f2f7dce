#!/bin/sh
# smoke.sh PHASE - run INSIDE the test chroot by tests/deb/test_deb.sh.
#   enable    what README.Debian tells the admin to do, plus a minimal test
#             configuration: people in the files module, acknowledgements in
#             the local file, the stock localhost client; freeradius -XC.
#   serve N   (in a new network namespace) start freeradius -X, PAP through
#             radclient and PEAP-MSCHAPv2 through eapol_test, admitted and
#             refused; logrotate the audit trail between two requests when
#             N is 1; stop freeradius by PID; cetbyodctl audit verify;
#             cetbyodctl status with no options (the installed configuration).
#   disable   take out what "enable" added (as an admin would before purge).
# Prints "ok - ..." / "not ok - ..." lines; exits 1 when one failed.
set -u
raddb=/etc/freeradius/3.0
failed=0
ok() { echo "ok - $1"; }
nok() { echo "not ok - $1"; failed=1; }

enable() {
	cd "$raddb" || exit 1
	ln -s ../mods-available/cetbyod mods-enabled/cetbyod
	ln -s ../sites-available/cetbyod sites-enabled/cetbyod
	ln -s ../sites-available/cetbyod-inner-tunnel sites-enabled/cetbyod-inner-tunnel
	echo '$INCLUDE dictionary.cetbyod' >> dictionary
	sed -i 's/virtual_server = "inner-tunnel"/virtual_server = "cetbyod-inner-tunnel"/' mods-available/eap
	rm -f sites-enabled/default sites-enabled/inner-tunnel
	cp mods-config/files/authorize /root/authorize.orig
	cat - /root/authorize.orig > mods-config/files/authorize <<USERS
alice	Cleartext-Password := "alicepw", Cetbyod-Role := Staff, Cetbyod-Email := "alice@school.example"
percy	Cleartext-Password := "percypw", Cetbyod-Role := Pupil, Cetbyod-Email := "percy@school.example"
USERS
	cp mods-config/cetbyod/acknowledgements /root/acknowledgements.orig
	printf 'alice@school.example\t%s\n' "$(date -u -d '-2 days' +%Y-%m-%dT%H:%M:%SZ)" >> mods-config/cetbyod/acknowledgements
	# What README.Debian recommends for a NAS on both FreeRADIUS versions
	# (3.2.7's BlastRADIUS defences): Message-Authenticator required.
	cp clients.conf /root/clients.conf.orig
	sed -i 's/^client localhost {/&\n\trequire_message_authenticator = yes/' clients.conf
	if freeradius -XC > /root/xc.out 2>&1; then
		ok "freeradius -XC passes with the module and the sites enabled"
	else
		nok "freeradius -XC"; tail -n 30 /root/xc.out
	fi
}

disable() {
	cd "$raddb" || exit 1
	rm -f mods-enabled/cetbyod sites-enabled/cetbyod sites-enabled/cetbyod-inner-tunnel
	sed -i '/^\$INCLUDE dictionary.cetbyod$/d' dictionary
	sed -i 's/virtual_server = "cetbyod-inner-tunnel"/virtual_server = "inner-tunnel"/' mods-available/eap
	ln -s ../sites-available/default sites-enabled/default
	ln -s ../sites-available/inner-tunnel sites-enabled/inner-tunnel
	cp /root/authorize.orig mods-config/files/authorize
	cp /root/clients.conf.orig clients.conf
	[ -f mods-config/cetbyod/acknowledgements ] && cp /root/acknowledgements.orig mods-config/cetbyod/acknowledgements
	rm -f /root/*.orig /root/*.out /root/*.conf
}

pap() {
	printf 'User-Name = "%s"\nUser-Password = "%s"\nNAS-IP-Address = 127.0.0.1\nMessage-Authenticator = 0x00\n' "$1" "$2" |
		radclient -x -r 2 -t 5 127.0.0.1 auth testing123 2>&1
}

eap() {
	cat > /root/eapol-$1.conf <<EOC
network={
	ssid="cetbyod-test"
	key_mgmt=WPA-EAP
	eap=PEAP
	identity="$1"
	anonymous_identity="anonymous@school.example"
	password="$2"
	phase2="auth=MSCHAPV2"
}
EOC
	timeout 30 eapol_test -c /root/eapol-$1.conf -a 127.0.0.1 -s testing123 -r 0 -t 10 2>&1
}

expect() {	# DESCRIPTION OUTPUT PATTERN...
	d=$1; o=$2; shift 2
	for p in "$@"; do
		if ! printf '%s\n' "$o" | grep -Eq -- "$p"; then
			nok "$d (no /$p/)"; printf '%s\n' "$o" | tail -n 25 | sed 's/^/    # /'
			tail -n 40 /root/fr.out | sed 's/^/    # radiusd: /'; return
		fi
	done
	ok "$d"
}

serve() {
	round=$1
	freeradius -X > /root/fr.out 2>&1 &
	pid=$!
	i=0
	until grep -q "Ready to process requests" /root/fr.out; do
		i=$((i + 1))
		if [ $i -gt 300 ] || ! kill -0 $pid 2>/dev/null; then
			nok "freeradius -X starts"; tail -n 30 /root/fr.out; kill $pid 2>/dev/null; exit 1
		fi
		sleep 0.1
	done
	ok "freeradius -X serves (round $round)"
	expect "PAP: acknowledged staff admitted with the Class" "$(pap alice alicepw)" \
		'Received Access-Accept' 'Class = ' 'Tunnel-Private-Group-Id:0 = "100"'
	expect "PAP: pupil refused" "$(pap percy percypw)" 'Received Access-Reject' 'Pupils may not connect'
	if [ "$round" = 1 ]; then
		n=$(wc -l < /var/log/freeradius/cetbyod-audit.jsonl)
		if logrotate -f /etc/logrotate.d/freeradius-cetbyod && [ -f /var/log/freeradius/cetbyod-audit.jsonl.1 ]; then
			ok "logrotate moved the audit trail ($n records) to cetbyod-audit.jsonl.1"
		else
			nok "logrotate the audit trail"
		fi
	fi
	out=$(eap alice alicepw)
	expect "PEAP-MSCHAPv2: acknowledged staff admitted" "$out" '^SUCCESS'
	out=$(eap percy percypw)
	expect "PEAP-MSCHAPv2: pupil refused with EAP-Failure" "$out" 'EAP-Failure|CTRL-EVENT-EAP-FAILURE'
	kill -TERM $pid
	i=0
	while kill -0 $pid 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	if kill -0 $pid 2>/dev/null; then
		kill -9 $pid; nok "freeradius stops within 10 s of SIGTERM"
	fi
	wait $pid
	rc=$?
	case $rc in
	0 | 143) ok "freeradius stopped by our SIGTERM (status $rc)" ;;
	*) nok "freeradius ended with status $rc"; tail -n 30 /root/fr.out ;;
	esac
	# FreeRADIUS 3.2.7 warns ("BlastRADIUS check: ... Please set
	# require_message_authenticator") for a client left at "auto".
	if grep -q 'BlastRADIUS' /root/fr.out; then
		nok "radiusd warns about BlastRADIUS"; grep -A2 'BlastRADIUS' /root/fr.out | head -n 6 | sed 's/^/    # /'
	else
		ok "no BlastRADIUS warning with require_message_authenticator = yes"
	fi
	v=$(cetbyodctl audit verify 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then ok "cetbyodctl audit verify: the chain holds (round $round): $(printf '%s' "$v" | tail -n 1)"
	else nok "cetbyodctl audit verify exit $rc"; printf '%s\n' "$v" | sed 's/^/    # /'; fi
	# No options: the module is enabled in /etc/freeradius/3.0, so cetbyodctl
	# reads that configuration (FreeRADIUS's parser, from libfreeradius3 via
	# its RUNPATH) and finds the store in its state_dir; 4: radiusd is stopped.
	v=$(cetbyodctl --json status 2>&1)
	rc=$?
	if { [ $rc -eq 0 ] || [ $rc -eq 4 ]; } && printf '%s' "$v" | grep -q '"store": "/var/lib/cetbyod/cetbyod.db"'; then
		ok "cetbyodctl status with no options reads the installed configuration (exit $rc)"
	else nok "cetbyodctl status with no options: exit $rc"; printf '%s\n' "$v" | head -n 20 | sed 's/^/    # /'; fi
	v=$(cetbyodctl --module nosuch status 2>&1)
	rc=$?
	if [ $rc -eq 7 ] && printf '%s' "$v" | grep -q "has no module 'nosuch'"; then
		ok "cetbyodctl --module nosuch: exit 7, no such module in $raddb/radiusd.conf"
	else nok "cetbyodctl --module nosuch: exit $rc"; printf '%s\n' "$v" | sed 's/^/    # /'; fi
}

case ${1:-} in
enable) enable ;;
serve) serve "${2:-1}" ;;
disable) disable ;;
*) echo "usage: smoke.sh enable|serve N|disable" >&2; exit 2 ;;
esac
exit $failed
