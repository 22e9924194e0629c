#!/usr/bin/env bash
# The README's first command: install what is missing, build, list what slm
# finds on this machine, then tell a story with a real model.
set -euo pipefail
cd "$(dirname "$0")/.."

.ci/setup.sh
build/bin/slm-probe
echo
model=../shared/models/gguf/stories260K-f32.gguf
build/bin/slm-run -m "$model" -p "Once upon a time" -n 128 --temp 0
