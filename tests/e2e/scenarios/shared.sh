# Shared storage on real hosts.  One folder, bind-mounted at the same path
# (/var/lib/libvirt/san) into h1's and h2's namespaces, is their pool san,
# standing in for an NFS export both mount.  h3 has a pool san of its own
# at the same path, on local storage: equal paths, different disks, which is
# why strata never guesses sharing from paths.

SAN_PATH=/var/lib/libvirt/san

# san_up: the pool san on every host, each with the base image; h1 and h2
# see one folder.  Anything an earlier scenario left there is removed.
san_up() {
	local h dir
	san_down
	rm -rf "$E2E_DIR/san" && mkdir -p "$E2E_DIR/san"
	for h in h1 h2 h3; do
		dir=$E2E_DIR/$h
		rm -rf "$dir/lib/san" && mkdir -p "$dir/lib/san"
		case $h in
		h1|h2) nsenter -t "$(cat "$dir/ns.pid")" -m -- mount --bind "$E2E_DIR/san" "$SAN_PATH" ||
			fail "cannot mount the shared folder on $h" ;;
		esac
		e2e_virsh "$h" pool-define-as san dir --target "$SAN_PATH" >/dev/null &&
			e2e_virsh "$h" pool-start san >/dev/null || fail "cannot start pool san on $h"
	done
	e2e_guest_image "$E2E_DIR/san/acpi-guest.qcow2"
	e2e_guest_image "$E2E_DIR/h3/lib/san/acpi-guest.qcow2"
	for h in h1 h2 h3; do e2e_virsh "$h" pool-refresh san >/dev/null; done
}

san_down() {
	local h dir
	for h in h1 h2 h3; do
		dir=$E2E_DIR/$h
		e2e_virsh "$h" pool-destroy san >/dev/null 2>&1 || true
		e2e_virsh "$h" pool-undefine san >/dev/null 2>&1 || true
		nsenter -t "$(cat "$dir/ns.pid")" -m -- umount "$SAN_PATH" 2>/dev/null || true
	done
	return 0
}

# shared_spec MEMBERS VM-LINE...: hosts h1..h3, pool san declared shared
# by MEMBERS ("h1, h2"), templates on san, appliance s with the VMs.
shared_spec() {
	local members=$1 vm
	shift
	e2e_spec h1 h2 h3
	cat >"$S/spec/san.yaml" <<Y
kind: pool
name: san
hosts: [$members]
shared: true
---
kind: template
name: tiny-san
pool: san
volume: acpi-guest.qcow2
cpus: 1
memory: 32MiB
disk_size: 16MiB
---
kind: persistent-template
name: data-san
from: tiny-san
size: 16MiB
---
kind: appliance
name: s
vms:
Y
	for vm in "$@"; do echo "  - $vm" >>"$S/spec/san.yaml"; done
}

san_file() { echo "$E2E_DIR/san/$1"; }
san_marker() { qemu-io -f qcow2 -c "write -P 0x5a 4096 4096" "$1" >/dev/null; }
san_has_marker() { file_has_pattern "$1" 0x5a 4096; }
history_count() { "$STRATA" history --db "$S/strata.db" | grep -c -- " $1 " || true; }

# A persistent VM on the shared pool: maintenance on its host migrates it
# live to the other sharing host, copying nothing: the same file (inode),
# the bytes written before, one copy, no volume made or deleted by the move.
scenario_shared_pool_migrates_live_without_copy() {
	local vol inode creates
	san_up
	E2E_MAINTENANCE="h2 h3" shared_spec "h1, h2" "{name: p, persistent: data-san, state: stopped}"
	apply
	expect_eq "s.p's host" h1 "$(host_of s.p)"
	vol=$(san_file persistent-data-san.qcow2)
	[ -f "$vol" ] || fail "the persistent volume is not in the shared folder"
	san_marker "$vol" || fail "cannot write the marker"
	inode=$(stat -c %i "$vol")
	E2E_MAINTENANCE="h2 h3" shared_spec "h1, h2" "{name: p, persistent: data-san}"
	apply
	is_running h1 s.p || fail "s.p does not run on h1"
	creates=$(history_count create-volume)

	note "h1 goes into maintenance"
	E2E_MAINTENANCE=h1 shared_spec "h1, h2" "{name: p, persistent: data-san}"
	apply
	grep -q "migrate s.p to h2, disks on shared storage" "$S/apply.out" ||
		fail "no shared-storage migration in: $(cat "$S/apply.out")"
	expect_eq "s.p's host" h2 "$(host_of s.p)"
	expect_eq "s.p on h2" "running (migrated)" "$(domstate h2 s.p)"
	expect_eq "the volume's inode" "$inode" "$(stat -c %i "$vol")"
	san_has_marker "$vol" || fail "the bytes written before the move are gone"
	expect_eq "copies of the volume" 1 "$(find "$E2E_DIR" -name persistent-data-san.qcow2 | wc -l)"
	expect_eq "volumes created by the move" "$creates" "$(history_count create-volume)"
	expect_eq "volumes deleted" 0 "$(history_count delete-volume)"
	E2E_MAINTENANCE=h1 expect_converged
	san_down
}

# A pool declared shared by a host whose pool is in fact local: apply's
# probe refutes the declaration, naming the host, and nothing moves on it.
scenario_shared_pool_declared_but_local_is_refused() {
	local rc=0
	san_up
	E2E_MAINTENANCE="h2 h3" shared_spec "h1, h2" "{name: p, persistent: data-san}"
	apply
	expect_eq "s.p's host" h1 "$(host_of s.p)"
	note "the declaration names h3 too; h1 goes into maintenance"
	E2E_MAINTENANCE=h1 shared_spec "h1, h2, h3" "{name: p, persistent: data-san}"
	"$STRATA" apply --yes --db "$S/strata.db" "$S/spec" >"$S/apply.out" 2>&1 || rc=$?
	[ $rc != 0 ] || fail "apply succeeded on a refuted declaration"
	grep -q "pool 'san' is declared shared by h1,h2,h3, but a probe volume made through h1 is not seen through h3 (it is seen through h2)" "$S/apply.out" ||
		fail "no probe finding naming h3: $(cat "$S/apply.out")"
	expect_eq "s.p's host" h1 "$(host_of s.p)"
	is_running h1 s.p || fail "s.p was touched"
	[ -z "$(find "$E2E_DIR" -name 'strata-probe-*')" ] || fail "a probe volume is left"
	san_down
}

# A template VM whose disks are on san moves between h3 (local san) and a
# sharing host: its disks are copied, and h3's copies deleted after.
scenario_template_vm_copies_between_local_and_shared() {
	local to
	san_up
	E2E_MAINTENANCE="h1 h2" shared_spec "h1, h2" "{name: w, template: tiny-san, disks: [{name: data, size: 16MiB}], state: stopped}"
	apply
	expect_eq "s.w's host" h3 "$(host_of s.w)"
	san_marker "$E2E_DIR/h3/lib/san/s.w--data.qcow2" || fail "cannot write the marker"
	E2E_MAINTENANCE="h1 h2" shared_spec "h1, h2" "{name: w, template: tiny-san, disks: [{name: data, size: 16MiB}]}"
	apply

	note "h3 goes into maintenance"
	E2E_MAINTENANCE=h3 shared_spec "h1, h2" "{name: w, template: tiny-san, disks: [{name: data, size: 16MiB}]}"
	apply
	to=$(host_of s.w)
	case $to in h1|h2) ;; *) fail "s.w is on '$to'";; esac
	expect_eq "s.w on $to" "running (migrated)" "$(domstate "$to" s.w)"
	grep -q "migrate s.w to $to (aborted" "$S/apply.out" || fail "not a copying migration: $(cat "$S/apply.out")"
	san_has_marker "$(san_file s.w--data.qcow2)" || fail "the data disk's content did not travel"
	[ ! -e "$E2E_DIR/h3/lib/san/s.w--data.qcow2" ] || fail "h3's old copy is left"
	E2E_MAINTENANCE=h3 expect_converged
	san_down
}

# h1 loses power and is declared lost: the persistent VM comes back on h2,
# which shares its pool, on the same volume with its data.
scenario_shared_pool_host_loss_fails_over() {
	local vol inode
	san_up
	E2E_MAINTENANCE="h2 h3" shared_spec "h1, h2" "{name: p, persistent: data-san, restart: on-failure, state: stopped}"
	apply
	vol=$(san_file persistent-data-san.qcow2)
	san_marker "$vol" || fail "cannot write the marker"
	inode=$(stat -c %i "$vol")
	E2E_MAINTENANCE="h2 h3" shared_spec "h1, h2" "{name: p, persistent: data-san, restart: on-failure}"
	apply
	is_running h1 s.p || fail "s.p does not run on h1"

	note "h1 loses power and is declared lost"
	e2e_host_crash h1
	E2E_LOST=h1 shared_spec "h1, h2" "{name: p, persistent: data-san, restart: on-failure}"
	apply
	expect_eq "s.p's host" h2 "$(host_of s.p)"
	is_running h2 s.p || fail "s.p does not run on h2"
	expect_eq "the volume's inode" "$inode" "$(stat -c %i "$vol")"
	san_has_marker "$vol" || fail "the data is gone"
	expect_eq "volumes deleted" 0 "$(history_count delete-volume)"

	note "h1 boots again"
	e2e_host_start h1
	e2e_virsh h1 destroy s.p >/dev/null 2>&1 || true
	e2e_virsh h1 undefine s.p >/dev/null 2>&1 || true
	san_down
}
