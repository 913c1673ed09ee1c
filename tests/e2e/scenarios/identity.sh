# One hypervisor under two names: two host documents whose URIs spell the
# same libvirtd socket differently (`sock/../sock/`).  A string comparison
# of URIs calls them two hosts, and a layer would land twice on one
# machine; strata compares the host UUIDs libvirt reports.

twins_spec() {
	e2e_spec h1
	cat >>"$S/spec/hosts.yaml" <<Y
---
kind: host
name: h1b
uri: qemu+unix:///system?socket=$E2E_DIR/h1/sock/../sock/libvirt-sock
Y
	cat >"$S/spec/tw.yaml" <<'Y'
kind: appliance
name: tw
layers: [l]
vms:
  - {name: a, template: tiny, layer: l}
  - {name: b, template: tiny, layer: l}
Y
}

scenario_one_hypervisor_two_spellings() {
	local runs
	twins_spec
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1 && fail "plan accepted two names for one hypervisor"
	grep -q "hosts 'h1' and 'h1b' reach the same hypervisor" "$S/plan.out" ||
		fail "the twin hosts are not named: $(cat "$S/plan.out")"

	note "reached late (libvirtd down when the daemon starts): still refused"
	e2e_host_stop h1
	watch_start
	runs=$(daemon_runs)
	e2e_host_start h1
	wait_for 90 "the daemon refuses the twin" grep -q "reaches the same hypervisor as host" "$S/watch.log"
	wait_for 30 "the daemon runs a pass with h1 back" daemon_settled_after "$runs"
	expect_eq "domains on h1" "" "$(e2e_virsh h1 list --all --name)"
}
