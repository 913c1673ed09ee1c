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
# held VM REASON: the daemon holds VM stopped, for REASON.
held() { daemon_says "ha.$1" "running +stopped +stopped \\($2\\)"; }

scenario_restart_policies() {
	local v pid runs
	restart_spec
	watch_start
	wait_for 30 "a, f and n run" all_running a f n

	note "virsh destroy: out-of-band power-off, healed for every policy"
	for v in a f n; do e2e_virsh h1 destroy "ha.$v" >/dev/null; done
	wait_for 30 "a, f and n run again after destroy" all_running a f n

	note "ACPI shutdown answered by the guest: only restart: always comes back"
	for v in a f n; do acpi_shutdown h1 "ha.$v"; done
	wait_for 30 "a running again after its shutdown" is_running h1 ha.a
	# Decided, not merely not yet done: the daemon says it holds f and n.
	wait_for 30 "the daemon holds f: the guest shut itself down" held f "the guest shut itself down" ||
		fail "status says: $(status_of ha.f)"
	wait_for 30 "the daemon holds n: the guest shut itself down" held n "the guest shut itself down"
	for v in f n; do expect_eq "reason ha.$v is off" "shut off (shutdown)" "$(domstate h1 "ha.$v")"; done

	note "a manual start releases the hold"
	runs=$(daemon_runs)
	e2e_virsh h1 start ha.f >/dev/null
	e2e_virsh h1 start ha.n >/dev/null
	wait_for 30 "the daemon releases f" daemon_says ha.f "running +running +-$"
	wait_for 30 "the daemon releases n" daemon_says ha.n "running +running +-$"
	wait_for 30 "the daemon settles after the release" daemon_settled_after "$runs"
	all_running f n || fail "f or n stopped again after a manual start"

	note "kill -9 QEMU (a crash): always and on-failure come back, never stays off"
	for v in a f n; do
		pid=$(qemu_pid "ha.$v") || fail "no QEMU process for ha.$v"
		kill -9 $pid
	done
	wait_for 20 "n off (crash)" is_off h1 ha.n
	wait_for 30 "a and f running again after the crash" all_running a f
	wait_for 30 "the daemon holds n: it crashed" held n "it crashed and its restart policy is never"
	expect_eq "reason n is off" "shut off (crashed)" "$(domstate h1 ha.n)"
	for v in a f n; do expect_eq "copies of ha.$v" h1 "$(host_of "ha.$v")"; done

	note "while the daemon is down: a shutdown and a crash are judged from libvirt's record"
	e2e_virsh h1 start ha.n >/dev/null
	wait_for 30 "the daemon releases n" daemon_says ha.n "running +running +-$"
	watch_stop
	acpi_shutdown h1 ha.f
	pid=$(qemu_pid ha.n) || fail "no QEMU process for ha.n"
	kill -9 $pid
	wait_for 20 "n off (crash)" is_off h1 ha.n
	watch_start
	wait_for 30 "f held from libvirt's record" held f "the guest shut itself down \\(libvirt's record\\)"
	wait_for 30 "n held from libvirt's record" held n "it crashed and its restart policy is never \\(libvirt's record\\)"
	is_running h1 ha.a || fail "ha.a was touched"
	for v in f n; do is_off h1 "ha.$v" || fail "ha.$v was started against its policy"; done

	note "a crash loop: restarted twice at once, then with backoff"
	pid=
	for i in 1 2 3; do
		# A new QEMU, not only "running": libvirt says so of a killed one
		# until it reads the monitor's end (the kernel takes ~1.8 s to
		# reap QEMU), while pgrep no longer finds it.
		wait_for 30 "a running (a new QEMU) before crash $i" new_qemu_runs ha.a "$pid"
		pid=$(qemu_pid ha.a) || fail "no QEMU process for ha.a"
		kill -9 $pid
		wait_for 20 "a off after crash $i" sh -c "! pgrep -f 'guest=ha.a,' | grep -qx $pid"
	done
	wait_for 30 "the daemon holds a in a crash loop" daemon_says ha.a "stopped \\(crash loop: 3 crashes"
	is_off h1 ha.a || fail "ha.a restarted at once on its third crash"
	wait_for 40 "a restarted after its backoff" is_running h1 ha.a
}
