#!/usr/bin/env bash
# Install what building and testing ipm needs, if any of it is missing.
# Debian/Ubuntu only; run as root or with sudo available. Extra Debian package
# names may be passed as arguments (e.g. clang valgrind for the CI checks).
set -euo pipefail

need=(build-essential cmake pkg-config libzmq3-dev libiniparser-dev libcmocka-dev "$@")
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
