#!/usr/bin/env bash
# The cost of a Lua filter on the request path: portcullis with a Lua pre filter that sets one
# request header against portcullis with the built-in add_request_header doing the same, in one run
# on one machine (the backend and wrk on CPU 0, the gateway on CPU 1, one worker, no access log).
# ROUNDS rounds (default 3), the two configs' order swapped each round; the difference of CPU per
# request within each round, and its median, is what to quote. Writes results/lua-DATE.md.
#
#   benchmarks/lua_compare.sh [BUILD_DIR]     (DURATION=10 CONNECTIONS=64 ROUNDS=3)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=benchmarks/lib.sh
source "$root/benchmarks/lib.sh"
bench_start "${1:-}" lua
rounds="${ROUNDS:-3}"

backend_port=$(free_port)
taskset -c 0 "$build_dir/portcullis-example-backend" --port "$backend_port" --name bench > /dev/null &
pids+=($!)
wait_ready "http://127.0.0.1:$backend_port/"

gw_port=$(free_port)
admin_port=$(free_port)
cat > "$work/header.lua" <<'LUA'
return { type = "pre", order = 100, run = function(ctx) ctx.request.set_header("X-Gateway", "portcullis") end }
LUA
write_gateway_conf "$work/builtin.yaml" "$gw_port" "$admin_port" "127.0.0.1:$backend_port"
cp "$work/builtin.yaml" "$work/lua.yaml"
cat >> "$work/builtin.yaml" <<GATEWAY
filters:
  - { name: add_request_header, args: { name: X-Gateway, value: portcullis, replace: true } }
GATEWAY
cat >> "$work/lua.yaml" <<GATEWAY
filters:
  - { name: lua, args: { file: "$work/header.lua" } }
GATEWAY

run_gateway() {  # NAME ROUND
  taskset -c 1 "$build_dir/portcullis" run -c "$work/$1.yaml" 2> "$work/$1.log" &
  local gw=$!
  pids+=("$gw")
  wait_ready "http://127.0.0.1:$admin_port/health"
  [ "$(curl -s "http://127.0.0.1:$gw_port/headers" | grep -c '"X-Gateway","portcullis"' || true)" = 1 ] ||
    { echo "$1: the header did not reach the backend" >&2; exit 1; }
  measure "$1|$2" "$gw_port" "$gw"
  stop_process "$gw"
}

for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) = 1 ]; then run_gateway builtin "$round"; run_gateway lua "$round"
  else run_gateway lua "$round"; run_gateway builtin "$round"; fi
done

median() { sort -g | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else printf "%.4g\n", (v[NR/2]+v[NR/2+1])/2}'; }
declare -A cpu rps
table="| round | filter | req/s | p50 | p99 | CPU µs/request | errors |
|---|---|---|---|---|---|---|"
for row in "${results[@]}"; do
  IFS='|' read -r name round r a b c e <<< "$row"
  cpu[$name,$round]=$c; rps[$name,$round]=$r
  table+="
| $round | $name | $r | $a | $b | $c | $e |"
done
deltas=() ratios=()
for r in $(seq 1 "$rounds"); do
  deltas+=("$(awk -v a="${cpu[lua,$r]}" -v b="${cpu[builtin,$r]}" 'BEGIN {printf "%.2f", a-b}')")
  ratios+=("$(awk -v a="${cpu[lua,$r]}" -v b="${cpu[builtin,$r]}" 'BEGIN {printf "%.3f", a/b}')")
done
report="# Lua filter cost, $(date -u +%Y-%m-%d)

Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'). $("$build_dir/portcullis" --version).
Load: wrk -t1 -c$connections -d${duration}s on CPU 0 beside the example backend; the gateway on CPU 1, one
worker, no access log; one pre filter setting X-Gateway, built-in (add_request_header) or Lua.

$table

- Lua minus built-in, CPU per request (median of the rounds): $(printf '%s\n' "${deltas[@]}" | median) µs (per round: ${deltas[*]})
- Lua / built-in, CPU per request: $(printf '%s\n' "${ratios[@]}" | median)x
"
mkdir -p benchmarks/results
out="benchmarks/results/lua-$(date -u +%Y-%m-%d).md"
echo "$report" > "$out"
echo "$report"
echo "written to $out"
