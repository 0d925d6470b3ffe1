#!/usr/bin/env bash
# Install what building and testing ipm needs, if any of it is missing.
# Debian/Ubuntu only; run as root or with sudo available. Extra Debian package
# names may be passed as arguments (e.g. clang valgrind for the CI checks).
set -euo pipefail

# The core, every transport family and its test peers (nngcat, nats-server,
# openssl for test certificates, iproute2 for network namespaces), the
# bindings (g++, nlohmann-json, python3 with pytest and venv/pip).
need=(build-essential g++ cmake pkg-config libzmq3-dev libiniparser-dev libcmocka-dev
      libnng-dev nng-utils libnats-dev nats-server openssl iproute2
      nlohmann-json3-dev python3 python3-pytest python3-venv python3-pip python3-setuptools
      "$@")
missing=()
for pkg in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0

echo "ipm: installing missing packages: ${missing[*]}" >&2
sudo=""
[[ $(id -u) -eq 0 ]] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
