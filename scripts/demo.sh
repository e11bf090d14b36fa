#!/usr/bin/env bash
# `make demo`: starts two instances of the example backend on 8000 and 8989 and the gateway on
# config/gateway.yaml (8080, admin 9901), then two "orders" instances that register themselves with
# the gateway's embedded Eureka registry; prints the lines to try, and stops everything on Ctrl-C.
set -euo pipefail
build_dir="${1:-build-release}"
cd "$(dirname "$0")/.."
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

wait_for() {  # url
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.05
  done
  echo "not ready: $1" >&2
  return 1
}

"$build_dir/portcullis-example-backend" --port 8000 --name hello-a > /dev/null &
pids+=($!)
"$build_dir/portcullis-example-backend" --port 8989 --name hello-b > /dev/null &
pids+=($!)
wait_for http://127.0.0.1:8000/
wait_for http://127.0.0.1:8989/
"$build_dir/portcullis" validate -c config/gateway.yaml
"$build_dir/portcullis" run -c config/gateway.yaml &
pids+=($!)
wait_for http://127.0.0.1:9901/health
# Two instances of "orders" register themselves with the gateway's embedded Eureka registry.
for name in orders-1 orders-2; do
  "$build_dir/portcullis-example-backend" --port 0 --name "$name" --register http://127.0.0.1:9901/eureka \
    --app orders --heartbeat 5 --lease-duration 15 > /dev/null &
  pids+=($!)
done
for _ in $(seq 1 100); do
  [ "$(curl -s http://127.0.0.1:9901/eureka/apps/ORDERS -H 'Accept: application/json' | grep -o '"UP"' | wc -l)" -ge 2 ] && break
  sleep 0.05
done

sed -e "s/ORDERS_1_PID/${pids[3]}/; s/ORDERS_2_PID/${pids[4]}/" <<'TRY'

portcullis is running on :8080 (admin :9901), in front of two backend instances.
Try:
  curl -i localhost:8080/hello/world                 # proxied; repeat it: hello-a and hello-b take turns
  curl -s localhost:8080/hello/headers               # what the backend received (X-Forwarded-*, X-Request-Id)
  curl -i -H 'Client: Android' localhost:8080/app/x  # header-matched route
  curl -i localhost:8080/ping                        # static answer at the edge
  curl -i localhost:8080/nowhere                     # JSON 404
  curl -s localhost:9901/admin/routes                # the live routing table
  curl -s localhost:9901/admin/services              # instances, health, ejections, circuit state
  curl -i localhost:8080/orders/x                    # an instance found through the embedded registry
  curl -s -H 'Accept: application/json' localhost:9901/eureka/apps   # the registry, in Eureka's JSON
  kill ORDERS_1_PID                                  # orders-1 deregisters and leaves rotation at once
  kill -9 ORDERS_2_PID                               # no goodbye: out of rotation at the first failure, lease gone after 15s
  portcullis-example-backend --port 0 --name orders-3 --register http://127.0.0.1:9901/eureka --app orders
                                                     # joins: the next request can go to it
  curl -s localhost:9901/metrics | grep portcullis_requests_total
  curl -s -X POST localhost:9901/admin/reload        # after editing config/gateway.yaml
Access logs are the JSON lines below. Ctrl-C stops everything (graceful drain).
TRY
echo "(orders-1 is pid ${pids[3]}, orders-2 is pid ${pids[4]}; the backend binary is in $build_dir)"
wait "${pids[2]}"
