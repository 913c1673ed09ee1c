# Installation media on real QEMU: a VM boots from the operator's CD image
# (an IDE drive, boot: [cdrom, disk]), its VNC console answers, and the disc
# is ejected live: the same QEMU runs on with an empty drive.

media_spec() {
	cat >"$S/spec/m.yaml" <<Y
kind: appliance
name: m
vms:
  - name: a
    template: tiny
    cdrom: {pool: default, volume: marker.iso$1}
    boot: [cdrom, disk]
    console: {type: vnc}
Y
}

# cdrom_source HOST DOMAIN: the volume in the running domain's hdc ("-":
# empty).
cdrom_source() { e2e_virsh "$1" domblklist "$2" | awk '$1 == "hdc" {print $2}'; }

# vnc_banner PORT: the first 12 bytes a VNC server on the loopback sends.
vnc_banner() { timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && head -c 12 <&3' _ "$1"; }

scenario_boots_from_a_cd_then_ejects_it() {
	local t=20 port id pid
	# SeaBIOS's boot from the CD is slower in software emulation.
	[ "$E2E_TYPE" = kvm ] || t=60
	e2e_spec h1 h2
	# The image is the operator's: on h2 only, where placement must go.
	e2e_marker_iso "$S/marker.iso" || fail "cannot make the CD image"
	put_volume h2 marker.iso "$S/marker.iso" || fail "cannot upload the CD image to h2"
	media_spec ""
	apply
	expect_eq "hosts defining m.a" h2 "$(host_of m.a)"
	wait_for 30 "m.a runs" is_running h2 m.a
	expect_eq "the drive's disc" marker.iso "$(cdrom_source h2 m.a)"
	# Only the CD's boot image writes this: the disk's own boot sector
	# (the ACPI guest) writes nothing.
	wait_for $t "the guest, booted from the CD, wrote its marker on its disk" \
		has_marker h2 m.a--system.qcow2
	expect_converged
	# The live XML (a port QEMU picked, a source index) reads as defined.
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1
	grep_q "restart required" <"$S/plan.out" && fail "a false restart required: $(cat "$S/plan.out")"

	note "the VNC console answers where strata console says"
	"$STRATA" console "$S/spec" m.a -o json >"$S/console.json" 2>&1 ||
		{ cat "$S/console.json" >&2; fail "strata console failed"; }
	port=$(sed -n 's/.*"port" *: *\([0-9][0-9]*\).*/\1/p' "$S/console.json")
	[ -n "$port" ] || fail "no port in: $(cat "$S/console.json")"
	grep -q "\"uri\" *: *\"vnc://127.0.0.1:$port\"" "$S/console.json" || fail "no VNC URI: $(cat "$S/console.json")"
	grep -q '"tunnel" *: *null' "$S/console.json" || fail "a tunnel to a local host: $(cat "$S/console.json")"
	expect_eq "the VNC server's banner" "RFB 003.008" "$(vnc_banner "$port")"

	note "ejected: true — live, the same QEMU"
	id=$(e2e_virsh h2 domid m.a)
	pid=$(qemu_pid m.a)
	media_spec ", ejected: true"
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1
	grep -q "change-media m.a hdc: eject" "$S/plan.out" || { cat "$S/plan.out" >&2; fail "the plan does not eject live"; }
	grep -q "shutdown m.a" "$S/plan.out" && fail "the plan stops the VM: $(cat "$S/plan.out")"
	apply
	grep -q "change-media m.a hdc: eject" "$S/apply.out" || fail "apply did not eject: $(cat "$S/apply.out")"
	expect_eq "the same domain" "$id" "$(e2e_virsh h2 domid m.a)"
	expect_eq "the same QEMU process" "$pid" "$(qemu_pid m.a)"
	expect_eq "the drive's disc" "-" "$(cdrom_source h2 m.a)"
	e2e_virsh h2 dumpxml m.a | grep_q "marker.iso" && fail "the running domain still names the disc"
	e2e_virsh h2 dumpxml --inactive m.a | grep_q "marker.iso" && fail "the definition still names the disc"
	expect_converged
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1
	grep_q "restart required" <"$S/plan.out" && fail "a false restart required after the eject: $(cat "$S/plan.out")"
	e2e_virsh h2 vol-info --pool default marker.iso >/dev/null || fail "the disc's volume is gone"
}

# vnc_security_types PORT: what a VNC server on the loopback offers after
# the version handshake, as "COUNT TYPE…" (1 1: none; 1 2: VNC's password).
vnc_security_types() {
	timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && head -c 12 <&3 >/dev/null &&
		printf "RFB 003.008\n" >&3 && head -c 2 <&3 | od -An -tu1' _ "$1" | xargs
}

password_spec() {
	cat >"$S/spec/p.yaml" <<Y
kind: appliance
name: p
vms:
  - name: a
    template: tiny
    console: {type: vnc, password_file: secrets/vnc.pw}
Y
	mkdir -p "$S/spec/secrets"
	printf '%s\n' "$1" >"$S/spec/secrets/vnc.pw"
}

# The password's text must be in the definition and nowhere strata writes.
no_password_in() {
	local f
	for f in "$@"; do
		grep_q -e first-pw -e second-p "$f" && fail "a console password in $f"
	done
	return 0
}

scenario_a_vnc_console_asks_for_its_password() {
	local port pid id
	e2e_spec h1
	password_spec first-pw
	apply
	wait_for 30 "p.a runs" is_running h1 p.a
	"$STRATA" console "$S/spec" p.a -o json >"$S/console.json" 2>&1 ||
		{ cat "$S/console.json" >&2; fail "strata console failed"; }
	port=$(sed -n 's/.*"port" *: *\([0-9][0-9]*\).*/\1/p' "$S/console.json")
	expect_eq "what the VNC server offers" "1 2" "$(vnc_security_types "$port")"
	e2e_virsh h1 dumpxml --security-info p.a | grep_q "passwd='first-pw'" ||
		fail "the running domain lacks the password"
	e2e_virsh h1 dumpxml p.a | grep_q -e first-pw && fail "the password shows without --security-info"
	expect_converged

	note "a new password: set live, the same QEMU"
	id=$(e2e_virsh h1 domid p.a)
	pid=$(qemu_pid p.a)
	password_spec second-p
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1
	grep_q "set-console-password p.a" "$S/plan.out" || { cat "$S/plan.out" >&2; fail "no live password change"; }
	grep_q "shutdown p.a" "$S/plan.out" && fail "the plan stops the VM: $(cat "$S/plan.out")"
	apply
	expect_eq "the same domain" "$id" "$(e2e_virsh h1 domid p.a)"
	expect_eq "the same QEMU process" "$pid" "$(qemu_pid p.a)"
	e2e_virsh h1 dumpxml --security-info p.a | grep_q "passwd='second-p'" ||
		fail "the running domain lacks the new password"
	e2e_virsh h1 dumpxml --inactive --security-info p.a | grep_q "passwd='second-p'" ||
		fail "the definition lacks the new password"
	expect_eq "what the VNC server offers" "1 2" "$(vnc_security_types "$port")"
	expect_converged
	"$STRATA" history --db "$S/strata.db" -o json >"$S/history.json"
	no_password_in "$S/plan.out" "$S/apply.out" "$S/history.json" "$S/console.json"
}
