#!/usr/bin/env bash
# A full canary rollout on this machine: two versions of the example backend (and a shadow), the
# gateway on examples/canary/gateway.yaml, traffic from 200 users, and the canary's state every
# few seconds as the ramp raises it. Pass `bad` to make v2 fail half its requests and watch the
# analysis roll it back.
#
#   examples/canary/rollout.sh [BUILD_DIR] [good|bad]
set -euo pipefail
build_dir="${1:-build-release}"
mode="${2:-good}"
cd "$(dirname "$0")/../.."
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$build_dir/portcullis-example-backend" --port 8001 --name hello-v1 > /dev/null &
pids+=($!)
"$build_dir/portcullis-example-backend" --port 8002 --name hello-v2 > /dev/null &
pids+=($!)
"$build_dir/portcullis-example-backend" --port 8003 --name hello-shadow > /dev/null &
pids+=($!)
"$build_dir/portcullis" run -c examples/canary/gateway.yaml 2> /tmp/portcullis-canary.log &
pids+=($!)
for _ in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:9901/health && break; sleep 0.05; done

# Traffic: 200 users in turn. In "bad" mode the canary's users ask for /status/500 half the time
# (the example backend answers with that status), the baseline's never.
traffic() {
  local n=0
  while true; do
    for u in $(seq 1 200); do
      n=$((n + 1))
      path=/hello/world
      if [ "$mode" = bad ] && [ $((n % 2)) -eq 0 ]; then
        variant=$(curl -s -o /dev/null -w '%header{x-canary-variant}' -H "X-User-Id: user-$u" http://127.0.0.1:8080/hello/world || true)
        [ "$variant" = canary ] && path=/hello/status/500
      fi
      curl -s -o /dev/null -H "X-User-Id: user-$u" "http://127.0.0.1:8080$path" || true
    done
  done
}
traffic &
pids+=($!)

echo "ramping (Ctrl-C to stop); state every 5s from GET /admin/canary:"
for _ in $(seq 1 24); do
  sleep 5
  curl -s http://127.0.0.1:9901/admin/canary | python3 -c "
import json, sys
c = json.load(sys.stdin)['hello']
v = c['variants']
print('percent %5s  state %-11s  baseline %6d req  canary %6d req  analysis: %s' % (
    c['percent'], c['state'], v['baseline']['requests'], v['canary']['requests'], c['analysis']))"
done
