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

# Declared snapshots and a revert on QEMU (internal qcow2 snapshots, taken
# and reverted by libvirt with qemu-img on a shut-off VM): the bytes of the
# snapshot come back, the later ones go, and a revert is made once.
revert_spec() {
	cat >"$S/spec/app.yaml" <<Y
kind: appliance
name: app
vms:
  - name: vm
    template: tiny
    state: stopped
$1
Y
}

scenario_snapshot_reverted_brings_the_bytes_back() {
	local f
	e2e_spec h1
	revert_spec ""
	apply
	f=$(vol_path h1 app.vm--system.qcow2)
	write_marker h1 app.vm--system.qcow2
	revert_spec "    snapshots: [before]"
	apply
	grep -q "snapshot-create app.vm 'before'" "$S/apply.out" || fail "no snapshot taken: $(cat "$S/apply.out")"
	"$STRATA" snapshots "$S/spec" app.vm >"$S/snaps.out" || fail "strata snapshots failed"
	grep -q "^before .*shutoff .*strata (declared)" "$S/snaps.out" || fail "not listed: $(cat "$S/snaps.out")"
	expect_converged
	# Later bytes: the marker overwritten, and more elsewhere.
	qemu-io -f qcow2 -c "write -P 0xa5 4096 4096" -c "write -P 0x77 65536 4096" "$f" >/dev/null
	file_has_pattern "$f" 0x77 65536 || fail "the later bytes were not written"
	revert_spec "    snapshots: [before]
    revert: {id: r1, snapshot: before}"
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1 || true
	grep -q "snapshot-revert app.vm to 'before' (revert r1) on h1  \[destroys-data\]" "$S/plan.out" ||
		fail "the plan does not show the revert: $(cat "$S/plan.out")"
	apply
	has_marker h1 app.vm--system.qcow2 || fail "the snapshot's bytes are not back"
	file_lacks_pattern "$f" 0x77 65536 || fail "the bytes written after the snapshot are still there"
	is_off h1 app.vm || fail "app.vm is not shut off as declared"
	"$STRATA" history --db "$S/strata.db" >"$S/history.out" 2>&1
	grep -q "snapshot-revert" "$S/history.out" || fail "the revert is not in history: $(cat "$S/history.out")"
	# The revision stays: the next apply reverts nothing.
	qemu-io -f qcow2 -c "write -P 0x77 65536 4096" "$f" >/dev/null
	apply
	! grep -q "snapshot-revert" "$S/apply.out" || fail "reverted twice: $(cat "$S/apply.out")"
	file_has_pattern "$f" 0x77 65536 || fail "the bytes written after the revert are gone"
	expect_converged
	# A snapshot the VM lacks: refused at plan time, naming those it has.
	revert_spec "    snapshots: [before]
    revert: {id: r2, snapshot: nope}"
	local rc=0
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1 || rc=$?
	expect_eq "exit status of a plan reverting to a missing snapshot" 1 "$rc"
	grep -q "it has no snapshot 'nope' (it has: before)" "$S/plan.out" ||
		fail "the refusal does not say why: $(cat "$S/plan.out")"
}

# json_field FILE NAME FIELD: the number FIELD of the flat JSON object
# whose "name" is NAME.
json_field() {
	tr -d ' \n' <"$1" | grep -o "{[^{}]*\"name\":\"$2\"[^{}]*}" | sed -n "s/.*\"$3\":\([0-9]*\).*/\1/p"
}

# Sizes in `strata snapshots` are the images' own: a snapshot of the
# running VM holds its memory, one taken shut off holds none; both as
# `qemu-img info` reads them from the image.
scenario_snapshot_sizes_are_read_from_the_image() {
	local f want got
	e2e_spec h1
	revert_spec "    snapshots: [cold]"
	apply
	sed -i 's/state: stopped/state: running/' "$S/spec/app.yaml"
	apply
	wait_for 30 "app.vm runs" is_running h1 app.vm
	e2e_virsh h1 snapshot-create-as app.vm warm >/dev/null || fail "cannot snapshot the running VM"
	f=$(vol_path h1 app.vm--system.qcow2)
	"$STRATA" snapshots "$S/spec" app.vm -o json >"$S/snaps.json" 2>"$S/snaps.err" || fail "strata snapshots failed"
	"$STRATA" snapshots "$S/spec" app.vm >"$S/snaps.out" 2>&1 || fail "strata snapshots failed"
	qemu-img info -U --output=json "$f" >"$S/qemu-img.json"
	for s in cold warm; do
		want=$(json_field "$S/qemu-img.json" "$s" vm-state-size)
		got=$(json_field "$S/snaps.json" "$s" size_bytes)
		expect_eq "the size of $s" "$want" "$got" || { cat "$S/snaps.err" "$S/snaps.json" >&2; false; }
		case $s in
		cold) expect_eq "the size of cold (taken shut off)" 0 "$got" ;;
		warm) [ "$got" -gt 0 ] || fail "the running VM's snapshot holds no memory" ;;
		esac
	done
	grep_q "^warm .* [0-9.]* [KMG]iB .*other" "$S/snaps.out" || fail "no size in the listing: $(cat "$S/snaps.out")"
	[ ! -s "$S/snaps.err" ] || fail "strata snapshots said: $(cat "$S/snaps.err")"
	note "warm holds $got bytes of memory; cold none"
}
