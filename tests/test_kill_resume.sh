#!/bin/sh
# Kill and resume (issue 14): SIGKILLs `graft train` KILLS times (default
# 20), half at seeded random moments and half just after an epoch's log
# line appears (when the checkpoint is being written). After every kill
# the latest checkpoint must load and --resume must continue; the run
# finished by resuming must equal an uninterrupted one bit for bit (every
# checkpoint is at an epoch boundary, a resumed epoch replays the same
# batches with the same augmentation and dropout, and the kernels are
# deterministic on one device).
# Usage: test_kill_resume.sh GRAFT_EXECUTABLE SOURCE_ROOT [KILLS]
set -u
G=${1:?usage: test_kill_resume.sh GRAFT SOURCE_ROOT [KILLS]}
SRC=${2:?usage: test_kill_resume.sh GRAFT SOURCE_ROOT [KILLS]}
KILLS=${3:-20}
FIX="$SRC/data/fixtures/fmnist512-images-idx3-ubyte.gz"
. "$SRC/tests/shlib.sh"

run "$G" devices
if [ "$rc" -ne 0 ]; then echo "# no OpenCL device; skipping"; finish 77; fi
TR="--quiet --data $FIX --per-class 20 --batch 16 --epochs 6 --checkpoint-every 1"

run "$G" train $TR --out "$T/ref.graft"
if [ "$rc" -ne 0 ]; then bad "the uninterrupted run (exit $rc)"; finish; fi

K="$T/k.graft"
CK="$T/k-ckpt.graft"
lines() { if [ -f "$T/k-log.csv" ]; then wc -l <"$T/k-log.csv"; else echo 0; fi; }
i=0
inwrite=0
loaded=0
resumed=0
while [ "$i" -lt "$KILLS" ]; do
    i=$((i + 1))
    resume=""
    [ -f "$CK" ] && resume="--resume $CK" && resumed=$((resumed + 1))
    before=$(lines)
    "$G" train $TR --out "$K" $resume >"$T/out" 2>"$T/err" &
    pid=$!
    if [ $((i % 2)) -eq 0 ]; then
        # just after the next epoch line: the checkpoint write follows it
        n=0
        # (up to 30 s: a loaded machine, e.g. CI running tests in parallel, starts slowly)
        while [ "$(lines)" -le "$before" ] && [ "$n" -lt 3000 ] && kill -0 "$pid" 2>/dev/null; do
            sleep 0.01
            n=$((n + 1))
        done
        sleep "$(awk -v s="$i" 'BEGIN { srand(s); printf "%.3f", rand() * 0.004 }')"
    else
        sleep "$(awk -v s="$i" 'BEGIN { srand(s); printf "%.2f", 0.1 + rand() * 1.5 }')"
    fi
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    # a temp file left beside a model, checkpoint or log: killed mid-write
    if ls "$T"/k*.tmp.* >/dev/null 2>&1; then
        inwrite=$((inwrite + 1))
        rm -f "$T"/k*.tmp.*
    fi
    if [ -f "$K" ]; then # it finished before the kill: start over
        rm -f "$K" "$CK" "$T/k-log.csv"
        continue
    fi
    if [ -f "$CK" ]; then
        if "$G" info --model "$CK" >/dev/null 2>"$T/err"; then loaded=$((loaded + 1))
        else bad "kill $i: the checkpoint does not load"; fi
    fi
done
ok "$KILLS kills ($inwrite during a file write): $loaded checkpoints checked after a kill all load; $resumed runs resumed"

# The last kill may have come before any checkpoint (a slow start): then
# the run starts afresh, which must give the same model too.
resume=""
[ -f "$CK" ] && resume="--resume $CK"
run "$G" train $TR --out "$K" $resume
if [ "$rc" -eq 0 ] && [ -s "$K" ]; then ok "--resume after the last kill finishes the run"
else bad "the final --resume (exit $rc)"; fi
if cmp -s "$K" "$T/ref.graft"; then ok "killed and resumed = uninterrupted, bit for bit"
else bad "killed and resumed differs from the uninterrupted run"; fi
if [ "$(tail -n 1 "$T/k-log.csv" | cut -d, -f1)" = 6 ] && [ "$(wc -l <"$T/k-log.csv")" -eq 7 ]
then ok "the log holds each epoch once"
else bad "the log after kills: $(cut -d, -f1 "$T/k-log.csv" | tr '\n' ' ')"; fi
finish
