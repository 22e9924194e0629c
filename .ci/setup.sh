#!/usr/bin/env bash
# Install what slm needs from Debian 12 and build it. Idempotent: packages
# already present are not touched, and the build is incremental.
#
#   .ci/setup.sh            release build in build/
#   .ci/setup.sh --sanitize AddressSanitizer + UBSan build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config libinih-dev libcmocka-dev valgrind)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

preset=default
[ "${1:-}" = "--sanitize" ] && preset=asan
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
