#!/bin/sh
# MPI end to end (mpirun -np 2 on localhost): data parallel finetune across
# two ranks equals one process on the same global batches (BatchNorm
# frozen, so the slices do not normalise differently), and so does train
# with --sync-bn (BatchNorm over the global batch); rank 0 alone writes;
# a checkpoint written by 2 ranks resumes in 1; plan jobs shared by ranks.
# Sharded reading of a class folder (training and a linear probe's feature
# extraction), sums overlapped with backward, and a rank failing on a
# corrupt image of its shard are checked too.
# Usage: test_mpi.sh GRAFT_EXECUTABLE SOURCE_ROOT MPIRUN|none
set -u
G=${1:?usage: test_mpi.sh GRAFT SOURCE_ROOT MPIRUN}
SRC=${2:?usage: test_mpi.sh GRAFT SOURCE_ROOT MPIRUN}
MPIRUN=${3:?usage: test_mpi.sh GRAFT SOURCE_ROOT MPIRUN}
if [ "$MPIRUN" = none ]; then
    echo "skip: graft built without MPI, or no mpirun"
    exit 77
fi
FIX="$SRC/data/fixtures/fmnist512-images-idx3-ubyte.gz"
. "$SRC/tests/shlib.sh"
# Root in CI containers; more ranks than cores on 2-core machines. Under
# AddressSanitizer, Open MPI's plugins leak at exit from modules already
# unloaded (no stack to suppress by name): leak checks are off for the
# ranks only; the same data parallel code runs leak-checked in
# tests/test_parallel.c (two ranks joined in one process).
MPI="env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 $MPIRUN --allow-run-as-root --oversubscribe -np 2"

run "$G" train --data "$FIX" --classes 0-4 --per-class 10 --epochs 1 --batch 20 --out "$T/src.graft" --quiet
expect "train the source" 0
FT="finetune --from $T/src.graft --data $FIX --classes 5-9 --per-class 12 --strategy finetune --bn frozen --no-cache --epochs 2 --batch 16"
run "$G" $FT --out "$T/one.graft" --quiet
expect "finetune, one process" 0
run $MPI "$G" $FT --out "$T/two.graft" --quiet
if [ "$rc" -eq 0 ] && [ "$(grep -c '^wrote' "$T/out")" -eq 1 ] && [ -s "$T/two.graft" ]; then ok "mpirun -np 2 finetune: rank 0 alone writes"; else bad "mpirun finetune (exit $rc)"; fi
# The per-epoch training loss of both runs, within float tolerance.
if awk -F, 'NR == FNR { if (FNR > 1) a[FNR] = $2; next }
            FNR > 1 { d = a[FNR] - $2; if (d < 0) d = -d; if (d > 1e-4 * (a[FNR] < 0 ? -a[FNR] : a[FNR]) + 1e-6) bad = 1; n++ }
            END { exit (bad || n != 2) }' "$T/one-log.csv" "$T/two-log.csv"; then
    ok "2 ranks train like 1 process (epoch losses equal within 1e-4)"
else
    bad "2 ranks vs 1 process"; cat "$T/one-log.csv" "$T/two-log.csv"
fi
# The gradient buckets summed during backward (the default) or after it:
# the same sums, so the same model bit for bit.
run $MPI "$G" $FT --no-overlap --out "$T/two-sync.graft" --quiet
if [ "$rc" -eq 0 ] && cmp -s "$T/two.graft" "$T/two-sync.graft"; then ok "overlapped and --no-overlap sums give the same model bit for bit"; else bad "--no-overlap vs overlapped (exit $rc)"; fi
# Both models classify the same: the same evaluation numbers.
run "$G" eval --model "$T/one.graft" --data "$FIX" --classes 5-9 --quiet
grep -i 'accuracy' "$T/out" | head -n 1 > "$T/acc1"
run "$G" eval --model "$T/two.graft" --data "$FIX" --classes 5-9 --quiet
grep -i 'accuracy' "$T/out" | head -n 1 > "$T/acc2"
if [ -s "$T/acc1" ] && cmp -s "$T/acc1" "$T/acc2"; then ok "the two models evaluate the same"; else bad "eval of both models"; cat "$T/acc1" "$T/acc2"; fi

# refnet (BatchNorm) with --sync-bn: the statistics of the global batch, so
# 2 ranks train like 1 process here too.
TR="train --data $FIX --classes 0-4 --per-class 12 --epochs 2 --batch 16 --quiet"
run "$G" $TR --out "$T/b1.graft"
expect "train refnet, one process" 0
run $MPI "$G" $TR --sync-bn --out "$T/b2.graft"
expect "mpirun -np 2 train --sync-bn" 0
if awk -F, 'NR == FNR { if (FNR > 1) a[FNR] = $2; next }
            FNR > 1 { d = a[FNR] - $2; if (d < 0) d = -d; if (d > 1e-4 * (a[FNR] < 0 ? -a[FNR] : a[FNR]) + 1e-6) bad = 1; n++ }
            END { exit (bad || n != 2) }' "$T/b1-log.csv" "$T/b2-log.csv"; then
    ok "2 ranks with --sync-bn train refnet like 1 process"
else
    bad "2 ranks --sync-bn vs 1 process"; cat "$T/b1-log.csv" "$T/b2-log.csv"
fi

# Resume with another rank count: 2 ranks stop after epoch 1, 1 process finishes.
run $MPI "$G" train --data "$FIX" --classes 0-4 --per-class 8 --epochs 2 --stop-after 1 --checkpoint-every 1 --batch 16 --out "$T/r.graft" --quiet
if [ -s "$T/r-ckpt.graft" ]; then ok "2 ranks wrote one checkpoint"; else bad "checkpoint of 2 ranks (exit $rc)"; fi
run "$G" train --data "$FIX" --classes 0-4 --per-class 8 --epochs 2 --batch 16 --out "$T/r.graft" --resume "$T/r-ckpt.graft" --quiet
if [ "$rc" -eq 0 ] && [ "$(wc -l < "$T/r-log.csv")" -eq 3 ]; then ok "resumed in 1 process"; else bad "resume in 1 process (exit $rc)"; fi

# Sharded reading: on a class folder every rank decodes only the images of
# its slices of the global batches, and 2 ranks still train like 1 process.
/usr/bin/python3 "$SRC/tools/idx_to_pngs.py" -n 120 --folders "$FIX" "$T/pngs" >/dev/null 2>&1 \
    || bad "idx_to_pngs --folders"
mkdir -p "$T/folder"
for k in 0 1 2 3 4; do cp -r "$T/pngs/$k" "$T/folder/$k"; done
FT="train --data $T/folder --epochs 2 --batch 16 --quiet"
run "$G" $FT --out "$T/f1.graft"
expect "train on a folder, one process" 0
run $MPI "$G" $FT --sync-bn --checkpoint-every 1 --out "$T/f2.graft"
expect "mpirun -np 2 train on a folder" 0
cp "$T/f2-ckpt.graft" "$T/ckpt-before" 2>/dev/null || bad "no checkpoint written"
if awk -F, 'NR == FNR { if (FNR > 1) a[FNR] = $2; next }
            FNR > 1 { d = a[FNR] - $2; if (d < 0) d = -d; if (d > 1e-4 * (a[FNR] < 0 ? -a[FNR] : a[FNR]) + 1e-6) bad = 1; n++ }
            END { exit (bad || n != 2) }' "$T/f1-log.csv" "$T/f2-log.csv"; then
    ok "2 ranks reading their shards of a folder train like 1 process"
else
    bad "2 ranks on a folder vs 1 process"; cat "$T/f1-log.csv" "$T/f2-log.csv"
fi
# A linear probe on the folder: each rank extracts the features of its half
# of the images only, the halves are gathered, and the head trains like
# one process's (epoch losses within 1e-4, the same evaluation).
LP="finetune --from $T/src.graft --data $T/folder --strategy linear-probe --epochs 2 --batch 16 --quiet"
run "$G" $LP --out "$T/lp1.graft"
expect "linear probe on a folder, one process" 0
run $MPI "$G" $LP --out "$T/lp2.graft"
expect "mpirun -np 2 linear probe on a folder" 0
if awk -F, 'NR == FNR { if (FNR > 1) a[FNR] = $2; next }
            FNR > 1 { d = a[FNR] - $2; if (d < 0) d = -d; if (d > 1e-4 * (a[FNR] < 0 ? -a[FNR] : a[FNR]) + 1e-6) bad = 1; n++ }
            END { exit (bad || n != 2) }' "$T/lp1-log.csv" "$T/lp2-log.csv"; then
    ok "a linear probe over 2 ranks (features gathered) trains like 1 process"
else
    bad "linear probe, 2 ranks vs 1 process"; cat "$T/lp1-log.csv" "$T/lp2-log.csv"
fi
run "$G" eval --model "$T/lp1.graft" --data "$T/folder" --quiet
grep -i 'accuracy' "$T/out" | head -n 1 > "$T/lpacc1"
run "$G" eval --model "$T/lp2.graft" --data "$T/folder" --quiet
grep -i 'accuracy' "$T/out" | head -n 1 > "$T/lpacc2"
if [ -s "$T/lpacc1" ] && cmp -s "$T/lpacc1" "$T/lpacc2"; then ok "the two linear probes evaluate the same"; else bad "eval of both linear probes"; cat "$T/lpacc1" "$T/lpacc2"; fi

# A corrupt image: only the rank whose shard holds it decodes it, so exactly
# one rank names the file and the other says that rank failed; both stop
# without MPI_Abort (inside --sync-bn rendezvous too) and the checkpoint of
# an earlier run stays as it was.
printf 'not a png' > "$T/folder/3/zz-corrupt.png"
run $MPI "$G" $FT --epochs 1 --checkpoint-every 1 --sync-bn --out "$T/f2.graft"
cat "$T/out" "$T/err" > "$T/all"
if [ "$rc" -ne 0 ] && [ "$(grep -c 'zz-corrupt.png' "$T/all")" -eq 1 ] &&
   [ "$(grep -c 'rank [01] of 2 failed' "$T/all")" -eq 1 ] && ! grep -q 'MPI_ABORT' "$T/all" &&
   cmp -s "$T/f2-ckpt.graft" "$T/ckpt-before"; then
    ok "a corrupt image: one rank decodes it, both stop cleanly"
else
    bad "corrupt image under mpirun (exit $rc)"; cat "$T/all"
fi

# The same during a linear probe's feature extraction: the rank whose half
# holds the file names it, the other says that rank failed, no MPI_Abort.
run $MPI "$G" $LP --out "$T/lp3.graft"
cat "$T/out" "$T/err" > "$T/all"
if [ "$rc" -ne 0 ] && [ "$(grep -c 'zz-corrupt.png' "$T/all")" -eq 1 ] &&
   [ "$(grep -c 'rank [01] of 2 failed' "$T/all")" -eq 1 ] && ! grep -q 'MPI_ABORT' "$T/all"; then
    ok "a corrupt image during a linear probe's extraction: both ranks stop cleanly"
else
    bad "corrupt image in a linear probe under mpirun (exit $rc)"; cat "$T/all"
fi

# Plan jobs over 2 ranks sharing the state folder; rank 0 writes the summary.
cat > "$T/p.plan" <<PLAN
source src.graft
strategies linear-probe,finetune
epochs 1
batch 16
target shirts data=$FIX classes=5-9 per-class=6
PLAN
run $MPI "$G" plan run "$T/p.plan"
if [ "$rc" -eq 0 ] && [ "$(grep -c '^wrote .*summary.csv' "$T/out")" -eq 1 ] && [ "$(grep -c ',ok,' "$T/p-run/jobs.csv")" -eq 2 ]; then ok "plan over 2 ranks"; else bad "mpirun plan run (exit $rc)"; fi
finish
