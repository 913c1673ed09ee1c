# Plans without the hosts: a snapshot of real libvirtd + QEMU hosts, taken
# by `strata observe` and by the daemon, plans exactly what the live hosts
# plan, for a revision that changes running VMs (their definitions read).

snapshot_spec() {
	cat >"$S/spec/app.yaml" <<Y
kind: appliance
name: app
layers: [web]
vms:
  - {name: web1, template: tiny, layer: web, cpus: $1}
  - {name: web2, template: tiny, layer: web, state: $2}
  - {name: db, persistent: data}
Y
}

# plan_both LABEL SNAPSHOT: the live plan and the plan from SNAPSHOT agree,
# byte for byte, text and JSON; both say there are changes.
plan_both() {
	local rc_live=0 rc_snap=0 fmt
	for fmt in text json; do
		"$STRATA" plan --detailed-exitcode -o $fmt "$S/spec" >"$S/live.$fmt" 2>"$S/live.err" || rc_live=$?
		"$STRATA" plan --detailed-exitcode -o $fmt --observed "$2" "$S/spec" >"$S/snap.$fmt" 2>"$S/snap.err" || rc_snap=$?
		expect_eq "$1: exit status of the live plan" 2 "$rc_live"
		expect_eq "$1: exit status of the plan from the snapshot" 2 "$rc_snap"
		cmp -s "$S/live.$fmt" "$S/snap.$fmt" ||
			{ diff "$S/live.$fmt" "$S/snap.$fmt" >&2; fail "$1: the plans differ ($fmt)"; }
	done
	grep -q "hosts as observed at" "$S/snap.err" || fail "$1: the snapshot's age is not said"
}

scenario_plan_from_a_snapshot_is_the_live_plan() {
	e2e_spec h1 h2
	snapshot_spec 1 running
	apply
	# A daemon on the converged revision writes its snapshot at its first
	# pass (every definition read for it) and has nothing to do.
	watch_start --observed-snapshot "$S/daemon.json"
	wait_for 60 "the daemon's snapshot" test -s "$S/daemon.json" || fail "no snapshot from the daemon"
	wait_for 60 "the daemon settles" daemon_settled_after 0 || fail "the daemon does not settle"
	watch_stop
	# The next revision restarts web1 (vCPUs) and stops web2.
	snapshot_spec 2 stopped
	"$STRATA" observe -o json "$S/spec" >"$S/observed.json" || fail "strata observe failed"
	! grep -q "qemu+\|qemu:///" "$S/observed.json" "$S/daemon.json" || fail "a snapshot holds a URI"
	plan_both "strata observe" "$S/observed.json"
	grep -q "web1" "$S/live.text" || fail "the plan does not change web1: $(cat "$S/live.text")"
	plan_both "the daemon's snapshot" "$S/daemon.json"
}
