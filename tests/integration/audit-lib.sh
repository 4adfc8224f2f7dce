# audit-lib.sh - helpers of the audit trail's integration tests (sourced
# after lib.sh): waiting for something to appear, and cetbyodctl audit verify.
CTL="$CB_BUILDDIR/cetbyodctl/cetbyodctl --state-dir $CB_TMP/lib/cetbyod"

ms_now() { date +%s%3N; }
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# wait_until SECONDS COMMAND... - run COMMAND every 0.1 s until it succeeds
# or SECONDS pass.  Returns its last status.
wait_until() {
	limit=$(( $(ms_now) + $1 * 1000 ))
	shift
	while :; do
		"$@" && return 0
		[ "$(ms_now)" -ge "$limit" ] && return 1
		sleep 0.1
	done
}

# check_verify DESCRIPTION - cetbyodctl audit verify exits 0 (its output shown when not).
check_verify() {
	out=$($CTL audit verify 2>&1); rc=$?
	if [ "$rc" -eq 0 ]; then
		cb_pass "$1"
	else
		cb_fail "$1 (cetbyodctl audit verify exit $rc)"
		printf '%s\n' "$out" | sed 's/^/    # /'
	fi
}
