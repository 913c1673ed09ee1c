# Data on real qcow2 volumes: a persistent volume keeps what was written on
# it through undeploy, redeploy, removal and reuse by another appliance; a
# template VM's disk is new after each redeploy.

# vm_spec APPLIANCE STATE VM-LINE: one appliance with one VM.
one_vm() {
	cat >"$S/spec/$1.yaml" <<Y
kind: appliance
name: $1
state: $2
vms:
  - $3
Y
}

scenario_persistent_volume_survives() {
	local h
	e2e_spec h1
	# A second appliance keeps the source from ever being empty of VMs.
	one_vm keep deployed "{name: k, template: tiny}"
	one_vm p1 deployed "{name: db, persistent: data, state: stopped}"
	apply
	h=$(host_of p1.db)
	write_marker "$h" persistent-data.qcow2

	note "undeploy, then deploy again"
	one_vm p1 undeployed "{name: db, persistent: data}"
	apply
	expect_eq "p1.db after undeploy" "" "$(host_of p1.db)"
	has_marker "$h" persistent-data.qcow2 || fail "marker lost by undeploy"
	one_vm p1 deployed "{name: db, persistent: data}"
	apply
	is_running "$h" p1.db || fail "p1.db not running after redeploy"
	has_marker "$h" persistent-data.qcow2 || fail "marker lost by redeploy"

	note "remove the appliance from the source"
	rm "$S/spec/p1.yaml"
	apply
	expect_eq "p1.db after removal" "" "$(host_of p1.db)"
	has_marker "$h" persistent-data.qcow2 || fail "marker lost by removal"

	note "another appliance takes the volume over"
	one_vm p2 deployed "{name: db2, persistent: data}"
	apply
	expect_eq "p2.db2's host (where the volume is)" "$h" "$(host_of p2.db2)"
	is_running "$h" p2.db2 || fail "p2.db2 not running"
	has_marker "$h" persistent-data.qcow2 || fail "marker lost on reuse"
	expect_converged
}

scenario_template_disk_is_fresh() {
	local h
	e2e_spec h1
	one_vm keep deployed "{name: k, template: tiny}"
	one_vm t deployed "{name: vm, template: tiny, state: stopped}"
	apply
	h=$(host_of t.vm)
	write_marker "$h" t.vm--system.qcow2
	has_marker "$h" t.vm--system.qcow2 || fail "could not write the marker"
	one_vm t undeployed "{name: vm, template: tiny}"
	apply
	[ ! -e "$(vol_path "$h" t.vm--system.qcow2)" ] || fail "t.vm's disk left behind by undeploy"
	one_vm t deployed "{name: vm, template: tiny}"
	apply
	is_running "$h" t.vm || fail "t.vm not running after redeploy"
	lacks_marker "$h" t.vm--system.qcow2 || fail "t.vm's disk still holds the old marker"
	# The base image under it is untouched.
	lacks_marker "$h" acpi-guest.qcow2 || fail "the base image was written"
	expect_converged
}
