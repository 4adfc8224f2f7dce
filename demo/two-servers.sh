# two-servers.sh - the demo's second act (sourced by run-demo.sh after the
# first): two radiusd sharing one PostgreSQL store (a throwaway PostgreSQL
# 15, tests/pg/pg-fixture.sh), and hostapd (wired, on a new veth pair)
# configured with both: radius-a its primary, radius-b its secondary
# authentication and accounting server.  bob's laptop joins through
# radius-a; radius-a is stopped; the laptop comes back and hostapd fails
# over to radius-b (hostapd 2.10: after four unanswered transmissions,
# about 45 s); IT revokes bob with cetbyodctl on radius-a's side (it needs
# only the store): the store tells radius-b, which disconnects the laptop it
# now holds; the laptop is then refused.  About 80 s.  Needs what the first
# act's hostapd needed, and Debian's postgresql-15.
. "$srcdir/tests/integration/pg-lib.sh"
PGFX=$srcdir/tests/pg/pg-fixture.sh
PGDIR=
FX2=$CB_TMP/nas2

two_servers_cleanup() {
	[ -f "$FX2/ifaces" ] && "$srcdir/tests/nas/nas-fixture.sh" stop "$FX2"
	cb_pg_stop_b
	cb_stop_radiusd
	[ -n "$PGDIR" ] && "$PGFX" stop "$PGDIR" >/dev/null 2>&1
	[ -n "$PGDIR" ] && rm -rf "$PGDIR"
	PGDIR=
}

# in_logs PATTERN - the first line of either server's output that matches, with the server's name.
in_logs() {
	grep -hE -m 1 -- "$1" "$CB_TMP/radiusd.out" 2>/dev/null | sed 's/^/radius-a: /' | head -n 1
	grep -hE -m 1 -- "$1" "$CB_TMP/radiusd-b.out" 2>/dev/null | sed 's/^/radius-b: /' | head -n 1
}

two_servers() {
	say "Act two: two RADIUS servers, one PostgreSQL store (store { backend = postgresql })"
	if [ ! -x /usr/lib/postgresql/15/bin/initdb ] || [ "$(id -u)" != 0 ]; then
		echo "    (needs root and postgresql-15; skipping the second act)"
		return 0
	fi
	PGDIR=$(mktemp -d /tmp/cb-pg-demo.XXXXXX)
	"$PGFX" start "$PGDIR" >/dev/null || { echo "    (PostgreSQL did not start; skipping)"; return 0; }
	CONNINFO=$(cat "$PGDIR/conninfo")
	PWFILE=$CB_TMP/pg-password
	cp "$PGDIR/password" "$PWFILE" && chmod 0600 "$PWFILE"
	pgctl() { "$CB_BUILDDIR/cetbyodctl/cetbyodctl" --store-conninfo "$CONNINFO" --store-password-file "$PWFILE" "$@"; }
	echo "    PostgreSQL 15 on 127.0.0.1:$(cat "$PGDIR/port"), role cetbyod owning one schema"
	cb_pg_people bob
	for s in a b; do
		cb_pg_modconf "$CB_TMP/cetbyod-$s.conf" postgresql "$CONNINFO" "$PWFILE" "radius-$s" "$DAS_PORT" "$DAS_SECRET"
		sed -i 's/profile = rfc5176/profile = hostapd/' "$CB_TMP/cetbyod-$s.conf"
	done
	# Each server its own state_dir (its spool, should the store be down).
	mkdir -p "$CB_TMP/state" "$CB_TMP/state-b"
	sed -i "s|state_dir = \"$CB_TMP/state\"|state_dir = \"$CB_TMP/state-b\"|" "$CB_TMP/cetbyod-b.conf"
	rm -rf "$CB_TMP/raddb"
	cb_make_raddb "$CB_TMP/users" "$CB_TMP/acknowledgements" "$CB_TMP/cetbyod-a.conf" || return 1
	mv "$CB_TMP/radiusd.out" "$CB_TMP/radiusd-act1.out"	# Act two's greps see act two only.
	cb_start_radiusd || return 1
	cb_pg_start_b "$CB_TMP/cetbyod-b.conf" || return 1
	echo "    radius-a on 127.0.0.1:$CB_AUTH_PORT, radius-b on 127.0.0.1:$B_AUTH: each its own audit file, one store"

	sed -i 's/password="bobpw"/password="staffpw"/' "$CB_TMP/network"
	mkdir -p "$FX2"
	say "hostapd with both servers (radius-a primary, radius-b secondary); bob's laptop joins"
	"$srcdir/tests/nas/nas-fixture.sh" start "$FX2" --auth-port "$CB_AUTH_PORT" --acct-port "$CB_ACCT_PORT" \
		--secret testing123 --secondary-auth-port "$B_AUTH" --secondary-acct-port "$B_ACCT" \
		--retry-primary-interval 600 --das-port "$DAS_PORT" --das-secret "$DAS_SECRET" \
		--network "$CB_TMP/network" >/dev/null 2>&1 || { echo "    (hostapd did not start; skipping)"; return 0; }
	. "$FX2/env"
	grep -E '^(auth|acct)_server_(addr|port)|^radius_(retry_primary_interval|das_client)' "$FX2/hostapd.conf" |
		sed -e 's/^radius_das_client=\([^ ]*\) .*/radius_das_client=\1 (secret)/' -e 's/^/    /'
	hcli2() { timeout 5 hostapd_cli -p "$HOSTAPD_CTRL" -i "$NAS_IF" "$@" 2>/dev/null; }
	wcli2() { timeout 5 wpa_cli -p "$WPA_CTRL" -i "$STA_IF" "$@" 2>/dev/null; }
	sid() { hcli2 all_sta | sed -n 's/^dot1xAuthSessionId=//p' | head -n 1; }
	held() { [ -n "$(sid)" ] && pgctl --json sessions --user bob 2>/dev/null | grep -q "\"$(sid)\""; }
	cb_wait_until 15 held || { echo "    (bob's session did not reach the store)"; return 0; }
	in_logs "cetbyod: bob.* -> admit" | cut -c1-150 | sed 's/^/    /'
	s1=$(sid)

	say "radius-a stops (maintenance); the laptop leaves and comes back: hostapd fails over to radius-b"
	cb_stop_radiusd
	echo "    radius-a stopped; the laptop logs off and on; hostapd retries radius-a (after 3, 6, 12, 24 s), then fails over"
	wcli2 logoff >/dev/null
	gone() { ! hcli2 all_sta | grep -qE '^([0-9a-f]{2}:){5}[0-9a-f]{2}$'; }
	cb_wait_until 10 gone
	t0=$(date +%s%3N)
	wcli2 logon >/dev/null
	back() { hcli2 all_sta | grep -q AUTHORIZED && [ -n "$(sid)" ] && [ "$(sid)" != "$s1" ] && held; }
	cb_wait_until 120 back || { echo "    (the laptop did not come back through radius-b)"; return 0; }
	echo "    back on $(( ($(date +%s%3N) - t0) / 1000 )) s later; hostapd's log:"
	grep -h "failover" "$FX2/hostapd.log" | sed -e 's/^[0-9.: ]*//' -e 's/^[^ ]*: //' -e 's/^/      /'
	grep -h "cetbyod: bob.* -> admit" "$CB_TMP/radiusd-b.out" | tail -n 1 | cut -c1-150 | sed 's/^/    radius-b: /'
	echo "    cetbyodctl --store-conninfo ... sessions (the one store, read from anywhere):"
	pgctl sessions | sed 's/^/      /'

	say "IT revokes bob with cetbyodctl on radius-a's side (radius-a is down; the store is not)"
	t0=$(date +%s%3N)
	pgctl revoke bob --reason "laptop reported lost" --by it-office | sed 's/^/    /'
	acked() { grep -q "Disconnect-Request for bob.* acknowledged" "$CB_TMP/radiusd-b.out"; }
	if cb_wait_until 10 acked; then
		echo "    Disconnect-ACK from hostapd $(( $(date +%s%3N) - t0 )) ms after the revoke began (polled every 0.2 s):"
		grep -h "Disconnect-Request for bob.* acknowledged" "$CB_TMP/radiusd-b.out" | tail -n 1 |
			sed -e 's/rlm_cetbyod (cetbyod): //' -e 's/^/    radius-b: /' | cut -c1-160
	fi
	for _ in $(seq 1 30); do hcli2 all_sta | grep -q AUTHORIZED || break; sleep 0.1; done
	cb_wait_until 10 gone
	wcli2 reauthenticate >/dev/null
	refused() { grep -q "cetbyod: bob.* -> reject (revoked_by_admin)" "$CB_TMP/radiusd-b.out"; }
	cb_wait_until 10 refused && grep -h "cetbyod: bob.* -> reject" "$CB_TMP/radiusd-b.out" | tail -n 1 |
		sed 's/^/    radius-b: /' | cut -c1-150
	echo "    cetbyodctl audit query --user bob (both servers' trails, one index):"
	pgctl audit query --user bob | cut -c1-120 | sed 's/^/      /'
	two_servers_cleanup
}
