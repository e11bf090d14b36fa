# Shared by the benchmark scripts: the run's settings and clean-up, ports, readiness, CPU
# accounting and one wrk measurement. Source it with $root set, then call bench_start.

# bench_start BUILD_DIR NAME: settings from the environment, a work directory, and a trap that
# stops every process in $pids and removes the directory (KEEP_BENCH=1 keeps it).
bench_start() {
  build_dir="${1:-build-release}"
  cd "$root"
  duration="${DURATION:-10}"
  connections="${CONNECTIONS:-64}"
  work="$(mktemp -d "/tmp/portcullis-$2-XXXXXX")"
  pids=()
  trap bench_cleanup EXIT
}
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP_BENCH:-}" ] || rm -rf "$work"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() {  # url: poll until it answers 200
  for _ in $(seq 1 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ] && return 0
    sleep 0.05
  done
  echo "not ready: $1" >&2
  exit 1
}
tree_ticks() {  # pid...: utime+stime of the processes, in clock ticks
  local total=0
  for p in "$@"; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$total"
}

results=()
measure() {  # name port pid...
  local name=$1 port=$2
  shift 2
  local url="http://127.0.0.1:$port/bench"
  taskset -c 0 wrk -t1 -c"$connections" -d2s "$url" > /dev/null  # warm-up
  local t0 t1
  t0=$(tree_ticks "$@")
  taskset -c 0 wrk -t1 -c"$connections" -d"${duration}s" --latency "$url" > "$work/wrk-$name.txt"
  t1=$(tree_ticks "$@")
  local requests rps p50 p99 errors cpu_us
  requests=$(awk '/requests in/ {print $1}' "$work/wrk-$name.txt")
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk-$name.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$work/wrk-$name.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk-$name.txt")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$work/wrk-$name.txt" | tr '\n' ' ')
  cpu_us=$(awk -v d="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$requests" 'BEGIN {printf "%.1f", d * 1e6 / hz / n}')
  results+=("$name|$rps|$p50|$p99|$cpu_us|${errors:-none}")
}
