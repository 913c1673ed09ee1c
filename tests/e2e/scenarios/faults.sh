# Faults around a running daemon: its hypervisor's libvirtd restarts; the
# disk under its history database fills up.

faults_spec() {
	e2e_spec h1 h2
	{
		echo "kind: appliance"; echo "name: fa"; echo "vms:"
		for v in "$@"; do echo "  - {name: $v, template: tiny}"; done
	} >"$S/spec/fa.yaml"
}

scenario_libvirtd_restart() {
	local pids h runs rev
	faults_spec a b c d
	watch_start
	wait_for 30 "four guests run" sh -c "[ \$(pgrep -fc 'guest=fa\\.') = 4 ]"
	# The run that started them is over: libvirtd stops between runs, not
	# in the middle of a start (where it may take long to die).
	wait_for 30 "the daemon settles" daemon_settled_after 0
	pids=$(pgrep -f 'guest=fa\.' | sort | tr '\n' ' ')
	h=$(host_of fa.a)

	note "libvirtd on $h stops; a VM is added meanwhile"
	e2e_host_stop "$h"
	wait_for 20 "the daemon notices" grep -q "host $h: connection closed" "$S/watch.log"
	runs=$(daemon_runs) rev=$(daemon_revision)
	faults_spec a b c d e
	# The daemon has taken the new revision in and run a pass on it.
	wait_for 30 "the daemon takes the revision with fa.e in" revision_changed_from "$rev"
	wait_for 30 "the daemon runs a pass on it" daemon_settled_after "$runs"
	[ -z "$(for x in h1 h2; do [ "$x" = "$h" ] || e2e_virsh "$x" list --all --name; done | grep fa.e)" ] ||
		fail "fa.e was created while $h was unreachable (it could have been running there)"

	note "libvirtd on $h starts again"
	e2e_host_start "$h"
	wait_for 90 "the daemon reconnects" grep -q "host $h reconnected" "$S/watch.log"
	wait_for 30 "fa.e runs" sh -c "[ -n \"\$(pgrep -f 'guest=fa\\.e,')\" ]"
	expect_eq "QEMU processes of a..d (none restarted)" "$pids" \
		"$(pgrep -f 'guest=fa\.[a-d],' | sort | tr '\n' ' ')"
	"$STRATA" status --db "$S/strata.db" >"$S/status.out"
	! grep -q unknown "$S/status.out" || fail "status still shows unknown VMs: $(cat "$S/status.out")"
}

scenario_history_disk_full() {
	local fs=$S/dbfs
	mkdir -p "$fs"
	mount -t tmpfs -o size=2m tmpfs "$fs"
	faults_spec a
	watch_start_db() { "$STRATA" watch --db "$fs/strata.db" --debounce 50 --resync 3600 "$S/spec" >"$S/watch.log" 2>&1 & WATCH_PID=$!; }
	watch_start_db
	wait_for 30 "fa.a runs" sh -c "[ -n \"\$(pgrep -f 'guest=fa\\.a,')\" ]"

	note "the database's disk fills up; a VM is added"
	dd if=/dev/zero of="$fs/filler" bs=4k 2>/dev/null || true
	faults_spec a b
	wait_for 30 "the daemon says why it changes nothing" \
		grep -Eq "history.*(full|cannot be written)|database or disk is full" "$S/watch.log"
	# It tried again at least once (backoff from 1 s), and still made nothing.
	wait_for 30 "the daemon retries" sh -c "[ \$(grep -c 'retrying in' '$S/watch.log') -ge 2 ]"
	[ -z "$(host_of fa.b)" ] || fail "fa.b was defined with no intent recorded"

	note "space comes back"
	rm "$fs/filler"
	wait_for 60 "fa.b runs" sh -c "[ -n \"\$(pgrep -f 'guest=fa\\.b,')\" ]"
	watch_stop
	"$STRATA" history --db "$fs/strata.db" --vm fa.b >"$S/history.out"
	grep -q "done .*start" "$S/history.out" || fail "fa.b's start is not in history: $(cat "$S/history.out")"
	umount "$fs"
}
