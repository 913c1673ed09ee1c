#!/bin/bash
# The end-to-end suite: strata against real libvirtd + QEMU hosts.
#   tests/e2e/run.sh [PATTERN]     runs the scenarios whose name matches
# E2E_REQUIRE=1 turns "cannot run here" into a failure (CI sets it);
# E2E_KEEP=1 keeps the hosts' folders and logs.
set -uo pipefail
# set -e inside $(...) too: a failing check must fail its scenario.
shopt -s inherit_errexit
E2E_HERE=$(cd "$(dirname "$0")" && pwd)
# Under a subreaper of our own: daemonized QEMU, libvirtd and virtlogd are
# reaped at once, whatever PID 1 does (see reaper.c).
if [ -z "${E2E_REAPED:-}" ] && command -v cc >/dev/null; then
	reaper=$(mktemp /tmp/strata-e2e-reaper.XXXXXX)
	if cc -O2 -o "$reaper" "$E2E_HERE/reaper.c" 2>/dev/null; then
		E2E_REAPED=1 E2E_REAPER_BIN=$reaper exec "$reaper" "$0" "$@"
	fi
	echo "e2e: cannot build the reaper; orphans are left to PID 1"
fi
. "$E2E_HERE/hosts.sh"
. "$E2E_HERE/lib.sh"
for f in "$E2E_HERE"/scenarios/*.sh; do . "$f"; done

if ! why=$(e2e_can_run); then
	echo "e2e: SKIPPED: $why"
	[ -n "${E2E_REQUIRE:-}" ] && exit 1
	exit 0
fi

# A short path: UNIX socket paths are limited to 108 bytes.
E2E_DIR=$(mktemp -d /tmp/strata-e2e.XXXXXX)
finish() {
	e2e_down
	ip link del strata-e2e0 2>/dev/null  # the live scenario's bridge
	for m in $(awk -v d="$E2E_DIR" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do
		umount -l "$m"
	done
	if [ -n "${E2E_KEEP:-}" ]; then echo "e2e: kept $E2E_DIR"; else rm -rf "$E2E_DIR"; fi
	rm -f "${E2E_REAPER_BIN:-}"
}
trap finish EXIT
trap 'echo "e2e: interrupted"; exit 130' INT TERM

e2e_prepare_machine
E2E_TYPE=$(e2e_domain_type) || exit 1
t0=$SECONDS
for n in 1 2 3; do
	e2e_host_up "h$n" "$n" || exit 1
	# QEMU's capabilities, probed by the first host, spare the others 4 s.
	[ $n = 1 ] && for m in 2 3; do mkdir -p "$E2E_DIR/h$m/cache"; cp -a "$E2E_DIR/h1/cache/." "$E2E_DIR/h$m/cache/"; done
done
case $E2E_TYPE in
kvm) guests="KVM (hardware virtualization; E2E_DOMAIN_TYPE=qemu forces TCG)" ;;
*) guests="TCG (software emulation${E2E_DOMAIN_TYPE:+, forced by E2E_DOMAIN_TYPE})" ;;
esac
echo "e2e: 3 hosts up in $((SECONDS - t0)) s ($E2E_DIR); guests run under $guests"
e2e_supervise &
E2E_SUPERVISOR=$!

passed=0 failed=0 failures=
for s in $(declare -F | awk '{print $3}' | grep '^scenario_' | sed 's/^scenario_//'); do
	[[ -n "${1:-}" && ! "$s" =~ $1 ]] && continue
	S=$E2E_DIR/s-$s
	mkdir -p "$S"
	t=$SECONDS
	echo "e2e: $s"
	# Each scenario starts from hosts known to be healthy: what an earlier
	# one broke is said here, mended, and checked again.
	rc=0
	for h in "${E2E_HOSTS[@]}"; do
		sick=$(e2e_host_check "$h")
		[ -z "$sick" ] && continue
		echo "$sick" | sed 's/^/    before the scenario: /'
		e2e_host_heal "$h" >/dev/null 2>&1
		sick=$(e2e_host_check "$h")
		[ -z "$sick" ] || { echo "$sick" | sed 's/^/    FAIL: still broken: /'; rc=1; }
	done
	[ $rc = 0 ] && { e2e_clean; ( set -e; trap watch_stop EXIT; "scenario_$s" ); rc=$?; }
	if [ $rc = 0 ]; then
		passed=$((passed + 1)); echo "e2e: $s ok ($((SECONDS - t)) s)"
	else
		failed=$((failed + 1)); failures="$failures $s"
		echo "e2e: $s FAILED ($((SECONDS - t)) s); its files:"
		for f in "$S"/*.out "$S"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -25 "$f"; }; done
	fi
done
if [ -s "$E2E_DIR/supervisor.log" ]; then
	echo "e2e: libvirtd died and was started again (as systemd would) $(grep -c died "$E2E_DIR/supervisor.log") time(s):"
	sed 's/^/    /' "$E2E_DIR/supervisor.log"
fi
echo "e2e: guests ran under $E2E_TYPE; $((SECONDS - t0)) s in all"
echo "e2e: $passed passed, $failed failed${failures:+:$failures}"
[ $failed = 0 ]
