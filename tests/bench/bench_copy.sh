#!/bin/bash
# Side by side on real libvirtd hosts (tests/e2e/hosts.sh): a template base
# of 1 GiB copied from h1 to h2: mostly empty as qcow2 (16 MiB of data in a
# 1 GiB qcow2), mostly empty as raw (16 MiB of data, the rest a hole in the
# file), and full (1 GiB of random data, qcow2), by
#   strata   `strata apply` of a stopped VM on h2 built on that base: the
#            copy (streamed sparse, sha256 computed on the way) plus the
#            pass, an overlay and a define; "copy op" is the copy alone,
#            from its recorded intent to its end (history -o json)
#   virsh    virsh vol-download | virsh vol-upload (into a volume made
#            empty first), no checksum
#   qemu-img qemu-img convert to a file on this machine, then cp into h2's
#            pool folder, then a pool refresh; no checksum
# Each method starts from the same state: no copy on h2.  Each runs RUNS
# times (5), the methods taking turns, and the median is shown with the
# range: on a 2-core machine one run of the same copy varies by a second.
# Also reported: the data bytes strata put on the wire (history --images).
#   tests/bench/bench_copy.sh        (root; make bench runs it)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
E2E_HERE=$ROOT/tests/e2e
STRATA=${STRATA:-$ROOT/strata}
. "$E2E_HERE/hosts.sh"
. "$E2E_HERE/lib.sh"

if ! why=$(e2e_can_run); then echo "bench_copy: SKIPPED: $why"; exit 0; fi
E2E_DIR=$(mktemp -d /tmp/strata-bench.XXXXXX)
trap 'e2e_down; rm -rf "$E2E_DIR"' EXIT
trap 'exit 130' INT TERM
e2e_prepare_machine
e2e_host_up h1 1 || exit 1
mkdir -p "$E2E_DIR/h2/cache"; cp -a "$E2E_DIR/h1/cache/." "$E2E_DIR/h2/cache/"
e2e_host_up h2 2 || exit 1
S=$E2E_DIR/s; mkdir -p "$S"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }
pool() { echo "$E2E_DIR/$1/pool"; }
fresh_h2() { e2e_virsh h2 vol-delete --pool default "$1" >/dev/null 2>&1; rm -f "$(pool h2)/$1"; e2e_virsh h2 pool-refresh default >/dev/null; }
same_bytes() { cmp -s "$(pool h1)/$1" "$(pool h2)/$1" || { echo "bench_copy: $2 made a different copy of $1" >&2; exit 1; }; }

# The two bases, on h1 only.
qemu-img create -q -f qcow2 "$(pool h1)/sparse.qcow2" 1G
qemu-io -f qcow2 -c "write -P 0x5a 0 16M" "$(pool h1)/sparse.qcow2" >/dev/null
head -c 1G /dev/urandom >"$S/full.raw"
qemu-img convert -q -f raw -O qcow2 "$S/full.raw" "$(pool h1)/full.qcow2"; rm -f "$S/full.raw"
truncate -s 1G "$(pool h1)/sparse.raw"
head -c 16M /dev/urandom | dd of="$(pool h1)/sparse.raw" bs=1M seek=512 conv=notrunc status=none
e2e_virsh h1 pool-refresh default >/dev/null

run_strata() {
	local img=$1
	rm -f "$S"/strata.db*
	E2E_MAINTENANCE=h1 e2e_spec h1 h2
	cat >"$S/spec/b.yaml" <<Y
kind: template
name: b
pool: default
volume: $img
memory: 32MiB
source: {host: h1}
---
kind: appliance
name: b
vms:
  - {name: v, template: b, state: stopped}
Y
	t=$(now)
	"$STRATA" apply --yes --db "$S/strata.db" "$S/spec" >"$S/apply.out" 2>&1 || { tail -5 "$S/apply.out"; exit 1; }
	STRATA_S+=" $(elapsed "$t")"
	same_bytes "$img" strata
	COPY_S+=" $("$STRATA" history -o json --db "$S/strata.db" | awk '/"kind" : / { k = $3 } /"seconds" : / && k ~ /copy-volume/ { gsub(/[",]/, "", $3); print $3; exit }')"
	STRATA_MOVED=$("$STRATA" history --images -o json --db "$S/strata.db" | awk '/"host" : "h2"/ { h = 1 } h && /"moved"/ { gsub(/[^0-9]/, "", $3); print $3; exit }')
	e2e_virsh h2 undefine b.v >/dev/null 2>&1
	e2e_virsh h2 vol-delete --pool default b.v--system.qcow2 >/dev/null 2>&1
	fresh_h2 "$img"
}

run_virsh() {
	local img=$1 t
	t=$(now)
	e2e_virsh h2 vol-create-as default "$img" 0 --format raw >/dev/null &&
	e2e_virsh h1 vol-download --pool default "$img" /dev/stdout |
		e2e_virsh h2 vol-upload --pool default "$img" /dev/stdin &&
	e2e_virsh h2 pool-refresh default >/dev/null || { echo "bench_copy: virsh failed" >&2; exit 1; }
	VIRSH_S+=" $(elapsed "$t")"
	same_bytes "$img" virsh
	fresh_h2 "$img"
}

run_qemu_img() {
	local img=$1 t
	t=$(now)
	qemu-img convert -q -O "$(fmt "$img")" "$(pool h1)/$img" "$S/$img" &&
	cp --sparse=always "$S/$img" "$(pool h2)/$img" &&
	e2e_virsh h2 pool-refresh default >/dev/null || { echo "bench_copy: qemu-img + cp failed" >&2; exit 1; }
	QEMU_S+=" $(elapsed "$t")"
	rm -f "$S/$img"
	fresh_h2 "$img"
}

fmt() { case $1 in *.raw) echo raw ;; *) echo qcow2 ;; esac; }
# median MIN-MAX of the numbers given
stat3() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f (%.2f-%.2f)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }

RUNS=${RUNS:-5}
printf "bench_copy: a 1 GiB base from h1 to h2 (real libvirtd; seconds, wall clock, median (min-max) of %s runs)\n" "$RUNS"
printf "  %-12s %8s  %-20s %-20s %-20s %-20s %s\n" image data "strata apply" "strata copy op" virsh "qemu-img + cp" "strata moved"
for img in sparse.qcow2 sparse.raw full.qcow2; do
	STRATA_S= COPY_S= VIRSH_S= QEMU_S=
	for _ in $(seq "$RUNS"); do run_strata "$img"; run_virsh "$img"; run_qemu_img "$img"; done
	# shellcheck disable=SC2086
	printf "  %-12s %4s MiB  %-20s %-20s %-20s %-20s %s MiB\n" "$img" \
		"$(( $(du -k "$(pool h1)/$img" | cut -f1) >> 10 ))" "$(stat3 $STRATA_S)" "$(stat3 $COPY_S)" \
		"$(stat3 $VIRSH_S)" "$(stat3 $QEMU_S)" "$(( STRATA_MOVED >> 20 ))"
done
