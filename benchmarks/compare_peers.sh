#!/usr/bin/env bash
# Peer comparison: nginx, HAProxy and portcullis as reverse proxies in front of the same backend,
# in one run on one machine. The backend and the load generator share CPU 0; each proxy gets CPU 1
# with one worker and upstream keep-alive. Reports req/s, p50, p99, the proxy's CPU time per
# request (utime+stime of its process tree from /proc: with the load generator on the same
# machine, req/s saturates near the same figure for every proxy, and CPU per request is what
# separates them) and RSS per idle keep-alive connection. Writes benchmarks/results/peers-DATE.md.
#
#   benchmarks/compare_peers.sh [BUILD_DIR]     (DURATION=10 CONNECTIONS=64 IDLE_CONNS=10000 SKIP_TLS=)
# Then runs benchmarks/tls_compare.sh, the same comparison over TLS.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=benchmarks/lib.sh
source "$root/benchmarks/lib.sh"
bench_start "${1:-}" bench
idle_conns="${IDLE_CONNS:-10000}"
# 10,000 idle connections need descriptors: raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

backend_port=$(free_port)
taskset -c 0 "$build_dir/portcullis-example-backend" --port "$backend_port" --name bench > /dev/null &
pids+=($!)
wait_ready "http://127.0.0.1:$backend_port/"

# --- proxy configs ---
nginx_port=$(free_port)
write_nginx_conf "$work" "$nginx_port" "$work/nginx-access.log" "127.0.0.1:$backend_port"
haproxy_port=$(free_port)
write_haproxy_cfg "$work/haproxy.cfg" "$haproxy_port" "127.0.0.1:$backend_port"
gw_port=$(free_port)
admin_port=$(free_port)
write_gateway_conf "$work/portcullis.yaml" "$gw_port" "$admin_port" "127.0.0.1:$backend_port"
cat >> "$work/portcullis.yaml" <<GATEWAY
filters:
  - { name: access_log, args: { path: "$work/portcullis-access.log" } }
GATEWAY

idle_rss() {  # port pid...
  local port=$1
  shift
  local args=()
  for p in "$@"; do args+=(--pid "$p"); done
  python3 benchmarks/idle_rss.py --port "$port" --count "$idle_conns" --path /bench "${args[@]}" |
    sed -E 's/.*kib_per_idle_connection=([0-9.]+).*/\1/'
}

declare -A rss
# nginx
start_nginx "$work"
nginx_master=$nginx_pid
wait_ready "http://127.0.0.1:$nginx_port/"
nginx_worker=$(pgrep -P "$nginx_master" | head -1)
measure nginx "$nginx_port" "$nginx_master" "$nginx_worker"
rss[nginx]=$(idle_rss "$nginx_port" "$nginx_master" "$nginx_worker")
stop_process "$nginx_master"

# HAProxy
start_haproxy "$work/haproxy.cfg" "$work/haproxy.log"
wait_ready "http://127.0.0.1:$haproxy_port/"
measure haproxy "$haproxy_port" "$haproxy_pid"
rss[haproxy]=$(idle_rss "$haproxy_port" "$haproxy_pid")
stop_process "$haproxy_pid"

# portcullis
taskset -c 1 "$build_dir/portcullis" run -c "$work/portcullis.yaml" 2> "$work/portcullis.log" &
gw_pid=$!
pids+=("$gw_pid")
wait_ready "http://127.0.0.1:$admin_port/health"
wait_ready "http://127.0.0.1:$gw_port/"
measure portcullis "$gw_port" "$gw_pid"
rss[portcullis]=$(idle_rss "$gw_port" "$gw_pid")
kill "$gw_pid"; wait "$gw_pid" 2>/dev/null || true

# --- report ---
declare -A rps cpu p99
table="| proxy | req/s | p50 | p99 | CPU µs/request | RSS KiB/idle conn | errors |
|---|---|---|---|---|---|---|"
for row in "${results[@]}"; do
  IFS='|' read -r name r50 a b c e <<< "$row"
  rps[$name]=$r50; p99[$name]=$b; cpu[$name]=$c
  table+="
| $name | $r50 | $a | $b | $c | ${rss[$name]} | $e |"
done
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /ms$/) {sub(/ms$/,"",v); print v} else if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v }'; }
ratios=""
for peer in nginx haproxy; do
  ratios+=$(awk -v a="${rps[portcullis]}" -v b="${rps[$peer]}" -v c="${cpu[portcullis]}" -v d="${cpu[$peer]}" \
    -v e="$(to_ms "${p99[portcullis]}")" -v f="$(to_ms "${p99[$peer]}")" -v p="$peer" \
    'BEGIN {printf "- portcullis vs %s: req/s %.2fx, CPU per request %.2fx, p99 %.2fx\n", p, a/b, c/d, e/f}')
  ratios+=$'\n'
done
micro=""
if [ -x "$build_dir/benchmarks/micro_benchmarks" ]; then
  micro=$("$build_dir/benchmarks/micro_benchmarks" --benchmark_min_time=0.2 2>/dev/null | grep -E '^(bm|BM)_' || true)
fi
machine="$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
versions="nginx $(nginx -v 2>&1 | sed 's|.*/||'), HAProxy $(haproxy -v | head -1 | awk '{print $3}'), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), $("$build_dir/portcullis" --version)"
report="# Peer comparison, $(date -u +%Y-%m-%d)

Machine: $machine. Versions: $versions.
Load: wrk -t1 -c$connections -d${duration}s on CPU 0 beside the example backend; each proxy on CPU 1, one
worker, upstream keep-alive, access log to a file (HAProxy: no log). Idle RSS: $idle_conns keep-alive
connections after one request each.

$table

$ratios"
if [ -n "$micro" ]; then
  report+="
Route matching microbenchmark (Google Benchmark):

\`\`\`
$micro
\`\`\`
"
fi
mkdir -p benchmarks/results
out="benchmarks/results/peers-$(date -u +%Y-%m-%d).md"
echo "$report" > "$out"
echo "$report"
echo "written: $out"

# TLS: the same comparison against nginx over TLS (keep-alive and full handshakes); SKIP_TLS=1 skips it.
if [ -z "${SKIP_TLS:-}" ]; then
  "$root/benchmarks/tls_compare.sh" "$build_dir"
fi
