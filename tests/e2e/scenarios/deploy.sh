# Deploying over three real hosts: layers hold, and what was made is
# what strata sees as converged.

scenario_deploy_layers() {
	e2e_spec h1 h2 h3
	cat >"$S/spec/web.yaml" <<'Y'
kind: appliance
name: web
layers: [app]
vms:
  - {name: app1, template: tiny, layer: app}
  - {name: app2, template: tiny, layer: app}
  - {name: app3, template: tiny, layer: app}
  - {name: db, persistent: data, restart: always}
Y
	apply
	local hosts= v h
	for v in app1 app2 app3; do
		h=$(host_of "web.$v")
		[ -n "$h" ] || fail "web.$v is not defined on any host"
		is_running "$h" "web.$v" || fail "web.$v is $(domstate "$h" "web.$v") on $h"
		hosts="$hosts $h"
	done
	# The domain type the hosts offer: KVM where /dev/kvm is usable.
	expect_eq "domain type of web.app1" "$E2E_TYPE" \
		"$(e2e_virsh "$(host_of web.app1)" dumpxml web.app1 | sed -n "s/^<domain type='\([a-z]*\)'.*/\1/p")"
	expect_eq "distinct hosts of layer app" 3 "$(echo $hosts | tr ' ' '\n' | sort -u | wc -l)"
	h=$(host_of web.db)
	[ -f "$(vol_path "$h" persistent-data.qcow2)" ] || fail "persistent volume not on the db's host $h"
	expect_converged
	# A second apply does nothing.
	apply
	grep -q "No changes" "$S/apply.out" || fail "second apply changed something: $(cat "$S/apply.out")"
}
