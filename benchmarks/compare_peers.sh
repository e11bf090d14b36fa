#!/usr/bin/env bash
# Peer comparison: nginx, HAProxy and portcullis as reverse proxies in front of the same backend,
# in one run on one machine. The backend and the load generator share CPU 0; each proxy gets CPU 1
# with one worker and upstream keep-alive. Reports req/s, p50, p99, the proxy's CPU time per
# request (utime+stime of its process tree from /proc: with the load generator on the same
# machine, req/s saturates near the same figure for every proxy, and CPU per request is what
# separates them) and RSS per idle keep-alive connection.
#
# ROUNDS rounds (default 3); each round runs the three proxies in a rotated order (round 1 nginx
# first, round 2 HAProxy first, round 3 portcullis first), so whichever runs first on a machine
# that is warming up or cooling down is not always the same proxy. The ratios are computed within
# each round and their median is what to quote. Writes benchmarks/results/peers-DATE.md.
#
#   benchmarks/compare_peers.sh [BUILD_DIR]     (DURATION=10 CONNECTIONS=64 IDLE_CONNS=10000 ROUNDS=3 SKIP_TLS=)
# Then runs benchmarks/tls_compare.sh, the same comparison over TLS.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=benchmarks/lib.sh
source "$root/benchmarks/lib.sh"
bench_start "${1:-}" bench
idle_conns="${IDLE_CONNS:-10000}"
rounds="${ROUNDS:-3}"
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
# run_proxy NAME ROUND: starts the proxy, measures it (and its idle RSS in round 1), stops it.
run_proxy() {
  local name=$1 round=$2
  case $name in
    nginx)
      start_nginx "$work"
      wait_ready "http://127.0.0.1:$nginx_port/"
      local worker
      worker=$(pgrep -P "$nginx_pid" | head -1)
      measure "nginx|$round" "$nginx_port" "$nginx_pid" "$worker"
      [ "$round" != 1 ] || rss[nginx]=$(idle_rss "$nginx_port" "$nginx_pid" "$worker")
      stop_process "$nginx_pid"
      ;;
    haproxy)
      start_haproxy "$work/haproxy.cfg" "$work/haproxy.log"
      wait_ready "http://127.0.0.1:$haproxy_port/"
      measure "haproxy|$round" "$haproxy_port" "$haproxy_pid"
      [ "$round" != 1 ] || rss[haproxy]=$(idle_rss "$haproxy_port" "$haproxy_pid")
      stop_process "$haproxy_pid"
      ;;
    portcullis)
      taskset -c 1 "$build_dir/portcullis" run -c "$work/portcullis.yaml" 2> "$work/portcullis.log" &
      local gw=$!
      pids+=("$gw")
      wait_ready "http://127.0.0.1:$admin_port/health"
      wait_ready "http://127.0.0.1:$gw_port/"
      measure "portcullis|$round" "$gw_port" "$gw"
      [ "$round" != 1 ] || rss[portcullis]=$(idle_rss "$gw_port" "$gw")
      stop_process "$gw"
      ;;
  esac
}

order=(nginx haproxy portcullis)
for round in $(seq 1 "$rounds"); do
  shift_by=$(( (round - 1) % 3 ))
  for i in 0 1 2; do
    run_proxy "${order[$(( (i + shift_by) % 3 ))]}" "$round"
  done
done

# --- report ---
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /ms$/) {sub(/ms$/,"",v); print v} else if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v }'; }
median() { sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else printf "%.4g\n", (v[NR/2]+v[NR/2+1])/2}'; }
declare -A rps cpu p99 p50
table="| round | proxy | req/s | p50 | p99 | CPU µs/request | errors |
|---|---|---|---|---|---|---|"
for row in "${results[@]}"; do
  IFS='|' read -r name round r50 a b c e <<< "$row"
  rps[$name,$round]=$r50; p50[$name,$round]=$(to_ms "$a"); p99[$name,$round]=$(to_ms "$b"); cpu[$name,$round]=$c
  table+="
| $round | $name | $r50 | $a | $b | $c | $e |"
done
medians="| proxy | req/s | p50 ms | p99 ms | CPU µs/request | RSS KiB/idle conn |
|---|---|---|---|---|---|"
for name in nginx haproxy portcullis; do
  col() { local -n arr=$1; for r in $(seq 1 "$rounds"); do echo "${arr[$name,$r]}"; done | median; }
  medians+="
| $name | $(col rps) | $(col p50) | $(col p99) | $(col cpu) | ${rss[$name]} |"
done
ratios=""
for peer in nginx haproxy; do
  per_round=""
  r_rps=(); r_cpu=(); r_p99=()
  for r in $(seq 1 "$rounds"); do
    r_rps+=("$(awk -v a="${rps[portcullis,$r]}" -v b="${rps[$peer,$r]}" 'BEGIN {printf "%.3f", a/b}')")
    r_cpu+=("$(awk -v a="${cpu[portcullis,$r]}" -v b="${cpu[$peer,$r]}" 'BEGIN {printf "%.3f", a/b}')")
    r_p99+=("$(awk -v a="${p99[portcullis,$r]}" -v b="${p99[$peer,$r]}" 'BEGIN {printf "%.3f", a/b}')")
    per_round+=" ${r_cpu[-1]}"
  done
  ratios+="- portcullis vs $peer (median of the $rounds rounds' ratios): req/s $(printf '%s\n' "${r_rps[@]}" | median)x, CPU per request $(printf '%s\n' "${r_cpu[@]}" | median)x, p99 $(printf '%s\n' "${r_p99[@]}" | median)x (CPU ratio per round:$per_round)
"
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
worker, upstream keep-alive, access log to a file (HAProxy: no log). $rounds rounds, the proxies' order
rotated each round. Idle RSS (round 1): $idle_conns keep-alive connections after one request each.

Medians over the rounds:

$medians

$ratios
Every run:

$table
"
if [ -n "$micro" ]; then
  report+="
Microbenchmarks (Google Benchmark):

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
