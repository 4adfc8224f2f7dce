#!/bin/bash
# test_roles.sh - roles beyond employees ("'Staff' in the policy means staff,
# trustees, governors, volunteers, parents, carers, visitors and contractors
# who bring devices on site"), through a real radiusd with the module and
# the school directory in a real slapd (tests/slapd: gwen in cn=governors,
# sam in cn=staff and cn=governors).  roles { governors } has its own VLAN
# (110), form version (2026-gov) and validity (30 days).
#
#   - gwen, before acknowledging: onboarded (Access-Accept, VLAN 200); listed
#     under governors by `cetbyodctl report unacknowledged` (and --role);
#   - gwen acknowledges the employees' form version: still onboarded
#     (acknowledgement_predates_policy): the role's version is required;
#   - gwen acknowledges 2026-gov: Access-Accept with Tunnel-Private-Group-Id
#     110; radiusd -X and the audit record name the role and why that VLAN;
#     report unacknowledged no longer lists her, report due (the 30-day
#     validity) lists her under governors;
#   - sam (staff and governors, employees' version acknowledged): an
#     employee (VLAN 100), and radiusd -X says the staff group came first;
#   - bad roles { } configurations are refused at start-up, naming the option.
. "$(dirname "$0")/lib.sh"
. "$CB_SRCDIR/tests/integration/ldap/ldap-lib.sh"

CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $CB_TMP/state"
now=$(date +%s)
day=86400
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

cb_slapd_up
mkdir -p "$CB_TMP/state"

: > "$CB_TMP/users"
for u in alice gwen sam; do
	printf '%s\tCleartext-Password := "%s-password"\n' "$u" "$u" >> "$CB_TMP/users"
done
acks=$CB_TMP/acknowledgements
cat > "$acks" <<EOF
alice@school.example	$(iso $((now - 10 * day)))	version=2026-staff
sam@school.example	$(iso $((now - 10 * day)))	version=2026-staff
EOF

# module_conf ROLES - the module's configuration with ROLES (lines) in roles { }.
module_conf() {
	cat > "$CB_TMP/cetbyod.conf" <<EOC
cetbyod {
	source = file
	directory = ldap
	timezone = "Europe/London"
	form_url = "https://forms.gle/test-byod"
	state_dir = "$CB_TMP/state"
	policy {
		validity_days = 365
		version = "2026-staff"
		unacknowledged = onboard
	}
	file {
		filename = "$acks"
		check_interval = 1
	}
	reply {
		staff_vlan = "100"
		onboarding_vlan = "200"
		restricted_vlan = "300"
	}
	roles {
$1
	}
	ldap {
		uri = "$LDAP_URI"
		base_dn = "ou=people,dc=school,dc=example"
		user_filter = "(&(objectClass=inetOrgPerson)(uid=%s))"
		bind_dn = "cn=cetbyod,ou=services,dc=school,dc=example"
		bind_password = "module-secret"
		start_tls = yes
		ca_file = "$CB_SLAPD_DIR/ca.pem"
		email_attribute = "mail"
		group_membership = memberof
		staff_group = "cn=staff,ou=groups,dc=school,dc=example"
		pupil_group = "cn=pupils,ou=groups,dc=school,dc=example"
		disabled_mode = ppolicy_locked
		cache {
			found_ttl = 1
			not_found_ttl = 1
		}
	}
	audit {
		filename = \${logdir}/cetbyod-audit.jsonl
	}
	reports {
		refresh_interval = 5
	}
}
EOC
}
GOVERNORS='		governors {
			group = "cn=governors,ou=groups,dc=school,dc=example"
			vlan = 110
			version = "2026-gov"
			validity_days = 30
		}'

# --- Bad roles { } refused at start-up, naming the option ----------------------
module_conf "$GOVERNORS"
cb_make_raddb "$CB_TMP/users" "$acks" "$CB_TMP/cetbyod.conf" || { cb_fail "build raddb"; cb_finish; }
# refused DESCRIPTION MESSAGE ROLES - radiusd -XC refuses roles { ROLES } saying MESSAGE.
refused() {
	module_conf "$3"
	cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod"
	cb_raddb_refused "$1" "$2"
}
refused "a role without a group is refused" "'roles { governors { group } }' is not set" \
	'		governors {
			vlan = 110
		}'
refused "a bad validity_days is refused, naming it" "Invalid value \"forever\" for 'roles { governors { validity_days } }'" \
	'		governors {
			group = "cn=governors,ou=groups,dc=school,dc=example"
			validity_days = forever
		}'
refused "a misspelt option is refused, naming it" "Unknown option 'roles { governors { valdity_days } }'" \
	'		governors {
			group = "cn=governors,ou=groups,dc=school,dc=example"
			valdity_days = 30
		}'
refused "a role called staff is refused" "Invalid 'roles { staff }'" \
	'		staff {
			group = "cn=governors,ou=groups,dc=school,dc=example"
		}'
refused "a role's group that is not a DN is refused" "roles { governors { group } }: \"governors\" is not a valid DN" \
	'		governors {
			group = "governors"
		}'
refused "a VLAN that is not an id or name is refused" "Invalid value \"1 10\" for 'roles { governors { vlan } }'" \
	'		governors {
			group = "cn=governors,ou=groups,dc=school,dc=example"
			vlan = "1 10"
		}'

# --- Governors ------------------------------------------------------------------
module_conf "$GOVERNORS"
cp "$CB_TMP/cetbyod.conf" "$CB_TMP/raddb/mods-available/cetbyod"
cb_start_radiusd || { cb_fail "radiusd starts with roles { governors }"; cb_finish; }
cb_pass "radiusd starts with roles { governors }"
cb_log_has "start-up: radiusd says what the role gets" \
	"role governors: 1 group(s), VLAN 110, form version 2026-gov, validity 30 day(s)"

cb_pap gwen gwen-password
cb_expect_reply "gwen, a governor, before acknowledging: onboarded (VLAN 200)" \
	'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "200"'
cb_log_has "radiusd -X: gwen's role, from her governors group" \
	"Directory: role governors (member of a roles { governors { group } })"
cb_log_has "radiusd -X: the role's policy applies" \
	"Role governors: form version 2026-gov (roles { } version), validity 30 day(s) (roles { } validity_days)"

listed() { $CTL --json status | grep -q '"listed_at": *[0-9]'; }
cb_wait_until 20 listed
unack=$($CTL report unacknowledged 2>&1)
if printf '%s\n' "$unack" | grep -qE '^gwen +governors ' && ! printf '%s\n' "$unack" | grep -qE '^(alice|sam) '; then
	cb_pass "report unacknowledged: gwen under governors (not alice or sam, who acknowledged)"
else
	cb_fail "report unacknowledged lists gwen under governors"; printf '%s\n' "$unack" | sed 's/^/    # /'
fi
if printf '%s\n' "$unack" | grep -q 'governors)' &&
	$CTL report unacknowledged --role governors | grep -qE '^gwen ' &&
	! $CTL report unacknowledged --role staff | grep -qE '^gwen '; then
	cb_pass "report unacknowledged: counted per role; --role governors has gwen, --role staff has not"
else
	cb_fail "report unacknowledged per role and --role"
fi
if $CTL --json report unacknowledged | grep -q '"role": "governors"'; then
	cb_pass "report unacknowledged --json: gwen's role is governors"
else
	cb_fail "report unacknowledged --json names the role"
fi
$CTL report unacknowledged --role 'Bad Role' > "$CB_TMP/ctl.out" 2>&1
rc=$?
if [ $rc = 64 ] || grep -q 'expected "staff"' "$CB_TMP/ctl.out"; then
	cb_pass "report unacknowledged --role with a bad name: a usage error"
else
	cb_fail "report unacknowledged --role 'Bad Role' (exit $rc)"; sed 's/^/    # /' "$CB_TMP/ctl.out"
fi

# The employees' version does not count for a governor.
printf 'gwen@school.example\t%s\tversion=2026-staff\n' "$(iso $((now - 2 * day)))" >> "$acks"
cb_wait_decision "gwen acknowledges the employees' version: still onboarded (the governors' version is required)" \
	20 gwen gwen-password onboard acknowledgement_predates_policy
cb_expect_reply "... and the Access-Accept puts her on the onboarding VLAN" 'Tunnel-Private-Group-Id:0 = "200"'

# The governors' version: admitted to the governors' VLAN.
printf 'gwen@school.example\t%s\tversion=2026-gov\n' "$(iso $((now - 1 * day)))" >> "$acks"
cb_wait_decision "gwen acknowledges the governors' version: admitted" 20 gwen gwen-password admit acknowledged
cb_expect_reply "... with the governors' VLAN (Tunnel-Private-Group-Id 110)" \
	'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "110"'
cb_log_has "radiusd -X says why that VLAN" "VLAN 110, from roles { governors { vlan } }"
audit=$($CTL audit query --user gwen --type decision --format json 2>&1)
if printf '%s\n' "$audit" | grep -q '"status": *"admit"' && printf '%s\n' "$audit" | grep -q '"role": *"governors"' &&
	printf '%s\n' "$audit" | grep -q '"vlan": *"110"' &&
	printf '%s\n' "$audit" | grep -q '"vlan_why": *"roles { governors { vlan } }"'; then
	cb_pass "the audit record names the role, the VLAN and why"
else
	cb_fail "the audit record names the role, the VLAN and why"; printf '%s\n' "$audit" | tail -n 20 | sed 's/^/    # /'
fi

if cb_wait_until 15 sh -c "! $CTL report unacknowledged | grep -q '^gwen '"; then
	cb_pass "report unacknowledged: gwen no longer listed"
else
	cb_fail "report unacknowledged: gwen still listed"
fi
due=$($CTL report due --within 30 2>&1)
if printf '%s\n' "$due" | grep -qE '^gwen +governors ' && ! printf '%s\n' "$due" | grep -qE '^(alice|sam) '; then
	cb_pass "report due --within 30: gwen under governors (their 30-day validity), not the employees (365)"
else
	cb_fail "report due lists gwen under governors"; printf '%s\n' "$due" | sed 's/^/    # /'
fi
if $CTL report due --within 30 --role governors | grep -qE '^gwen ' &&
	! $CTL report due --within 30 --role staff | grep -qE '^gwen '; then
	cb_pass "report due --role: governors has gwen, staff has not"
else
	cb_fail "report due --role"
fi

# --- Precedence: staff and governors ---------------------------------------------
cb_pap sam sam-password
cb_expect_reply "sam, in both cn=staff and cn=governors: an employee (employees' version, VLAN 100)" \
	'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"'
cb_log_has "radiusd -X: sam's governors group was passed over" \
	"Directory: role staff (member of a staff_group); also in roles { governors }, but a staff_group comes first"
cb_pap alice alice-password
cb_expect_reply "alice, an employee: VLAN 100 as before" 'Received Access-Accept' 'Tunnel-Private-Group-Id:0 = "100"'

kill -0 "$CB_RADIUSD_PID" 2>/dev/null && cb_pass "radiusd keeps running" || cb_fail "radiusd keeps running"
cb_finish
