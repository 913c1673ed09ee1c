# A host lost for real (libvirtd and its guests killed at once) and declared
# `state: lost`: the template VM with restart: on-failure comes back on
# another host; the restart: never VM and the VM on a persistent volume wait
# and are reported.  When the host boots again, the stale copy it defines is
# reported, not touched.

loss_spec() {
	e2e_spec h1 h2
	cat >"$S/spec/l.yaml" <<'Y'
kind: appliance
name: l
vms:
  - {name: a, template: tiny, restart: on-failure}
  - {name: n, template: tiny, restart: never}
  - {name: p, persistent: data, restart: always}
Y
}

scenario_lost_host_fails_over() {
	local v
	E2E_MAINTENANCE=h2 loss_spec
	apply
	for v in a n p; do expect_eq "l.$v's host" h1 "$(host_of "l.$v")"; done

	note "h1 loses power"
	e2e_host_crash h1
	loss_spec
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1 || true
	grep -q "not created while host h1 is unreachable" "$S/plan.out" ||
		fail "an unreachable (not declared lost) host did not hold creation back: $(cat "$S/plan.out")"
	grep -q "define" "$S/plan.out" && fail "something is defined while h1 is only unreachable"

	note "h1 is declared lost"
	E2E_LOST=h1 loss_spec
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1 || true
	grep -q "l.n: waits: .*restart policy is never" "$S/plan.out" || fail "l.n's wait is not reported: $(cat "$S/plan.out")"
	grep -q "l.p: waits: its persistent volume" "$S/plan.out" || fail "l.p's wait is not reported: $(cat "$S/plan.out")"
	apply
	expect_eq "l.a's host" h2 "$(host_of l.a)"
	is_running h2 l.a || fail "l.a does not run on h2"
	expect_eq "l.n's host" "" "$(host_of l.n)"
	expect_eq "l.p's host" "" "$(host_of l.p)"
	[ ! -e "$(vol_path h2 persistent-data.qcow2)" ] || fail "an empty persistent volume was made on h2"

	note "h1 boots again and is set back to up: the stale l.a there is reported"
	e2e_host_start h1
	loss_spec
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1 || true
	grep -q "domain 'l.a' is defined on both" "$S/plan.out" || fail "the two copies of l.a are not reported: $(cat "$S/plan.out")"
	is_running h2 l.a || fail "l.a on h2 was touched"
}
