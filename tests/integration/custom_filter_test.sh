#!/usr/bin/env bash
# Installs portcullis into a temporary prefix, builds examples/custom_filter against the installed
# CMake package (find_package(portcullis)), runs the resulting gateway and checks the custom
# filter's header on a real response.
set -euo pipefail
build_dir="$1"
source_dir="$2"
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$source_dir/examples/custom_filter" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$work/build" -j2 >/dev/null
sed -e 's/127.0.0.1:8080/127.0.0.1:0/' -e 's/127.0.0.1:9901/127.0.0.1:0/' \
  "$source_dir/examples/custom_filter/gateway.yaml" > "$work/gateway.yaml"
"$work/build/my-gateway" validate -c "$work/gateway.yaml"
# A bad arg is reported by the custom filter's factory with its position.
printf 'routes:\n  - id: x\n    path: /x\n    static: { status: 200 }\n    filters:\n      - { name: stamp, args: { nope: 1 } }\n' > "$work/bad.yaml"
if "$work/build/my-gateway" validate -c "$work/bad.yaml" 2> "$work/bad.err"; then
  echo "bad config was accepted"; exit 1
fi
grep -q "bad.yaml:6:.*unknown key" "$work/bad.err" || { cat "$work/bad.err"; exit 1; }
"$work/build/my-gateway" run -c "$work/gateway.yaml" 2> "$work/gw.log" &
pid=$!
for _ in $(seq 1 200); do
  grep -q '"msg":"started"' "$work/gw.log" 2>/dev/null && break
  sleep 0.05
done
port=$(grep '"msg":"listening"' "$work/gw.log" | sed -E 's/.*"address":"[^"]*:([0-9]+)".*/\1/')
headers=$(curl -s -D - -o /dev/null "http://127.0.0.1:$port/stamped")
echo "$headers" | grep -qi '^X-Stamp: hello-from-my-filter' || { echo "missing header"; echo "$headers"; exit 1; }
kill -TERM $pid
wait $pid
echo "1 passed, 0 failed"
