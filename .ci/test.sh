#!/usr/bin/env bash
# Run every test: the release build (cppcheck included), then the whole
# suite again under AddressSanitizer and UndefinedBehaviorSanitizer, then
# sessions on threads under ThreadSanitizer, then the AArch64 NEON
# plugin against the reference under qemu-aarch64 (once as qemu's default
# CPU, with the dot product, and once as a Cortex-A53, without it), and last
# a short libFuzzer campaign on every fuzz target (.ci/fuzz.sh). Installs
# and builds what it needs first, so it works alone on a fresh Debian 12
# machine.
set -euo pipefail
cd "$(dirname "$0")/.."

.ci/setup.sh
ctest --preset default

.ci/setup.sh --sanitize
ctest --preset asan

.ci/setup.sh --tsan
ctest --preset tsan

.ci/setup.sh --aarch64
ctest --preset aarch64

.ci/fuzz.sh
