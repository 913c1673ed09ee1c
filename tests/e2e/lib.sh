# Helpers for the end-to-end scenarios.  Sourced by run.sh after hosts.sh.
#
# A scenario is a function `scenario_NAME` in scenarios/*.sh.  It gets a
# fresh folder $S (spec in $S/spec, database $S/strata.db) and hosts emptied
# of guests and volumes (but the base image).  `fail` ends the scenario.

STRATA=${STRATA:-$E2E_HERE/../../strata}

fail() { echo "    FAIL: $*" >&2; return 1; }
# grep_q ARGS: grep -q that reads its whole input.  Under pipefail, grep -q
# leaving at the first match can kill the writer with SIGPIPE (virsh
# dumpxml writes in several pieces), and the pipeline fails though the
# text was there: a check that passed would read as failed.
grep_q() { grep "$@" >/dev/null; }
note() { echo "    $*"; }

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll every 0.1 s.
wait_for() {
	local t=$1 what=$2 i; shift 2
	for ((i = 0; i < t * 10; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "after ${t} s still not: $what"
}

# The spec folder's hosts and templates.  e2e_spec HOST...
e2e_spec() {
	local h
	mkdir -p "$S/spec"
	: >"$S/spec/hosts.yaml"
	for h in "$@"; do
		cat >>"$S/spec/hosts.yaml" <<Y
---
kind: host
name: $h
uri: $(e2e_uri "$h")
migration_uri: ${E2E_MIGRATION_URI:-tcp://127.0.0.1}
overcommit: {cpus: 16}
$([ -n "${E2E_MIGRATION_TIMEOUT:-}" ] && echo "migration_timeout: $E2E_MIGRATION_TIMEOUT")
maintenance: $(case " ${E2E_MAINTENANCE:-} " in *" $h "*) echo true;; *) echo false;; esac)
state: $(case " ${E2E_LOST:-} " in *" $h "*) echo lost;; *) echo up;; esac)
Y
	done
	cat >"$S/spec/templates.yaml" <<'Y'
kind: template
name: tiny
pool: default
volume: acpi-guest.qcow2
cpus: 1
memory: 32MiB
disk_size: 16MiB
---
kind: persistent-template
name: data
from: tiny
pool: default
size: 16MiB
Y
}

apply() {
	local rc=0
	"$STRATA" apply --yes --db "$S/strata.db" "$S/spec" "$@" >"$S/apply.out" 2>&1 || rc=$?
	[ $rc = 0 ] || { cat "$S/apply.out" >&2; fail "strata apply exited $rc"; }
}

# The plan is empty: strata sees what it made as converged.
expect_converged() {
	"$STRATA" plan --detailed-exitcode "$S/spec" >"$S/plan.out" 2>&1 ||
		{ cat "$S/plan.out" >&2; fail "plan after apply is not empty"; }
}

# host_of DOMAIN: the host whose libvirt has it defined, or nothing.
host_of() {
	local h
	for h in "${E2E_HOSTS[@]}"; do
		if e2e_virsh "$h" dominfo "$1" >/dev/null 2>&1; then echo "$h"; fi
	done
}

domstate() { e2e_virsh "$1" domstate --reason "$2" 2>/dev/null; }
is_running() { [ "$(domstate "$1" "$2")" = "running (booted)" ] || [ "$(domstate "$1" "$2")" = "running (unpaused)" ] || [ "$(domstate "$1" "$2")" = "running (migrated)" ]; }
is_off() { domstate "$1" "$2" | grep_q "^shut off"; }

qemu_pid() { pgrep -f -- "guest=$1,"; }
# new_qemu_runs DOMAIN OLD_PID: on h1, running in a QEMU other than OLD_PID.
new_qemu_runs() { local p; is_running h1 "$1" && p=$(qemu_pid "$1") && [ "$p" != "$2" ]; }
# A process that is gone or a zombie.
gone() { ! ps -o stat= -p "$1" 2>/dev/null | grep_q -v Z; }

# acpi_shutdown HOST DOMAIN: press the power button until the guest answers
# (a guest still in its BIOS has not enabled the button yet, and ignores it).
acpi_shutdown() {
	local pid i
	pid=$(qemu_pid "$2") || fail "no QEMU process for $2"
	for ((i = 0; i < 40; i++)); do
		e2e_virsh "$1" shutdown "$2" >/dev/null 2>&1
		sleep 0.5
		gone "$pid" && return 0
	done
	fail "$2 did not answer the power button in 20 s"
}

# Volumes' content, read beside a running guest (-U: no lock taken).
vol_path() { echo "$E2E_DIR/$1/pool/$2"; }
write_marker() { qemu-io -f qcow2 -c "write -P 0x5a 4096 4096" "$(vol_path "$1" "$2")" >/dev/null; }
# file_has_pattern FILE BYTE OFFSET: the 4 KiB at OFFSET all read BYTE.
# qemu-io's read -P prints "read 4096/4096" even when the pattern differs
# (it adds "Pattern verification failed" and exits 1): its status decides.
file_has_pattern() { qemu-io -r -U -f qcow2 -c "read -P $2 $3 4096" "$1" >/dev/null 2>&1; }
# file_lacks_pattern FILE BYTE OFFSET: read, and not all BYTE (a file that
# cannot be read proves nothing).
file_lacks_pattern() {
	local out
	out=$(qemu-io -r -U -f qcow2 -c "read -P $2 $3 4096" "$1" 2>&1) || true
	case $out in *"Pattern verification failed"*) return 0 ;; *) return 1 ;; esac
}
has_marker() { file_has_pattern "$(vol_path "$1" "$2")" 0x5a 4096; }
lacks_marker() { file_lacks_pattern "$(vol_path "$1" "$2")" 0x5a 4096; }

# put_volume HOST NAME FILE: the operator's image uploaded into HOST's pool
# default as volume NAME (raw), as an operator puts an installer there.
put_volume() {
	e2e_virsh "$1" vol-create-as default "$2" "$(stat -c %s "$3")" --format raw >/dev/null &&
		e2e_virsh "$1" vol-upload --pool default "$2" "$3" >/dev/null
}

# A daemon on the scenario's spec.  Its log is $S/watch.log.
watch_start() {
	"$STRATA" watch --db "$S/strata.db" --debounce 50 --resync 3600 "$S/spec" "$@" >"$S/watch.log" 2>&1 &
	WATCH_PID=$!
	wait_for 20 "the daemon answers" "$STRATA" status --db "$S/strata.db"
}
# What the daemon says: its status line for one VM, its run count.
status_of() { "$STRATA" status --db "$S/strata.db" 2>/dev/null | awk -v vm="$1" '$1 == vm'; }
# daemon_says VM REGEX: the daemon's status line for VM matches.
daemon_says() { status_of "$1" | grep -Eq -- "$2"; }
daemon_runs() { "$STRATA" status --db "$S/strata.db" 2>/dev/null | sed -n 's/.*, \([0-9]*\) reconciles$/\1/p'; }
daemon_revision() { "$STRATA" status --db "$S/strata.db" 2>/dev/null | sed -n '1s/^revision \([^,]*\),.*/\1/p'; }
revision_changed_from() { local r; r=$(daemon_revision); [ -n "$r" ] && [ "$r" != "$1" ]; }
# daemon_settled_after N: idle, with a reconcile finished after the N-th.
daemon_settled_after() {
	local head
	head=$("$STRATA" status --db "$S/strata.db" 2>/dev/null | head -1)
	case $head in *", idle, "*) ;; *) return 1 ;; esac
	[ "$(daemon_runs)" -gt "$1" ]
}

watch_stop() {
	[ -n "${WATCH_PID:-}" ] || return 0
	kill -TERM "$WATCH_PID" 2>/dev/null
	wait "$WATCH_PID" 2>/dev/null
	WATCH_PID=
}

# Between scenarios: every guest and volume gone but the base image.
e2e_clean() {
	local h d v jobs
	for h in "${E2E_HOSTS[@]}"; do
		jobs=()
		# In parallel: a QEMU process takes ~1.8 s to die on this
		# machine's kernel, whatever the signal.
		for d in $(e2e_virsh "$h" list --all --name); do
			{ e2e_virsh "$h" destroy "$d" || true  # shut off already
			  e2e_virsh "$h" undefine --managed-save --snapshots-metadata "$d"; } >/dev/null 2>&1 &
			jobs+=($!)
		done
		# These jobs only: a bare `wait` would wait for the supervisor too.
		[ ${#jobs[@]} = 0 ] || wait "${jobs[@]}"
		e2e_virsh "$h" pool-refresh default >/dev/null
		for v in $(e2e_virsh "$h" vol-list default | awk '{print $1}'); do
			[ "$v" = acpi-guest.qcow2 ] || e2e_virsh "$h" vol-delete --pool default "$v" >/dev/null
		done
	done
}
