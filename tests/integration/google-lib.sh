# google-lib.sh - start the Google API emulator for an integration test and
# talk to its control API (sourced after lib.sh).
CB_EMU_DIR=$CB_TMP/google

# cb_start_emulator - certificates, then the emulator on a free loopback port.
cb_start_emulator() {
	mkdir -p "$CB_EMU_DIR"
	"$CB_SRCDIR/tests/google-emulator/mkcerts.sh" "$CB_EMU_DIR/certs" >/dev/null 2>&1 || return 1
	/usr/bin/python3 "$CB_SRCDIR/tests/google-emulator/emulator.py" --listen 127.0.0.1 --port 0 \
		--cert "$CB_EMU_DIR/certs/server.pem" --key "$CB_EMU_DIR/certs/server.key" \
		--service-account-pubkey "$CB_EMU_DIR/certs/sa_pub.pem" \
		--client-email sa@test-project.iam.gserviceaccount.com \
		--port-file "$CB_EMU_DIR/port" --log "$CB_EMU_DIR/emulator.log" >"$CB_EMU_DIR/emulator.out" 2>&1 &
	CB_EMU_PID=$!
	CB_PIDS="$CB_PIDS $CB_EMU_PID"
	for _ in $(seq 1 100); do
		[ -s "$CB_EMU_DIR/port" ] && break
		sleep 0.1
	done
	[ -s "$CB_EMU_DIR/port" ] || { cat "$CB_EMU_DIR/emulator.out" >&2; return 1; }
	CB_EMU_PORT=$(cat "$CB_EMU_DIR/port")
	CB_EMU_URL="https://127.0.0.1:$CB_EMU_PORT"
}

# cb_emu METHOD PATH [JSON] - a control API call; the answer is printed.
cb_emu() {
	curl -sS --max-time 20 --cacert "$CB_EMU_DIR/certs/ca.pem" -X "$1" -H 'Content-Type: application/json' \
		${3:+--data "$3"} "$CB_EMU_URL/_emulator/$2"
}

# cb_google_module_conf FILE SOURCE EXTRA - a module configuration reading
# Google through the emulator; EXTRA is appended inside the cetbyod section.
# The tests sync every second, so their request budget is $CB_MAX_RPM (600
# a minute unless set) rather than the default 30, which would defer them.
cb_google_module_conf() {
	mkdir -p "$CB_TMP/state"
	cat > "$1" <<EOC
cetbyod {
	source = $2
	directory = attributes
	timezone = "Europe/London"
	form_url = "https://forms.gle/test-byod"
	email_domain = "school.example"
	state_dir = "$CB_TMP/state"
	policy {
		validity_days = 365
		unacknowledged = onboard
${CB_POLICY_VERSION:+		version = "$CB_POLICY_VERSION"
}${CB_STALE_AFTER:+		stale_after = $CB_STALE_AFTER
}${CB_ADMIT_WHEN_STALE:+		admit_when_stale = $CB_ADMIT_WHEN_STALE
}	}
	sync {
		interval = 1
		full_interval = ${CB_FULL_INTERVAL:-3600}
		max_removal_percent = 50
		min_removals = 2
		backoff_max = ${CB_BACKOFF_MAX:-1}
${CB_KEY_BACKOFF_MAX:+		key_backoff_max = $CB_KEY_BACKOFF_MAX
}	}
	google {
		key_file = "$CB_EMU_DIR/certs/sa.json"
		token_url = "$CB_EMU_URL/token"
		forms_url = "$CB_EMU_URL"
		sheets_url = "$CB_EMU_URL"
		drive_url = "$CB_EMU_URL"
		ca_file = "$CB_EMU_DIR/certs/ca.pem"
		connect_timeout = 2
		timeout = 5
		max_requests_per_minute = ${CB_MAX_RPM:-600}
	}
$3
}
EOC
}

# cb_expect_ctl DESCRIPTION CODE PATTERN ARGS... - run cetbyodctl on the
# test's state directory: passes when it exits CODE and its output (stdout
# and stderr) matches the grep -E PATTERN.
cb_expect_ctl() {
	desc=$1
	code=$2
	pat=$3
	shift 3
	"$CB_BUILDDIR/cetbyodctl/cetbyodctl" --state-dir "$CB_TMP/state" "$@" >"$CB_TMP/ctl.out" 2>&1
	rc=$?
	if [ "$rc" = "$code" ] && grep -Eq -- "$pat" "$CB_TMP/ctl.out"; then
		cb_pass "$desc"
		return 0
	fi
	cb_fail "$desc (exit $rc)"
	sed 's/^/    # /' "$CB_TMP/ctl.out"
	return 1
}

# cb_wait_ctl SECONDS PATTERN ARGS... - wait (bounded) until cetbyodctl's
# output matches PATTERN, for what the module reports within a heartbeat.
cb_wait_ctl() {
	end=$(( $(date +%s) + $1 ))
	pat=$2
	shift 2
	until "$CB_BUILDDIR/cetbyodctl/cetbyodctl" --state-dir "$CB_TMP/state" "$@" 2>&1 | grep -Eq -- "$pat"; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.25
	done
}

# cb_wait_for DESCRIPTION SECONDS USER PASSWORD PATTERN - PAP until the reply
# matches (bounded); passes or fails the check.  $CB_WAITED: seconds taken.
cb_wait_for() {
	desc=$1
	limit=$2
	start=$(date +%s.%N)
	end=$(( $(date +%s) + limit ))
	while :; do
		cb_pap "$3" "$4"
		if printf '%s\n' "$CB_REPLY" | grep -Eq -- "$5"; then
			CB_WAITED=$(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $start }")
			cb_pass "$desc"
			return 0
		fi
		[ "$(date +%s)" -ge "$end" ] && break
		sleep 0.2
	done
	cb_fail "$desc (not within ${limit}s)"
	printf '%s\n' "$CB_REPLY" | sed 's/^/    # /'
	return 1
}
