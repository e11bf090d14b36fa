#!/usr/bin/env bash
# Installs every Debian 12 package the build, tests, demo and benchmarks need. Idempotent: runs
# apt-get update only when something is missing.
set -euo pipefail
packages=(
  build-essential cmake ccache pkg-config
  libboost1.81-dev libyaml-cpp-dev nlohmann-json3-dev catch2 libssl-dev libcrypt-dev libbenchmark-dev
  prometheus-cpp-dev prometheus curl python3 python3-jsonschema python3-yaml
  wrk nginx-light haproxy
  etcd-server etcd-client
  redis-server libhiredis-dev
  libluajit2-5.1-dev
  libnghttp2-dev nghttp2-client nghttp2-server python3-h2 python3-hyperframe python3-hpack python3-grpcio
  clang-14
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The packaged nginx/haproxy/etcd/redis services are not used: benchmarks and the discovery tests start
# their own instances on loopback with temporary data directories.
if command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now nginx haproxy etcd redis-server >/dev/null 2>&1 || true
fi
if ! command -v systemctl >/dev/null 2>&1; then
  for service in etcd redis-server; do
    if [ -x "/etc/init.d/$service" ]; then $SUDO "/etc/init.d/$service" stop >/dev/null 2>&1 || true; fi
  done
fi
