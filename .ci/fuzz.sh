#!/usr/bin/env bash
# Fuzz every target of fuzz/ with libFuzzer: install clang if missing, build
# the fuzz preset (build-fuzz/, clang, ASan + UBSan), replay the regression
# inputs, then run a campaign per target from the seed corpus and what
# earlier campaigns kept (build-fuzz/corpus/NAME, never in the repository).
# Exits non-zero if any input crashes, leaks, hangs or breaks a check; the
# input is then in build-fuzz/artifacts/NAME/ (copy it to
# fuzz/regressions/NAME/ once the runtime is fixed).
#
#   .ci/fuzz.sh                   short campaign: 30 s per target (the test
#                                 command runs this)
#   .ci/fuzz.sh --long SECONDS    the long campaign: SECONDS per target
#   .ci/fuzz.sh [...] NAME...     only these targets (gguf model tokenizer
#                                 config graph)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=30
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --long) [ $# -ge 2 ] || { echo "usage: $0 [--long SECONDS] [TARGET...]" >&2; exit 2; }
                seconds="$2"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        -*) echo "usage: $0 [--long SECONDS] [TARGET...]" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(gguf model tokenizer config graph)

.ci/setup.sh --fuzz

build=build-fuzz
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export SLM_CONFIG="" SLM_PLUGIN_PATH="" SLM_BACKEND=""

status=0
for t in "${targets[@]}"; do
    bin="$build/bin/fuzz_$t"
    [ -x "$bin" ] || { echo "fuzz: no target '$t'" >&2; exit 2; }
    corpus="$build/corpus/$t"
    artifacts="$build/artifacts/$t"
    log="$build/logs/$t.log"
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"

    # Every crash found so far must stay fixed.
    if [ -d "fuzz/regressions/$t" ] && [ -n "$(ls -A "fuzz/regressions/$t")" ]; then
        if ! "$bin" -runs=0 "fuzz/regressions/$t"/* >"$log.regressions" 2>&1; then
            echo "fuzz: $t: a regression input fails again, see $log.regressions" >&2
            status=1
            continue
        fi
    fi

    dict=()
    [ -f "fuzz/dict/$t.dict" ] && dict=("-dict=fuzz/dict/$t.dict")
    echo "fuzz: $t for ${seconds} s"
    if "$bin" "${dict[@]}" -fork=2 -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
            -max_total_time="$seconds" -artifact_prefix="$artifacts/" -print_final_stats=1 \
            "$corpus" "$build/fuzz/seeds/$t" >"$log" 2>&1; then
        # The last status line: executions, coverage (cov: edges, ft: features).
        grep -E '^#[0-9]+: cov:' "$log" | tail -1 | sed "s/^/fuzz: $t: /" || true
    else
        echo "fuzz: $t FAILED, see $log and $artifacts/" >&2
        grep -E 'ERROR|SUMMARY|fuzz check failed' "$log" | head -5 >&2 || true
        status=1
    fi
done
exit $status
