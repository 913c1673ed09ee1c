#!/bin/bash
# Side by side on real libvirtd + QEMU hosts (tests/e2e/hosts.sh): bring up
# N tiny guests (template overlay volume, define, start) and tear them down
# (stop, undefine, delete the volume), on one host and on two, with
#   strata   strata apply, then the appliance set to undeployed
#   virsh    a sequential shell script, one virsh call per step
#   ansible  a playbook: community.libvirt.virt for define/start/destroy/
#            undefine, ansible.builtin.command for the volumes
# All three do the same libvirt work on the same hosts in one run, with the
# same domain type (KVM where /dev/kvm is usable, else TCG; E2E_DOMAIN_TYPE=
# qemu forces TCG), and all three stop guests gracefully: the guest answers
# the power button after BENCH_GUEST_SECONDS (default 5), as an OS that
# takes that long to shut down, so teardown measures shutdowns, not kills.
# Teardown begins BENCH_SETTLE_SECONDS (default 30) after the guests are
# up: a guest still in its firmware does not hear the button (20 guests
# booting at once on 2 cores kept some in SeaBIOS for over 10 s, and each
# press they missed cost strata 3 s), and the measure is of stopping
# running guests, not booting ones.
#   tests/bench/bench_e2e.sh [N]      (root; make bench runs it)
# BENCH_METHODS="virsh ansible" (the default) picks the tools compared with
# strata; BENCH_METHODS= measures strata alone.
set -uo pipefail
N=${1:-20}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
E2E_HERE=$ROOT/tests/e2e
STRATA=${STRATA:-$ROOT/strata}
. "$E2E_HERE/hosts.sh"
. "$E2E_HERE/lib.sh"

if ! why=$(e2e_can_run); then echo "bench_e2e: SKIPPED: $why"; exit 0; fi
METHODS=${BENCH_METHODS-virsh ansible}
case " $METHODS " in *" ansible "*)
	command -v ansible-playbook >/dev/null ||
		{ echo "bench_e2e: SKIPPED: ansible-playbook is not installed (make bench-deps)"; exit 0; };;
esac
E2E_DIR=$(mktemp -d /tmp/strata-bench.XXXXXX)
trap 'e2e_down; rm -rf "$E2E_DIR"' EXIT
trap 'exit 130' INT TERM
e2e_prepare_machine
TYPE=$(e2e_domain_type) || exit 1
E2E_GUEST_SECONDS=${BENCH_GUEST_SECONDS:-5}
SETTLE=${BENCH_SETTLE_SECONDS:-30}
e2e_host_up h1 1 || exit 1
mkdir -p "$E2E_DIR/h2/cache"; cp -a "$E2E_DIR/h1/cache/." "$E2E_DIR/h2/cache/"
e2e_host_up h2 2 || exit 1
S=$E2E_DIR/s; mkdir -p "$S"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }
guests_running() { pgrep -fc 'guest=b\.' || true; }
check_up() { [ "$(guests_running)" = "$N" ] || { echo "bench_e2e: $1 left $(guests_running) of $N guests running" >&2; exit 1; }; }
check_down() {
	local h
	[ "$(guests_running)" = 0 ] || { echo "bench_e2e: $1 left guests running" >&2; exit 1; }
	for h in h1 h2; do
		[ -z "$(e2e_virsh $h list --all --name)" ] || { echo "bench_e2e: $1 left domains on $h" >&2; exit 1; }
	done
}
host_for() { local hosts=($2); echo "${hosts[$(($1 % ${#hosts[@]}))]}"; }

domain_xml() {
	cat <<X
<domain type='$TYPE'><name>b.g$1</name><memory unit='KiB'>32768</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type></os><features><acpi/></features>
<on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
<devices><disk type='volume' device='disk'><driver name='qemu' type='qcow2'/>
<source pool='default' volume='b.g$1--system.qcow2'/><target dev='vda' bus='virtio'/><boot order='1'/></disk>
<serial type='pty'/><console type='pty'/></devices></domain>
X
}

# ---- strata
strata_spec() {
	local h
	mkdir -p "$S/spec"
	e2e_spec $2
	{
		echo "kind: appliance"; echo "name: b"; echo "state: $1"; echo "vms:"
		for ((i = 0; i < N; i++)); do echo "  - {name: g$i, template: tiny}"; done
	} >"$S/spec/b.yaml"
	# Keep the source from ever being empty of deployed VMs.
	echo "{kind: appliance, name: keep, state: undeployed, vms: [{name: k, template: tiny}]}" >"$S/spec/keep.yaml"
}
run_strata() {
	local t
	rm -f "$S"/strata.db*
	strata_spec deployed "$1"
	t=$(now); "$STRATA" apply --yes --db "$S/strata.db" "$S/spec" >"$S/apply.out" 2>&1 || { tail -5 "$S/apply.out"; exit 1; }; UP=$(elapsed "$t")
	check_up strata
	e2e_virsh h1 dumpxml b.g0 | grep -q "<domain type='$TYPE'" ||
		{ echo "bench_e2e: strata's guests are not of type $TYPE" >&2; exit 1; }
	strata_spec undeployed "$1"
	sleep "$SETTLE"
	t=$(now); "$STRATA" apply --yes --db "$S/strata.db" "$S/spec" >"$S/apply.out" 2>&1 || { tail -5 "$S/apply.out"; exit 1; }; DOWN=$(elapsed "$t")
	check_down strata
}

# ---- a sequential virsh script, the way it is usually written
run_virsh() {
	local t i h
	t=$(now)
	for ((i = 0; i < N; i++)); do
		h=$(host_for $i "$1")
		e2e_virsh $h vol-create-as default "b.g$i--system.qcow2" 16M --format qcow2 \
			--backing-vol acpi-guest.qcow2 --backing-vol-format qcow2 >/dev/null
		domain_xml $i >"$S/g$i.xml"
		e2e_virsh $h define "$S/g$i.xml" >/dev/null
		e2e_virsh $h start "b.g$i" >/dev/null
	done
	UP=$(elapsed "$t"); check_up virsh
	sleep "$SETTLE"
	t=$(now)
	# Ask every guest, then wait for each: the usual graceful script
	# (pressing again, as strata does, for a guest still in its BIOS).
	for ((i = 0; i < N; i++)); do
		e2e_virsh "$(host_for $i "$1")" shutdown "b.g$i" >/dev/null
	done
	for ((i = 0; i < N; i++)); do
		h=$(host_for $i "$1")
		until [ "$(e2e_virsh $h domstate "b.g$i")" = "shut off" ]; do
			sleep 1; e2e_virsh $h shutdown "b.g$i" >/dev/null 2>&1
		done
	done
	for ((i = 0; i < N; i++)); do
		h=$(host_for $i "$1")
		e2e_virsh $h undefine "b.g$i" >/dev/null
		e2e_virsh $h vol-delete --pool default "b.g$i--system.qcow2" >/dev/null
	done
	DOWN=$(elapsed "$t"); check_down virsh
}

# ---- Ansible
run_ansible() {
	local t i h
	{
		echo "all:"; echo "  hosts:"; echo "    localhost:"
		echo "      ansible_connection: local"; echo "      ansible_python_interpreter: /usr/bin/python3"
		echo "      guests:"
		for ((i = 0; i < N; i++)); do
			h=$(host_for $i "$1")
			echo "        - {name: b.g$i, uri: '$(e2e_uri $h)', xml: '$S/g$i.xml'}"
			domain_xml $i >"$S/g$i.xml"
		done
	} >"$S/inventory.yml"
	cat >"$S/up.yml" <<'Y'
- hosts: localhost
  gather_facts: false
  tasks:
    - name: system disk
      ansible.builtin.command: >-
        virsh -c {{ item.uri }} vol-create-as default {{ item.name }}--system.qcow2 16M
        --format qcow2 --backing-vol acpi-guest.qcow2 --backing-vol-format qcow2
      loop: "{{ guests }}"
    - name: define
      community.libvirt.virt: {command: define, xml: "{{ lookup('file', item.xml) }}", uri: "{{ item.uri }}"}
      loop: "{{ guests }}"
    - name: start
      community.libvirt.virt: {name: "{{ item.name }}", state: running, uri: "{{ item.uri }}"}
      loop: "{{ guests }}"
Y
	cat >"$S/down.yml" <<'Y'
- hosts: localhost
  gather_facts: false
  tasks:
    - name: stop (ask)
      community.libvirt.virt: {name: "{{ item.name }}", state: shutdown, uri: "{{ item.uri }}"}
      loop: "{{ guests }}"
    - name: stop (wait, asking again)
      community.libvirt.virt: {name: "{{ item.name }}", state: shutdown, uri: "{{ item.uri }}"}
      register: st
      until: st.changed == false
      retries: 120
      delay: 1
      loop: "{{ guests }}"
    - name: undefine
      community.libvirt.virt: {name: "{{ item.name }}", command: undefine, uri: "{{ item.uri }}"}
      loop: "{{ guests }}"
    - name: system disk
      ansible.builtin.command: virsh -c {{ item.uri }} vol-delete --pool default {{ item.name }}--system.qcow2
      loop: "{{ guests }}"
Y
	export ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_RETRY_FILES_ENABLED=False ANSIBLE_NOCOLOR=1
	t=$(now); ansible-playbook -i "$S/inventory.yml" "$S/up.yml" >"$S/ansible-up.log" 2>&1 ||
		{ tail -20 "$S/ansible-up.log"; exit 1; }
	UP=$(elapsed "$t"); check_up ansible
	sleep "$SETTLE"
	t=$(now); ansible-playbook -i "$S/inventory.yml" "$S/down.yml" >"$S/ansible-down.log" 2>&1 ||
		{ tail -20 "$S/ansible-down.log"; exit 1; }
	DOWN=$(elapsed "$t"); check_down ansible
}

printf "\nbench_e2e: %d tiny guests (32 MiB, domain type %s, answering the power button after %s s, torn down %s s after they are up), real libvirtd, same hosts, one run\n" "$N" "$TYPE" "$E2E_GUEST_SECONDS" "$SETTLE"
printf "%-8s %-5s %-6s %9s %9s %12s %12s\n" method type hosts "up (s)" "down (s)" "up ×strata" "down ×strata"
for hosts in "h1" "h1 h2"; do
	nh=$(echo $hosts | wc -w)
	run_strata "$hosts"; SU=$UP SD=$DOWN
	printf "%-8s %-5s %-6s %9s %9s %12s %12s\n" strata "$TYPE" "$nh" "$SU" "$SD" 1.0 1.0
	for m in $METHODS; do
		"run_$m" "$hosts"
		printf "%-8s %-5s %-6s %9s %9s %12s %12s\n" "$m" "$TYPE" "$nh" "$UP" "$DOWN" \
			"$(awk -v a="$UP" -v b="$SU" 'BEGIN {printf "%.1f", a / b}')" \
			"$(awk -v a="$DOWN" -v b="$SD" 'BEGIN {printf "%.1f", a / b}')"
	done
done
