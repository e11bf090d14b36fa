# Shared by the benchmark scripts: the run's settings and clean-up, ports, readiness, CPU
# accounting, one wrk measurement, and nginx and HAProxy as the peers run them. Source it with
# $root set, then call bench_start.

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
wait_ready() {  # url [curl options...]: poll until it answers 200 (e.g. -k for TLS, --http2-prior-knowledge)
  local url=$1
  shift
  for _ in $(seq 1 200); do
    [ "$(curl -s "$@" -o /dev/null -w '%{http_code}' "$url" || true)" = 200 ] && return 0
    sleep 0.05
  done
  echo "not ready: $url" >&2
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
# measure NAME PORT PID...: wrk against http://127.0.0.1:PORT/bench, or against $measure_url when
# set (e.g. https), with the extra wrk arguments in the array wrk_extra (e.g. -H "Connection: close").
wrk_extra=()
measure() {  # name port pid...
  local name=$1 port=$2
  shift 2
  local url="${measure_url:-http://127.0.0.1:$port/bench}"
  taskset -c 0 wrk -t1 -c"$connections" -d2s "${wrk_extra[@]}" "$url" > /dev/null  # warm-up
  local t0 t1
  t0=$(tree_ticks "$@")
  taskset -c 0 wrk -t1 -c"$connections" -d"${duration}s" --latency "${wrk_extra[@]}" "$url" > "$work/wrk-$name.txt"
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

# stop_process PID: stops one process this script started and forgets it, so the clean-up trap
# never signals a PID the system has since given to someone else.
stop_process() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local kept=() p
  for p in "${pids[@]}"; do [ "$p" = "$1" ] || kept+=("$p"); done
  pids=("${kept[@]}")
}

# The peers as the scripts run them: plain reverse proxies, one worker on CPU 1, upstream keep-alive.

# write_nginx_conf DIR PORT ACCESS_LOG HOST:PORT...: DIR/nginx.conf, an HTTP/1.1 upstream pool
# keeping 64 idle connections; ACCESS_LOG is a file or "off". Descriptors as the shell's limit allows.
write_nginx_conf() {
  local dir=$1 port=$2 access_log=$3 servers="" fd_limit s
  shift 3
  for s in "$@"; do servers+="server $s; "; done
  fd_limit=$(ulimit -n)
  mkdir -p "$dir"
  cat > "$dir/nginx.conf" <<NGINX
worker_processes 1;
worker_rlimit_nofile $fd_limit;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections $((fd_limit / 2 - 64)); }
http {
  access_log $access_log;
  client_body_temp_path $dir/nginx-body;
  proxy_temp_path $dir/nginx-proxy;
  upstream backend { ${servers}keepalive 64; }
  server {
    listen 127.0.0.1:$port;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
}
start_nginx() {  # dir: nginx on CPU 1 with DIR/nginx.conf; sets nginx_pid (the master)
  taskset -c 1 nginx -c "$1/nginx.conf" -g 'daemon off;' &
  nginx_pid=$!
  pids+=("$nginx_pid")
}

# write_haproxy_cfg FILE PORT HOST:PORT...: one thread, idle server connections reused by any
# client (http-reuse always), no log.
write_haproxy_cfg() {
  local file=$1 port=$2 fd_limit i=0 s
  shift 2
  fd_limit=$(ulimit -n)
  {
    cat <<HAPROXY
global
  nbthread 1
  maxconn $((fd_limit / 2 - 64))
defaults
  mode http
  timeout connect 3s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:$port
  default_backend be
backend be
HAPROXY
    for s in "$@"; do
      i=$((i + 1))
      echo "  server b$i $s"
    done
  } > "$file"
}
start_haproxy() {  # file log: HAProxy on CPU 1, in the foreground; sets haproxy_pid
  taskset -c 1 haproxy -f "$1" -db > "$2" 2>&1 &
  haproxy_pid=$!
  pids+=("$haproxy_pid")
}

# write_gateway_conf FILE PORT ADMIN_PORT BACKEND [CERT KEY]: one worker proxying everything to
# BACKEND (host:port) with upstream keep-alive; with CERT and KEY the listener terminates TLS.
# Extra YAML (e.g. filters) can be appended to FILE afterwards.
write_gateway_conf() {
  local file=$1 port=$2 admin=$3 backend=$4 cert=${5:-} key=${6:-} listen
  listen="  listen: \"127.0.0.1:$port\""
  if [ -n "$cert" ]; then
    listen="  listen:
    - address: \"127.0.0.1:$port\"
      tls: { cert: \"$cert\", key: \"$key\" }"
  fi
  cat > "$file" <<GATEWAY
server:
$listen
  workers: 1
admin:
  listen: "127.0.0.1:$admin"
services:
  backend:
    instances: ["$backend"]
routes:
  - id: all
    path: /**
    service: backend
    strip_prefix: false
GATEWAY
}
