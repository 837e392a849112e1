#!/bin/sh
# Fault tests of the graft tool (issue 14): divergence, SIGINT/SIGTERM,
# device-memory refusal, unwritable cache, disk full, refused surprises.
# Usage: test_faults.sh GRAFT_EXECUTABLE SOURCE_ROOT
# exits 1 on any failure, 77 (skip) when no OpenCL device exists.
set -u
G=${1:?usage: test_faults.sh GRAFT SOURCE_ROOT}
SRC=${2:?usage: test_faults.sh GRAFT SOURCE_ROOT}
FIX="$SRC/data/fixtures/fmnist512-images-idx3-ubyte.gz"
. "$SRC/tests/shlib.sh"

run "$G" devices
if [ "$rc" -ne 0 ]; then echo "# no OpenCL device; skipping"; finish 77; fi
# 200 images (20 per class), about 0.5 s an epoch.
TR="--quiet --data $FIX --per-class 20 --batch 16"

# Waits (up to 60 s) until file $1 has at least $2 lines.
wait_lines() {
    i=0
    while [ "$i" -lt 600 ]; do
        [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
# Every line of CSV file $1 is complete: 9 fields, ends with a newline.
complete_csv() {
    [ -s "$1" ] && [ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ] &&
        awk -F, 'NF != 9 { bad = 1 } END { exit bad }' "$1"
}

# ---- divergence
run "$G" train $TR --epochs 2 --lr 100 --schedule constant --out "$T/nan.graft"
if [ "$rc" -eq 1 ] && grep -q 'training diverged in epoch 1' "$T/err" && grep -q 'lower --lr' "$T/err" \
    && grep -Eq '(weights|running statistics|output of layer|gradient of) ' "$T/err" && [ ! -e "$T/nan.graft" ]
then ok "--lr 100 stops at the first non-finite epoch, names the tensor, suggests a lower lr"
else bad "--lr 100 divergence (exit $rc)"; fi
# (a non-finite loss at a step, named with its layer: test_train_faults.c)
run "$G" train $TR --epochs 2 --lr 100 --schedule constant --nan skip --out "$T/skip.graft"
if [ "$rc" -eq 0 ] && grep -q -- '--nan skip: skipped [0-9]* steps' "$T/err" && [ -s "$T/skip.graft" ]
then ok "--nan skip trains on, counting what it skipped"
else bad "--nan skip (exit $rc)"; fi
run "$G" train $TR --nan maybe
expect "--nan maybe is a usage error" 2

# ---- SIGINT: finish the step, checkpoint, say how to resume, exit 130
"$G" train $TR --epochs 4 --out "$T/int.graft" >"$T/out" 2>"$T/err" &
pid=$!
wait_lines "$T/int-log.csv" 2
kill -INT "$pid"
wait "$pid"
rc=$?
if [ "$rc" -eq 130 ] && [ -s "$T/int-ckpt.graft" ] && grep -q -- "--resume $T/int-ckpt.graft" "$T/err" \
    && [ ! -e "$T/int.graft" ] && complete_csv "$T/int-log.csv"
then ok "SIGINT: exit 130, a checkpoint, the --resume line, a complete log"
else bad "SIGINT (exit $rc)"; fi
run "$G" train $TR --epochs 4 --out "$T/int.graft" --resume "$T/int-ckpt.graft"
if [ "$rc" -eq 0 ] && [ -s "$T/int.graft" ] \
    && [ "$(tail -n 1 "$T/int-log.csv" | cut -d, -f1)" = 4 ] && complete_csv "$T/int-log.csv"
then ok "--resume after SIGINT trains to the end"
else bad "--resume after SIGINT (exit $rc)"; fi
run "$G" train $TR --epochs 4 --out "$T/ref.graft"
if [ "$rc" -eq 0 ] && cmp -s "$T/ref.graft" "$T/int.graft"
then ok "interrupted mid-epoch + resumed = the uninterrupted run, bit for bit"
else bad "interrupted + resumed differs from the uninterrupted run"; fi
"$G" train $TR --epochs 4 --out "$T/term.graft" >"$T/out" 2>"$T/err" &
pid=$!
wait_lines "$T/term-log.csv" 1
kill -TERM "$pid"
wait "$pid"
rc=$?
if [ "$rc" -eq 143 ] && [ -s "$T/term-ckpt.graft" ]; then ok "SIGTERM: exit 143 with a checkpoint"
else bad "SIGTERM (exit $rc)"; fi
"$G" train $TR --epochs 4 --out "$T/twice.graft" >"$T/out" 2>"$T/err" &
pid=$!
wait_lines "$T/twice-log.csv" 1
kill -INT "$pid"; kill -INT "$pid"
wait "$pid"
rc=$?
if [ "$rc" -eq 130 ] && complete_csv "$T/twice-log.csv"
then ok "a second SIGINT exits at once, no file half-written"
else bad "second SIGINT (exit $rc)"; fi

# finetune has no --resume: SIGINT stops after the step, says so and writes no model
"$G" finetune --from "$T/ref.graft" --data "$FIX" --per-class 50 --epochs 30 --strategy finetune \
    --out "$T/ftint.graft" >"$T/out" 2>"$T/err" &
pid=$!
wait_lines "$T/ftint-log.csv" 2
kill -INT "$pid"
wait "$pid"
rc=$?
if [ "$rc" -eq 130 ] && grep -q "interrupted in epoch .*ftint.graft not written" "$T/err" \
    && [ ! -e "$T/ftint.graft" ] && ! ls "$T"/ftint*.tmp.* >/dev/null 2>&1
then ok "finetune: SIGINT exits 130 after the step, writes no half-trained model"
else bad "finetune SIGINT (exit $rc)"; fi

# ---- an unusable cache directory: one warning line, no caching, the device found
echo x >"$T/file"
for c in "$T/file" /proc/graft-cannot-mkdir; do
    run env -u POCL_CACHE_DIR XDG_CACHE_HOME="$c" "$G" devices
    if [ "$rc" -eq 0 ] && [ "$(grep -c 'warning: the cache directory' "$T/err")" -eq 1 ] \
        && grep -q 'running without the kernel caches' "$T/err" && grep -q PoCL "$T/out"
    then ok "XDG_CACHE_HOME=$c: runs without caching, says so once"
    else bad "XDG_CACHE_HOME=$c (exit $rc)"; fi
done
run env -u POCL_CACHE_DIR XDG_CACHE_HOME="$T/file" "$G" train $TR --epochs 1 --out "$T/nocache.graft"
if [ "$rc" -eq 0 ] && [ -s "$T/nocache.graft" ] && grep -q 'running without the kernel caches' "$T/err"
then ok "train with an unusable cache directory"
else bad "train with an unusable cache directory (exit $rc)"; fi

# ---- a driver that fails to load (no address space) is named as such
(ulimit -v 100000; exec timeout 30 "$G" devices) >"$T/out" 2>"$T/err"
rc=$?
if grep -Eq 'error while loading shared libraries|Sanitizer' "$T/err"; then
    echo "# ulimit -v 100000 stops the tool itself here (or its sanitizer); skipped"
elif [ "$rc" -ne 0 ] && grep -q 'the OpenCL driver failed to load (clGetPlatformIDs: ' "$T/err" \
    && ! grep -q 'no OpenCL platform found' "$T/err"
then ok "ulimit -v: the driver failed to load, with its reason"
elif [ "$rc" -eq 0 ]; then echo "# the driver loads under ulimit -v 100000 here; skipped"
else bad "ulimit -v (exit $rc)"; fi

# ---- silent surprises, now said or refused
run "$G" train $TR --classes 3 --epochs 1 --out "$T/one.graft"
if [ "$rc" -ne 0 ] && grep -q "all 20 images are of one class ('3')" "$T/err" && [ ! -e "$T/one.graft" ]
then ok "a one-class dataset is refused for training"
else bad "one-class dataset (exit $rc)"; fi
python3 - "$T" <<'PY'
import struct, sys
n = 20
with open(sys.argv[1] + "/odd-images-idx3-ubyte", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, n, 28, 28) + bytes((i * 37 + k) % 256 for i in range(n) for k in range(784)))
with open(sys.argv[1] + "/odd-labels-idx1-ubyte", "wb") as f:
    f.write(struct.pack(">II", 0x801, n) + bytes(200 if i % 2 else 255 for i in range(n)))
PY
run "$G" train --data "$T/odd-images-idx3-ubyte" --epochs 1 --batch 10 --out "$T/odd.graft"
if grep -q 'labels reach 255, so 256 classes were inferred, 254 of them without images' "$T/err" \
    && grep -q -- '--classes' "$T/err"; then ok "IDX labels 200/255: says 256 classes were inferred"
else bad "IDX labels 200/255 (exit $rc)"; fi
run "$G" train --quiet --data "$T/odd-images-idx3-ubyte" --classes 200,255 --epochs 1 --batch 10 --out "$T/odd.graft"
if [ "$rc" -eq 0 ] && ! grep -q 'inferred' "$T/err" && "$G" info --model "$T/odd.graft" | grep -q '^classes (2): 0=200, 1=255'
then ok "IDX labels 200/255 with --classes 200,255: a 2-class model"
else bad "IDX --classes 200,255 (exit $rc)"; fi
run "$G" train $TR --epochs 2 --checkpoint-every 1 --out "$T/ep.graft"
run "$G" train $TR --epochs 1 --out "$T/ep.graft" --resume "$T/ep-ckpt.graft"
if [ "$rc" -eq 2 ] && grep -q 'has done 2 epochs and --epochs is 1: nothing left to train' "$T/err"
then ok "--resume of a checkpoint past --epochs is refused"
else bad "--resume past --epochs (exit $rc)"; fi
run "$G" train $TR --epochs 1 --keep-best --out "$T/kb.graft"
if [ "$rc" -eq 0 ] && grep -q -- '--keep-best needs evaluation data' "$T/err" && [ ! -e "$T/kb-best.graft" ]
then ok "--keep-best without evaluation data says no -best file is written"
else bad "--keep-best without evaluation data (exit $rc)"; fi
mkdir "$T/empty"
run "$G" predict --model "$T/kb.graft" "$T/empty"
if [ "$rc" -eq 1 ] && grep -q "no image files found in $T/empty" "$T/err"; then ok "predict on an empty directory"
else bad "predict on an empty directory (exit $rc)"; fi
sleep 1000 &
holder=$!
echo "$holder" >"$T/locked.graft.lock"
run "$G" train $TR --epochs 1 --out "$T/locked.graft"
if [ "$rc" -eq 1 ] && grep -q "another run (pid $holder) is writing" "$T/err" && [ ! -e "$T/locked.graft" ]
then ok "a second run on the same --out is refused while the first runs"
else bad "lock file (exit $rc)"; fi
kill "$holder"
wait "$holder" 2>/dev/null
run "$G" train $TR --epochs 1 --out "$T/locked.graft"
if [ "$rc" -eq 0 ] && [ -s "$T/locked.graft" ] && [ ! -e "$T/locked.graft.lock" ]
then ok "a stale lock (its pid gone) is taken over and removed at exit"
else bad "stale lock (exit $rc)"; fi

# ---- disk full (a file-size limit): the old model stays, no temp file is left
run "$G" train $TR --epochs 1 --out "$T/full.graft"
cp "$T/full.graft" "$T/full0.graft"
(ulimit -f 200; exec "$G" train $TR --epochs 1 --seed 5 --out "$T/full.graft") >"$T/out" 2>"$T/err"
rc=$?
if [ "$rc" -eq 1 ] && grep -q 'full.graft: cannot write: File too large' "$T/err" && cmp -s "$T/full.graft" "$T/full0.graft" \
    && ! ls "$T"/full*.tmp.* >/dev/null 2>&1
then ok "disk full (ulimit -f): refused with the reason, the old model intact, no temp file"
else bad "disk full (exit $rc)"; fi

# ---- device memory: refused before allocating, naming layer, bytes, limits, batch
# resnet18 at 256x256, batch 512 needs ~25 GiB; on a device with more
# memory than that, GRAFT_MEMORY_LIMIT plays a 16 GiB one.
gib=$(awk 'NR == 2 { for (i = 1; i < NF; i++) if ($(i + 1) == "GiB") { print int($i); exit } }' "$T/out")
lim=""
[ "${gib:-0}" -ge 24 ] && lim="GRAFT_MEMORY_LIMIT=16G"
run env $lim "$G" train --quiet --arch resnet18 --size 256 --batch 512 --data "$FIX" --epochs 1 --out "$T/big.graft"
if [ "$rc" -eq 1 ] && grep -q "not enough device memory for training at batch 512: it needs ~2[0-9.]* GiB" "$T/err" \
    && grep -q "layer 'conv1'" "$T/err" && grep -q "global memory and allocates at most" "$T/err" \
    && grep -Eq "the largest batch that fits is [1-9][0-9]*" "$T/err" && [ ! -e "$T/big.graft" ]
then ok "resnet18 batch 512 at 256x256 is refused before allocating (layer, bytes, limits, largest batch)"
else bad "device-memory refusal (exit $rc)"; fi
run env GRAFT_MEMORY_LIMIT=1G "$G" train $TR --batch auto --epochs 1 --out "$T/auto.graft"
if [ "$rc" -eq 0 ] && [ -s "$T/auto.graft" ]; then ok "train --batch auto"; else bad "train --batch auto (exit $rc)"; fi
run "$G" finetune --quiet --from "$T/auto.graft" --data "$FIX" --per-class 5 --epochs 1 --batch auto --out "$T/autoft.graft"
if [ "$rc" -eq 0 ] && [ -s "$T/autoft.graft" ]; then ok "finetune --batch auto"; else bad "finetune --batch auto (exit $rc)"; fi
run "$G" cv --quiet --batch auto --folds 2 --epochs 1 --from "$T/auto.graft" --data "$FIX" --per-class 5
if [ "$rc" -eq 0 ]; then ok "cv --batch auto (sized once on the source model)"
else bad "cv --batch auto (exit $rc)"; fi
run env GRAFT_MEMORY_LIMIT=64M "$G" eval --quiet --model "$T/auto.graft" --data "$FIX" --batch 512
# The largest batch comes from the inference estimate (activations, parameters
# with CPU-packed conv weights, scratch): some tens of images in 64 MiB, and
# --batch auto must pick exactly the number the refusal names.
fits=$(sed -n 's/.*the largest batch that fits is \([0-9]*\).*/\1/p' "$T/err" | head -n 1)
if [ "$rc" -eq 1 ] && grep -q "not enough device memory for inference at batch 512" "$T/err" \
    && [ -n "$fits" ] && [ "$fits" -ge 8 ] && [ "$fits" -lt 512 ]
then ok "eval: an inference batch above the device's memory is refused ($fits fit)"
else bad "eval memory refusal (exit $rc, fits '${fits}')"; fi
run env GRAFT_MEMORY_LIMIT=64M "$G" eval --model "$T/auto.graft" --data "$FIX" --batch auto
if [ "$rc" -eq 0 ] && [ -n "$fits" ] && grep -q -- "--batch auto: $fits " "$T/err"
then ok "eval --batch auto picks the largest batch that fits"
else bad "eval --batch auto (exit $rc)"; fi
run env GRAFT_MEMORY_LIMIT=lots "$G" eval --model "$T/auto.graft" --data "$FIX"
if [ "$rc" -ne 0 ] && grep -q "GRAFT_MEMORY_LIMIT='lots'" "$T/err"; then ok "GRAFT_MEMORY_LIMIT=lots is refused"
else bad "GRAFT_MEMORY_LIMIT=lots (exit $rc)"; fi

finish
