#!/usr/bin/env bash
# The daemon's observability against the real programs (Debian's
# prometheus, promtool and prometheus-alertmanager), on the test driver:
#
#   1. promtool check metrics passes on a scrape taken after a run;
#   2. a real Prometheus scrapes the daemon, and PromQL over its HTTP API
#      returns the three hosts (up) and the three VMs (strata_vm_info);
#   3. a real Alertmanager receives an alert when a revision turns invalid,
#      shows it firing, and shows it gone (resolved) once the revision is
#      fixed.
#
# Usage: STRATA=./strata tests/obs/check.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STRATA=${STRATA:-$ROOT/strata}
W=$(mktemp -d /tmp/strata-obs.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "${OBS_KEEP:-}" ] && echo "kept $W" || rm -rf "$W"
}
trap cleanup EXIT

passed=0
fail() { echo "FAIL  $*" >&2; for f in "$W"/*.log; do echo "--- $f" >&2; tail -20 "$f" >&2; done; exit 1; }
pass() { echo "PASS  $*"; passed=$((passed + 1)); }

for p in promtool prometheus prometheus-alertmanager curl jq; do
	command -v "$p" >/dev/null || fail "$p is not installed: run 'make deps'"
done

# wait_for SECONDS WHAT COMMAND...: poll every 0.2 s.
wait_for() {
	local t=$1 what=$2 i; shift 2
	for ((i = 0; i < t * 5; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "after ${t} s still not: $what"
}

# A port nothing listens on (the kernel's pick, released at once).
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 20000))
		(exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
	done
	fail "no free port found"
}

# The webstack example, copied whole (its test hosts are named relative
# to it): the test breaks and mends it.
cp -r "$ROOT/examples/webstack" "$W/spec"

AM_PORT=$(free_port)
mkdir -p "$W/am"
cat >"$W/am/alertmanager.yml" <<EOF
route:
  receiver: none
  group_wait: 1s
receivers:
  - name: none
EOF
prometheus-alertmanager --config.file="$W/am/alertmanager.yml" --storage.path="$W/am" \
	--web.listen-address=127.0.0.1:$AM_PORT --cluster.listen-address= >"$W/alertmanager.log" 2>&1 &
pids+=($!)
wait_for 30 "Alertmanager ready" curl -sf "http://127.0.0.1:$AM_PORT/-/ready"

"$STRATA" watch --db "$W/strata.db" --debounce 50 --metrics-address 127.0.0.1:0 \
	--notify-alertmanager "http://127.0.0.1:$AM_PORT" "$W/spec" >"$W/strata.log" 2>&1 &
pids+=($!)
wait_for 20 "the daemon serves metrics" grep -q "metrics served on port" "$W/strata.log"
PORT=$(sed -n 's/.*metrics served on port \([0-9]*\) .*/\1/p' "$W/strata.log" | head -1)
wait_for 20 "the first run converged" grep -q "run 1 converged" "$W/strata.log"

# 1. promtool on a scrape taken after a run.
curl -sf "http://127.0.0.1:$PORT/metrics" >"$W/scrape.txt" || fail "scrape"
promtool check metrics <"$W/scrape.txt" >"$W/promtool.log" 2>&1 || fail "promtool check metrics: $(cat "$W/promtool.log")"
grep -q '^strata_operations_total{kind="start",result="done"} 3$' "$W/scrape.txt" ||
	fail "the scrape lacks the run's three starts"
pass "promtool check metrics: $(grep -vc '^#' "$W/scrape.txt") samples, no problem"

# 2. A real Prometheus scrapes it; PromQL returns the hosts and the VMs.
PROM_PORT=$(free_port)
mkdir -p "$W/prom"
cat >"$W/prom/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: strata
    static_configs:
      - targets: ['127.0.0.1:$PORT']
EOF
prometheus --config.file="$W/prom/prometheus.yml" --storage.tsdb.path="$W/prom/data" \
	--web.listen-address=127.0.0.1:$PROM_PORT >"$W/prometheus.log" 2>&1 &
pids+=($!)
query() { curl -sf --get "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1"; }
hosts_up() { [ "$(query 'sum(strata_host_up)' | jq -r '.data.result[0].value[1]')" = 3 ]; }
wait_for 60 "Prometheus sees three hosts up" hosts_up
vms=$(query 'strata_vm_info{appliance="webstack",state="running"}' | jq -r '[.data.result[].metric.vm] | sort | join(",")')
[ "$vms" = "app1,app2,db" ] || fail "PromQL strata_vm_info: expected app1,app2,db running, got '$vms'"
hosts=$(query 'strata_host_memory_bytes' | jq -r '[.data.result[].metric.host] | sort | join(",")')
[ "$hosts" = "hv1,hv2,hv3" ] || fail "PromQL strata_host_memory_bytes: got '$hosts'"
pass "Prometheus scraped the daemon: hosts $hosts up, VMs $vms running"

# 3. Alertmanager: an invalid revision fires an alert, the fix resolves it.
am_alerts() { curl -sf "http://127.0.0.1:$AM_PORT/api/v2/alerts?filter=alertname%3D%22StrataRevisionInvalid%22"; }
firing() { [ "$(am_alerts | jq -r '.[0].status.state')" = active ]; }
resolved() { [ "$(am_alerts | jq 'length')" = 0 ]; }
good_file=$(ls "$W"/spec/*.yaml | head -1)
cp "$good_file" "$W/good.yaml"
printf 'kind: appliance\nname: [broken\n' >>"$good_file"
wait_for 20 "the invalid revision is logged" grep -q "is invalid" "$W/strata.log"
wait_for 30 "Alertmanager shows StrataRevisionInvalid firing" firing
summary=$(am_alerts | jq -r '.[0].annotations.summary')
pass "Alertmanager received the alert: $summary"
cp "$W/good.yaml" "$good_file"
wait_for 30 "Alertmanager shows StrataRevisionInvalid resolved" resolved
pass "Alertmanager resolved it once the revision was fixed"

echo "$passed passed, 0 failed"
