#!/bin/bash
# run-demo.sh - the cetbyod story on a local stack (run by scripts/demo.sh
# from the build directory):
#   - the Google emulator plays the school's BYOD Google Form;
#   - slapd (OpenLDAP) is the school's directory (demo/directory.ldif):
#     staff, pupils, a governor, and a pupil's medical exception;
#   - radiusd runs the module with the project's raddb files (directory
#     facts from slapd, acknowledgements from the form, governors on a VLAN
#     of their own);
#   - hostapd (driver=wired, on a veth pair) is the NAS and wpa_supplicant
#     is bob's laptop (EAP-TTLS/PAP, anonymous outer identity);
#   - radclient plays other staff and pupils;
#   - a local SMTP listener (tests/smtp/smtp-sink.py) is the school's mail
#     relay, for the reminder emails;
#   - cetbyodctl is IT.
# Everything runs on loopback and a veth pair it creates, and is stopped and
# removed at the end.
. "$srcdir/tests/integration/lib.sh"
. "$srcdir/tests/integration/google-lib.sh"
. "$srcdir/tests/integration/ldap/ldap-lib.sh"
. "$srcdir/demo/two-servers.sh"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() {
	printf '%s\n' "$CB_REPLY" | grep -E 'Received Access-|Tunnel-Private-Group-Id|Session-Timeout|Reply-Message' |
		sed -e 's/^[[:space:]]*/    /' -e 's/ Id [0-9]* from.*//'
}
connect() {
	say "$1"
	cb_pap "$2" "$3"
	show
}
decisions() { grep -E "cetbyod: $1 -> " "$CB_TMP/radiusd.out" | tail -n "${2:-1}" | sed -e 's/^/    /'; }
wait_for() { for _ in $(seq 1 100); do grep -qE -- "$1" "$CB_TMP/radiusd.out" && return 0; sleep 0.1; done; return 1; }
FX=$CB_TMP/nas
demo_cleanup() {
	[ -f "$FX/ifaces" ] && "$srcdir/tests/nas/nas-fixture.sh" stop "$FX"
	two_servers_cleanup
	CB_FAILED=0
	cb_ldap_cleanup	# slapd (by its PID), then radiusd and the rest.
}
trap demo_cleanup EXIT

now=$(date +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
day=86400
Q='I have read the BYOD policy and agree to it'

say "The school's BYOD form (Google Forms, played by a local emulator over HTTPS)"
cb_start_emulator || exit 1
cb_emu PUT forms/byod "{\"title\": \"BYOD acknowledgement\", \"collectEmails\": true,
	\"items\": [{\"title\": \"$Q\", \"questionId\": \"q1\", \"kind\": \"choice\", \"options\": [\"I agree\", \"I do not agree\"]}]}" >/dev/null
for who in "alice:$((now - 30 * day))" "carol:$((now - 380 * day))" "dave:$((now - 60 * day))"; do
	cb_emu POST forms/byod/responses "{\"respondentEmail\": \"${who%%:*}@school.example\",
		\"lastSubmittedTime\": \"$(iso "${who#*:}")\", \"answers\": {\"$Q\": \"I agree\"}}" >/dev/null
done
cb_emu POST forms/byod/responses "{\"respondentEmail\": \"dave@school.example\",
	\"lastSubmittedTime\": \"$(iso $((now - 2 * day)))\", \"answers\": {\"$Q\": \"I do not agree\"}}" >/dev/null
echo "    alice acknowledged 30 days ago, carol 380 days ago, dave agreed and later withdrew; bob has not replied"

say "The school's directory (OpenLDAP slapd, StartTLS): who is staff, pupil or governor"
if ! SLAPD_LDIF="$srcdir/demo/directory.ldif" cb_slapd start > "$CB_TMP/slapd-start.out" 2>&1; then
	cat "$CB_TMP/slapd-start.out"
	exit 1
fi
LDAP_URI="ldap://127.0.0.1:$(cat "$CB_SLAPD_DIR/ldap_port")"
echo "    $LDAP_URI: staff alice, bob, carol, dave; pupils percy and mia (mia's medical exception is"
echo "    recorded in her directory entry); gwen, a governor"
# radiusd checks the passwords (the users file); the module asks slapd who each person is.
: > "$CB_TMP/users"
for u in alice bob carol dave percy mia gwen; do
	printf '%s\tCleartext-Password := "%spw"\n' "$u" "$u" >> "$CB_TMP/users"
done
say "The school's mail relay (a local SMTP listener), for the reminder emails"
cb_start_smtp_sink || exit 1
echo "    listening on 127.0.0.1:$CB_SMTP_PORT"

DAS_PORT=$(cb_free_udp_port)
DAS_SECRET=demo-das-secret
cb_google_module_conf "$CB_TMP/cetbyod.conf" forms "	ldap {
		uri = \"$LDAP_URI\"
		base_dn = \"ou=people,dc=school,dc=example\"
		user_filter = \"(&(objectClass=inetOrgPerson)(uid=%s))\"
		bind_dn = \"cn=cetbyod,ou=services,dc=school,dc=example\"
		bind_password = \"module-secret\"
		start_tls = yes
		ca_file = \"$CB_SLAPD_DIR/ca.pem\"
		email_attribute = \"mail\"
		group_membership = memberof
		staff_group = \"cn=staff,ou=groups,dc=school,dc=example\"
		pupil_group = \"cn=pupils,ou=groups,dc=school,dc=example\"
	}
	roles {
		governors {
			group = \"cn=governors,ou=groups,dc=school,dc=example\"
			vlan = 110
		}
	}
	audit {
		filename = \${logdir}/cetbyod-audit.jsonl
		retention_days = 400
	}
	reports {
		refresh_interval = 5
	}
	reminders {
		# The demo's window is 350 days: alice (lapsing in 335 days) gets hers now, bob (365) not yet.
		enabled = yes
		windows = \"350\"
		template = $srcdir/raddb/mods-config/cetbyod/reminder.txt
		school = \"Demo School\"
		smtp_url = \"smtp://127.0.0.1:$CB_SMTP_PORT\"
		from = \"it-office@school.example\"
		from_name = \"School IT\"
		require_tls = no
	}
	forms {
		form_id = byod
		agreement_question = \"$Q\"
		agree_value = \"I agree\"
	}
	enforce {
		nas hostapd {
			ipaddr = 127.0.0.1
			port = $DAS_PORT
			secret = \"$DAS_SECRET\"
			profile = hostapd
		}
	}"
sed -i 's/^	directory = attributes$/	directory = ldap/' "$CB_TMP/cetbyod.conf"
say "radiusd with the cetbyod module (source = forms, sync every second)"
cb_make_raddb "$CB_TMP/users" /dev/null "$CB_TMP/cetbyod.conf" || exit 1
cb_start_radiusd || exit 1
echo "    radiusd is listening on 127.0.0.1:$CB_AUTH_PORT (auth) and :$CB_ACCT_PORT (accounting)"
CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $CB_TMP/state"
sleep 2

connect "alice, staff, acknowledged 30 days ago: staff VLAN until her acknowledgement lapses" alice alicepw
connect "carol acknowledged 380 days ago: the annual acknowledgement has expired, onboarding VLAN" carol carolpw
connect "dave agreed, then withdrew: refused with the reason" dave davepw
connect "percy is a pupil: personal devices are not allowed" percy percypw
connect "mia is a pupil with a medical exception recorded in the directory: restricted VLAN" mia miapw
connect "gwen is a governor (the policy's 'staff' includes governors) who has not acknowledged: onboarding VLAN" gwen gwenpw
cb_emu POST forms/byod/responses "{\"respondentEmail\": \"gwen@school.example\", \"answers\": {\"$Q\": \"I agree\"}}" >/dev/null
sleep 2
connect "gwen acknowledges on the form: admitted to the governors' VLAN (roles { governors { vlan = 110 } })" gwen gwenpw

cat > "$CB_TMP/network" <<EOF2
network={
	key_mgmt=IEEE8021X
	eap=TTLS
	identity="bob"
	anonymous_identity="anonymous@school.example"
	password="bobpw"
	ca_cert="$CB_TMP/certs/ca.pem"
	phase2="auth=PAP"
	eapol_flags=0
}
EOF2
say "bob's laptop joins through a real NAS (hostapd, wired 802.1X on a veth pair)"
mkdir -p "$FX"
if ! "$srcdir/tests/nas/nas-fixture.sh" start "$FX" --auth-port "$CB_AUTH_PORT" --acct-port "$CB_ACCT_PORT" \
	--secret testing123 --das-port "$DAS_PORT" --das-secret "$DAS_SECRET" --network "$CB_TMP/network" >/dev/null 2>&1; then
	echo "    (hostapd and wpa_supplicant need root and veth support; skipping bob's laptop)"
else
	. "$FX/env"
	wcli() { timeout 5 wpa_cli -p "$WPA_CTRL" -i "$STA_IF" "$@" 2>/dev/null; }
	hcli() { timeout 5 hostapd_cli -p "$HOSTAPD_CTRL" -i "$NAS_IF" "$@" 2>/dev/null; }
	wcli set EAPOL::heldPeriod 1 >/dev/null
	wait_for "bob -> onboard" && decisions bob
	sleep 1
	echo "    cetbyodctl sessions:"
	$CTL sessions | sed 's/^/      /'

	say "bob fills in the form; the next sync sees it and moves his laptop to the staff VLAN by itself"
	cb_emu POST forms/byod/responses "{\"respondentEmail\": \"bob@school.example\", \"answers\": {\"$Q\": \"I agree\"}}" >/dev/null
	wait_for "Disconnect-Request for bob .* acknowledged" &&
		grep -E "enforcer: (queued disconnect of bob|Disconnect-Request for bob)" "$CB_TMP/radiusd.out" | tail -n 2 | sed 's/^rlm_cetbyod (cetbyod): /    /'
	# Ethernet has no deauthentication frame: do what a Wi-Fi laptop does when dropped.
	for _ in $(seq 1 30); do hcli all_sta | grep -q AUTHORIZED || break; sleep 0.1; done
	wcli reauthenticate >/dev/null
	wait_for "bob -> admit" && decisions bob
	# The Access-Accept names the person (web_filter { reply_user_name }): hostapd accounts
	# under bob, not the anonymous outer identity, so the school's web filter logs bob.
	grep -m 1 -o "old identity .* updated with User-Name from Access-Accept '[a-z]*'" "$HOSTAPD_LOG" |
		sed 's/^/    hostapd: /'

	say "IT revokes bob (lost laptop): disconnected at once, refused on re-authentication"
	$CTL revoke bob --reason "laptop reported lost" --by it-office | sed 's/^/    /'
	wait_for "Disconnect-Request for bob .* revoked|revoked_by_admin" 
	sleep 1
	grep -E "enforcer: (queued disconnect of bob|Disconnect-Request for bob)" "$CB_TMP/radiusd.out" | tail -n 2 | sed 's/^rlm_cetbyod (cetbyod): /    /'
	for _ in $(seq 1 30); do hcli all_sta | grep -q AUTHORIZED || break; sleep 0.1; done
	wpa_from=$(( $(wc -l < "$FX/wpa_supplicant.log") + 1 ))
	wcli reauthenticate >/dev/null
	wait_for "bob -> reject \(revoked_by_admin\)" && decisions bob
	# What the laptop itself saw: EAP-Failure (RFC 3579), so it shows the failure and backs off.
	for _ in $(seq 1 30); do
		tail -n "+$wpa_from" "$FX/wpa_supplicant.log" | grep -q 'CTRL-EVENT-EAP-FAILURE' && break
		sleep 0.1
	done
	tail -n "+$wpa_from" "$FX/wpa_supplicant.log" | grep -E -m 1 'CTRL-EVENT-EAP-(FAILURE|SUCCESS)' |
		sed -e 's/^[0-9.]*: [^ ]*: /    bob'"'"'s laptop (wpa_supplicant): /'
fi

say "IT records a documented exception for percy's medical monitoring phone (cetbyodctl exception add)"
$CTL exception add --user percy --reason "Medical monitoring phone" --approved-by "Headteacher" \
	--until "$(date -d '+30 days' +%F)" --by it-office | sed 's/^/    /'
sleep 1
connect "percy again: admitted to the restricted VLAN under the exception" percy percypw
decisions percy
grep -E 'Register: exception #' "$CB_TMP/radiusd.out" | tail -n 1 | sed -e 's/^.*Register:/    radiusd -X: Register:/'
echo "    cetbyodctl exception list (the register and the directory's, in one list):"
$CTL exception list | sed 's/^/      /'
$CTL exception end --user percy --by it-office | sed 's/^/    /'
sleep 1
connect "percy after the exception ended: refused again" percy percypw

say "Reports for the safeguarding lead and the auditor"
echo "    cetbyodctl report due --within 365d:"
$CTL report due --within 365d | sed 's/^/      /'
echo "    cetbyodctl report devices:"
$CTL report devices | sed 's/^/      /'
echo "    cetbyodctl audit query --user percy (the exception's grant and end, the decisions):"
$CTL audit query --user percy | cut -c1-150 | sed 's/^/      /'
echo "    cetbyodctl audit verify:"
$CTL audit verify | sed 's/^/      /'

say "Reminder emails: alice's acknowledgement lapses within the window; the relay received one email"
for _ in $(seq 1 50); do ls "$CB_TMP/mail"/*.eml >/dev/null 2>&1 && break; sleep 0.2; done
for m in "$CB_TMP/mail"/*.eml; do
	[ -f "$m" ] || continue
	/usr/bin/python3 -c 'import email, email.header, sys
msg = email.message_from_binary_file(open(sys.argv[1], "rb"))
for h in ("From", "To", "Subject"):
    print("    %s: %s" % (h, " ".join(str(email.header.make_header(email.header.decode_header(msg[h]))).split())))
for line in msg.get_payload().splitlines()[:5]:
    print("    | " + line)' "$m"
done
echo "    cetbyodctl report reminders:"
$CTL report reminders | sed 's/^/      /'

say "cetbyodctl status"
$CTL status | sed 's/^/    /'
say "What radiusd logged: one line per decision, with the reason"
grep -E 'cetbyod: [a-z]+ -> ' "$CB_TMP/radiusd.out" | sed -e 's/^/    /' | cut -c1-160
cb_stop_radiusd
[ -f "$FX/ifaces" ] && "$srcdir/tests/nas/nas-fixture.sh" stop "$FX"
two_servers
say "Demo finished; every process stopped, the veth pair and temporary files removed."
