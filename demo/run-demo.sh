#!/bin/bash
# run-demo.sh - the cetbyod story on a local stack (run by scripts/demo.sh
# from the build directory).  A real radiusd with the project's raddb files
# decides for a handful of staff and pupils; radclient (PAP) and eapol_test
# (EAP-PEAP with an anonymous outer identity) play their devices.
. "$srcdir/tests/integration/lib.sh"

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }
show() {
	# The reply, as a NAS would see it: code, VLAN, Session-Timeout, message.
	printf '%s\n' "$CB_REPLY" | grep -E 'Received Access-|Tunnel-Private-Group-Id|Session-Timeout|Reply-Message' |
		sed -e 's/^[[:space:]]*/    /' -e 's/ Id [0-9]* from.*//'
}
connect() {
	say "$1"
	cb_pap "$2" "$3"
	show
}

now=$(date +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
day=86400
cat > "$CB_TMP/users" <<EOF2
alice	Cleartext-Password := "alicepw", Cetbyod-Role := Staff
bob	Cleartext-Password := "bobpw", Cetbyod-Role := Staff
carol	Cleartext-Password := "carolpw", Cetbyod-Role := Staff
dave	Cleartext-Password := "davepw", Cetbyod-Role := Staff
percy	Cleartext-Password := "percypw", Cetbyod-Role := Pupil
mia	Cleartext-Password := "miapw", Cetbyod-Role := Pupil, Cetbyod-Exception-Until := $((now + 60 * day)), Cetbyod-Exception-Reason := "medical monitoring (approved by the Headteacher)"
EOF2
acks=$CB_TMP/acknowledgements
cat > "$acks" <<EOF2
alice@school.example	$(iso $((now - 30 * day)))	version=2026-1
carol@school.example	$(iso $((now - 380 * day)))	version=2025-1
dave@school.example	$(iso $((now - 60 * day)))
dave@school.example	$(iso $((now - 2 * day)))	revoked
EOF2

say "Starting radiusd with the cetbyod module (users file for the directory facts, a local acknowledgements file)"
cb_make_raddb "$CB_TMP/users" "$acks" || exit 1
cb_start_radiusd || exit 1
echo "    radiusd is listening on 127.0.0.1:$CB_AUTH_PORT"

connect "Alice, staff, acknowledged 30 days ago: admitted to the staff VLAN until her acknowledgement lapses" alice alicepw
say "Alice again, on her phone with EAP-PEAP (outer identity anonymous@school.example)"
cb_eapol PEAP alice alicepw
printf '%s\n' "$CB_REPLY" | grep -E '^(SUCCESS|FAILURE)' | sed 's/^/    /'
printf '%s\n' "$CB_REPLY" | grep -A1 'Attribute 81' | sed -e 's/^[[:space:]]*/    /'
connect "Bob, staff, has not acknowledged yet: onboarding VLAN, told where the form is" bob bobpw
say "Bob fills in the form (IT records it; with Google Forms this arrives by itself)"
printf 'bob@school.example\t%s\tversion=2026-1\n' "$(iso "$now")" >> "$acks"
echo "    bob@school.example  $(iso "$now")  version=2026-1   >> acknowledgements"
sleep 2
connect "Bob's device re-authenticates: promoted to the staff VLAN" bob bobpw
connect "Carol acknowledged 380 days ago: her annual acknowledgement has expired" carol carolpw
connect "Dave acknowledged, then withdrew: rejected with the reason" dave davepw
connect "Percy is a pupil: personal devices are not allowed" percy percypw
connect "Mia is a pupil with a documented medical exception: restricted VLAN" mia miapw

say "What radiusd logged: one line per decision, with the reason"
grep -E 'cetbyod: .* -> ' "$CB_TMP/radiusd.out" | sed -e 's/^/    /'
say "Demo finished; radiusd stopped and the temporary files removed."
CB_FAILED=0
