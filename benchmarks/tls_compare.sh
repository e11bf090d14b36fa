#!/usr/bin/env bash
# TLS peer comparison: nginx and portcullis terminating TLS with the same certificate (ECDSA P-256,
# TLS 1.3) in front of the same backend, one worker each on CPU 1, wrk and the backend on CPU 0.
#  - keep-alive: requests per second over established TLS connections;
#  - handshakes: one request per connection (Connection: close), so every request pays a full
#    handshake: new TLS connections per second, and CPU per handshake.
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

run_both() {  # name-suffix: measures nginx then portcullis with the current wrk_extra
  local suffix=$1
  start_nginx "$work"
  local master=$nginx_pid
  wait_tls "$nginx_port"
  measure_url="https://127.0.0.1:$nginx_port/bench" measure "nginx$suffix" "$nginx_port" "$master" $(pgrep -P "$master")
  stop_process "$master"
  taskset -c 1 "$build_dir/portcullis" run -c "$work/portcullis.yaml" 2> "$work/portcullis.log" &
  local gw=$!
  pids+=("$gw")
  wait_tls "$gw_port"
  measure_url="https://127.0.0.1:$gw_port/bench" measure "portcullis$suffix" "$gw_port" "$gw"
  stop_process "$gw"
}

wrk_extra=()
run_both " keep-alive"
wrk_extra=(-H "Connection: close")
run_both " handshakes"

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
for load in "keep-alive" "handshakes"; do
  ratios+=$(awk -v a="${rps[portcullis $load]}" -v b="${rps[nginx $load]}" -v c="${cpu[portcullis $load]}" \
    -v d="${cpu[nginx $load]}" -v l="$load" \
    'BEGIN {printf "- %s: portcullis vs nginx req/s %.2fx, CPU per request %.2fx\n", l, a/b, c/d}')
  ratios+=$'\n'
done
report="# TLS peer comparison, $(date -u +%Y-%m-%d)

Machine: $(nproc) CPUs, kernel $(uname -r); $(openssl version). Certificate: ECDSA P-256, self-signed, the
same file for both. Load: wrk -t1 -c$connections -d${duration}s on CPU 0 beside the example backend; each
proxy on CPU 1, one worker, plain keep-alive to the backend. \"handshakes\" sends Connection: close, so
every request is a new TLS connection (wrk does not resume sessions): req/s there is handshakes/s.

$table

$ratios"
mkdir -p benchmarks/results
out="benchmarks/results/tls-$(date -u +%Y-%m-%d).md"
echo "$report" > "$out"
echo "$report"
echo "written: $out"
