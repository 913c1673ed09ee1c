# Real hypervisors on one machine, for the end-to-end suite.  Sourced.
#
# Each host is a virtlogd + libvirtd pair in its own mount and UTS namespace
# (unshare -m -u): its own hostname, host UUID, /var/lib/libvirt,
# /run/libvirt, /etc/libvirt and logs, all bound from $E2E_DIR/<name>.
# They share the network namespace, so migration ports are split per host.
# Guests run under KVM where /dev/kvm is usable, as users run them, and in
# software emulation (TCG) otherwise; E2E_DOMAIN_TYPE=qemu forces TCG by
# hiding /dev/kvm inside each host's namespace, so libvirt itself reports a
# machine without KVM (e2e_domain_type says which one runs).
#
#   e2e_can_run            prints why it can't and returns 1
#   e2e_host_up NAME N     starts host NAME (N = 1, 2, 3... picks ports/UUID)
#   e2e_uri NAME           connection URI for strata and virsh
#   e2e_host_stop NAME     kills libvirtd (guests keep running)
#   e2e_host_start NAME    starts libvirtd (and virtlogd) again in the same namespace
#   e2e_host_crash NAME    a power cut: libvirtd, virtlogd and guests killed at once
#   e2e_host_check NAME    says what is wrong with a host (nothing: healthy)
#   e2e_host_heal NAME     brings back what a scenario left broken
#   e2e_down               kills every process of every host, unmounts
#
# The base image is a 512-byte boot sector (guest/acpi-guest.S) that
# powers off when asked through ACPI, so tests can tell a guest shutdown
# from a destroy or a crash.

E2E_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_HOSTS=()

e2e_can_run() {
	if [ "$(id -u)" != 0 ]; then
		echo "needs root (mount namespaces and QEMU as root)"; return 1
	fi
	for c in unshare libvirtd virtlogd virsh qemu-system-x86_64 qemu-img qemu-io as ld xorriso; do
		command -v "$c" >/dev/null || { echo "$c is not installed (make deps installs it)"; return 1; }
	done
	if ! unshare -m -u true 2>/dev/null; then
		echo "this machine refuses new mount/UTS namespaces"; return 1
	fi
}

# QEMU's user: libvirt looks it up even when qemu.conf says root.
e2e_prepare_machine() {
	id libvirt-qemu >/dev/null 2>&1 ||
		useradd --system --no-create-home --shell /usr/sbin/nologin libvirt-qemu
	mkdir -p /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt /etc/libvirt
}

# e2e_domain_type: "kvm" or "qemu", what strata will find in the hosts'
# capabilities (E2E_DOMAIN_TYPE=qemu forces software emulation).
e2e_domain_type() {
	case "${E2E_DOMAIN_TYPE:-}" in
	qemu|kvm) echo "$E2E_DOMAIN_TYPE"; return ;;
	"") ;;
	*) echo "E2E_DOMAIN_TYPE must be kvm or qemu, not '$E2E_DOMAIN_TYPE'" >&2; return 1 ;;
	esac
	if [ -c /dev/kvm ] && { : <>/dev/kvm; } 2>/dev/null; then echo kvm; else echo qemu; fi
}

# e2e_guest_image FILE [SECONDS]: the ACPI guest, answering the power button
# after SECONDS (default 0), as an OS that takes that long to shut down.
e2e_guest_image() {
	local out=$1 secs=${2:-0} tmp ticks
	tmp=$(mktemp -d)
	as --32 -o "$tmp/g.o" "$E2E_HERE/guest/acpi-guest.S"
	ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$tmp/g.bin" "$tmp/g.o"
	# The BIOS ticks 18.2 times a second; a little-endian word at 508.
	ticks=$(( (secs * 182 + 9) / 10 ))
	printf "$(printf '\\x%02x\\x%02x' $((ticks & 255)) $((ticks >> 8)))" |
		dd of="$tmp/g.bin" bs=1 seek=508 conv=notrunc status=none
	truncate -s 1M "$tmp/g.bin"
	qemu-img convert -q -f raw -O qcow2 "$tmp/g.bin" "$out"
	rm -rf "$tmp"
}

# e2e_marker_iso FILE: a CD whose El Torito boot image (guest/cd-marker.S,
# no emulation) writes 4 KiB of 0x5a at byte 4096 of the first hard disk,
# the marker lib.sh's has_marker reads: a guest that booted from it says so
# on its own disk.
e2e_marker_iso() {
	local out=$1 tmp rc=0
	tmp=$(mktemp -d)
	mkdir "$tmp/cd"
	as --32 -o "$tmp/m.o" "$E2E_HERE/guest/cd-marker.S" &&
	ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$tmp/cd/cd-marker.bin" "$tmp/m.o" &&
	# The 4 sectors the BIOS loads (-boot-load-size 4): one CD sector.
	truncate -s 2048 "$tmp/cd/cd-marker.bin" &&
	# Its banner goes to stderr even with -quiet: shown only on failure.
	{ xorriso -as mkisofs -quiet -o "$out" -b cd-marker.bin -no-emul-boot -boot-load-size 4 \
		"$tmp/cd" 2>"$tmp/xorriso.log" || { cat "$tmp/xorriso.log" >&2; false; }; } || rc=$?
	rm -rf "$tmp"
	return $rc
}

# e2e_sector_image SOURCE FILE: the boot sector guest/SOURCE.S as a 1 MiB
# qcow2 base image in FILE.
e2e_sector_image() {
	local src=$1 out=$2 tmp rc=0
	tmp=$(mktemp -d)
	as --32 -o "$tmp/s.o" "$E2E_HERE/guest/$src.S" &&
	ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$tmp/s.bin" "$tmp/s.o" &&
	truncate -s 1M "$tmp/s.bin" &&
	qemu-img convert -q -f raw -O qcow2 "$tmp/s.bin" "$out" || rc=$?
	rm -rf "$tmp"
	return $rc
}

# e2e_reboot_image FILE: the reset scenario's base image (guest/reboot-guest.S),
# a boot sector that counts its boots at byte 4096 of its disk, writes 4 KiB
# of 0x5a at byte 8192 on key W and reboots itself on key R.
e2e_reboot_image() { e2e_sector_image reboot-guest "$1"; }

# e2e_serial_image FILE: the serial console scenario's base image
# (guest/serial-guest.S), which answers each byte on COM1 with a line
# "strata-echo:" + the byte.
e2e_serial_image() { e2e_sector_image serial-guest "$1"; }

# e2e_alive PIDFILE: its process runs.  A zombie does not: this machine's
# init reaps orphans late (seconds), and a daemon killed by a power cut
# stays a zombie meanwhile, which kill -0 would call alive.
e2e_alive() {
	[ -s "$1" ] && ps -o stat= -p "$(cat "$1")" 2>/dev/null | grep -qv Z
}

e2e_uri() { echo "qemu+unix:///system?socket=$E2E_DIR/$1/sock/libvirt-sock"; }

e2e_virsh() { local h=$1; shift; virsh -q -c "$(e2e_uri "$h")" "$@"; }

e2e_write_config() {
	local name=$1 n=$2 dir=$E2E_DIR/$1
	mkdir -p "$dir/etc/qemu" "$dir/sock" "$dir/pool"
	cat >"$dir/etc/libvirtd.conf" <<CONF
unix_sock_dir = "$dir/sock"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
host_uuid = "00000000-0000-4000-8000-0000000000$(printf %02d "$n")"
log_outputs = "3:file:$dir/libvirtd.log"
CONF
	cat >"$dir/etc/qemu.conf" <<CONF
user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
# QEMU stays in the host's mount namespace, so e2e_down finds it there.
namespaces = []
migration_port_min = $((49152 + n * 100))
migration_port_max = $((49152 + n * 100 + 99))
CONF
	cat >"$dir/etc/virtlogd.conf" <<CONF
log_outputs = "3:file:$dir/virtlogd.log"
CONF
}

# The namespace lives as long as its first process; keep a holder alive so
# libvirtd can be stopped and started again inside the same namespace.
e2e_host_up() {
	local name=$1 n=$2 dir=$E2E_DIR/$1 i
	e2e_write_config "$name" "$n"
	( setsid unshare -m -u --propagation private sh -c '
		dir=$1 name=$2
		hostname "$name"
		for d in run lib log cache; do mkdir -p "$dir/$d"; done
		mount --bind "$dir/run" /run/libvirt
		mount --bind "$dir/lib" /var/lib/libvirt
		mount --bind "$dir/log" /var/log/libvirt
		mount --bind "$dir/cache" /var/cache/libvirt
		mount --bind "$dir/etc" /etc/libvirt
		# A machine without KVM, as libvirt and QEMU see it.  (libvirt
		# still sees a /dev/kvm and re-probes the capabilities of QEMU now and
		# then, which makes this mode slower: see README.)
		[ "$3" = qemu ] && [ -e /dev/kvm ] && mount --bind /dev/null /dev/kvm
		echo $$ >"$dir/ns.pid"
		exec sleep infinity' sh "$dir" "$name" "$(e2e_domain_type)" </dev/null >/dev/null 2>&1 & )
	for i in $(seq 50); do [ -s "$dir/ns.pid" ] && break; sleep 0.1; done
	E2E_HOSTS+=("$name")
	e2e_host_start "$name"
	e2e_virsh "$name" pool-define-as default dir --target "$dir/pool" >/dev/null
	e2e_virsh "$name" pool-start default >/dev/null
	e2e_guest_image "$dir/pool/acpi-guest.qcow2" "${E2E_GUEST_SECONDS:-0}"
	e2e_virsh "$name" pool-refresh default >/dev/null
}

# What is wrong with host NAME, one line each; nothing when it is healthy:
# virtlogd and libvirtd alive and answering, the pool active with its base.
e2e_host_check() {
	local name=$1 dir=$E2E_DIR/$1
	e2e_alive "$dir/virtlogd.pid" || echo "$name: virtlogd is not running"
	[ -S "$dir/run/virtlogd-sock" ] || echo "$name: virtlogd's socket is missing"
	if ! e2e_virsh "$name" version >/dev/null 2>&1; then
		echo "$name: libvirtd does not answer"
		return
	fi
	[ "$(e2e_virsh "$name" pool-info default 2>/dev/null | awk '$1 == "State:" {print $2}')" = running ] ||
		echo "$name: pool default is not active"
	e2e_virsh "$name" vol-info --pool default acpi-guest.qcow2 >/dev/null 2>&1 ||
		echo "$name: the base image is missing from pool default"
}

# Start again whatever e2e_host_check finds missing.
e2e_host_heal() {
	local name=$1 dir=$E2E_DIR/$1
	if ! { e2e_alive "$dir/virtlogd.pid" && [ -S "$dir/run/virtlogd-sock" ]; }; then
		[ -s "$dir/virtlogd.pid" ] && kill -9 "$(cat "$dir/virtlogd.pid")" 2>/dev/null
		rm -f "$dir/virtlogd.pid"
		e2e_host_stop "$name"
	fi
	e2e_virsh "$name" version >/dev/null 2>&1 || e2e_host_start "$name" || return 1
	e2e_virsh "$name" pool-start default >/dev/null 2>&1
	e2e_virsh "$name" pool-refresh default >/dev/null 2>&1
	e2e_virsh "$name" vol-info --pool default acpi-guest.qcow2 >/dev/null 2>&1 || {
		e2e_guest_image "$dir/pool/acpi-guest.qcow2" "${E2E_GUEST_SECONDS:-0}"
		e2e_virsh "$name" pool-refresh default >/dev/null
	}
}

e2e_host_start() {
	local name=$1 dir=$E2E_DIR/$1 i
	touch "$dir/down"  # the supervisor keeps off while we start it
	# virtlogd too, after a power cut (e2e_host_crash) took it down.
	if ! e2e_alive "$dir/virtlogd.pid"; then
		rm -f "$dir/virtlogd.pid"
		nsenter -t "$(cat "$dir/ns.pid")" -m -u \
			virtlogd --daemon --pid-file "$dir/virtlogd.pid" --config "$dir/etc/virtlogd.conf"
	fi
	rm -f "$dir/libvirtd.pid"
	nsenter -t "$(cat "$dir/ns.pid")" -m -u \
		libvirtd --daemon --pid-file "$dir/libvirtd.pid" --config "$dir/etc/libvirtd.conf"
	for i in $(seq 100); do
		if virsh -q -c "$(e2e_uri "$name")" version >/dev/null 2>&1; then
			rm -f "$dir/down"
			return 0
		fi
		sleep 0.1
	done
	echo "host $name: libvirtd did not answer in 10 s; its log:" >&2
	tail -20 "$dir/libvirtd.log" >&2
	return 1
}

# A power cut: libvirtd, virtlogd and every guest of the host die at once
# (the namespace's holder stays, so the host can boot again).
e2e_host_crash() {
	local dir=$E2E_DIR/$1 holder p
	holder=$(cat "$dir/ns.pid")
	touch "$dir/down"
	for p in $(e2e_host_pids "$1"); do
		[ "$p" = "$holder" ] || kill -9 "$p" 2>/dev/null
	done
	while [ -n "$(e2e_host_pids "$1" | grep -vx "$holder")" ]; do sleep 0.05; done
}

e2e_host_stop() {
	local dir=$E2E_DIR/$1
	touch "$dir/down"
	[ -s "$dir/libvirtd.pid" ] && kill "$(cat "$dir/libvirtd.pid")" 2>/dev/null
	while e2e_alive "$dir/libvirtd.pid"; do sleep 0.05; done
}

# Every process whose mount namespace is the host's: libvirtd, virtlogd,
# QEMU (which libvirt daemonizes, so it is no child of anything of ours).
e2e_host_pids() {
	local dir=$E2E_DIR/$1 ns p
	[ -s "$dir/ns.pid" ] || return 0
	ns=$(readlink "/proc/$(cat "$dir/ns.pid")/ns/mnt" 2>/dev/null) || return 0
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] && echo "${p#/proc/}"
	done
}

# What systemd's Restart=on-failure does for libvirtd.service on a real
# host: libvirt 9.0's libvirtd has been seen to segfault when a client is
# killed in the middle of a call (the crash scenario does exactly that).  A
# libvirtd that dies while not stopped on purpose is started again, and
# $E2E_DIR/supervisor.log says so.
e2e_supervise() {
	local h dir
	while sleep 0.5; do
		for h in "${E2E_HOSTS[@]}"; do
			dir=$E2E_DIR/$h
			[ -e "$dir/down" ] && continue
			e2e_alive "$dir/libvirtd.pid" && continue
			echo "$(date -u +%T) libvirtd on $h died; started again" >>"$E2E_DIR/supervisor.log"
			e2e_host_start "$h" >>"$E2E_DIR/supervisor.log" 2>&1
		done
	done
}

e2e_down() {
	local h pids
	[ -n "${E2E_SUPERVISOR:-}" ] && kill "$E2E_SUPERVISOR" 2>/dev/null
	for h in "${E2E_HOSTS[@]}"; do
		pids=$(e2e_host_pids "$h")
		[ -n "$pids" ] && kill -9 $pids 2>/dev/null
	done
	# Anything else still naming our folder (a QEMU, a daemon under test).
	pkill -9 -f -- "$E2E_DIR/" 2>/dev/null
	E2E_HOSTS=()
	wait 2>/dev/null
}
