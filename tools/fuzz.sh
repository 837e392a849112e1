#!/usr/bin/env bash
# Builds graft's libFuzzer targets with clang under ASan+UBSan and fuzzes
# each for a while, starting from its seed corpus (data/fuzz, data/onnx).
#
#   tools/fuzz.sh [--seconds N] [TARGET...]     (default: 30 s each, every target)
#
# Targets: png image idx csv graft onnx. Prints executions per target. A crash,
# leak, UBSan report or broken invariant stops the run with a non-zero exit;
# the input is kept in build-fuzz/artifacts/TARGET/: copy it into
# data/fuzz/regressions/TARGET/ so the normal suite replays it forever
# (tests/fuzz/meson.build), then fix the bug.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=30
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        -*) echo "usage: tools/fuzz.sh [--seconds N] [TARGET...]" >&2; exit 2 ;;
        *) targets+=("$1") ;;
    esac
    shift
done
[ ${#targets[@]} -gt 0 ] || targets=(png image idx csv graft onnx)

if ! command -v clang >/dev/null; then
    echo "tools/fuzz.sh: clang is missing (tools/install-deps.sh installs it)" >&2
    exit 1
fi
if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang CFLAGS="-fno-sanitize-recover=all" meson setup build-fuzz -Dfuzz=true -Dwerror=true \
        -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C build-fuzz $(printf 'tests/fuzz/fuzz_%s ' "${targets[@]}") >/dev/null

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tools/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export XDG_CACHE_HOME="$PWD/build-fuzz/cache" POCL_CACHE_DIR="$PWD/build-fuzz/cache/pocl"

seeds() {
    case "$1" in
        onnx) ls data/onnx/*.onnx ;;
        image) ls -d data/fixtures/jpeg/* data/fuzz/png/* ;;
        *) ls -d "data/fuzz/$1"/* ;;
    esac
    if [ -d "data/fuzz/regressions/$1" ]; then ls -d "data/fuzz/regressions/$1"/*; fi
}

status=0
for t in "${targets[@]}"; do
    corpus="build-fuzz/corpus/$t" art="build-fuzz/artifacts/$t"
    mkdir -p "$corpus" "$art"
    seeds "$t" | xargs -I{} cp {} "$corpus/"
    log="build-fuzz/fuzz-$t.log"
    if build-fuzz/tests/fuzz/fuzz_"$t" "$corpus" -max_total_time="$seconds" -timeout=20 \
        -rss_limit_mb=2560 -max_len=65536 -artifact_prefix="$art/" -print_final_stats=1 >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
        echo "fuzz $t: ${runs:-?} executions in ${seconds} s, ${cov:-cov: ?}, no crash"
    else
        status=1
        echo "fuzz $t: FAILED, input kept in $art/ (log: $log):" >&2
        grep -E 'ERROR|SUMMARY|invariant|runtime error' "$log" | head -5 >&2
    fi
done
exit $status
