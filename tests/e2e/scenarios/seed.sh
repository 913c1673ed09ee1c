# First-boot data on real libvirtd + QEMU: a VM's cloud_init becomes a
# NoCloud seed (ISO 9660, label cidata) written through libvirt into volume
# APP.VM--cidata.iso beside its system disk and attached read-only as the
# cdrom hdd; new data rewrites that volume in place under the running VM
# (no restart); undeploy deletes it.  The guest is the tiny ACPI boot
# sector, not a cloud-init guest: this proves what a guest WOULD read (the
# drive it is given, the image's label and files, byte for byte against the
# spec), not that cloud-init ran.

# seed_spec STATE: appliance ci with one VM whose user data is inline (the
# text of $S/user-data, indented into a block scalar) and whose network
# configuration is the file net.cfg beside the spec.  Appliance keep holds
# a VM so that undeploying ci does not empty the source.
seed_spec() {
	cat >"$S/spec/ci.yaml" <<Y
kind: appliance
name: ci
state: $1
vms:
  - name: vm
    template: tiny
    cloud_init:
      user_data: |
$(sed 's/^/        /' "$S/user-data")
      network_config_file: net.cfg
Y
	cat >"$S/spec/keep.yaml" <<'Y'
kind: appliance
name: keep
vms:
  - {name: k, template: tiny}
Y
}

# seed_read: the seed volume's bytes, read back through libvirt from h1's
# pool, into $S/seed.iso; its files into a fresh $S/seed/.
seed_read() {
	local f
	rm -rf "$S/seed" "$S/seed.iso"
	mkdir "$S/seed"
	e2e_virsh h1 vol-download --pool default ci.vm--cidata.iso "$S/seed.iso" ||
		fail "cannot download the seed volume"
	for f in user-data meta-data network-config; do
		xorriso -osirrox on -indev "$S/seed.iso" -extract "/$f" "$S/seed/$f" \
			>"$S/xorriso.out" 2>&1 || { cat "$S/xorriso.out" >&2; fail "no /$f in the seed image"; }
	done
}

# seed_matches: the image read back carries exactly what the spec says.
seed_matches() {
	cmp "$S/user-data" "$S/seed/user-data" || fail "the seed's user-data is not the spec's"
	cmp "$S/spec/net.cfg" "$S/seed/network-config" || fail "the seed's network-config is not net.cfg"
	grep -q "^instance-id: ci\.vm-[0-9a-f]\{12\}$" "$S/seed/meta-data" ||
		fail "no generated instance-id in meta-data: $(cat "$S/seed/meta-data")"
	grep -qx "local-hostname: vm" "$S/seed/meta-data" ||
		fail "no local-hostname in meta-data: $(cat "$S/seed/meta-data")"
	expect_eq "the seed image's label" cidata "$(blkid -o value -s LABEL "$S/seed.iso")"
}

instance_id() { sed -n 's/^instance-id: //p' "$S/seed/meta-data"; }

# seed_plan_rewrites WHY: the plan rewrites the seed in place: write-seed,
# then a define, no stop, no restart.
seed_plan_rewrites() {
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1
	grep -q "write-seed ci.vm into default/ci.vm--cidata.iso (first-boot data [0-9a-f]\{12\}) on h1" \
		"$S/plan.out" || { cat "$S/plan.out" >&2; fail "the plan does not rewrite the seed ($1)"; }
	grep -q "define ci.vm on h1" "$S/plan.out" || { cat "$S/plan.out" >&2; fail "no define after the seed ($1)"; }
	grep_q -e "shutdown ci.vm" -e "destroy ci.vm" -e "start ci.vm" -e "restart" <"$S/plan.out" &&
		{ cat "$S/plan.out" >&2; fail "the plan stops or restarts ci.vm ($1)"; }
	return 0
}

scenario_first_boot_data_is_a_nocloud_seed() {
	local id pid old_iid
	e2e_spec h1
	cat >"$S/user-data" <<'D'
#cloud-config
hostname: vm
users:
  - name: ops
    ssh_authorized_keys: [ssh-ed25519 AAAAC3Nza-first-key ops@e2e]
runcmd:
  - [sh, -c, 'echo token-one-5f3a > /run/first']
D
	cat >"$S/spec/net.cfg" <<'D'
version: 2
ethernets:
  eth0: {dhcp4: true}
D
	seed_spec deployed
	apply
	grep -q "write-seed ci.vm into default/ci.vm--cidata.iso" "$S/apply.out" ||
		fail "apply wrote no seed: $(cat "$S/apply.out")"
	wait_for 30 "ci.vm runs" is_running h1 ci.vm
	expect_eq "hdd: its device and source" "cdrom ci.vm--cidata.iso" \
		"$(e2e_virsh h1 domblklist --details ci.vm | awk '$3 == "hdd" {print $2, $4}')"
	e2e_virsh h1 dumpxml ci.vm | awk '/<disk /{d=""} {d=d $0} /<\/disk>/ && d ~ /dev=.hdd./ {print d}' |
		grep_q "<readonly/>" || fail "the seed drive is not read-only"
	seed_read
	seed_matches
	expect_converged
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1
	grep_q "restart required" <"$S/plan.out" && fail "a false restart required: $(cat "$S/plan.out")"

	note "new user data: the volume rewritten under the running VM"
	id=$(e2e_virsh h1 domid ci.vm)
	pid=$(qemu_pid ci.vm)
	old_iid=$(instance_id)
	cat >"$S/user-data" <<'D'
#cloud-config
hostname: vm
runcmd:
  - [sh, -c, 'echo second > /run/second']
D
	seed_spec deployed
	seed_plan_rewrites "user data changed"
	apply
	grep -q "write-seed ci.vm" "$S/apply.out" || fail "apply did not rewrite the seed: $(cat "$S/apply.out")"
	expect_eq "the same domain" "$id" "$(e2e_virsh h1 domid ci.vm)"
	expect_eq "the same QEMU process" "$pid" "$(qemu_pid ci.vm)"
	seed_read
	seed_matches
	[ "$(instance_id)" != "$old_iid" ] || fail "the instance-id did not change: $old_iid"
	# Nothing of the old data is left in the volume (a secret would linger).
	grep_q -a "token-one-5f3a" <"$S/seed.iso" && fail "the old user data lingers in the volume"
	expect_converged
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1
	grep_q "restart required" <"$S/plan.out" && fail "a false restart required: $(cat "$S/plan.out")"

	note "net.cfg changed, the spec file not: a new revision through the side file"
	old_iid=$(instance_id)
	cat >"$S/spec/net.cfg" <<'D'
version: 2
ethernets:
  eth0: {addresses: [192.0.2.10/24]}
D
	seed_plan_rewrites "net.cfg changed"
	apply
	expect_eq "the same QEMU process" "$pid" "$(qemu_pid ci.vm)"
	seed_read
	seed_matches
	[ "$(instance_id)" != "$old_iid" ] || fail "the instance-id did not change: $old_iid"
	expect_converged

	note "undeploy: the seed volume goes with the VM"
	seed_spec undeployed
	apply
	expect_eq "ci.vm's host after undeploy" "" "$(host_of ci.vm)"
	e2e_virsh h1 pool-refresh default >/dev/null
	e2e_virsh h1 vol-info --pool default ci.vm--cidata.iso >/dev/null 2>&1 &&
		fail "the seed volume is still in the pool"
	[ ! -e "$(vol_path h1 ci.vm--cidata.iso)" ] || fail "the seed's file is still in the pool's folder"
	is_running h1 keep.k || fail "keep.k does not run"
	expect_converged
}
