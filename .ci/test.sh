#!/usr/bin/env bash
# Run every test: the release build, then the whole suite again under
# AddressSanitizer and UndefinedBehaviorSanitizer. Installs and builds what it
# needs first, so it works alone on a fresh Debian 12 machine.
set -euo pipefail
cd "$(dirname "$0")/.."

.ci/setup.sh
ctest --preset default

.ci/setup.sh --sanitize
ctest --preset asan
