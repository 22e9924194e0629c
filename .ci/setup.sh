#!/usr/bin/env bash
# Install what slm needs from Debian 12 and build it. Idempotent: packages
# already present are not touched, and the build is incremental. Vulkan's
# loader, headers and shader compiler build the Vulkan backend; Mesa's
# lavapipe gives every machine a Vulkan device to test it on, as PoCL gives
# it an OpenCL one.
#
#   .ci/setup.sh            release build in build/
#   .ci/setup.sh --sanitize AddressSanitizer + UBSan build in build-asan/
#   .ci/setup.sh --aarch64  AArch64 cross build of the backend plugins and
#                           their conformance driver in build-aarch64/ (its
#                           tests run under qemu-aarch64)
#   .ci/setup.sh --fuzz     the libFuzzer targets with clang in build-fuzz/
#                           (.ci/fuzz.sh runs them)
#   .ci/setup.sh --tsan     ThreadSanitizer build of the threading test in
#                           build-tsan/
#   .ci/setup.sh --lint     only install cppcheck (.ci/lint.sh runs it)
set -euo pipefail
cd "$(dirname "$0")/.."

preset=default
case "${1:-}" in
    "") ;;
    --sanitize) preset=asan ;;
    --aarch64) preset=aarch64 ;;
    --fuzz) preset=fuzz ;;
    --tsan) preset=tsan ;;
    --lint) preset=lint ;;
    *) echo "usage: $0 [--sanitize | --tsan | --aarch64 | --fuzz | --lint]" >&2; exit 2 ;;
esac

packages=(build-essential cmake pkg-config libinih-dev libcmocka-dev valgrind
          libvulkan-dev glslc mesa-vulkan-drivers
          ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd cppcheck)
# libslm's own dependencies are not installed for the target: the cross
# build is of the plugins only (SLM_PLUGINS_ONLY), which need a C library.
[ "$preset" = aarch64 ] &&
    packages=(cmake make gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
[ "$preset" = fuzz ] && packages+=(clang)
[ "$preset" = lint ] && packages=(cppcheck)

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

[ "$preset" = lint ] && exit 0
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
