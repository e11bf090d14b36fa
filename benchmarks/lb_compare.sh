#!/usr/bin/env bash
# Balancing cost on the data path: portcullis in front of one instance (round_robin) and in front
# of 10 instances (round_robin, least_request), and nginx with 1 and 10 upstreams as the reference,
# same load as the peer comparison (wrk on CPU 0 beside the backends, the proxy on CPU 1 with one
# worker), two rounds. Reports req/s, p50, p99 and the proxy's CPU time per request, and writes
# benchmarks/results/lb-DATE.md.
#
#   benchmarks/lb_compare.sh [BUILD_DIR]     (DURATION=10 CONNECTIONS=64)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=benchmarks/lib.sh
source "$root/benchmarks/lib.sh"
bench_start "${1:-}" lb

instances=()
for i in $(seq 0 9); do
  port=$(free_port)
  taskset -c 0 "$build_dir/portcullis-example-backend" --port "$port" --name "b$i" > /dev/null &
  pids+=($!)
  wait_ready "http://127.0.0.1:$port/"
  instances+=("\"127.0.0.1:$port\"")
done
ten=$(IFS=,; echo "${instances[*]}")

results=()
run_gateway() {  # name lb instance-list
  local name=$1 lb=$2 list=$3 gw_port admin_port file
  file=$(echo "$name" | tr -c 'a-z0-9\n' '-')
  gw_port=$(free_port)
  admin_port=$(free_port)
  cat > "$work/$file.yaml" <<GATEWAY
server: { listen: "127.0.0.1:$gw_port", workers: 1 }
admin: { listen: "127.0.0.1:$admin_port" }
services:
  backend: { lb: $lb, instances: [$list] }
routes:
  - { id: all, path: /**, service: backend, strip_prefix: false }
filters:
  - { name: access_log, args: { path: "$work/$file-access.log" } }
GATEWAY
  taskset -c 1 "$build_dir/portcullis" run -c "$work/$file.yaml" 2> "$work/$file.log" &
  local pid=$!
  wait_ready "http://127.0.0.1:$admin_port/health"
  measure "$name" "$gw_port" "$pid"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}
# nginx with the same upstreams, as a reference for what 1 -> 10 upstreams costs on this machine
# (fewer requests per backend wake-up, ten processes sharing CPU 0) independent of the balancer.
run_nginx() {  # name upstream...
  local name=$1 port dir
  shift
  port=$(free_port)
  dir="$work/$(echo "$name" | tr -c 'a-z0-9\n' '-')"
  write_nginx_conf "$dir" "$port" "$dir/access.log" "$@"
  start_nginx "$dir"
  wait_ready "http://127.0.0.1:$port/"
  measure "$name" "$port" "$nginx_pid" "$(pgrep -P "$nginx_pid" | head -1)"
  stop_process "$nginx_pid"
}
upstreams=()
for i in "${instances[@]}"; do upstreams+=("${i//\"/}"); done

for round in 1 2; do
  run_gateway "portcullis, 1 instance, round_robin (run $round)" round_robin "${instances[0]}"
  run_gateway "portcullis, 10 instances, round_robin (run $round)" round_robin "$ten"
  run_gateway "portcullis, 10 instances, least_request (run $round)" least_request "$ten"
  run_nginx "nginx, 1 upstream (run $round)" "${upstreams[0]}"
  run_nginx "nginx, 10 upstreams (run $round)" "${upstreams[@]}"
done

mkdir -p benchmarks/results
out="benchmarks/results/lb-$(date +%Y-%m-%d).md"
{
  echo "# Balancing cost, $(date +%Y-%m-%d)"
  echo
  echo "$("$build_dir/portcullis" --version); wrk -t1 -c$connections -d${duration}s on CPU 0 beside 10 example backends;"
  echo "the proxy on CPU 1, one worker, upstream keep-alive, access log on. $(nproc) CPUs. CPU per request is"
  echo "the proxy's own (nginx: master and worker)."
  echo
  echo "| setup | req/s | p50 | p99 | CPU per request (us) | errors |"
  echo "|---|---|---|---|---|---|"
  for r in "${results[@]}"; do IFS='|' read -r n a b c d e <<< "$r"; echo "| $n | $a | $b | $c | $d | $e |"; done
} > "$out"
cat "$out"
