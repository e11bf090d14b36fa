#!/usr/bin/env bash
# HTTP/2 peer comparison: h2load (nghttp2-client) over cleartext HTTP/2 with prior knowledge
# through nginx (listen ... http2) and through portcullis, one worker each on CPU 1; h2load and the
# origin on CPU 0. Two runs:
#   - http: both proxying to the same HTTP/1.1 backend (the example backend) with upstream keep-alive;
#   - grpc: unary gRPC calls (a 10-byte message framed as gRPC, te: trailers) to an HTTP/2 origin,
#     nghttpd (nghttp2-server) answering with a gRPC frame and a grpc-status trailer: nginx with
#     grpc_pass over a keep-alive upstream, portcullis with `protocol: http2`.
# Reports req/s and CPU per request of each proxy, and the ratio portcullis/nginx per round; the
# verdict is the median of the rounds' ratios. nginx first in odd rounds, portcullis first in even
# ones. Writes benchmarks/results/h2-DATE.md.
#
#   benchmarks/h2_compare.sh [BUILD_DIR]     (DURATION=10 H2_CLIENTS=16 H2_STREAMS=10 ROUNDS=3)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=benchmarks/lib.sh
source "$root/benchmarks/lib.sh"
bench_start "${1:-}" h2
clients="${H2_CLIENTS:-16}"
streams="${H2_STREAMS:-10}"

backend_port=$(free_port)
taskset -c 0 "$build_dir/portcullis-example-backend" --port "$backend_port" --name bench > /dev/null &
pids+=($!)
wait_ready "http://127.0.0.1:$backend_port/"

nginx_port=$(free_port)
write_nginx_conf "$work" "$nginx_port" off "127.0.0.1:$backend_port"
# nginx ends an HTTP/2 connection after keepalive_requests streams (1000) and h2load does not
# reconnect: the limit goes out of the way, as portcullis has none.
sed -i "s|listen 127.0.0.1:$nginx_port;|listen 127.0.0.1:$nginx_port http2; keepalive_requests 100000000;|" "$work/nginx.conf"
gw_port=$(free_port)
admin_port=$(free_port)
write_gateway_conf "$work/portcullis.yaml" "$gw_port" "$admin_port" "127.0.0.1:$backend_port"

# The gRPC origin: nghttpd serving one gRPC reply frame for the method's path, with its trailer.
grpc_origin_port=$(free_port)
mkdir -p "$work/grpc/bench.Echo"
printf '\000\000\000\000\005hello' > "$work/grpc/bench.Echo/Unary"
printf '\000\000\000\000\005howdy' > "$work/grpc-request.bin"
taskset -c 0 nghttpd --no-tls -d "$work/grpc" --trailer 'grpc-status: 0' -a 127.0.0.1 "$grpc_origin_port" > /dev/null &
pids+=($!)
grpc_nginx_port=$(free_port)
mkdir -p "$work/grpc-nginx"
cp "$work/nginx.conf" "$work/grpc-nginx/nginx.conf"
sed -i -e "s|server 127.0.0.1:$backend_port;|server 127.0.0.1:$grpc_origin_port;|" \
  -e "s|listen 127.0.0.1:$nginx_port http2;|listen 127.0.0.1:$grpc_nginx_port http2;|" \
  -e "s|location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; }|location / { grpc_pass grpc://backend; }|" \
  -e "s|$work/nginx|$work/grpc-nginx/nginx|g" "$work/grpc-nginx/nginx.conf"
grpc_gw_port=$(free_port)
grpc_admin_port=$(free_port)
write_gateway_conf "$work/portcullis-grpc.yaml" "$grpc_gw_port" "$grpc_admin_port" "127.0.0.1:$grpc_origin_port"
sed -i 's|    instances: |    protocol: http2\n    instances: |' "$work/portcullis-grpc.yaml"
grpc_args=(-d "$work/grpc-request.bin" -H 'content-type: application/grpc' -H 'te: trailers')

wait_h2() { wait_ready "http://127.0.0.1:$1${2:-/}" --http2-prior-knowledge; }  # port [path]

# measure_h2 NAME URL PID...: a warm-up, then h2load for DURATION seconds (with $h2_args); CPU from
# the proxy's ticks.
measure_h2() {
  local name=$1 url=$2
  shift 2
  taskset -c 0 h2load -c"$clients" -m"$streams" -D 2 "${h2_args[@]}" "$url" > /dev/null
  local t0 t1
  t0=$(tree_ticks "$@")
  taskset -c 0 h2load -c"$clients" -m"$streams" -D "$duration" "${h2_args[@]}" "$url" > "$work/h2load-$name.txt"
  t1=$(tree_ticks "$@")
  local done rps failed cpu_us
  done=$(awk '/^requests:/ {print $8}' "$work/h2load-$name.txt")
  failed=$(awk '/^requests:/ {print $10 + $12 + $14}' "$work/h2load-$name.txt")
  rps=$(awk '/^finished in/ {print $4}' "$work/h2load-$name.txt")
  cpu_us=$(awk -v d="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$done" 'BEGIN {printf "%.1f", n ? d * 1e6 / hz / n : 0}')
  results+=("$name|$rps|$cpu_us|$failed")
}

rounds="${ROUNDS:-3}"
median() { sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else printf "%.4g\n", (v[NR/2]+v[NR/2+1])/2}'; }

# run_rounds KIND NGINX_DIR NGINX_PORT GW_CONF GW_PORT PATH: the rounds of one kind; appends to
# $table and sets $verdict.
run_rounds() {
  local kind=$1 nginx_dir=$2 ngx_port=$3 gw_conf=$4 port=$5 path=$6
  declare -A rps cpu ratio_rps ratio_cpu
  table+="

**$kind**

| round | proxy | req/s | CPU µs/request | failed |
|---|---|---|---|---|"
  for round in $(seq 1 "$rounds"); do
    results=()
    if [ $((round % 2)) = 1 ]; then order=(nginx portcullis); else order=(portcullis nginx); fi
    for proxy in "${order[@]}"; do
      if [ "$proxy" = nginx ]; then
        start_nginx "$nginx_dir"
        wait_h2 "$ngx_port" "$path"
        measure_h2 nginx "http://127.0.0.1:$ngx_port$path" "$nginx_pid" $(pgrep -P "$nginx_pid")
        stop_process "$nginx_pid"
      else
        taskset -c 1 "$build_dir/portcullis" run -c "$gw_conf" 2> "$work/portcullis-$kind.log" &
        gw_pid=$!
        pids+=("$gw_pid")
        wait_h2 "$port" "$path"
        measure_h2 portcullis "http://127.0.0.1:$port$path" "$gw_pid"
        stop_process "$gw_pid"
      fi
    done
    for row in "${results[@]}"; do
      IFS='|' read -r name r c f <<< "$row"
      rps[$name]=$r; cpu[$name]=$c
      table+="
| $round | $name | $r | $c | $f |"
    done
    ratio_rps[$round]=$(awk -v a="${rps[portcullis]}" -v b="${rps[nginx]}" 'BEGIN {printf "%.3f", a/b}')
    ratio_cpu[$round]=$(awk -v a="${cpu[portcullis]}" -v b="${cpu[nginx]}" 'BEGIN {printf "%.3f", a/b}')
  done
  local per_rps="" per_cpu=""
  for r in $(seq 1 "$rounds"); do per_rps+=" ${ratio_rps[$r]}"; per_cpu+=" ${ratio_cpu[$r]}"; done
  verdict+="
- $kind: portcullis vs nginx (median of the $rounds rounds' ratios): req/s $(printf '%s\n' $per_rps | median)x, CPU per request $(printf '%s\n' $per_cpu | median)x (per round: req/s$per_rps; CPU$per_cpu)."
}

table="" verdict=""
h2_args=()
run_rounds http "$work" "$nginx_port" "$work/portcullis.yaml" "$gw_port" /bench
wait_ready "http://127.0.0.1:$grpc_origin_port/bench.Echo/Unary" --http2-prior-knowledge
h2_args=("${grpc_args[@]}")
run_rounds grpc "$work/grpc-nginx" "$grpc_nginx_port" "$work/portcullis-grpc.yaml" "$grpc_gw_port" /bench.Echo/Unary
report="# HTTP/2 peer comparison, $(date -u +%Y-%m-%d)

Machine: $(nproc) CPUs, kernel $(uname -r); $(nginx -v 2>&1), $(h2load --version | head -1). Load:
h2load -c$clients -m$streams for ${duration}s (cleartext HTTP/2, prior knowledge) on CPU 0 beside the origin;
each proxy on CPU 1, one worker. http: HTTP/1.1 keep-alive to the example backend. grpc: unary calls
to nghttpd over HTTP/2 (nginx grpc_pass, portcullis protocol: http2). $rounds rounds per kind; nginx
first in odd rounds, portcullis first in even ones.
$table
$verdict"
mkdir -p benchmarks/results
out="benchmarks/results/h2-$(date -u +%Y-%m-%d).md"
echo "$report" > "$out"
echo "$report"
echo "written: $out"
