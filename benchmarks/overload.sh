#!/usr/bin/env bash
# Overload: a backend with a fixed service time and a fixed number of slots (the example backend
# with --capacity N, /sleep?ms=10: at most N/10ms requests per second, a little less in fact, so
# the script first measures it) offered 1x, 2x and 4x that capacity through portcullis with adaptive concurrency (gradient2, then vegas), and through nginx
# and HAProxy as plain proxies, by portcullis-loadgen, an open-loop generator (requests keep
# coming on schedule whatever the answers do, latency counted from when each was due). Reports
# goodput (2xx per second), p50/p99 of the successful requests, and the shares shed (503/429) and
# failed (timeouts, no free client connection, errors). Then half the traffic low priority and half
# high, at 2x and 4x: per class success and p99. Every run gets a fresh backend and proxy, so no
# queue or learned limit carries over. The backend and the load generator share CPU 0; the proxy
# has CPU 1 and one worker. Writes benchmarks/results/overload-DATE.md.
#
#   benchmarks/overload.sh [BUILD_DIR]      (a Release build with portcullis-loadgen)
#
# Settings (environment): OVERLOAD_DURATION=15 (seconds per run) OVERLOAD_WARMUP=2 (first seconds
# sent but not counted) OVERLOAD_PRIORITY_DURATION=8 OVERLOAD_CAPACITY=20 (backend slots)
# OVERLOAD_SERVICE_MS=10 OVERLOAD_PROBE=3 (seconds to measure the backend's real capacity)
# OVERLOAD_RATE (the 1x rate in req/s instead of the measured capacity) OVERLOAD_LOADS="1 2 4"
# OVERLOAD_PRIORITY_LOADS="2 4" ("" skips the priority runs) OVERLOAD_CONNECTIONS=1000 (client
# connections at most) OVERLOAD_TIMEOUT=1s OVERLOAD_PROXIES="portcullis nginx haproxy"
# ADAPTIVE=0 (portcullis with a static max_concurrent_requests bulkhead of OVERLOAD_BULKHEAD,
# default the capacity, instead of adaptive concurrency) VEGAS=0 (skip the vegas rows).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=benchmarks/lib.sh
source "$root/benchmarks/lib.sh"
bench_start "${1:-}" overload
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

run_seconds="${OVERLOAD_DURATION:-15}"
warmup="${OVERLOAD_WARMUP:-2}"
priority_seconds="${OVERLOAD_PRIORITY_DURATION:-8}"
capacity="${OVERLOAD_CAPACITY:-20}"
service_ms="${OVERLOAD_SERVICE_MS:-10}"
nominal=$((capacity * 1000 / service_ms))
probe_seconds="${OVERLOAD_PROBE:-3}"
rate_1x="${OVERLOAD_RATE:-}"
read -r -a loads <<< "${OVERLOAD_LOADS:-1 2 4}"
read -r -a priority_loads <<< "${OVERLOAD_PRIORITY_LOADS-2 4}"
max_connections="${OVERLOAD_CONNECTIONS:-1000}"
timeout="${OVERLOAD_TIMEOUT:-1s}"
read -r -a proxies <<< "${OVERLOAD_PROXIES:-portcullis nginx haproxy}"
bulkhead="${OVERLOAD_BULKHEAD:-$capacity}"
loadgen="$build_dir/benchmarks/portcullis-loadgen"
for binary in "$build_dir/portcullis" "$build_dir/portcullis-example-backend" "$loadgen"; do
  [ -x "$binary" ] || { echo "missing $binary: build the targets portcullis portcullis-example-backend portcullis-loadgen" >&2; exit 1; }
done

# The portcullis variants: adaptive concurrency by algorithm, or the static bulkhead.
variants=()
if [ "${ADAPTIVE:-1}" = 0 ]; then
  variants+=(static)
else
  variants+=(gradient2)
  [ "${VEGAS:-1}" = 0 ] || variants+=(vegas)
fi

# portcullis_conf FILE PORT ADMIN_PORT BACKEND_PORT VARIANT
portcullis_conf() {
  local limit="adaptive_concurrency: { algorithm: $5, min_limit: 10, max_limit: 1000, initial_limit: 50 }"
  [ "$5" != static ] || limit="max_concurrent_requests: $bulkhead"
  cat > "$1" <<GATEWAY
server: { listen: "127.0.0.1:$2", workers: 1 }
admin: { listen: "127.0.0.1:$3" }
shedding:
  priority_header: X-Priority
services:
  slow:
    instances: ["127.0.0.1:$4"]
    $limit
routes:
  - { id: slow, path: /sleep, service: slow }
GATEWAY
}

# Refuse to start on a portcullis that does not take the configuration (one built before
# adaptive concurrency existed): its own validation says why.
for variant in "${variants[@]}"; do
  portcullis_conf "$work/check-$variant.yaml" 1 2 3 "$variant"
  if ! "$build_dir/portcullis" validate -c "$work/check-$variant.yaml" > "$work/validate.txt" 2>&1; then
    echo "portcullis ($build_dir/portcullis) refuses the $variant configuration:" >&2
    sed 's/^/  /' "$work/validate.txt" >&2
    echo "ADAPTIVE=0 runs portcullis with a static max_concurrent_requests bulkhead instead." >&2
    exit 1
  fi
done

# --- one run ---
start_backend() {  # sets backend_port and backend_pid
  backend_port=$(free_port)
  taskset -c 0 "$build_dir/portcullis-example-backend" --port "$backend_port" --capacity "$capacity" > /dev/null &
  backend_pid=$!
  pids+=("$backend_pid")
  wait_ready "http://127.0.0.1:$backend_port/"
}

# start_proxy NAME DIR: the proxy named (backend, nginx, haproxy, portcullis-VARIANT) in front of
# the backend; sets proxy_port and proxy_pid (none for the backend alone).
start_proxy() {
  local name=$1 dir=$2
  proxy_port=$(free_port)
  proxy_pid=""
  case $name in
    backend) proxy_port=$backend_port ;;
    nginx)
      write_nginx_conf "$dir" "$proxy_port" off "127.0.0.1:$backend_port"
      start_nginx "$dir"
      proxy_pid=$nginx_pid
      wait_ready "http://127.0.0.1:$proxy_port/"
      ;;
    haproxy)
      write_haproxy_cfg "$dir/haproxy.cfg" "$proxy_port" "127.0.0.1:$backend_port"
      start_haproxy "$dir/haproxy.cfg" "$dir/haproxy.log"
      proxy_pid=$haproxy_pid
      wait_ready "http://127.0.0.1:$proxy_port/"
      ;;
    portcullis-*)
      local admin_port
      admin_port=$(free_port)
      portcullis_conf "$dir/portcullis.yaml" "$proxy_port" "$admin_port" "$backend_port" "${name#portcullis-}"
      PORTCULLIS_LOG_LEVEL=warn taskset -c 1 "$build_dir/portcullis" run -c "$dir/portcullis.yaml" 2> "$dir/portcullis.log" &
      proxy_pid=$!
      pids+=("$proxy_pid")
      (wait_ready "http://127.0.0.1:$admin_port/health") || { cat "$dir/portcullis.log" >&2; exit 1; }
      wait_ready "http://127.0.0.1:$proxy_port/sleep?ms=0"
      ;;
  esac
}

# run_case KIND NAME LOAD [loadgen --class ...]: one loadgen run through a fresh backend and proxy,
# recorded in the manifest for overload_report.py.
runs=0
run_case() {
  local kind=$1 name=$2 load=$3 dir rate seconds=$run_seconds
  shift 3
  [ "$kind" != priority ] || seconds=$priority_seconds
  runs=$((runs + 1))
  dir="$work/$runs-$kind-$name-${load}x"
  mkdir -p "$dir"
  rate=$(awk -v r="$rate_1x" -v l="$load" 'BEGIN { printf "%.0f", r * l }')
  start_backend
  start_proxy "$name" "$dir"
  echo "== $kind: $name at ${load}x ($rate req/s)" >&2
  taskset -c 0 "$loadgen" --url "http://127.0.0.1:$proxy_port/sleep?ms=$service_ms" --rate "$rate" \
    --duration "$seconds" --warmup "$warmup" --connections "$max_connections" --timeout "$timeout" "$@" \
    > "$dir/loadgen.json"
  [ -z "$proxy_pid" ] || stop_process "$proxy_pid"
  stop_process "$backend_pid"
  printf '%s\t%s\t%s\t%s\n' "$kind" "$name" "$load" "$dir/loadgen.json" >> "$work/manifest.tsv"
}

started=$(date +%s)
# The backend's real capacity: every slot refilled as soon as it frees (one client connection per
# slot, offered far more than they can carry). It is a little under the nominal figure, since each
# request also costs a timer wake-up and the loopback; 1x means this rate.
if [ -z "$rate_1x" ]; then
  start_backend
  echo "== probe: the backend's capacity, $capacity connections" >&2
  taskset -c 0 "$loadgen" --url "http://127.0.0.1:$backend_port/sleep?ms=$service_ms" --rate $((4 * nominal)) \
    --duration "$probe_seconds" --warmup 1 --connections "$capacity" > "$work/probe.json" 2> /dev/null
  stop_process "$backend_pid"
  rate_1x=$(python3 -c 'import json, sys; print(round(json.load(open(sys.argv[1]))["total"]["goodput"]))' "$work/probe.json")
  capacity_note="measured $rate_1x req/s with $capacity connections kept busy; 1x = that rate"
  echo "== 1x = $rate_1x req/s" >&2
else
  capacity_note="1x = $rate_1x req/s (OVERLOAD_RATE)"
fi
# The backend alone at 1x: what a full backend does without a proxy in front.
run_case main backend 1
names=()
for proxy in "${proxies[@]}"; do
  if [ "$proxy" = portcullis ]; then
    for variant in "${variants[@]}"; do names+=("portcullis-$variant"); done
  else
    names+=("$proxy")
  fi
done
for name in "${names[@]}"; do
  for load in "${loads[@]}"; do run_case main "$name" "$load"; done
done
for name in "${names[@]}"; do
  for load in "${priority_loads[@]}"; do
    run_case priority "$name" "$load" --class 'low:0.5:X-Priority: 10' --class 'high:0.5:X-Priority: 90'
  done
done

# --- report ---
machine="$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
versions="nginx $(nginx -v 2>&1 | sed 's|.*/||'), HAProxy $(haproxy -v | head -1 | awk '{print $3}'), $("$build_dir/portcullis" --version)"
if [ "${variants[0]}" = static ]; then
  limits="portcullis: a static \`max_concurrent_requests: $bulkhead\` on the service (ADAPTIVE=0)"
else
  limits="portcullis: \`adaptive_concurrency: { algorithm: gradient2 | vegas, min_limit: 10, max_limit: 1000, initial_limit: 50 }\` on the service"
fi
report="# Overload, $(date -u +%F)

Machine: $machine. Versions: $versions.
The example backend with \`--capacity $capacity\` serving \`/sleep?ms=$service_ms\` (nominal capacity
$nominal req/s, $capacity_note) and portcullis-loadgen share CPU 0; the proxy
has CPU 1 with one worker. Each run: a fresh backend and proxy, ${run_seconds}s open-loop at a
fixed rate (priority runs ${priority_seconds}s), the first ${warmup}s not counted, at most $max_connections client connections, timeout
$timeout counted from when a request was due. nginx and HAProxy are plain proxies with upstream
keep-alive and no limits; $limits, default priority bands (\`X-Priority\` 10: half of
any limit; 90: all of it). Goodput: successful (2xx) requests per second. Latencies: of the successful
requests only, from when each was due. Failed: t = timed out, d = no free client connection
(dropped by the load generator), e = errors and other statuses. Took $(($(date +%s) - started)) s.

$(python3 "$root/benchmarks/overload_report.py" "$work/manifest.tsv")
"
mkdir -p benchmarks/results
out="benchmarks/results/overload-$(date -u +%F).md"
echo "$report" > "$out"
echo "$report"
echo "written: $out"
