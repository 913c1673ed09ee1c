# Template bases copied by strata to the hosts that lack them, through
# libvirt's volume streams.  The base gold.qcow2 is the ACPI guest with a
# marker written into it at 64 KiB (past the boot code), on h1 only.

# gold_up: the base on h1, with the marker; h2 and h3 lack it.
gold_up() {
	local f=$E2E_DIR/h1/pool/gold.qcow2
	e2e_guest_image "$f"
	qemu-io -f qcow2 -c "write -P 0x6b 65536 4096" "$f" >/dev/null || fail "cannot mark the base"
	e2e_virsh h1 pool-refresh default >/dev/null
}

# gold_spec "TEMPLATE KEYS" VM-LINE...: template gold (source h1), the VMs
# in appliance t, h1 and h3 in maintenance so that they go to h2.
gold_spec() {
	local keys=$1 vm
	shift
	E2E_MAINTENANCE="h1 h3" e2e_spec h1 h2 h3
	cat >"$S/spec/gold.yaml" <<Y
kind: template
name: gold
pool: default
volume: gold.qcow2
cpus: 1
memory: 32MiB
disk_size: 16MiB
$keys
---
kind: appliance
name: t
vms:
Y
	for vm in "$@"; do echo "  - $vm" >>"$S/spec/gold.yaml"; done
}

# The overlay built on h2's copy reads the marker: the bytes came with it.
overlay_has_gold_marker() {
	file_has_pattern "$(vol_path h2 "$1")" 0x6b 65536
}

# A VM placed on h2, which lacks the base: strata copies it from h1 first,
# with the same bytes (sha256 of the files), records the checksum, and
# builds the VM on the copy; a second VM on h2 reuses it.
scenario_template_base_copied_on_demand() {
	local sha copies
	gold_up
	gold_spec "source: {host: h1}" "{name: a, template: gold}"
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1 || true
	grep -q "copy-volume default/gold.qcow2 from h1" "$S/plan.out" ||
		fail "the plan does not copy the base: $(cat "$S/plan.out")"
	apply
	expect_eq "t.a's host" h2 "$(host_of t.a)"
	is_running h2 t.a || fail "t.a does not run on h2"
	sha=$(sha256sum <"$E2E_DIR/h1/pool/gold.qcow2" | cut -d' ' -f1)
	expect_eq "sha256 of h2's copy" "$sha" "$(sha256sum <"$E2E_DIR/h2/pool/gold.qcow2" | cut -d' ' -f1)"
	"$STRATA" history --images --db "$S/strata.db" >"$S/images.out"
	grep -q "default/gold.qcow2 on h2  sha256 $sha .* copied from h1" "$S/images.out" ||
		fail "no checksum recorded for h2's copy: $(cat "$S/images.out")"
	grep -q "default/gold.qcow2 on h1  sha256 $sha" "$S/images.out" ||
		fail "no checksum recorded for h1's base: $(cat "$S/images.out")"
	overlay_has_gold_marker "t.a--system.qcow2" || fail "t.a's disk does not read the base's bytes"
	[ -z "$(e2e_virsh h3 vol-list default | grep gold)" ] || fail "h3 got a copy it does not need"

	note "a second VM on h2 reuses the copy"
	gold_spec "source: {host: h1}" "{name: a, template: gold}" "{name: b, template: gold}"
	apply
	is_running h2 t.b || fail "t.b does not run on h2"
	copies=$("$STRATA" history --db "$S/strata.db" | grep -c " copy-volume " || true)
	expect_eq "copies made" 1 "$copies"
	E2E_MAINTENANCE="h1 h3" expect_converged
}

# A copy whose checksum is not the declared one fails, and leaves nothing
# on h2: no file, no volume, no mark of a half copy; nothing is built.
# With the right checksum, the next apply copies it.
scenario_template_copy_with_wrong_checksum_leaves_nothing() {
	local rc=0 sha
	gold_up
	gold_spec "source: {host: h1}
sha256: 0000000000000000000000000000000000000000000000000000000000000000" "{name: a, template: gold}"
	"$STRATA" apply --yes --db "$S/strata.db" "$S/spec" >"$S/apply.out" 2>&1 || rc=$?
	[ $rc != 0 ] || fail "apply succeeded with a wrong checksum"
	grep -q "checksum mismatch for default/gold.qcow2" "$S/apply.out" ||
		fail "no checksum error: $(cat "$S/apply.out")"
	grep -q "the partial copy was deleted" "$S/apply.out" || fail "the copy's fate is not said: $(cat "$S/apply.out")"
	[ ! -e "$E2E_DIR/h2/pool/gold.qcow2" ] || fail "the bad copy is left on h2"
	[ -z "$(e2e_virsh h2 vol-list default | grep gold)" ] || fail "h2's libvirt still lists the bad copy"
	[ -z "$(e2e_virsh h2 list --all --name)" ] || fail "a VM was defined on the bad copy"
	"$STRATA" history --images --db "$S/strata.db" | grep_q "NOT verified" && fail "a half copy is recorded"

	note "the right checksum"
	sha=$(sha256sum <"$E2E_DIR/h1/pool/gold.qcow2" | cut -d' ' -f1)
	gold_spec "source: {host: h1}
sha256: $sha" "{name: a, template: gold}"
	apply
	is_running h2 t.a || fail "t.a does not run on h2"
	overlay_has_gold_marker "t.a--system.qcow2" || fail "t.a's disk does not read the base's bytes"
}

# lib_spec DIR "TEMPLATE KEYS" "LIBRARY KEYS" HOSTS VM-LINE...: a spec
# folder of its own (another datacenter's), library central in
# $E2E_DIR/library, template gold version 2, appliance t with the VMs.
lib_spec() {
	local dir=$1 tkeys=$2 lkeys=$3 hosts=$4 vm
	shift 4
	S=$dir E2E_MAINTENANCE="${E2E_MAINTENANCE:-}" e2e_spec $hosts
	cat >"$dir/spec/gold.yaml" <<Y
kind: library
name: central
path: $E2E_DIR/library
$lkeys
---
kind: template
name: gold
version: 2
pool: default
volume: gold.qcow2
cpus: 1
memory: 32MiB
disk_size: 16MiB
$tkeys
Y
	[ $# = 0 ] && return
	printf -- "---\nkind: appliance\nname: t\nlayers: [l]\nvms:\n" >>"$dir/spec/gold.yaml"
	for vm in "$@"; do echo "  - $vm" >>"$dir/spec/gold.yaml"; done
}

# One strata exports the template into a library folder; another, with a
# database and source of its own and other hosts, deploys from it: the
# image is pulled into its pool and checked against the index.  A byte
# flipped in the library then makes the next pull fail with a checksum
# error, leaving nothing on that host.
scenario_template_library_export_then_deploy_elsewhere() {
	local a=$S/dc-a b=$S/dc-b sha idx rc=0
	gold_up
	rm -rf "$E2E_DIR/library" && mkdir -p "$E2E_DIR/library" "$a" "$b"
	touch "$E2E_DIR/library/strata-library"
	sha=$(sha256sum <"$E2E_DIR/h1/pool/gold.qcow2" | cut -d' ' -f1)

	note "datacenter A exports gold version 2"
	lib_spec "$a" "source: {host: h1}" "export: [gold]" "h1"
	"$STRATA" apply --yes --db "$a/strata.db" "$a/spec" >"$a/apply.out" 2>&1 ||
		{ cat "$a/apply.out" >&2; fail "export apply failed"; }
	grep -q "export-template gold version 2 from default/gold.qcow2 into library central" "$a/apply.out" ||
		fail "no export in: $(cat "$a/apply.out")"
	idx=$E2E_DIR/library/index.json
	[ -f "$idx" ] || fail "no index in the library"
	expect_eq "sha256 of the library's image" "$sha" \
		"$(sha256sum <"$E2E_DIR/library/gold/2/disk0.qcow2" | cut -d' ' -f1)"
	for field in '"name" : "gold"' '"version" : 2' '"cpus" : 1' '"memory" : 33554432' \
		'"format" : "qcow2"' '"virtual_size" : 1048576' "\"sha256\" : \"$sha\"" '"file" : "gold/2/disk0.qcow2"' '"made" : "'; do
		grep -qF "$field" "$idx" || fail "the index lacks $field: $(cat "$idx")"
	done
	"$STRATA" plan --detailed-exitcode "$a/spec" >/dev/null 2>&1 || fail "datacenter A would export again"

	note "datacenter B deploys from the library onto h2"
	E2E_MAINTENANCE=h3 lib_spec "$b" "source: {library: central}" "" "h2 h3" "{name: a, template: gold, layer: l}"
	"$STRATA" apply --yes --db "$b/strata.db" "$b/spec" >"$b/apply.out" 2>&1 ||
		{ cat "$b/apply.out" >&2; fail "import apply failed"; }
	grep -q "copy-volume default/gold.qcow2 from library central" "$b/apply.out" ||
		fail "no copy from the library in: $(cat "$b/apply.out")"
	is_running h2 t.a || fail "t.a does not run on h2"
	expect_eq "sha256 of h2's copy" "$sha" "$(sha256sum <"$E2E_DIR/h2/pool/gold.qcow2" | cut -d' ' -f1)"
	overlay_has_gold_marker "t.a--system.qcow2" || fail "t.a's disk does not read the library image's bytes"

	note "a byte flipped in the library; a VM for h3"
	printf '\x01' | dd of="$E2E_DIR/library/gold/2/disk0.qcow2" bs=1 seek=70000 conv=notrunc status=none
	lib_spec "$b" "source: {library: central}" "" "h2 h3" "{name: a, template: gold, layer: l}" \
		"{name: b, template: gold, layer: l}"
	"$STRATA" apply --yes --db "$b/strata.db" "$b/spec" >"$b/apply.out" 2>&1 || rc=$?
	[ $rc != 0 ] || fail "apply succeeded from a corrupted library"
	grep -q "checksum mismatch for default/gold.qcow2 from $E2E_DIR/library/gold/2/disk0.qcow2" "$b/apply.out" ||
		fail "no checksum error: $(cat "$b/apply.out")"
	[ ! -e "$E2E_DIR/h3/pool/gold.qcow2" ] || fail "the bad copy is left on h3"
	[ -z "$(e2e_virsh h3 list --all --name)" ] || fail "a VM was defined on h3"
	is_running h2 t.a || fail "t.a was touched"
}

# Exports for public clouds: a base whose virtual size is not a whole MiB,
# exported as a streamOptimized vmdk (uploaded by a command, here a local
# script) and as a fixed vhd rounded up to a MiB; a failing upload is
# reported with each attempt's exit status and output.  The template's
# base is only read.
scenario_template_export_converts_and_uploads() {
	local base=$E2E_DIR/h1/pool/odd.qcow2 out=$S/out up=$S/uploaded sha rc=0 info t0
	qemu-img create -q -f qcow2 "$base" 3149824
	qemu-io -f qcow2 -c "write -P 0x3c 0 1M" -c "write -P 0x7e 2M 4096" "$base" >/dev/null
	e2e_virsh h1 pool-refresh default >/dev/null
	sha=$(sha256sum <"$base" | cut -d' ' -f1)
	mkdir -p "$up"
	cat >"$S/upload.sh" <<SH
#!/bin/sh
cp "\$1" "$up/\$2" && echo "uploaded \$2 to \$3"
sleep 120 &   # a helper left behind, holding our output: strata does not wait for it
SH
	chmod +x "$S/upload.sh"
	E2E_MAINTENANCE="h2 h3" e2e_spec h1 h2 h3
	cat >"$S/spec/odd.yaml" <<Y
kind: template
name: odd
pool: default
volume: odd.qcow2
---
kind: export
name: aws
template: odd
format: vmdk
path: $out
upload: {command: "$S/upload.sh {file} {name} {region}", region: eu-west-1}
---
kind: export
name: azure
template: odd
format: vhd
path: $out
---
kind: export
name: denied
template: odd
format: raw
path: $out
upload: {command: "echo access denied >&2; exit 3", attempts: 2}
Y
	t0=$SECONDS
	"$STRATA" apply --yes --db "$S/strata.db" "$S/spec" >"$S/apply.out" 2>&1 || rc=$?
	pkill -f "^sleep 120" || true
	[ $((SECONDS - t0)) -lt 60 ] || fail "apply waited for the helper the upload command left behind"
	[ $rc != 0 ] || fail "apply succeeded with a failing upload"
	grep -q "upload attempt 1: exit 3: access denied; upload attempt 2: exit 3: access denied" "$S/apply.out" ||
		fail "the failing upload is not reported: $(cat "$S/apply.out")"
	[ -f "$out/denied-odd-v1.raw" ] || fail "the converted file of the failed upload is gone"

	note "vmdk: streamOptimized, same content, uploaded"
	qemu-img compare -q "$base" "$out/aws-odd-v1.vmdk" || fail "the vmdk's content differs"
	qemu-img info "$out/aws-odd-v1.vmdk" | grep_q "create type: streamOptimized" ||
		fail "not streamOptimized: $(qemu-img info "$out/aws-odd-v1.vmdk")"
	cmp -s "$out/aws-odd-v1.vmdk" "$up/aws-odd-v1.vmdk" || fail "the upload command did not receive the file"
	"$STRATA" history --images --db "$S/strata.db" | grep_q "upload attempt 1: exit 0: uploaded aws-odd-v1.vmdk to eu-west-1" ||
		fail "the upload is not recorded: $("$STRATA" history --images --db "$S/strata.db")"

	note "vhd: fixed, its virtual size rounded up to a MiB"
	# A fixed VHD is raw data with a footer: qemu-img must be told it is one.
	qemu-img compare -q -F vpc "$base" "$out/azure-odd-v1.vhd" || fail "the vhd's content differs"
	info=$(qemu-img info -f vpc --output=json "$out/azure-odd-v1.vhd")
	echo "$info" | grep_q '"virtual-size": 4194304' || fail "the vhd's size is not 4 MiB: $info"
	echo "$info" | grep_q '"format": "vpc"' || fail "not a vhd: $info"
	expect_eq "the vhd file's size (fixed: data + 512-byte footer)" 4194816 "$(stat -c %s "$out/azure-odd-v1.vhd")"

	note "once per version; the failed one waits an hour (plan reads the history)"
	"$STRATA" plan --db "$S/strata.db" "$S/spec" >"$S/plan.out" 2>&1 || true
	grep -q "export denied of template odd version 1: not tried again yet: the last try failed" "$S/plan.out" ||
		fail "the failed export's wait is not said: $(cat "$S/plan.out")"
	grep -q "export-image" "$S/plan.out" && fail "an export is planned again: $(cat "$S/plan.out")"
	expect_eq "the base's sha256" "$sha" "$(sha256sum <"$base" | cut -d' ' -f1)"
}

# cap_spec "TEMPLATE DOC" VM-LINE...: appliance t in layer l on h1 and h2
# (h3 in maintenance), the VMs given.
cap_spec() {
	local doc=$1 vm
	shift
	E2E_MAINTENANCE=h3 e2e_spec h1 h2 h3
	{ [ -n "$doc" ] && printf '%s\n---\n' "$doc"
	  printf 'kind: appliance\nname: t\nlayers: [l]\nvms:\n'
	  for vm in "$@"; do echo "  - $vm"; done; } >"$S/spec/cap.yaml"
}

# Bytes written into a VM's disk, the VM captured as a template (stopped,
# its disk copied flattened, started again), and the template deployed on
# another host: the bytes are there, copied by strata, checksums recorded.
scenario_template_captured_from_a_vm_and_deployed_elsewhere() {
	local cap_doc sha
	cap_spec "" "{name: src, template: tiny, layer: l, state: stopped}"
	apply
	expect_eq "t.src's host" h1 "$(host_of t.src)"
	write_marker h1 t.src--system.qcow2 || fail "cannot write into t.src's disk"
	cap_spec "" "{name: src, template: tiny, layer: l}"
	apply
	is_running h1 t.src || fail "t.src does not run"

	note "template cap is captured from t.src and deployed on h2"
	cap_doc="kind: template
name: cap
pool: default
source: {vm: t.src}
cpus: 1
memory: 32MiB
disk_size: 16MiB"
	cap_spec "$cap_doc" "{name: src, template: tiny, layer: l}" "{name: copy, template: cap, layer: l}"
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1 || true
	for step in "shutdown t.src" "capture-volume default/cap-v1.qcow2 from t.src's disk default/t.src--system.qcow2" \
		"start t.src" "copy-volume default/cap-v1.qcow2 from h1" "start t.copy"; do
		grep -qF "$step" "$S/plan.out" || fail "the plan lacks '$step': $(cat "$S/plan.out")"
	done
	apply
	is_running h1 t.src || fail "t.src is not running again after the capture"
	expect_eq "t.copy's host" h2 "$(host_of t.copy)"
	is_running h2 t.copy || fail "t.copy does not run on h2"
	qemu-img info "$(vol_path h1 cap-v1.qcow2)" | grep_q "backing file" && fail "the capture is not flattened"
	has_marker h2 t.copy--system.qcow2 || fail "the bytes written into t.src are not in t.copy's disk"
	sha=$(sha256sum <"$(vol_path h1 cap-v1.qcow2)" | cut -d' ' -f1)
	expect_eq "sha256 of h2's copy" "$sha" "$(sha256sum <"$(vol_path h2 cap-v1.qcow2)" | cut -d' ' -f1)"
	"$STRATA" history --images --db "$S/strata.db" >"$S/images.out"
	grep -q "default/cap-v1.qcow2 on h1  sha256 $sha .* copied from vm:t.src" "$S/images.out" ||
		fail "the capture's checksum is not recorded: $(cat "$S/images.out")"
	grep -q "default/cap-v1.qcow2 on h2  sha256 $sha .* copied from h1" "$S/images.out" ||
		fail "the copy's checksum is not recorded: $(cat "$S/images.out")"
	expect_converged
}

# cap_live_doc VERSION: template cap captured live from t.src, keep: 1.
cap_live_doc() {
	printf 'kind: template\nname: cap\npool: default\nversion: %s\nkeep: 1\n' "$1"
	printf 'source: {vm: t.src, live: true}\ncpus: 1\nmemory: 32MiB\ndisk_size: 16MiB\n'
}

# A template captured from a running VM with no stop (a backup job copies
# its disk at one instant), deployed elsewhere with the bytes; then newer
# versions with keep: 1.  Version 1 stays on both hosts while a hand-made
# overlay on h2's copy stands on it (a version goes from every host or from
# none); version 2 goes from h2, and stays on h1, whose bytes were changed
# since strata made it.
scenario_template_captured_live_then_old_version_retired() {
	local id overlay
	cap_spec "" "{name: src, template: tiny, layer: l, state: stopped}"
	apply
	write_marker h1 t.src--system.qcow2 || fail "cannot write into t.src's disk"
	cap_spec "" "{name: src, template: tiny, layer: l}"
	apply
	id=$(e2e_virsh h1 domid t.src)

	note "version 1 is captured from t.src while it runs, and deployed on h2"
	cap_spec "$(cap_live_doc 1)" "{name: src, template: tiny, layer: l}" "{name: copy, template: cap, layer: l}"
	"$STRATA" plan "$S/spec" >"$S/plan.out" 2>&1 || true
	grep -qF "capture-volume default/cap-v1.qcow2 from t.src's disk default/t.src--system.qcow2, live" \
		"$S/plan.out" || fail "the plan lacks the live capture: $(cat "$S/plan.out")"
	grep -q "shutdown t.src" "$S/plan.out" && fail "a live capture stops t.src: $(cat "$S/plan.out")"
	apply
	expect_eq "t.src's domain id (never stopped)" "$id" "$(e2e_virsh h1 domid t.src)"
	expect_eq "t.copy's host" h2 "$(host_of t.copy)"
	has_marker h2 t.copy--system.qcow2 || fail "the bytes written into t.src are not in t.copy's disk"
	qemu-img info -U "$(vol_path h1 cap-v1.qcow2)" | grep_q "backing file" && fail "the capture is not flattened"

	note "version 2, keep: 1: t.copy (on version 1) gives way to t.next; a hand-made overlay on h2's version 1"
	cap_spec "$(cap_live_doc 2)" "{name: src, template: tiny, layer: l}" "{name: next, template: cap, layer: l}"
	apply
	is_running h2 t.next || fail "t.next does not run on version 2"
	overlay=$(vol_path h2 hand.qcow2)
	qemu-img create -q -f qcow2 -F qcow2 -b "$(vol_path h2 cap-v1.qcow2)" "$overlay" || fail "cannot make the overlay"

	note "the next pass, with nothing else to do, keeps version 1 on both hosts: the overlay stands on h2's"
	"$STRATA" apply --yes --db "$S/strata.db" "$S/spec" >"$S/apply.out" 2>&1 &&
		fail "the retirement of version 1 was not refused: $(cat "$S/apply.out")"
	[ -e "$(vol_path h1 cap-v1.qcow2)" ] && [ -e "$(vol_path h2 cap-v1.qcow2)" ] ||
		fail "version 1 went from a host while hand.qcow2 stands on h2's copy: $(cat "$S/apply.out")"
	grep -q "default/cap-v1.qcow2 is kept: on h2, volume default/hand.qcow2 (its backing file is .*) stands on it (on that host's copy of the version)" \
		"$S/apply.out" || fail "the apply does not say why h1's version 1 is kept: $(cat "$S/apply.out")"
	"$STRATA" history --images --db "$S/strata.db" >"$S/images.out"
	grep -A1 "default/cap-v1.qcow2 on h2 " "$S/images.out" | grep_q "kept: .*hand.qcow2" ||
		fail "h2's version 1 is not shown kept: $(cat "$S/images.out")"

	note "version 3: t.next gives way to t.last; h1's version 2 is changed by hand"
	cap_spec "$(cap_live_doc 3)" "{name: src, template: tiny, layer: l}" "{name: last, template: cap, layer: l}"
	apply
	is_running h2 t.last || fail "t.last does not run on version 3"
	qemu-io -f qcow2 -c "write -P 0x77 0 512" "$(vol_path h1 cap-v2.qcow2)" >/dev/null || fail "cannot change h1's version 2"
	"$STRATA" apply --yes --db "$S/strata.db" "$S/spec" >"$S/apply.out" 2>&1 &&
		fail "the changed version 2 on h1 was not kept: $(cat "$S/apply.out")"
	[ -e "$(vol_path h2 cap-v2.qcow2)" ] && fail "version 2 is still on h2: $(cat "$S/apply.out")"
	[ -e "$(vol_path h1 cap-v2.qcow2)" ] || fail "h1's changed version 2 was deleted"
	grep -q "default/cap-v2.qcow2 is kept: its bytes are not shown to be those strata made there (checksum mismatch" \
		"$S/apply.out" || fail "the apply does not say why h1's version 2 is kept: $(cat "$S/apply.out")"
	[ -e "$(vol_path h1 cap-v1.qcow2)" ] && [ -e "$(vol_path h2 cap-v1.qcow2)" ] || fail "version 1 went within the hour"
	[ -e "$(vol_path h1 cap-v3.qcow2)" ] && [ -e "$(vol_path h2 cap-v3.qcow2)" ] || fail "version 3 went"
	"$STRATA" history --images --db "$S/strata.db" >"$S/images.out"
	grep -A1 "default/cap-v2.qcow2 on h2 " "$S/images.out" | grep_q "retired (keep)" ||
		fail "h2's version 2 is not shown retired: $(cat "$S/images.out")"
	"$STRATA" plan --db "$S/strata.db" "$S/spec" >"$S/plan.out" 2>&1 || true
	grep -q "h1/default/cap-v1.qcow2 is kept for now: .*strata looks again an hour later" "$S/plan.out" ||
		fail "the next plan does not wait: $(cat "$S/plan.out")"
	rm -f "$overlay"
	e2e_virsh h2 pool-refresh default >/dev/null
}

# A template with a data disk beside its system disk: captured from a VM's
# two disks in one stop, exported into a library as one entry with its two
# images in order, then deployed by another datacenter (its own database
# and source) onto h2: both disks' bytes arrive, each checked against the
# index, and the VM gets the data disk on its own base.
scenario_template_with_a_data_disk_captured_exported_and_deployed_elsewhere() {
	local a=$S/dc-a b=$S/dc-b lib=$E2E_DIR/library-md idx
	rm -rf "$lib" && mkdir -p "$lib" "$a" "$b" && touch "$lib/strata-library"
	S=$a cap_spec "" "{name: src, template: tiny, layer: l, state: stopped, disks: [{name: data, size: 16MiB}]}"
	S=$a apply
	write_marker h1 t.src--system.qcow2 || fail "cannot write into t.src's system disk"
	qemu-io -f qcow2 -c "write -P 0x6d 8192 4096" "$(vol_path h1 t.src--data.qcow2)" >/dev/null ||
		fail "cannot write into t.src's data disk"
	S=$a cap_spec "" "{name: src, template: tiny, layer: l, disks: [{name: data, size: 16MiB}]}"
	S=$a apply

	note "datacenter A captures t.src's two disks in one stop and exports them"
	S=$a cap_spec "kind: library
name: central
path: $lib
export: [md]
---
kind: template
name: md
pool: default
source: {vm: t.src}
disks: [{name: data}]
cpus: 1
memory: 32MiB
disk_size: 16MiB" "{name: src, template: tiny, layer: l, disks: [{name: data, size: 16MiB}]}"
	"$STRATA" plan "$a/spec" >"$a/plan.out" 2>&1 || true
	expect_eq "stops of t.src in the plan" 1 "$(grep -c "shutdown t.src" "$a/plan.out")"
	for step in "capture-volume default/md-v1.qcow2 from t.src's disk default/t.src--system.qcow2" \
		"capture-volume default/md-v1-data.qcow2 from t.src's disk default/t.src--data.qcow2"; do
		grep -qF "$step" "$a/plan.out" || fail "the plan lacks '$step': $(cat "$a/plan.out")"
	done
	S=$a apply
	is_running h1 t.src || fail "t.src does not run again after the captures"
	S=$a apply  # the export: the captures are in place now
	idx=$lib/index.json
	[ -f "$idx" ] || fail "no index in the library: $(cat "$a/apply.out")"
	grep -q '"file" : "md/1/disk0.qcow2"' "$idx" && grep -q '"file" : "md/1/disk1.qcow2"' "$idx" ||
		fail "the index lacks the two disks: $(cat "$idx")"
	[ "$(grep -o '"file" : "md/1/disk[01].qcow2"' "$idx" | tr -d '\n')" = '"file" : "md/1/disk0.qcow2""file" : "md/1/disk1.qcow2"' ] ||
		fail "the disks are not in order: $(cat "$idx")"
	expect_eq "sha256 of the library's data disk" "$(sha256sum <"$(vol_path h1 md-v1-data.qcow2)" | cut -d' ' -f1)" \
		"$(sha256sum <"$lib/md/1/disk1.qcow2" | cut -d' ' -f1)"

	note "datacenter B deploys md from the library onto h2"
	S=$b E2E_MAINTENANCE=h3 e2e_spec h2 h3
	cat >"$b/spec/md.yaml" <<Y
kind: library
name: central
path: $lib
---
kind: template
name: md
version: 1
pool: default
volume: md-v1.qcow2
source: {library: central}
disks: [{name: data, volume: md-v1-data.qcow2}]
cpus: 1
memory: 32MiB
disk_size: 16MiB
---
kind: appliance
name: u
vms:
  - {name: b, template: md}
Y
	S=$b apply
	for step in "copy-volume default/md-v1.qcow2 from library central" \
		"copy-volume default/md-v1-data.qcow2 from library central"; do
		grep -qF "$step" "$b/apply.out" || fail "B's apply lacks '$step': $(cat "$b/apply.out")"
	done
	is_running h2 u.b || fail "u.b does not run on h2"
	has_marker h2 u.b--system.qcow2 || fail "u.b's system disk lacks t.src's bytes"
	file_has_pattern "$(vol_path h2 u.b--data.qcow2)" 0x6d 8192 ||
		fail "u.b's data disk lacks the bytes written into t.src's data disk"
	qemu-img info -U "$(vol_path h2 u.b--data.qcow2)" | grep_q "backing file: .*md-v1-data.qcow2" ||
		fail "u.b's data disk is not built on its base"
	e2e_virsh h2 dumpxml u.b | grep_q "u.b--data.qcow2" || fail "u.b has no data disk"
}
