# Restart policies against real stops: a destroy from outside (drift, healed
# whatever the policy), a guest's own ACPI power-off (only `always` brings
# it back) and a crash, QEMU killed (`always` and `on-failure`).

restart_spec() {
	e2e_spec h1
	cat >"$S/spec/ha.yaml" <<'Y'
kind: appliance
name: ha
vms:
  - {name: a, template: tiny, restart: always}
  - {name: f, template: tiny, restart: on-failure}
  - {name: n, template: tiny, restart: never}
Y
}

all_running() { local v; for v in "$@"; do is_running h1 "ha.$v" || return 1; done; }
# stays_off SECONDS VM...: still off after a while (the daemon had time to act).
stays_off() {
	local t=$1 v; shift
	sleep "$t"
	for v in "$@"; do is_off h1 "ha.$v" || fail "ha.$v was restarted: $(domstate h1 "ha.$v")"; done
}

scenario_restart_policies() {
	local v pid
	restart_spec
	watch_start
	wait_for 30 "a, f and n run" all_running a f n

	note "virsh destroy: out-of-band power-off, healed for every policy"
	for v in a f n; do e2e_virsh h1 destroy "ha.$v" >/dev/null; done
	wait_for 30 "a, f and n run again after destroy" all_running a f n

	note "ACPI shutdown answered by the guest: only restart: always comes back"
	for v in a f n; do acpi_shutdown h1 "ha.$v"; done
	wait_for 30 "a running again after its shutdown" is_running h1 ha.a
	stays_off 3 f n
	expect_eq "reason f is off" "shut off (shutdown)" "$(domstate h1 ha.f)"
	"$STRATA" status --db "$S/strata.db" >"$S/status.out"
	grep -q "shut itself down" "$S/status.out" || fail "status does not say why ha.f stays off: $(cat "$S/status.out")"

	note "a manual start releases the hold"
	e2e_virsh h1 start ha.f >/dev/null
	e2e_virsh h1 start ha.n >/dev/null
	stays_off 0
	sleep 2
	all_running f n || fail "f or n stopped again after a manual start"

	note "kill -9 QEMU (a crash): always and on-failure come back, never stays off"
	for v in a f n; do
		pid=$(qemu_pid "ha.$v") || fail "no QEMU process for ha.$v"
		kill -9 $pid
	done
	wait_for 20 "n off (crash)" is_off h1 ha.n
	wait_for 30 "a and f running again after the crash" all_running a f
	stays_off 3 n
	expect_eq "reason n is off" "shut off (crashed)" "$(domstate h1 ha.n)"
	for v in a f n; do expect_eq "copies of ha.$v" h1 "$(host_of "ha.$v")"; done
}
