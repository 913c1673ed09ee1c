# Changes to a running VM on real QEMU: vCPUs and memory within the maxima
# the spec wrote change live (the same QEMU process goes on), beyond them
# the VM restarts; a NIC-less VM keeps its UUID across a redefinition.

live_spec() {
	e2e_spec h1
	cat >"$S/spec/live.yaml" <<Y
kind: appliance
name: live
vms:
  - {name: v, template: tiny, cpus: $1, max_cpus: $2, memory: $3, max_memory: 64MiB}
Y
}

scenario_vcpus_and_memory_change_live() {
	local pid uuid
	live_spec 1 2 32MiB
	apply
	wait_for 30 "live.v runs" is_running h1 live.v
	pid=$(qemu_pid live.v)
	uuid=$(e2e_virsh h1 domuuid live.v)
	expect_eq "vCPUs at boot" 1 "$(e2e_virsh h1 vcpucount live.v --live --active)"

	note "2 vCPUs and 48 MiB: within the maxima, live"
	live_spec 2 2 48MiB
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1
	grep -q "live: 1 → 2 vCPUs within max 2" "$S/plan.out" || { cat "$S/plan.out" >&2; fail "the plan does not say live"; }
	grep -q "shutdown live.v" "$S/plan.out" && fail "the plan stops the VM: $(cat "$S/plan.out")"
	apply
	expect_eq "the same QEMU process" "$pid" "$(qemu_pid live.v)"
	expect_eq "vCPUs now" 2 "$(e2e_virsh h1 vcpucount live.v --live --active)"
	# The test guest has no balloon driver: QEMU takes the target (the
	# set-memory op succeeded) and the guest keeps what it has; the next
	# boot's definition says 48 MiB.
	e2e_virsh h1 dumpxml --inactive live.v | grep -q "<currentMemory unit='KiB'>49152</currentMemory>" ||
		fail "the definition for the next boot lacks 48 MiB"
	expect_eq "vCPUs at the next boot" 2 "$(e2e_virsh h1 vcpucount live.v --config --active)"
	expect_converged

	note "max_cpus 4: a new machine, restarted; its UUID kept"
	live_spec 2 4 48MiB
	apply
	wait_for 30 "live.v runs again" is_running h1 live.v
	[ "$(qemu_pid live.v)" != "$pid" ] || fail "live.v was not restarted"
	expect_eq "UUID" "$uuid" "$(e2e_virsh h1 domuuid live.v)"
	expect_converged
}

scenario_the_operator_picks_the_host() {
	local uuid
	e2e_spec h1 h2
	cat >"$S/spec/pin.yaml" <<'Y'
kind: appliance
name: pin
vms:
  - {name: p, template: tiny, host: h1}
Y
	apply
	wait_for 30 "pin.p runs on h1" is_running h1 pin.p
	uuid=$(e2e_virsh h1 domuuid pin.p)
	note "host: h2 — migrated live"
	sed -i 's/host: h1/host: h2/' "$S/spec/pin.yaml"
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1
	grep -q "migrate pin.p to h2" "$S/plan.out" || { cat "$S/plan.out" >&2; fail "the plan does not migrate pin.p"; }
	grep -q "the spec names another host" "$S/plan.out" || fail "the plan does not say why: $(cat "$S/plan.out")"
	apply
	wait_for 30 "pin.p runs on h2" is_running h2 pin.p
	expect_eq "hosts defining pin.p" h2 "$(host_of pin.p)"
	expect_eq "UUID" "$uuid" "$(e2e_virsh h2 domuuid pin.p)"
	expect_converged
}
