# Host maintenance on real hosts: the VM that must leave migrates live,
# with its disks' content, to the host its layer leaves free; nothing else
# moves, and no guest restarts.

migrate_spec() {
	e2e_spec h1 h2 h3
	cat >"$S/spec/m.yaml" <<Y
kind: appliance
name: m
layers: [app]
vms:
  - {name: app1, template: tiny, layer: app, state: $1, disks: [{name: data, size: ${E2E_DATA_SIZE:-16MiB}}]}
  - {name: app2, template: tiny, layer: app}
Y
}

scenario_maintenance_migrates_live() {
	local from mate to pid2 other
	migrate_spec stopped
	apply
	from=$(host_of m.app1)
	mate=$(host_of m.app2)
	write_marker "$from" m.app1--data.qcow2
	migrate_spec running
	apply
	is_running "$from" m.app1 || fail "m.app1 did not start"
	pid2=$(qemu_pid m.app2)

	note "$from goes into maintenance; m.app2 is on $mate"
	E2E_MAINTENANCE=$from migrate_spec running
	"$STRATA" plan "$S/spec" >"$S/plan.out"
	grep -q "migrate m.app1 to" "$S/plan.out" || fail "the plan does not migrate m.app1: $(cat "$S/plan.out")"
	apply
	to=$(host_of m.app1)
	[ -n "$to" ] && [ "$to" != "$from" ] && [ "$to" != "$mate" ] ||
		fail "m.app1 is on '$to' (was on $from, its layer mate on $mate)"
	expect_eq "m.app1 on $to" "running (migrated)" "$(domstate "$to" m.app1)"
	has_marker "$to" m.app1--data.qcow2 || fail "the data disk's content did not travel"
	[ ! -e "$(vol_path "$from" m.app1--data.qcow2)" ] || fail "the old copy of the data disk is left on $from"
	[ ! -e "$(vol_path "$from" m.app1--system.qcow2)" ] || fail "the old system disk is left on $from"
	expect_eq "m.app2's QEMU" "$pid2" "$(qemu_pid m.app2)"
	other=$("$STRATA" history --db "$S/strata.db" --vm m.app1 | grep -c -E " (start|shutdown|undefine) " || true)
	expect_eq "starts/stops/undefines of m.app1 since its first start" 1 "$other"
	E2E_MAINTENANCE=$from expect_converged
}

# A migration that fails (the target address does not resolve) leaves the VM
# running where it was, with its disks; the next attempt reuses the volumes
# the failed one made on the target, and succeeds.
scenario_failed_migration_is_retried() {
	local from to pid
	migrate_spec running
	apply
	from=$(host_of m.app1)
	pid=$(qemu_pid m.app1)
	E2E_MAINTENANCE=$from E2E_MIGRATION_URI=tcp://no-such-host.invalid migrate_spec running
	! "$STRATA" apply --yes --db "$S/strata.db" "$S/spec" >"$S/apply.out" 2>&1 ||
		fail "apply succeeded although migration data could not be sent"
	grep -q "failed  migrate m.app1" "$S/apply.out" || fail "no failed migration reported: $(cat "$S/apply.out")"
	expect_eq "m.app1's host after the failed migration" "$from" "$(host_of m.app1)"
	expect_eq "m.app1's QEMU" "$pid" "$(qemu_pid m.app1)"
	[ -e "$(vol_path "$from" m.app1--data.qcow2)" ] || fail "the data disk is gone from $from"

	E2E_MAINTENANCE=$from migrate_spec running
	apply
	to=$(host_of m.app1)
	[ -n "$to" ] && [ "$to" != "$from" ] || fail "m.app1 is on '$to' after the retry"
	expect_eq "m.app1 on $to" "running (migrated)" "$(domstate "$to" m.app1)"
	[ ! -e "$(vol_path "$from" m.app1--data.qcow2)" ] || fail "the old data disk is left on $from"
	E2E_MAINTENANCE=$from expect_converged
}

# A migration that cannot finish in time is aborted at its deadline: 64 MiB
# of data to copy at 1 MiB/s (the domain's migration bandwidth, which
# libvirt applies to the disk copy too) against the source host's
# migration_timeout of 10 s.  The VM keeps running where it was, on the
# same QEMU, and the op fails saying why; nothing waits past the deadline.
scenario_migration_past_its_deadline_is_aborted() {
	local from pid t0 took
	E2E_DATA_SIZE=96MiB migrate_spec stopped
	apply
	from=$(host_of m.app1)
	qemu-io -f qcow2 -c "write -P 0x5a 0 64M" "$(vol_path "$from" m.app1--data.qcow2)" >/dev/null ||
		fail "cannot fill the data disk"
	E2E_DATA_SIZE=96MiB migrate_spec running
	apply
	pid=$(qemu_pid m.app1)
	e2e_virsh "$from" migrate-setspeed m.app1 1 >/dev/null || fail "cannot throttle m.app1's migration"
	E2E_MAINTENANCE=$from E2E_MIGRATION_TIMEOUT=10 E2E_DATA_SIZE=96MiB migrate_spec running
	"$STRATA" plan "$S/spec" >"$S/plan.out"
	grep -q "migrate m.app1 to .* (aborted after 10 s)" "$S/plan.out" ||
		fail "the plan does not show the deadline: $(cat "$S/plan.out")"
	t0=$(date +%s)
	! "$STRATA" apply --yes --db "$S/strata.db" "$S/spec" >"$S/apply.out" 2>&1 ||
		fail "apply succeeded although the migration could not finish in 10 s"
	took=$(($(date +%s) - t0))
	grep -q "aborted at its deadline (10 s" "$S/apply.out" || fail "no abort reported: $(cat "$S/apply.out")"
	[ "$took" -lt 40 ] || fail "the apply took $took s with a 10 s deadline"
	expect_eq "m.app1's host after the abort" "$from" "$(host_of m.app1)"
	case "$(domstate "$from" m.app1)" in running*) ;; *) fail "m.app1 on $from: $(domstate "$from" m.app1)";; esac
	expect_eq "m.app1's QEMU" "$pid" "$(qemu_pid m.app1)"
	note "aborted after $took s; m.app1 still runs on $from"
}
