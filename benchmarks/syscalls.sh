#!/usr/bin/env bash
# System calls per proxied keep-alive request at one connection, for portcullis and nginx (access
# log on for both, written to a file). Each proxy runs with one worker on CPU 1 in front of the
# example backend; wrk sends requests over one keep-alive connection while `strace -c -f` counts
# the proxy's system calls. Reports the calls per request, broken down by call.
#
#   benchmarks/syscalls.sh [BUILD_DIR]     (DURATION=5)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=benchmarks/lib.sh
source "$root/benchmarks/lib.sh"
bench_start "${1:-}" syscalls
command -v strace > /dev/null || { echo "strace is needed (apt-get install strace)" >&2; exit 1; }
report="$root/benchmarks/results/syscalls-$(date +%F).md"
exec > >(tee "$report")
printf '# System calls per proxied keep-alive request, %s\n\n%s connection(s), %ss, access log on\n\n```\n' \
  "$(date +%F)" "${CONNS:-1}" "${DURATION:-5}"

backend_port=$(free_port)
taskset -c 0 "$build_dir/portcullis-example-backend" --port "$backend_port" --name bench > /dev/null &
pids+=($!)
wait_ready "http://127.0.0.1:$backend_port/"

nginx_port=$(free_port)
write_nginx_conf "$work" "$nginx_port" "$work/nginx-access.log" "127.0.0.1:$backend_port"
gw_port=$(free_port)
admin_port=$(free_port)
write_gateway_conf "$work/portcullis.yaml" "$gw_port" "$admin_port" "127.0.0.1:$backend_port"
cat >> "$work/portcullis.yaml" <<GATEWAY
filters:
  - { name: access_log, args: { path: "$work/portcullis-access.log" } }
GATEWAY

# count NAME PORT PID...: strace the processes while wrk runs one connection; prints calls/request.
count() {
  local name=$1 port=$2
  shift 2
  local attach=()
  for p in "$@"; do attach+=(-p "$p"); done
  taskset -c 0 wrk -t1 -c1 -d1s "http://127.0.0.1:$port/bench" > /dev/null  # warm-up: pools, caches
  strace -c -f -o "$work/strace-$name.txt" "${attach[@]}" &
  local tracer=$!
  sleep 0.5  # strace attaches asynchronously; counting starts once it has
  taskset -c 0 wrk -t1 -c"${CONNS:-1}" -d"${DURATION:-5}s" "http://127.0.0.1:$port/bench" > "$work/wrk-$name.txt"
  kill -INT "$tracer"
  wait "$tracer" 2> /dev/null || true
  local requests calls
  requests=$(awk '/requests in/ {print $1}' "$work/wrk-$name.txt")
  calls=$(awk '$NF == "total" {print $4}' "$work/strace-$name.txt")
  printf '%s: %s requests, %s system calls, %.2f per request\n' "$name" "$requests" "$calls" \
    "$(awk -v c="$calls" -v r="$requests" 'BEGIN {print c / r}')"
  awk -v r="$requests" 'NR > 2 && $NF != "total" && $1 !~ /^-/ { printf "    %-16s %6.2f\n", $NF, $4 / r }' \
    "$work/strace-$name.txt" | sort -k2 -rn | awk '$2 >= 0.01'
}

start_nginx "$work"
nginx_master=$nginx_pid
wait_ready "http://127.0.0.1:$nginx_port/"
count nginx "$nginx_port" "$nginx_master" $(pgrep -P "$nginx_master")
stop_process "$nginx_master"

taskset -c 1 "$build_dir/portcullis" run -c "$work/portcullis.yaml" 2> "$work/portcullis.log" &
gw_pid=$!
pids+=("$gw_pid")
wait_ready "http://127.0.0.1:$admin_port/health"
count portcullis "$gw_port" "$gw_pid"
stop_process "$gw_pid"
echo '```'
