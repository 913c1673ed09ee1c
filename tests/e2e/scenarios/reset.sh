# reset_on_reboot on real QEMU: a VM whose guest reboots stops
# (<on_reboot>destroy</on_reboot>), and `strata watch`, told by QEMU's
# SHUTDOWN event that it was a reset, starts it again on a system disk made
# anew from its template.  Its guest's own power-off, which libvirt reports
# just as it does the reboot (stopped, shutdown), is held as any VM's.
#
# The guest (guest/reboot-guest.S, the base of template `rebooter`, made
# here on h1) counts its boots at byte 4096 of its disk (4 KiB of 0x01,
# 0x02...), writes 4 KiB of 0x5a at byte 8192 on key W and reboots itself
# on key R: a disk that survived a reboot says 2 and keeps the 0x5a.

reset_spec() {
	e2e_spec h1
	cat >"$S/spec/r.yaml" <<'Y'
kind: template
name: rebooter
pool: default
volume: reboot-guest.qcow2
cpus: 1
memory: 32MiB
disk_size: 16MiB
---
kind: appliance
name: r
vms:
  - {name: k, template: rebooter, reset_on_reboot: true}
Y
}

# boot_count FILE: the boot count the guest wrote on its disk (nothing
# before its first boot on it).
boot_count() { local n; for n in 1 2 3; do file_has_pattern "$1" "$n" 4096 && { echo "$n"; return; }; done; true; }
booted() { [ -n "$(boot_count "$1")" ]; }
# marked FILE: the guest's "written before the reboot" is on the disk.
marked() { file_has_pattern "$1" 0x5a 8192; }
# history_ops KIND: how many ops of KIND history records done for r.k.
history_ops() {
	"$STRATA" history --db "$S/strata.db" --vm r.k -o json >"$S/history.json"
	tr -d '\n ' <"$S/history.json" | grep -o "\"kind\":\"$1\"[^}]*\"result\":\"done\"" | grep -c . || true
}
# The daemon lets r.k run: no hold.
not_held() { daemon_says r.k "running +running +-$"; }

# QEMU's own SHUTDOWN events on h1, as strata gets them (libvirt-qemu),
# recorded for the end and for a failure's files.
qemu_events_start() {
	virsh -q -c "$(e2e_uri h1)" qemu-monitor-event --event SHUTDOWN --loop >"$S/qemu-events.log" 2>&1 &
	EVENTS_PID=$!
	trap 'watch_stop; qemu_events_stop' EXIT
}
qemu_events_stop() {
	[ -n "${EVENTS_PID:-}" ] || return 0
	kill "$EVENTS_PID" 2>/dev/null || true
	wait "$EVENTS_PID" 2>/dev/null || true  # 143: the SIGTERM
	EVENTS_PID=
}
# The reasons QEMU gave, in order, on one line.  Each stop is followed by
# a second SHUTDOWN, "host-signal": libvirt ending the stopped QEMU with
# SIGTERM (on_poweroff destroy); left out.
qemu_reasons() {
	grep -o '"reason": *"[a-z-]*"' "$S/qemu-events.log" | sed 's/.*"\([a-z-]*\)"$/\1/' |
		grep -vx host-signal | paste -sd ' ' || true
}
qemu_said() { [ "$(qemu_reasons)" = "$1" ]; }

scenario_a_reboot_brings_the_vm_back_on_a_fresh_disk() {
	local t=20 disk pid id inode
	# SeaBIOS's boot is slower in software emulation.
	[ "$E2E_TYPE" = kvm ] || t=60
	reset_spec
	e2e_reboot_image "$(vol_path h1 reboot-guest.qcow2)" || fail "cannot make the guest's base image"
	e2e_virsh h1 pool-refresh default >/dev/null
	disk=$(vol_path h1 r.k--system.qcow2)
	qemu_events_start
	watch_start
	wait_for $t "r.k runs" is_running h1 r.k
	e2e_virsh h1 dumpxml --inactive r.k | grep_q "<on_reboot>destroy</on_reboot>" ||
		fail "r.k is not defined with on_reboot destroy"
	wait_for $t "the guest counted its first boot" booted "$disk"
	expect_eq "boots counted on the disk" 1 "$(boot_count "$disk")"

	note "the guest writes its marker, then reboots itself (QEMU: guest-reset)"
	e2e_virsh h1 send-key r.k KEY_W >/dev/null
	wait_for 10 "the guest wrote its marker" marked "$disk"
	pid=$(qemu_pid r.k) || fail "no QEMU process for r.k"
	id=$(e2e_virsh h1 domid r.k)
	e2e_virsh h1 send-key r.k KEY_R >/dev/null
	wait_for $t "r.k runs again in a new QEMU" new_qemu_runs r.k "$pid" ||
		fail "r.k is $(domstate h1 r.k); status says: $(status_of r.k)"
	[ "$(e2e_virsh h1 domid r.k)" != "$id" ] || fail "r.k has the same domain id ($id) after its reboot"
	wait_for $t "the guest booted again" booted "$disk"
	# The disk it rebooted on would say 2, and keep the marker.
	expect_eq "boots counted on the disk after the reboot" 1 "$(boot_count "$disk")"
	file_lacks_pattern "$disk" 0x5a 8192 || fail "the marker written before the reboot is still on the disk"
	expect_eq "QEMU's SHUTDOWN reasons" "guest-reset" "$(qemu_reasons)"
	# libvirt's record says no more than a power-off's would.
	expect_eq "libvirt's reasons for r.k's stops" "reason=shutdown" \
		"$(grep -o "shutting down, reason=.*" "$E2E_DIR/h1/log/qemu/r.k.log" | sed 's/.*, //' | paste -sd ' ')"
	grep_q "r.k: its guest rebooted; it is started again on disks made anew from its template" "$S/watch.log" ||
		fail "the daemon did not say that r.k rebooted"
	wait_for 10 "the daemon lets r.k run (no hold)" not_held || fail "status says: $(status_of r.k)"
	grep_q "held" "$S/watch.log" && fail "the daemon held r.k: $(grep held "$S/watch.log")"
	expect_eq "system disks deleted" 1 "$(history_ops delete-volume)"
	expect_eq "system disks created" 2 "$(history_ops create-volume)"
	expect_eq "starts" 2 "$(history_ops start)"
	grep_q '"reason" : "reset_on_reboot: the system disk is made anew for this boot"' "$S/history.json" ||
		fail "history has no delete-volume for the reset"

	note "the guest's own power-off (QEMU: guest-shutdown): held, its disk kept"
	e2e_virsh h1 send-key r.k KEY_W >/dev/null
	wait_for 10 "the guest wrote its marker" marked "$disk"
	inode=$(stat -c %i "$disk")
	acpi_shutdown h1 r.k
	wait_for 30 "the daemon holds r.k: the guest shut itself down" \
		daemon_says r.k "running +stopped +stopped \\(the guest shut itself down\\)" ||
		fail "status says: $(status_of r.k)"
	expect_eq "r.k's state" "shut off (shutdown)" "$(domstate h1 r.k)"
	expect_eq "r.k's disk (inode)" "$inode" "$(stat -c %i "$disk")"
	marked "$disk" || fail "the held VM's disk lost its marker"
	expect_eq "system disks deleted" 1 "$(history_ops delete-volume)"
	# Started by hand on the disk it has: the guest counts a second boot
	# there, what a reboot without the reset would have shown.
	e2e_virsh h1 start r.k >/dev/null
	wait_for 10 "the daemon releases r.k" not_held
	wait_for $t "the guest counted a second boot on the kept disk" file_has_pattern "$disk" 2 4096
	marked "$disk" || fail "the kept disk lost its marker"

	note "virsh reset (QEMU: host-qmp-system-reset): a reset too"
	pid=$(qemu_pid r.k) || fail "no QEMU process for r.k"
	e2e_virsh h1 reset r.k >/dev/null
	wait_for $t "r.k runs again in a new QEMU after virsh reset" new_qemu_runs r.k "$pid" ||
		fail "r.k is $(domstate h1 r.k); status says: $(status_of r.k)"
	# Fresh from the base: no marker, and no count but the new boot's.
	file_lacks_pattern "$disk" 0x5a 8192 || fail "the marker is still on the disk after virsh reset"
	case $(boot_count "$disk") in "" | 1) ;; *) fail "the disk counts $(boot_count "$disk") boots after virsh reset" ;; esac
	wait_for 10 "the daemon lets r.k run (no hold)" not_held || fail "status says: $(status_of r.k)"
	expect_eq "system disks deleted" 2 "$(history_ops delete-volume)"
	expect_eq "holds" 1 "$(grep -c "held stopped" "$S/watch.log")"
	wait_for 10 "QEMU's reasons recorded" qemu_said "guest-reset guest-shutdown host-qmp-system-reset" ||
		fail "QEMU's SHUTDOWN reasons: $(qemu_reasons)"
	watch_stop
	expect_converged
}
