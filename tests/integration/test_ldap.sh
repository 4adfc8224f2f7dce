#!/bin/bash
# test_ldap.sh - directory = ldap end to end: a real radiusd with the module
# asks a real slapd (tests/slapd/, the project's schema, a test CA, TLS) on
# 127.0.0.1 about each person; radclient (PAP) and eapol_test (EAP-TTLS/PAP,
# PEAP/MSCHAPv2, anonymous outer identity) play the devices.  The stock
# modules authenticate from a users file holding passwords only: every fact
# (staff, pupil, disabled, revoked, exception, addresses) comes from LDAP.
#
# Part A, radiusd -X, StartTLS + bind DN, the first URI down (failover):
#   the decisions of ldap/decisions.tsv by PAP, TTLS and PEAP; the
#   injection-shaped uid; the alias that keys an acknowledgement; the cache
#   (no second search within the TTL); a revocation set in the directory
#   while radiusd runs; slapd stopped (directory_unavailable at once, cached
#   people still decided) and restarted (recovery without restarting
#   radiusd); slapd paused (every reply within the timeouts); a server
#   certificate from an untrusted CA (refused, with a clear log line).
# Part B, radiusd with its thread pool, ldaps:// + SASL EXTERNAL with a
#   client certificate, admit_cached_when_unavailable: radiusd starts while
#   slapd is down; recovery; slapd paused under concurrent requests (no
#   worker waits past the timeouts; a person read recently is decided on
#   the cached facts, others get directory_unavailable).
# Throughout: the bind password never appears in radiusd's output.
. "$(dirname "$0")/lib.sh"
. "$CB_SRCDIR/tests/integration/ldap/ldap-lib.sh"

TIMEOUT_MS=1000		# connect_timeout_ms and search_timeout_ms below
# The longest a reply may take during an outage: a new connection (the first
# URI refuses at once, the second gets connect_timeout_ms) and a search
# (search_timeout_ms), plus 500 ms for sanitizers and slow machines.
BOUND_MS=$((2 * TIMEOUT_MS + 500))
now=$(date +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
day=86400

# --- The directory ------------------------------------------------------------
if cb_slapd start > "$CB_TMP/slapd-start.out" 2>&1; then
	cb_pass "slapd starts on 127.0.0.1 with the cetbyod schema, the test CA and TLS"
else
	cat "$CB_TMP/slapd-start.out"
	cb_fail "slapd starts"
	cb_finish
fi
LDAP_PORT=$(cat "$CB_SLAPD_DIR/ldap_port")
LDAPS_PORT=$(cat "$CB_SLAPD_DIR/ldaps_port")
DOWN_PORT=$(cb_free_tcp_port)
LDAP_URI="ldap://127.0.0.1:$LDAP_PORT"
DOWN_URI="ldap://127.0.0.1:$DOWN_PORT"

# --- Users (passwords only) and acknowledgements ------------------------------
: > "$CB_TMP/users"
for u in alice bob carol dave erin frank pupil1 pupil2 pupil3 oscar adam adis hostile both twin nobody; do
	printf '%s\tCleartext-Password := "%s-password"\n' "$u" "$u" >> "$CB_TMP/users"
done
printf '"*)(uid=*"\tCleartext-Password := "injection-password"\n' >> "$CB_TMP/users"

acks=$CB_TMP/acknowledgements
cat > "$acks" <<EOF
# test_ldap.sh acknowledgements
alice@school.example		$(iso $((now - 10 * day)))
e.upper@school.example		$(iso $((now - 5 * day)))
carol@school.example		$(iso $((now - 2 * day)))
dave@school.example		$(iso $((now - 2 * day)))
frank@school.example		$(iso $((now - 2 * day)))
oscar@school.example		$(iso $((now - 2 * day)))
EOF

# --- Part A ---------------------------------------------------------------------
cb_ldap_module_conf "$CB_TMP/cetbyod-a.conf" "$acks" "
		uri = \"$DOWN_URI\"
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
		group_membership = memberof
		staff_group = \"cn=staff,ou=groups,dc=school,dc=example\"
		staff_group = \"cn=support-staff,ou=groups,dc=school,dc=example\"
		pupil_group = \"cn=pupils,ou=groups,dc=school,dc=example\"
		disabled_mode = ppolicy_locked
		cache {
			found_ttl = 5
			not_found_ttl = 5
		}
		pool {
			start = 1
			max = 4
			retry_delay = 1
		}"
cb_make_raddb "$CB_TMP/users" "$acks" "$CB_TMP/cetbyod-a.conf" || { cb_fail "build raddb"; cb_finish; }
if cb_start_radiusd; then
	cb_pass "radiusd -X starts with directory = ldap (pool start = 1 connects through the second URI)"
else
	cb_fail "radiusd -X starts with directory = ldap"
	cb_finish
fi

# The cache first, while slapd.log holds every search since it started.
srch() { grep -cF -- "filter=\"(&(objectClass=inetOrgPerson)(uid=$1))\"" "$CB_SLAPD_DIR/slapd.log"; }
cb_pap carol carol-password
cb_expect_reply "PAP: staff through the second staff_group, acknowledged: admitted" \
	'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"'
cb_pap carol carol-password
cb_expect_reply "PAP: the same person again within found_ttl: admitted" 'Received Access-Accept'
n=$(srch carol)
if [ "$n" -eq 1 ]; then
	cb_pass "cache: two authentications within the TTL, one search in slapd's log"
else
	cb_fail "cache: two authentications within the TTL, one search (slapd logged $n)"
fi
cb_log_has "cache: radiusd -X says the second answer was cached" \
	'Directory: "carol" is uid=carol,ou=people,dc=school,dc=example (cached)'
cb_pap nobody nobody-password
cb_pap nobody nobody-password
n=$(srch nobody)
if [ "$n" -eq 1 ]; then
	cb_pass "cache: a not-found answer is cached too (one search for two requests)"
else
	cb_fail "cache: a not-found answer is cached too (slapd logged $n searches)"
fi
cb_log_has "failover: the first URI is down, the second answered" "(searched $LDAP_URI in"

# Every decision of the table, by PAP, EAP-TTLS/PAP and PEAP/MSCHAPv2.
# (The table is read on fd 3: eapol_test and radclient must not eat it.)
while IFS=$'\t' read -r user pass status reason vlan <&3; do
	case $user in ''|'#'*) continue ;; esac
	before=$(cb_decisions "$user" "$status" "$reason")
	cb_pap "$user" "$pass"
	if [ "$vlan" = - ]; then
		cb_expect_reply "PAP: $user -> $status ($reason)" 'Received Access-Reject' 'Reply-Message = '
	else
		cb_expect_reply "PAP: $user -> $status ($reason), VLAN $vlan" \
			'Received Access-Accept' "Tunnel-Private-Group-Id:0 = \"$vlan\""
	fi
	for method in TTLS PEAP; do
		cb_eapol $method "$user" "$pass"
		if { [ "$vlan" = - ] && cb_eap_rejected; } || { [ "$vlan" != - ] && cb_eap_ok "$vlan"; }; then
			cb_pass "$method (anonymous outer identity): $user -> $status ($reason)${vlan#-}"
		else
			cb_fail "$method (anonymous outer identity): $user -> $status ($reason)${vlan#-}"
			printf '%s\n' "$CB_REPLY" | tail -n 20 | sed 's/^/    # /'
		fi
	done
	after=$(cb_decisions "$user" "$status" "$reason")
	if [ "$after" -eq $((before + 3)) ]; then
		cb_pass "$user: radiusd logged \"$user -> $status ($reason)\" once per authentication"
	else
		cb_fail "$user: expected 3 more \"$user -> $status ($reason)\" lines, saw $((after - before))"
	fi
done 3< "$CB_SRCDIR/tests/integration/ldap/decisions.tsv"

if grep -q "cetbyod: anonymous" "$CB_TMP/radiusd.out"; then
	cb_fail "no decision is made on the anonymous outer identity"
else
	cb_pass "no decision is made on the anonymous outer identity"
fi

# What radiusd -X tells the administrator.
cb_log_has "-X: DN and where the answer came from" 'Directory: "alice" is uid=alice,ou=people,dc=school,dc=example (searched'
cb_log_has "-X: the role and why" 'Directory: role pupil (member of a pupil_group)'
cb_log_has "-X: a locked account" 'Directory: account disabled'
cb_log_has "-X: the revocation and its reason" \
	'Directory: BYOD access revoked by IT: Device reported lost; access revoked by IT'
cb_log_has "-X: the exception, who approved it and until when" \
	'Directory: exception "Medical monitoring device (continuous glucose monitor)", approved by "Headteacher (J. Smith)", until 2099-12-31T00:00:00Z'
cb_log_has "upper-case mail is normalised" 'Directory: email erin.upper@school.example'
cb_log_has "the alias (mailLocalAddress) is read too" 'Directory: email e.upper@school.example'
cb_log_has "the acknowledgement keyed by the alias is found" 'Acknowledgement of e.upper@school.example'
cb_log_has "injection: the uid *)(uid=* finds its own entry only" \
	'Directory: "*)(uid=*" is cn=Filter Injection,ou=people,dc=school,dc=example'
if grep -qF 'filter="(&(objectClass=inetOrgPerson)(uid=\2A\29\28uid=\2A))"' "$CB_SLAPD_DIR/slapd.log" ||
   grep -qiF 'filter="(&(objectClass=inetOrgPerson)(uid=\2a\29\28uid=\2a))"' "$CB_SLAPD_DIR/slapd.log"; then
	cb_pass "injection: slapd received the identity escaped per RFC 4515"
else
	cb_fail "injection: slapd received the identity escaped per RFC 4515"
	grep -F 'Injection' "$CB_SLAPD_DIR/slapd.log" | head -n 5 | sed 's/^/    # /'
fi
cb_log_has "an ambiguous uid is refused, and -X says why" 'matches more than one entry'
cb_log_has "bad and surplus values are reported as a warning" \
	'cetbyod: WARNING: Directory: a value of mail is not an email address; ignored; more than 8 email addresses; the rest are ignored'
cb_log_has "in both a staff and a pupil group: a pupil, with a warning" \
	'cetbyod: WARNING: Directory: member of both a staff and a pupil group: treated as a pupil'
cb_log_has "not found: -X says so" 'Directory: no entry for "nobody" under ou=people,dc=school,dc=example'

# A revocation set in the directory while radiusd runs counts once the
# cached answer has lapsed (found_ttl = 5).
cb_pap bob bob-password
cb_expect_reply "PAP: staff without an acknowledgement is onboarded" 'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "200"'
if ldapmodify -x -H "$LDAP_URI" -D "cn=admin,dc=school,dc=example" -w admin-secret > "$CB_TMP/ldapmodify.out" 2>&1 <<EOF
dn: uid=bob,ou=people,dc=school,dc=example
changetype: modify
add: objectClass
objectClass: cetbyodPerson
-
add: cetbyodRevoked
cetbyodRevoked: TRUE
-
add: cetbyodRevokedReason
cetbyodRevokedReason: Revoked by the test
EOF
then
	cb_wait_decision "a revocation set in the directory refuses within found_ttl (revoked_by_admin)" 15 \
		bob bob-password reject revoked_by_admin
else
	cb_fail "ldapmodify sets cetbyodRevoked on bob"
	sed 's/^/    # /' "$CB_TMP/ldapmodify.out"
fi

# slapd stopped mid-run: a person read seconds ago is still decided from
# the cache; anyone else is directory_unavailable, at once; radiusd answers.
cb_pap alice alice-password
cb_slapd stop
cb_pap_timed alice alice-password
cb_expect_reply "slapd stopped: a person in the cache is still decided (admitted)" 'Received Access-Accept'
cb_pap_timed adam adam-password
if [ "$CB_TOOK" -le "$BOUND_MS" ]; then
	cb_pass "slapd stopped: radiusd replied in $CB_TOOK ms (bound $BOUND_MS)"
else
	cb_fail "slapd stopped: radiusd replied in $CB_TOOK ms (bound $BOUND_MS)"
fi
cb_expect_reply "slapd stopped: refused, directory_unavailable (fail closed)" \
	'Received Access-Reject' 'Reply-Message = "The school directory cannot be reached'
for u in adis hostile both; do
	cb_pap_timed "$u" "$u-password"
	if printf '%s\n' "$CB_REPLY" | grep -q 'Received Access-Reject' && [ "$CB_TOOK" -le "$BOUND_MS" ]; then
		cb_pass "slapd stopped: radiusd keeps answering ($u refused in $CB_TOOK ms)"
	else
		cb_fail "slapd stopped: radiusd keeps answering ($u: $CB_TOOK ms)"
	fi
done
if [ "$(cb_decisions adam reject directory_unavailable)" -ge 1 ]; then
	cb_pass "the decision line says directory_unavailable"
else
	cb_fail "the decision line says directory_unavailable"
fi
cb_log_has "-X says why the directory is unavailable" 'Directory unavailable: no connection; the last attempt'
cb_slapd_restart "slapd restarts"
cb_wait_decision "slapd restarted: decisions recover without restarting radiusd" 15 adam adam-password \
	onboard no_acknowledgement
if kill -0 "$CB_RADIUSD_PID" 2>/dev/null; then
	cb_pass "radiusd is the same process throughout"
else
	cb_fail "radiusd is the same process throughout"
fi

# A pooled connection slapd closed while it sat idle (slapd restarted with
# no request in between): nothing polls it per request; the search on it
# fails at once, the connection is closed and the search made on another, so
# the very first request after the restart is decided as usual.
cb_pap adam adam-password	# a pooled connection that has answered
sleep 6				# every cached answer has lapsed (found_ttl = 5)
cb_slapd stop
cb_slapd_restart "slapd restarts while radiusd is idle"
cb_pap adam adam-password
cb_expect_reply "slapd restarted while radiusd was idle: the first request is decided as usual" \
	'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "200"'
cb_log_has "-X: the dead pooled connection was found on use and the search made on another" \
	'closing it and searching on another'

# slapd paused (SIGSTOP): it accepts TCP but never answers.  Each reply
# still comes within the timeouts; the connection that timed out is closed.
cb_pap alice alice-password	# a pooled connection exists
sleep 6				# and every cached answer has lapsed
cb_slapd pause
for u in both adis hostile; do
	cb_pap_timed "$u" "$u-password"
	if printf '%s\n' "$CB_REPLY" | grep -q 'Received Access-Reject' && [ "$CB_TOOK" -le "$BOUND_MS" ]; then
		cb_pass "slapd paused: $u refused in $CB_TOOK ms (timeouts $TIMEOUT_MS ms, bound $BOUND_MS)"
	else
		cb_fail "slapd paused: $u refused within $BOUND_MS ms (took $CB_TOOK ms)"
		printf '%s\n' "$CB_REPLY" | sed 's/^/    # /'
	fi
done
cb_log_has "slapd paused: -X names the timeout" 'no answer within search_timeout_ms'
cb_slapd resume
cb_wait_decision "slapd resumed: decisions recover" 15 both both-password reject pupil_without_exception

# A server certificate issued by a CA the module does not trust.
cb_slapd stop
SLAPD_SERVER_CERT=untrusted cb_slapd_restart "slapd starts with the untrusted certificate"
sleep 6				# every cached answer has lapsed
cb_pap adis adis-password
cb_expect_reply "untrusted server certificate: refused" 'Received Access-Reject' 'cannot be reached'
if [ "$(cb_decisions adis reject directory_unavailable)" -ge 1 ]; then
	cb_pass "untrusted server certificate: directory_unavailable"
else
	cb_fail "untrusted server certificate: directory_unavailable"
fi
cb_log_has "untrusted server certificate: a clear log line" \
	"$LDAP_URI: StartTLS: TLS handshake failed: the server's certificate is not trusted"
cb_slapd stop
cb_slapd_restart "slapd restarts with the trusted certificate"
cb_wait_decision "trusted certificate again: decisions recover" 15 adis adis-password onboard no_acknowledgement

if grep -q 'module-secret' "$CB_TMP/radiusd.out"; then
	cb_fail "part A: the bind password never appears in radiusd -X output"
	grep -n 'module-secret' "$CB_TMP/radiusd.out" | head -n 3 | sed 's/^/    # /'
else
	cb_pass "part A: the bind password never appears in radiusd -X output"
fi
cb_log_has "radiusd -X shows the bind password as a secret" 'bind_password = <<< secret >>>'
cb_stop_radiusd
cp "$CB_TMP/radiusd.out" "$CB_TMP/radiusd-a.out"

# --- Start-up refuses a bad ldap { } section, naming the option ---------------
ok="
		uri = \"$LDAP_URI\"
		base_dn = \"ou=people,dc=school,dc=example\"
		staff_group = \"cn=staff,ou=groups,dc=school,dc=example\""
cb_conf_refused "no ldap { } section" "directory = ldap needs an 'ldap { }' section" -
cb_conf_refused "no uri" "Invalid 'ldap { uri }': uri must be given 1 to 8 times" "
		base_dn = \"ou=people,dc=school,dc=example\"
		staff_group = \"cn=staff,ou=groups,dc=school,dc=example\""
cb_conf_refused "no staff_group" "Invalid 'ldap { staff_group }': staff_group is not set" "
		uri = \"$LDAP_URI\"
		base_dn = \"ou=people,dc=school,dc=example\""
cb_conf_refused "unknown group_membership" \
	"Invalid value \"nested\" for 'ldap { group_membership }': accepted values are memberof, search, ad_nested" \
	"$ok
		group_membership = nested"
cb_conf_refused "unknown disabled_mode" \
	"Invalid value \"locked\" for 'ldap { disabled_mode }': accepted values are none, ad_user_account_control, ppolicy_locked, filter" \
	"$ok
		disabled_mode = locked"
cb_conf_refused "start_tls with ldaps://" "Invalid 'ldap { start_tls }': start_tls = yes cannot be used with" "
		uri = \"ldaps://127.0.0.1:$LDAPS_PORT\"
		base_dn = \"ou=people,dc=school,dc=example\"
		staff_group = \"cn=staff,ou=groups,dc=school,dc=example\"
		start_tls = yes"
cb_conf_refused "a user_filter without %s" "Invalid 'ldap { user_filter }'" "$ok
		user_filter = \"(uid=alice)\""
cb_conf_refused "bind_password without bind_dn" "Invalid 'ldap { bind_password }'" "$ok
		bind_password = \"module-secret\""
if grep -q 'module-secret' "$CB_TMP/radiusd-C.out"; then
	cb_fail "a refused configuration does not print the bind password"
else
	cb_pass "a refused configuration does not print the bind password"
fi
cb_conf_refused "an unreadable ca_file" "ca_file" "$ok
		ca_file = \"$CB_TMP/no-such-ca.pem\""
cb_conf_refused "admit_cached_when_unavailable out of range" \
	"Invalid value 9999999 for 'ldap { admit_cached_when_unavailable }': accepted values are 0" "$ok
		admit_cached_when_unavailable = 9999999"
cb_conf_refused "pool = <another module>" "'ldap { pool }' must be a section" "$ok
		pool = ldap"
cb_conf_refused "a misspelt option" "Unknown option 'ldap { start_tsl }'" "$ok
		start_tsl = yes"
cb_conf_refused "an unknown cache option" "Unknown option in 'ldap { cache { } }'" "$ok
		cache {
			ttl = 5
		}"

# --- Part B ---------------------------------------------------------------------
cb_slapd stop
cb_ldap_module_conf "$CB_TMP/raddb/mods-available/cetbyod" "$acks" "
		uri = \"ldaps://127.0.0.1:$LDAPS_PORT\"
		base_dn = \"ou=people,dc=school,dc=example\"
		user_filter = \"(uid=%s)\"
		sasl_external = yes
		cert_file = \"$CB_SLAPD_DIR/client.pem\"
		key_file = \"$CB_SLAPD_DIR/client.key\"
		ca_dir = \"$CB_SLAPD_DIR/cadir\"
		connect_timeout_ms = $TIMEOUT_MS
		search_timeout_ms = $TIMEOUT_MS
		email_attribute = \"mail\"
		email_attribute = \"mailLocalAddress\"
		staff_group = \"cn=staff,ou=groups,dc=school,dc=example\"
		pupil_group = \"cn=pupils,ou=groups,dc=school,dc=example\"
		disabled_mode = ppolicy_locked
		admit_cached_when_unavailable = 60
		cache {
			found_ttl = 2
			not_found_ttl = 2
		}
		pool {
			max = 8
			retry_delay = 1
		}"
if cb_start_radiusd_threaded; then
	cb_pass "threaded radiusd starts while the directory is down (pool start defaults to 0)"
else
	cb_fail "threaded radiusd starts while the directory is down"
	cb_finish
fi
cb_pap_timed alice alice-password
if printf '%s\n' "$CB_REPLY" | grep -q 'Received Access-Reject' && [ "$CB_TOOK" -le "$BOUND_MS" ]; then
	cb_pass "directory down since start-up: refused in $CB_TOOK ms (directory_unavailable)"
else
	cb_fail "directory down since start-up: refused within $BOUND_MS ms (took $CB_TOOK ms)"
fi
cb_slapd_restart "slapd starts again"
cb_wait_decision "ldaps:// with SASL EXTERNAL (client certificate): acknowledged staff admitted" 15 \
	alice alice-password admit acknowledged
sleep 3				# alice's answer is past found_ttl, within admit_cached_when_unavailable
cb_slapd pause
users="alice bob carol dave erin pupil1 pupil2 oscar"
t0=$(cb_ms)
pids=
for u in $users; do
	(
		s=$(cb_ms)
		printf 'User-Name = "%s"\nUser-Password = "%s-password"\n' "$u" "$u" |
			"$RADCLIENT" -x -r "$CB_RC_TRIES" -t 8 "127.0.0.1:$CB_AUTH_PORT" auth testing123 > "$CB_TMP/conc-$u.out" 2>&1
		echo $(( $(cb_ms) - s )) > "$CB_TMP/conc-$u.ms"
	) < /dev/null &
	pids="$pids $!"
done
for pid in $pids; do
	wait "$pid"	# Each ends within radclient's 8 s timeout.
done
total=$(( $(cb_ms) - t0 ))
for u in $users; do
	took=$(cat "$CB_TMP/conc-$u.ms")
	if grep -q 'Received Access-' "$CB_TMP/conc-$u.out" && [ "$took" -le "$BOUND_MS" ]; then
		cb_pass "slapd paused, 8 requests at once: $u answered in $took ms"
	else
		cb_fail "slapd paused, 8 requests at once: $u answered within $BOUND_MS ms (took $took ms)"
		sed 's/^/    # /' "$CB_TMP/conc-$u.out"
	fi
done
echo "# 8 concurrent requests with slapd paused took $total ms in all"
if grep -q 'Received Access-Accept' "$CB_TMP/conc-alice.out" &&
   grep -qF 'Directory unavailable: deciding with what it said' "$CB_TMP/radiusd.out"; then
	cb_pass "admit_cached_when_unavailable: alice (read 3 s ago) decided on the cached facts"
else
	cb_fail "admit_cached_when_unavailable: alice (read 3 s ago) decided on the cached facts"
fi
if grep -q 'Received Access-Reject' "$CB_TMP/conc-bob.out" &&
   grep -q 'cannot be reached' "$CB_TMP/conc-bob.out"; then
	cb_pass "admit_cached_when_unavailable: bob (never read) refused, directory_unavailable"
else
	cb_fail "admit_cached_when_unavailable: bob (never read) refused, directory_unavailable"
fi
cb_slapd resume
cb_wait_decision "slapd resumed: a threaded radiusd recovers" 15 pupil2 pupil2-password restricted exception_active

if grep -q 'module-secret' "$CB_TMP/radiusd-a.out" "$CB_TMP/radiusd.out"; then
	cb_fail "the bind password never appears in radiusd's output"
else
	cb_pass "the bind password never appears in radiusd's output"
fi
if grep -Eq 'AddressSanitizer|runtime error:|LeakSanitizer' "$CB_TMP/radiusd-a.out" "$CB_TMP/radiusd.out"; then
	cb_fail "no sanitizer reports in radiusd's output"
else
	cb_pass "no sanitizer reports in radiusd's output"
fi
cb_stop_radiusd
cb_finish
