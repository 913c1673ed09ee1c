# The serial console on real QEMU: `strata console --serial` carries keys
# to the guest and what it writes back, refuses a second client unless
# --force takes the console over, ends at Ctrl-], and ends when the VM
# stops or its host's libvirtd goes away.  The guest (guest/serial-guest.S, the base of template `talker`,
# made here on h1) answers each byte on COM1 with "strata-echo:" + it.

serial_spec() {
	e2e_spec h1
	cat >"$S/spec/c.yaml" <<'Y'
kind: template
name: talker
pool: default
volume: serial-guest.qcow2
cpus: 1
memory: 32MiB
disk_size: 16MiB
---
kind: appliance
name: c
vms:
  - {name: t, template: talker}
Y
}

# serial_open NAME [OPTION...]: a session in the background, its keys
# written to fd $NAME_fd (a FIFO), what it shows in $S/NAME.out and
# .err, its pid in $NAME_pid.
serial_open() {
	local name=$1 fd; shift
	mkfifo "$S/$name.in"
	"$STRATA" console --serial "$@" "$S/spec" c.t <"$S/$name.in" >"$S/$name.out" 2>"$S/$name.err" &
	eval "${name}_pid=$!"
	exec {fd}>"$S/$name.in"
	eval "${name}_fd=$fd"
}
# serial_echoes NAME KEY: KEY sent (again: a byte sent while SeaBIOS runs
# is lost, as on a real UART not yet set up) until the guest's answer shows.
serial_echoes() {
	local name=$1 key=$2 fd i
	eval "fd=\$${name}_fd"
	for ((i = 0; i < 60; i++)); do
		printf '%s' "$key" >&"$fd"
		grep_q -a "strata-echo:$key" "$S/$name.out" && return 0
		sleep 0.5
	done
	fail "no answer to '$key' through session $name: $(cat "$S/$name.out" "$S/$name.err")"
}
# session_ended PID [SECONDS]: waited for (10 s unless said); its exit
# status in $ended.
session_ended() {
	local i
	for ((i = 0; i < ${2:-10} * 10; i++)); do gone "$1" && break; sleep 0.1; done
	gone "$1" || fail "session $1 is still there"
	ended=0
	wait "$1" || ended=$?
}

scenario_the_serial_console_carries_keys_both_ways() {
	local rc ended
	serial_spec
	e2e_serial_image "$(vol_path h1 serial-guest.qcow2)" || fail "cannot make the guest's base image"
	e2e_virsh h1 pool-refresh default >/dev/null
	apply
	wait_for 30 "c.t runs" is_running h1 c.t

	serial_open one
	serial_echoes one a
	serial_echoes one b
	grep_q "Connected to the serial console of c.t on h1; Ctrl-\] ends the session" "$S/one.err" ||
		fail "no greeting: $(cat "$S/one.err")"

	note "a second client is refused while one holds the console"
	rc=0
	timeout 20 "$STRATA" console --serial "$S/spec" c.t </dev/null >"$S/refused.out" 2>"$S/refused.err" || rc=$?
	expect_eq "the second client's exit status" 1 "$rc"
	grep_q -e "--force takes it over" "$S/refused.err" || fail "no hint at --force: $(cat "$S/refused.err")"
	serial_echoes one c

	note "--force takes it over; the first session ends saying so"
	serial_open two --force
	serial_echoes two d
	session_ended "$one_pid"
	expect_eq "the first session's exit status" 1 "$ended"
	grep_q "the console ended: .*takes it over with --force" "$S/one.err" ||
		fail "the first session does not say why it ended: $(cat "$S/one.err")"

	note "Ctrl-] ends a session; the console is free for the next"
	printf '\035' >&"$two_fd"
	session_ended "$two_pid"
	expect_eq "the exit status after Ctrl-]" 0 "$ended"
	serial_open three
	serial_echoes three e

	note "the end of its input stops the sending, not the session; the VM stopping ends it"
	exec {three_fd}>&-
	sleep 1
	gone "$three_pid" && fail "the session ended with its input: $(cat "$S/three.err")"
	e2e_virsh h1 destroy c.t >/dev/null
	session_ended "$three_pid"
	expect_eq "the exit status when the VM stops" 0 "$ended"
	grep_q "the console closed (the VM stopped" "$S/three.err" ||
		fail "the session does not say the VM stopped: $(cat "$S/three.err")"

	note "an idle session ends when its host's libvirtd goes away"
	e2e_virsh h1 start c.t >/dev/null
	wait_for 30 "c.t runs again" is_running h1 c.t
	serial_open four
	serial_echoes four f
	exec {four_fd}>&-
	e2e_host_stop h1
	session_ended "$four_pid" 40
	e2e_host_start h1
	expect_eq "the exit status when the host is lost" 1 "$ended"
	grep_q "the connection to the host was lost" "$S/four.err" ||
		fail "the session does not say the host was lost: $(cat "$S/four.err")"
	exec {one_fd}>&- {two_fd}>&-
}
