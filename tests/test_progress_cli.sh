#!/bin/sh
# Progress of long passes in logs: with stderr not a terminal, eval,
# predict, cv and score print plain "LABEL [done/total] ... ETA ..." lines (no carriage
# returns or escape codes), and nothing under --quiet.
# GRAFT_PROGRESS_INTERVAL=0 prints every update (the default waits 1 s
# before the first line and 15 s between lines).
# Usage: test_progress_cli.sh GRAFT_EXECUTABLE SOURCE_ROOT
set -u
G=${1:?usage: test_progress_cli.sh GRAFT SOURCE_ROOT}
SRC=${2:?usage: test_progress_cli.sh GRAFT SOURCE_ROOT}
FIX="$SRC/data/fixtures/fmnist512-images-idx3-ubyte.gz"
. "$SRC/tests/shlib.sh"

run "$G" devices
if [ "$rc" -ne 0 ]; then
    echo "# no OpenCL device; skipping"
    finish 77
fi
M="$T/m.graft"
run "$G" train --quiet --data "$FIX" --epochs 1 --batch 64 --per-class 5 --out "$M"
expect "train a tiny model" 0

# plain_lines LABEL: the plain progress lines of LABEL in $T/err.
plain_lines() { grep -c "^$1 \[[0-9]*/[0-9]*\] .* ETA [0-9.hms]*\$" "$T/err"; }
no_control() { ! grep -q "$(printf '[\r\033]')" "$T/err"; }

GRAFT_PROGRESS_INTERVAL=0 run "$G" eval --model "$M" --data "$FIX" --batch 32
if [ "$rc" -eq 0 ] && [ "$(plain_lines eval)" -ge 10 ] && no_control; then
    ok "eval prints plain progress lines with an ETA"
else bad "eval progress (exit $rc, $(plain_lines eval) lines)"; fi
if grep -q '^eval \[16/16\]' "$T/err"; then bad "eval: no line for the last batch (the summary follows)"
else ok "eval leaves the last batch to its summary"; fi

GRAFT_PROGRESS_INTERVAL=0 run "$G" eval --quiet --model "$M" --data "$FIX" --batch 32
if [ "$rc" -eq 0 ] && [ "$(plain_lines eval)" -eq 0 ]; then ok "eval --quiet prints no progress"
else bad "eval --quiet progress (exit $rc)"; fi

# The default interval: a pass this short (well under a second or two)
# prints at most one line.
run "$G" eval --model "$M" --data "$FIX" --batch 32
if [ "$rc" -eq 0 ] && [ "$(plain_lines eval)" -le 1 ]; then ok "default interval keeps logs short"
else bad "default interval (exit $rc, $(plain_lines eval) lines)"; fi

# cv: the fold runs report through the context's sink.
GRAFT_PROGRESS_INTERVAL=0 run "$G" cv --from "$M" --data "$FIX" --classes 5-9 --per-class 8 \
    --folds 2 --epochs 1 --batch 8
if [ "$rc" -eq 0 ] && [ "$(plain_lines "epoch 1/1")" -ge 2 ] && [ "$(plain_lines eval)" -ge 2 ] &&
    no_control; then ok "cv folds print plain progress lines"
else bad "cv progress (exit $rc)"; fi

# score: the feature passes report through the context's sink.
GRAFT_PROGRESS_INTERVAL=0 run "$G" score --data "$FIX" --batch 64 "$M"
if [ "$rc" -eq 0 ] && [ "$(plain_lines features)" -ge 2 ] && no_control; then
    ok "score prints plain progress lines for its feature passes"
else bad "score progress (exit $rc, $(plain_lines features) lines)"; fi

N=96
if python3 "$SRC/tools/idx_to_pngs.py" -n $N "$FIX" "$T/png" >"$T/out" 2>"$T/err"; then
    GRAFT_PROGRESS_INTERVAL=0 run "$G" predict --model "$M" --batch 8 --csv "$T/p.csv" "$T/png"
    if [ "$rc" -eq 0 ] && [ "$(plain_lines predict)" -ge 6 ] && no_control; then
        ok "predict prints plain progress lines with an ETA"
    else bad "predict progress (exit $rc, $(plain_lines predict) lines)"; fi
    GRAFT_PROGRESS_INTERVAL=0 run "$G" predict --quiet --model "$M" --batch 8 --csv "$T/p.csv" "$T/png"
    if [ "$rc" -eq 0 ] && [ "$(plain_lines predict)" -eq 0 ]; then ok "predict --quiet prints no progress"
    else bad "predict --quiet progress (exit $rc)"; fi
    # decoding a class folder (graft_dataset_open's progress, label "load")
    mkdir -p "$T/cls/a" "$T/cls/b"
    i=0
    for f in "$T"/png/*.png; do
        if [ $((i % 2)) -eq 0 ]; then cp "$f" "$T/cls/a/"; else cp "$f" "$T/cls/b/"; fi
        i=$((i + 1))
    done
    GRAFT_PROGRESS_INTERVAL=0 run "$G" train --data "$T/cls" --epochs 1 --batch 32 --out "$T/c.graft"
    if [ "$rc" -eq 0 ] && [ "$(plain_lines load)" -ge 10 ] && no_control; then
        ok "loading a class folder prints plain progress lines with an ETA"
    else bad "load progress (exit $rc, $(plain_lines load) lines)"; fi
    GRAFT_PROGRESS_INTERVAL=0 run "$G" train --quiet --data "$T/cls" --epochs 1 --batch 32 --out "$T/c.graft"
    if [ "$rc" -eq 0 ] && [ "$(plain_lines load)" -eq 0 ]; then ok "train --quiet shows no loading progress"
    else bad "load progress under --quiet (exit $rc)"; fi
else bad "idx_to_pngs"; fi
finish
