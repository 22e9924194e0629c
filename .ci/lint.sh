#!/usr/bin/env bash
# Static analysis: cppcheck on the library, the models, the backends and the
# samples, kept at zero findings. Installs cppcheck first if it is missing
# (.ci/setup.sh --lint). Exits non-zero on any finding.
#
# The checks: cppcheck's default errors (out-of-bounds, null and
# uninitialised use, leaks, undefined behaviour it can prove) plus
#   warning      suspicious code: wrong printf arguments, bad casts,
#                assignments in conditions, missing returns
#   portability  code whose meaning depends on the platform
#   performance  needless copies and slow idioms
# and not "style" (taste, and noisy on kernel code). One check is off:
#   invalidPointerCast  the SIMD kernels read byte buffers (scratch memory,
#                       quantised blocks) as float on purpose, from
#                       allocations aligned for it.
# A finding that is a false positive is silenced where it occurs with
# "// cppcheck-suppress ID" and a comment saying why.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cppcheck >/dev/null || .ci/setup.sh --lint

exec cppcheck --quiet --std=c11 --error-exitcode=1 --inline-suppr \
    --enable=warning,portability,performance \
    --suppress=invalidPointerCast \
    -j "$(nproc)" -I include -I runtime -I models \
    runtime models backends samples
