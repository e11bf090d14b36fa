#!/usr/bin/env bash
# Before/after on the data path: two gateway binaries proxying to the same backend, measured in
# turns (A B A B ...) so machine noise hits both alike. Reports each run and the median req/s and
# CPU per request of each binary. Same set-up as compare_peers.sh: wrk and the backend on CPU 0,
# the gateway on CPU 1 with one worker and upstream keep-alive.
#
# TLS=1 puts a TLS listener (a fresh ECDSA P-256 certificate, TLS 1.3) in front; with CLOSE=1 too,
# every request is a new connection that resumes the previous one's session (wrk with
# Connection: close), so CPU per request is CPU per resumed handshake.
#
#   benchmarks/ab.sh OLD_BINARY NEW_BINARY [ROUNDS]     (DURATION=10 CONNECTIONS=64 TLS=0 CLOSE=0)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
old_bin=$(realpath "$1")
new_bin=$(realpath "$2")
rounds="${3:-3}"
# shellcheck source=benchmarks/lib.sh
source "$root/benchmarks/lib.sh"
bench_start "$(dirname "$new_bin")" ab

backend_port=$(free_port)
taskset -c 0 "$build_dir/portcullis-example-backend" --port "$backend_port" --name bench > /dev/null &
pids+=($!)
wait_ready "http://127.0.0.1:$backend_port/"
gw_port=$(free_port)
admin_port=$(free_port)
scheme=http
if [ "${TLS:-0}" = 1 ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=bench.local" \
    -addext "subjectAltName=DNS:bench.local" -keyout "$work/bench.key" -out "$work/bench.pem" 2> /dev/null
  write_gateway_conf "$work/portcullis.yaml" "$gw_port" "$admin_port" "127.0.0.1:$backend_port" "$work/bench.pem" "$work/bench.key"
  scheme=https
else
  write_gateway_conf "$work/portcullis.yaml" "$gw_port" "$admin_port" "127.0.0.1:$backend_port"
fi
wrk_extra=()
[ "${CLOSE:-0}" = 1 ] && wrk_extra=(-H "Connection: close")
measure_url="$scheme://127.0.0.1:$gw_port/bench"

for round in $(seq 1 "$rounds"); do
  for side in old new; do
    bin=$old_bin
    [ "$side" = new ] && bin=$new_bin
    taskset -c 1 "$bin" run -c "$work/portcullis.yaml" 2> "$work/gw.log" &
    gw=$!
    pids+=("$gw")
    wait_ready "http://127.0.0.1:$admin_port/health"
    measure "$side-$round" "$gw_port" "$gw"
    stop_process "$gw"
  done
done

echo "| run | req/s | p50 | p99 | CPU µs/request | errors |"
echo "|---|---|---|---|---|---|"
for row in "${results[@]}"; do
  IFS='|' read -r name r50 a b c e <<< "$row"
  echo "| $name | $r50 | $a | $b | $c | $e |"
done
for side in old new; do
  printf '%s\n' "${results[@]}" | awk -F'|' -v s="$side" '$1 ~ "^"s"-" {print $2, $5}' | sort -n -k2 |
    awk -v s="$side" '{r[NR]=$1; c[NR]=$2} END {m=int((NR+1)/2); printf "median %s: CPU %.1f µs/request (runs sorted by CPU; req/s of that run %s)\n", s, c[m], r[m]}'
done
