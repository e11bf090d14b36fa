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
# Writes benchmarks/results/tls-DATE.md; compare_peers.sh runs it after the plain comparison.
# Writes benchmarks/results/tls-DATE.md; compare_peers.sh runs it after the plain comparison.
#
#   benchmarks/tls_compare.sh [BUILD_DIR]     (DURATION=10 CONNECTIONS=64)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=benchmarks/lib.sh
source "$root/benchmarks/lib.sh"
bench_start "${1:-}" tls

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

wait_tls() {  # port
  for _ in $(seq 1 200); do
    [ "$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$1/" || true)" = 200 ] && return 0
    sleep 0.05
  done
  echo "not ready: https port $1" >&2
  exit 1
}

run_both() {  # name-suffix [measure function]: nginx then portcullis, with the current wrk_extra
  local suffix=$1 how=${2:-measure}
  start_nginx "$work"
  local master=$nginx_pid
  wait_tls "$nginx_port"
  measure_url="https://127.0.0.1:$nginx_port/bench" "$how" "nginx$suffix" "$nginx_port" "$master" $(pgrep -P "$master")
  stop_process "$master"
  taskset -c 1 "$build_dir/portcullis" run -c "$work/portcullis.yaml" 2> "$work/portcullis.log" &
  local gw=$!
  pids+=("$gw")
  wait_tls "$gw_port"
  measure_url="https://127.0.0.1:$gw_port/bench" "$how" "portcullis$suffix" "$gw_port" "$gw"
  stop_process "$gw"
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

wrk_extra=()
run_both " keep-alive"
wrk_extra=(-H "Connection: close")
run_both " resumed handshakes"
run_both " full handshakes" measure_full

declare -A rps cpu p99
table="| proxy, load | req/s | p50 | p99 | CPU µs/request | errors |
|---|---|---|---|---|---|"
for row in "${results[@]}"; do
  IFS='|' read -r name r50 a b c e <<< "$row"
  rps[$name]=$r50; p99[$name]=$b; cpu[$name]=$c
  table+="
| $name | $r50 | $a | $b | $c | $e |"
done
ratios=""
for load in "keep-alive" "resumed handshakes" "full handshakes"; do
  ratios+=$(awk -v a="${rps[portcullis $load]}" -v b="${rps[nginx $load]}" -v c="${cpu[portcullis $load]}" \
    -v d="${cpu[nginx $load]}" -v l="$load" \
    'BEGIN {printf "- %s: portcullis vs nginx req/s %.2fx, CPU per request %.2fx\n", l, a/b, c/d}')
  ratios+=$'\n'
done
report="# TLS peer comparison, $(date -u +%Y-%m-%d)

Machine: $(nproc) CPUs, kernel $(uname -r); $(openssl version). Certificate: ECDSA P-256, self-signed, the
same file for both. Load: wrk -t1 -c$connections -d${duration}s on CPU 0 beside the example backend; each
proxy on CPU 1, one worker, plain keep-alive to the backend. \"resumed handshakes\": wrk with
Connection: close, every request a new TLS connection that resumes the previous one's session;
req/s there is handshakes/s. \"full handshakes\": ${FULL_CLIENTS:-8} \`openssl s_time -new\` loops for
${duration}s, no resumption, req/s is handshakes/s (s_time reports no latencies).

$table

$ratios"
mkdir -p benchmarks/results
out="benchmarks/results/tls-$(date -u +%Y-%m-%d).md"
echo "$report" > "$out"
echo "$report"
echo "written: $out"
