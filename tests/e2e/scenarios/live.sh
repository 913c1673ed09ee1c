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
	e2e_virsh h1 dumpxml --inactive live.v | grep_q "<currentMemory unit='KiB'>49152</currentMemory>" ||
		fail "the definition for the next boot lacks 48 MiB"
	expect_eq "vCPUs at the next boot" 2 "$(e2e_virsh h1 vcpucount live.v --config --active)"
	expect_converged

	note "40 MiB: the balloon down, live"
	live_spec 2 2 40MiB
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1
	grep -q "live: 48 → 40 MiB within max 64 MiB" "$S/plan.out" || { cat "$S/plan.out" >&2; fail "the plan does not shrink live"; }
	apply
	expect_eq "the same QEMU process" "$pid" "$(qemu_pid live.v)"
	# As above: QEMU took the target (the op succeeded); the guest, without
	# a balloon driver, keeps its memory (dommemstat "actual").
	e2e_virsh h1 dumpxml --inactive live.v | grep_q "<currentMemory unit='KiB'>40960</currentMemory>" ||
		fail "the definition for the next boot lacks 40 MiB"
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

# A libvirt network on h1 over a bridge made here (forward mode bridge:
# libvirt adds no firewall rules and runs no dnsmasq for it).
e2e_network() {
	e2e_virsh h1 net-info e2e >/dev/null 2>&1 && return 0
	ip link show strata-e2e0 >/dev/null 2>&1 || ip link add strata-e2e0 type bridge || return 1
	ip link set strata-e2e0 up || return 1
	cat >"$S/net.xml" <<'X'
<network><name>e2e</name><forward mode='bridge'/><bridge name='strata-e2e0'/></network>
X
	e2e_virsh h1 net-define "$S/net.xml" >/dev/null && e2e_virsh h1 net-start e2e >/dev/null
}

devices_spec() {
	e2e_spec h1
	cat >"$S/spec/dev.yaml" <<Y
kind: appliance
name: dev
disruption: ${2:-allowed}
vms:
  - {name: v, template: tiny, $1}
Y
}

# blocks HOST DOMAIN: the targets of its live disks, one line.
blocks() { e2e_virsh "$1" domblklist "$2" | awk '$1 {print $1}' | tr '\n' ' '; }
# capacity HOST DOMAIN TARGET: bytes, as QEMU sees it.
capacity() { e2e_virsh "$1" domblkinfo "$2" "$3" | awk '/^Capacity:/ {print $2}'; }

scenario_disks_and_nics_change_live() {
	local pid
	e2e_network || fail "cannot make network e2e on h1"
	devices_spec "disks: [{name: data, size: 16MiB}]"
	apply
	wait_for 30 "dev.v runs" is_running h1 dev.v
	pid=$(qemu_pid dev.v)
	expect_eq "disks at start" "vda vdb " "$(blocks h1 dev.v)"

	note "a disk and a NIC attached, a disk grown: live"
	devices_spec "disks: [{name: data, size: 32MiB}, {name: logs, size: 16MiB}], nics: [{network: e2e}]"
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1
	grep -q "live: attach disk 'logs' as vdc" "$S/plan.out" || { cat "$S/plan.out" >&2; fail "the plan does not attach live"; }
	grep -q "shutdown dev.v" "$S/plan.out" && fail "the plan stops the VM: $(cat "$S/plan.out")"
	apply
	expect_eq "the same QEMU process" "$pid" "$(qemu_pid dev.v)"
	expect_eq "disks now" "vda vdb vdc " "$(blocks h1 dev.v)"
	expect_eq "vdb as QEMU sees it" 33554432 "$(capacity h1 dev.v vdb)"
	e2e_virsh h1 domiflist dev.v | grep_q " e2e " || fail "no NIC on e2e: $(e2e_virsh h1 domiflist dev.v)"
	expect_converged

	note "a SCSI disk attached, then detached: SCSI needs no answer from the guest"
	devices_spec "disks: [{name: data, size: 32MiB}, {name: logs, size: 16MiB}, {name: scratch, size: 16MiB, bus: scsi}], nics: [{network: e2e}]"
	apply
	expect_eq "the same QEMU process" "$pid" "$(qemu_pid dev.v)"
	expect_eq "disks with sda" "vda vdb vdc sda " "$(blocks h1 dev.v)"
	e2e_virsh h1 dumpxml dev.v | grep_q "<controller type='scsi' index='0' model='virtio-scsi'" ||
		fail "the SCSI controller is not virtio-scsi: $(e2e_virsh h1 dumpxml dev.v | grep controller)"
	devices_spec "disks: [{name: data, size: 32MiB}, {name: logs, size: 16MiB}], nics: [{network: e2e}]"
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1
	grep -q "live: detach disk sda" "$S/plan.out" || { cat "$S/plan.out" >&2; fail "the plan does not detach live"; }
	apply
	expect_eq "the same QEMU process" "$pid" "$(qemu_pid dev.v)"
	expect_eq "disks without sda" "vda vdb vdc " "$(blocks h1 dev.v)"
	e2e_virsh h1 vol-info --pool default dev.v--scratch.qcow2 >/dev/null 2>&1 && fail "the detached disk's volume stayed"
	expect_converged

	note "a shrink is refused, with the reason"
	devices_spec "disks: [{name: data, size: 16MiB}, {name: logs, size: 16MiB}], nics: [{network: e2e}]"
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1 && fail "a shrink was planned: $(cat "$S/plan.out")"
	grep -q "a disk is never shrunk" "$S/plan.out" || { cat "$S/plan.out" >&2; fail "no reason for the refusal"; }
	expect_eq "vdb untouched" 33554432 "$(capacity h1 dev.v vdb)"
}

# The test guest (a boot sector) never answers a PCI unplug: the detach is
# reported at its deadline, once; the volume stays while QEMU holds it, the
# VM shows restart required, and a restart completes it; the volume goes
# once nothing uses it.
scenario_a_detach_the_guest_ignores() {
	local pid
	devices_spec "disks: [{name: data, size: 16MiB}, {name: logs, size: 16MiB}]" never
	apply
	wait_for 30 "dev.v runs" is_running h1 dev.v
	pid=$(qemu_pid dev.v)
	devices_spec "disks: [{name: data, size: 16MiB}]" never
	local rc=0 t0=$SECONDS
	"$STRATA" apply --yes --db "$S/strata.db" "$S/spec" >"$S/apply.out" 2>&1 || rc=$?
	[ $rc != 0 ] || fail "apply succeeded although the guest kept the disk: $(cat "$S/apply.out")"
	grep -q "did not release vdc within 30 s" "$S/apply.out" || { cat "$S/apply.out" >&2; fail "the deadline is not reported"; }
	note "reported after $((SECONDS - t0)) s"
	expect_eq "the same QEMU process" "$pid" "$(qemu_pid dev.v)"
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1 || true
	grep -q "detach" "$S/plan.out" && fail "the detach is planned again: $(cat "$S/plan.out")"
	grep -q "delete-volume" "$S/plan.out" && fail "the volume QEMU holds is to be deleted: $(cat "$S/plan.out")"
	apply
	e2e_virsh h1 vol-info --pool default dev.v--logs.qcow2 >/dev/null || fail "the volume QEMU holds was deleted"
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1 || true
	grep -q "restart required" "$S/plan.out" || { cat "$S/plan.out" >&2; fail "no restart required"; }
	grep -q "is kept while the running VM still has it attached" "$S/apply.out" || fail "the kept volume is not said: $(cat "$S/apply.out")"

	note "restarted by its operator: the disk is gone, restart required clears, the volume goes"
	acpi_shutdown h1 dev.v
	e2e_virsh h1 start dev.v >/dev/null
	wait_for 30 "dev.v runs again" is_running h1 dev.v
	expect_eq "disks after the restart" "vda vdb " "$(blocks h1 dev.v)"
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1 || true
	grep -q "restart required" "$S/plan.out" && fail "restart required stays: $(cat "$S/plan.out")"
	grep -q "delete-volume default/dev.v--logs.qcow2" "$S/plan.out" || { cat "$S/plan.out" >&2; fail "the volume it let go of is not deleted"; }
	apply
	e2e_virsh h1 vol-info --pool default dev.v--logs.qcow2 >/dev/null 2>&1 && fail "the volume stayed"
	expect_converged
}

# status_text: the daemon's whole status, as an operator reads it.
status_text() { "$STRATA" status --db "$S/strata.db" 2>/dev/null; }
restart_required_shown() { status_text | grep_q "restart required: 1 vCPUs running, 2 defined"; }
restart_required_gone() { status_text | grep_q "^live.v " && ! status_text | grep_q "restart required"; }

# Under disruption: never a change that needs a boot goes into the
# definition alone: the daemon shows restart required, the VM runs on in
# the same QEMU; a graceful restart by its operator clears it.
scenario_a_next_boot_change_shows_restart_required() {
	local pid
	e2e_spec h1
	cat >"$S/spec/live.yaml" <<'Y'
kind: appliance
name: live
disruption: never
vms:
  - {name: v, template: tiny, cpus: 1}
Y
	watch_start
	wait_for 60 "live.v runs" is_running h1 live.v
	pid=$(qemu_pid live.v)
	sed -i 's/cpus: 1/cpus: 2/' "$S/spec/live.yaml"
	wait_for 60 "the daemon shows restart required" restart_required_shown
	expect_eq "the same QEMU process" "$pid" "$(qemu_pid live.v)"
	expect_eq "vCPUs for the next boot" 2 "$(e2e_virsh h1 vcpucount live.v --config --maximum)"
	"$STRATA" status --db "$S/strata.db" -o json | grep_q '"restart_required" *: *"1 vCPUs running, 2 defined"' ||
		fail "no restart_required in the JSON status: $("$STRATA" status --db "$S/strata.db" -o json)"
	note "a graceful restart by its operator"
	acpi_shutdown h1 live.v
	e2e_virsh h1 start live.v >/dev/null
	wait_for 30 "live.v runs again" is_running h1 live.v
	wait_for 60 "restart required clears" restart_required_gone
	expect_eq "vCPUs now" 2 "$(e2e_virsh h1 vcpucount live.v --live --active)"

	note "a disk hot-plugged by hand: the daemon hears DEVICE_ADDED and shows it"
	e2e_virsh h1 vol-create-as default hand.qcow2 16M --format qcow2 >/dev/null
	e2e_virsh h1 attach-disk live.v "$(vol_path h1 hand.qcow2)" vdz --subdriver qcow2 --live >/dev/null ||
		fail "cannot hot-plug a disk by hand"
	wait_for 30 "restart required for the disk" eval 'status_text | grep_q "restart required: its disks differ"'
	watch_stop
}
