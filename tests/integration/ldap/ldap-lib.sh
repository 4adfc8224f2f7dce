# ldap-lib.sh - helpers of test_ldap.sh (sourced after lib.sh): the slapd
# fixture in the test's temporary directory, module configurations with
# directory = ldap, a threaded radiusd, and checks on decisions and timing.
#
# slapd is started by tests/slapd/slapd-fixture.sh, which records its PID in
# $CB_SLAPD_DIR/slapd.pid; cb_ldap_cleanup stops exactly that process (the
# fixture's "stop" kills by that PID only) before lib.sh's cleanup stops
# radiusd and removes the temporary directory, also when a test fails.
CB_SLAPD_DIR=$CB_TMP/slapd
CB_SLAPD_STARTED=

cb_ldap_cleanup() {
	# LDAP_TEST_SAVE_DIR=DIR keeps radiusd's and slapd's logs for reading.
	if [ -n "${LDAP_TEST_SAVE_DIR:-}" ] && mkdir -p "$LDAP_TEST_SAVE_DIR"; then
		cp "$CB_TMP"/radiusd*.out "$CB_SLAPD_DIR/slapd.log" "$LDAP_TEST_SAVE_DIR/" 2>/dev/null
	fi
	crashed=
	if [ -n "$CB_SLAPD_STARTED" ]; then
		sh "$CB_SRCDIR/tests/slapd/slapd-fixture.sh" stop "$CB_SLAPD_DIR" >"$CB_TMP/slapd-stop.out" 2>&1
		case $? in
		0) ;;
		3) crashed=1; echo "not ok - slapd ran without crashing"; sed 's/^/    # /' "$CB_TMP/slapd-stop.out" ;;
		*) echo "test_ldap: could not stop the slapd in $CB_SLAPD_DIR" >&2 ;;
		esac
	fi
	cb_cleanup
	# A slapd that crashed fails the test, whatever it counted before.
	[ -z "$crashed" ] || exit 1
}
trap cb_ldap_cleanup EXIT

# cb_slapd_up - start slapd (or fail and finish the test); LDAP_URI is its ldap:// URI.
cb_slapd_up() {
	if cb_slapd start > "$CB_TMP/slapd-start.out" 2>&1; then
		cb_pass "slapd (the school directory) starts"
	else
		cat "$CB_TMP/slapd-start.out"
		cb_fail "slapd starts"
		cb_finish
	fi
	LDAP_URI="ldap://127.0.0.1:$(cat "$CB_SLAPD_DIR/ldap_port")"
}

# cb_slapd_restart WHAT - start the stopped slapd again (on its ports);
# on failure, say why (the fixture's output) and fail WHAT.
cb_slapd_restart() {
	if ! cb_slapd start > "$CB_TMP/slapd-restart.out" 2>&1; then
		sed 's/^/    # /' "$CB_TMP/slapd-restart.out"
		cb_fail "$1"
	fi
}

# cb_slapd CMD - start|stop|pause|resume the fixture's slapd.  Searches are
# logged (stats, level 256) so that tests can count them in slapd.log.
# A stop that finds slapd crashed (the fixture's exit 3) is a failed check.
cb_slapd() {
	case $1 in
	start) CB_SLAPD_STARTED=1 ;;
	esac
	SLAPD_DEBUG=${SLAPD_DEBUG:-256} sh "$CB_SRCDIR/tests/slapd/slapd-fixture.sh" "$1" "$CB_SLAPD_DIR"
	rc=$?
	[ "$rc" -ne 3 ] || cb_fail "slapd ran without crashing (its log: $CB_SLAPD_DIR/slapd.log)"
	return "$rc"
}

# cb_free_tcp_port - a TCP port on 127.0.0.1 that nothing listens on now
# (connections to it are refused: "the first server is down").
cb_free_tcp_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# cb_ms - milliseconds since the epoch.
cb_ms() {
	date +%s%3N
}

# cb_start_radiusd_threaded - as cb_start_radiusd, but with radiusd's
# thread pool (radiusd -X handles one request at a time): same debug
# output (-xx, on stdout), several requests at once.
cb_start_radiusd_threaded() {
	: > "$CB_TMP/radiusd.out"
	env $(cb_radiusd_env) "$RADIUSD" -f -xx -l stdout -d "$CB_TMP/raddb" >> "$CB_TMP/radiusd.out" 2>&1 &
	cb_radiusd_wait_ready $! 1
}

# cb_ldap_module_conf FILE ACKS LDAP_OPTIONS - a module configuration with
# directory = ldap, acknowledgements from the file ACKS, and LDAP_OPTIONS
# (lines) inside its ldap { } section; LDAP_OPTIONS "-": no ldap { } at all.
cb_ldap_module_conf() {
	if [ "$3" = - ]; then
		section=
	else
		section="	ldap {
$3
	}"
	fi
	cat > "$1" <<EOC
cetbyod {
	source = file
	directory = ldap
	timezone = "Europe/London"
	form_url = "https://forms.gle/test-byod"
	email_domain = "school.example"
	identity {
		strip_domains = "SCHOOL"
		max_length = 128
	}
	policy {
		validity_days = 365
		unacknowledged = onboard
	}
	file {
		filename = "$2"
		check_interval = 1
	}
	reply {
		staff_vlan = "100"
		onboarding_vlan = "200"
		restricted_vlan = "300"
	}
$section
}
EOC
}

# cb_conf_refused DESCRIPTION MESSAGE LDAP_OPTIONS - radiusd -C refuses the
# module configuration with these ldap { } options, saying MESSAGE.
cb_conf_refused() {
	cb_ldap_module_conf "$CB_TMP/raddb/mods-available/cetbyod" "$CB_TMP/acknowledgements" "$3"
	cb_raddb_refused "$1" "$2"
}

# cb_raddb_refused DESCRIPTION MESSAGE - radiusd -C refuses the test's raddb
# as it is, saying MESSAGE.
cb_raddb_refused() {
	if cb_radiusd_check "$CB_TMP/radiusd-C.out"; then
		cb_fail "$1: radiusd -C accepted the configuration"
	elif grep -qF -- "$2" "$CB_TMP/radiusd-C.out"; then
		cb_pass "$1"
	else
		cb_fail "$1: radiusd -C did not say \"$2\""
		grep -iE 'error|invalid|cetbyod' "$CB_TMP/radiusd-C.out" | tail -n 5 | sed 's/^/    # /'
	fi
}

# cb_decisions USER STATUS REASON - how many "USER -> STATUS (REASON)" lines
# radiusd has logged (fixed strings: USER may hold filter characters).
cb_decisions() {
	grep -cF -- "cetbyod: $1 -> $2 ($3)" "$CB_TMP/radiusd.out"
}

# cb_log_has DESCRIPTION FIXED_STRING - radiusd's output holds the string.
cb_log_has() {
	if grep -qF -- "$2" "$CB_TMP/radiusd.out"; then
		cb_pass "$1"
	else
		cb_fail "$1: radiusd's output lacks \"$2\""
	fi
}

# cb_eap_ok VLAN - eapol_test ended in SUCCESS with Tunnel-Private-Group-Id VLAN.
cb_eap_ok() {
	hex=$(printf '%s' "$1" | od -An -tx1 | tr -d ' \n')
	printf '%s\n' "$CB_REPLY" | grep -q '^SUCCESS' &&
		printf '%s\n' "$CB_REPLY" | grep -A1 'Attribute 81 (Tunnel-Private-Group-Id)' | grep -q "Value: $hex\$"
}

# cb_eap_rejected - eapol_test saw an Access-Reject and no success.
cb_eap_rejected() {
	printf '%s\n' "$CB_REPLY" | grep -q 'code=3 (Access-Reject)' &&
		! printf '%s\n' "$CB_REPLY" | grep -q '^SUCCESS'
}

# cb_pap_timed USER PASSWORD - cb_pap; $CB_TOOK is the reply time in ms.
cb_pap_timed() {
	t0=$(cb_ms)
	cb_pap "$1" "$2"
	CB_TOOK=$(( $(cb_ms) - t0 ))
}

# cb_wait_decision DESCRIPTION SECONDS USER PASSWORD STATUS REASON - PAP
# until radiusd logs that decision for USER (bounded); passes or fails.
cb_wait_decision() {
	end=$(( $(date +%s) + $2 ))
	while :; do
		before=$(cb_decisions "$3" "$5" "$6")
		cb_pap "$3" "$4"
		if [ "$(cb_decisions "$3" "$5" "$6")" -gt "$before" ]; then
			cb_pass "$1"
			return 0
		fi
		[ "$(date +%s)" -ge "$end" ] && break
		sleep 0.3
	done
	cb_fail "$1 (not within $2 s)"
	printf '%s\n' "$CB_REPLY" | sed 's/^/    # /'
	return 1
}
