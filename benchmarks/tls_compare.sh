#!/usr/bin/env bash
# TLS peer comparison: nginx and portcullis terminating TLS with the same certificate (ECDSA P-256,
# TLS 1.3) in front of the same backend, one worker each on CPU 1, wrk and the backend on CPU 0.
#  - keep-alive: requests per second over established TLS connections;
#  - resumed handshakes: one request per connection (Connection: close). wrk reuses its TLS state
#    when it reconnects, so every connection after the first resumes its session with the ticket
#    the last one received (a PSK handshake with a fresh ECDHE key, no certificate signature):
#    new connections per second, and CPU per resumed handshake;
#  - full handshakes: FULL_CLIENTS (8) `openssl s_time -new` loops, each making one connection
#    after another without resuming: CPU per full handshake (s_time reports no latencies).
#  - idle TLS connections: RSS per idle keep-alive TLS connection after one request each
#    (TLS_IDLE_CONNS, 5,000 by default).
# Writes benchmarks/results/tls-DATE.md; compare_peers.sh runs it after the plain comparison.
#
#   benchmarks/tls_compare.sh [BUILD_DIR]     (DURATION=10 CONNECTIONS=64 ROUNDS=3 TLS_IDLE_CONNS=5000)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=benchmarks/lib.sh
source "$root/benchmarks/lib.sh"
bench_start "${1:-}" tls
tls_idle_conns="${TLS_IDLE_CONNS:-5000}"
# Thousands of idle connections need descriptors: raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

backend_port=$(free_port)
taskset -c 0 "$build_dir/portcullis-example-backend" --port "$backend_port" --name bench > /dev/null &
pids+=($!)
wait_ready "http://127.0.0.1:$backend_port/"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=bench.local" \
  -addext "subjectAltName=DNS:bench.local" -keyout "$work/bench.key" -out "$work/bench.pem" 2> /dev/null

nginx_port=$(free_port)
write_nginx_conf "$work" "$nginx_port" off "127.0.0.1:$backend_port"
# The same server, on TLS: listen ... ssl with the shared certificate and nginx's session cache.
sed -i "s|listen 127.0.0.1:$nginx_port;|listen 127.0.0.1:$nginx_port ssl; ssl_certificate $work/bench.pem; ssl_certificate_key $work/bench.key; ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:tls:10m;|" "$work/nginx.conf"

gw_port=$(free_port)
admin_port=$(free_port)
write_gateway_conf "$work/portcullis.yaml" "$gw_port" "$admin_port" "127.0.0.1:$backend_port" "$work/bench.pem" "$work/bench.key"

wait_tls() { wait_ready "https://127.0.0.1:$1/" -k; }  # port

start_nginx_tls() {
  start_nginx "$work"
  wait_tls "$nginx_port"
}
start_portcullis_tls() {
  taskset -c 1 "$build_dir/portcullis" run -c "$work/portcullis.yaml" 2> "$work/portcullis.log" &
  gw_pid=$!
  pids+=("$gw_pid")
  wait_tls "$gw_port"
}

# run_both NAME-SUFFIX [MEASURE]: nginx and portcullis with the current wrk_extra; in even rounds
# portcullis goes first, so neither always meets the machine warming up.
run_both() {
  local suffix=$1 how=${2:-measure} first second proxy
  if [ $((round % 2)) = 1 ]; then first=nginx second=portcullis; else first=portcullis second=nginx; fi
  for proxy in "$first" "$second"; do
    if [ "$proxy" = nginx ]; then
      start_nginx_tls
      measure_url="https://127.0.0.1:$nginx_port/bench" "$how" "nginx$suffix" "$nginx_port" "$nginx_pid" \
        $(pgrep -P "$nginx_pid")
      stop_process "$nginx_pid"
    else
      start_portcullis_tls
      measure_url="https://127.0.0.1:$gw_port/bench" "$how" "portcullis$suffix" "$gw_port" "$gw_pid"
      stop_process "$gw_pid"
    fi
  done
}

# measure_full NAME PORT PID...: FULL_CLIENTS s_time loops of new connections, each sending one
# request for /bench; CPU per handshake from the proxy's ticks and the connections s_time counted.
measure_full() {
  local name=$1 port=$2
  shift 2
  local clients=${FULL_CLIENTS:-8} t0 t1 i loops=()
  for i in $(seq 1 "$clients"); do
    taskset -c 0 openssl s_time -connect "127.0.0.1:$port" -new -time 2 -www /bench > /dev/null 2>&1 &
    loops+=($!)
  done
  wait "${loops[@]}"
  loops=()
  t0=$(tree_ticks "$@")
  for i in $(seq 1 "$clients"); do
    taskset -c 0 openssl s_time -connect "127.0.0.1:$port" -new -time "$duration" -www /bench \
      > "$work/s_time-$name-$i.txt" 2>&1 &
    loops+=($!)
  done
  wait "${loops[@]}"
  t1=$(tree_ticks "$@")
  local handshakes
  handshakes=$(awk '/connections in [0-9.]+ real seconds|connections in [0-9]+ real seconds/ {n += $1} END {print n + 0}' \
    "$work"/s_time-"$name"-*.txt)
  local rps cpu_us
  rps=$(awk -v n="$handshakes" -v d="$duration" 'BEGIN {printf "%.2f", n / d}')
  cpu_us=$(awk -v d="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$handshakes" 'BEGIN {printf "%.1f", n ? d * 1e6 / hz / n : 0}')
  results+=("$name|$rps|-|-|$cpu_us|none")
}

# measure_idle NAME PORT PID...: RSS per idle TLS keep-alive connection of the given processes.
declare -A idle_kib
measure_idle() {
  local name=$1 port=$2 p args=()
  shift 2
  for p in "$@"; do args+=(--pid "$p"); done
  idle_kib[$name]=$(python3 benchmarks/idle_rss.py --tls --port "$port" --count "$tls_idle_conns" \
    --path /bench "${args[@]}" | sed -E 's/.*kib_per_idle_connection=([0-9.]+).*/\1/')
}

rounds="${ROUNDS:-3}"
loads=("keep-alive" "resumed handshakes" "full handshakes")
declare -A rps cpu ratio_rps ratio_cpu
table="| round | proxy, load | req/s | p50 | p99 | CPU µs/request | errors |
|---|---|---|---|---|---|---|"
for round in $(seq 1 "$rounds"); do
  results=()
  wrk_extra=()
  run_both " keep-alive"
  wrk_extra=(-H "Connection: close")
  run_both " resumed handshakes"
  run_both " full handshakes" measure_full
  [ "$round" != 1 ] || run_both "" measure_idle
  for row in "${results[@]}"; do
    IFS='|' read -r name r50 a b c e <<< "$row"
    rps[$name]=$r50; cpu[$name]=$c
    table+="
| $round | $name | $r50 | $a | $b | $c | $e |"
  done
  for load in "${loads[@]}"; do
    ratio_rps[$load,$round]=$(awk -v a="${rps[portcullis $load]}" -v b="${rps[nginx $load]}" 'BEGIN {printf "%.3f", a/b}')
    ratio_cpu[$load,$round]=$(awk -v a="${cpu[portcullis $load]}" -v b="${cpu[nginx $load]}" 'BEGIN {printf "%.3f", a/b}')
  done
done
median() { sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else printf "%.4g\n", (v[NR/2]+v[NR/2+1])/2}'; }
ratios=""
for load in "${loads[@]}"; do
  per_rps="" per_cpu=""
  for r in $(seq 1 "$rounds"); do per_rps+=" ${ratio_rps[$load,$r]}"; per_cpu+=" ${ratio_cpu[$load,$r]}"; done
  ratios+="- $load: portcullis vs nginx (median of the $rounds rounds' ratios) req/s $(printf '%s\n' $per_rps | median)x, CPU per request $(printf '%s\n' $per_cpu | median)x (per round: req/s$per_rps; CPU$per_cpu)
"
done
report="# TLS peer comparison, $(date -u +%Y-%m-%d)

Machine: $(nproc) CPUs, kernel $(uname -r); $(openssl version). Certificate: ECDSA P-256, self-signed, the
same file for both. Load: wrk -t1 -c$connections -d${duration}s on CPU 0 beside the example backend; each
proxy on CPU 1, one worker, plain keep-alive to the backend. \"resumed handshakes\": wrk with
Connection: close, every request a new TLS connection that resumes the previous one's session;
req/s there is handshakes/s. \"full handshakes\": ${FULL_CLIENTS:-8} \`openssl s_time -new\` loops for
${duration}s, no resumption, req/s is handshakes/s (s_time reports no latencies). $rounds rounds;
nginx first in odd rounds, portcullis first in even ones.

$table

$ratios
RSS per idle TLS keep-alive connection (round 1, $tls_idle_conns connections, one request each): nginx
${idle_kib[nginx]} KiB, portcullis ${idle_kib[portcullis]} KiB."
mkdir -p benchmarks/results
out="benchmarks/results/tls-$(date -u +%Y-%m-%d).md"
echo "$report" > "$out"
echo "$report"
echo "written: $out"
