#!/bin/sh
# shellcheck disable=SC2086 # $TARGET holds several options on purpose
# Validation study for graft score: does LogME rank source models the way
# their actual transfer accuracy does?
#
# Pretrains refnet candidates that differ in how long and on what they were
# trained, scores each with LogME on the target (Fashion-MNIST classes 5-9,
# 100 labelled images per class), then measures the real transfer accuracy
# on the target's test images (linear probe, and full fine-tuning), and
# reports Kendall's tau between the LogME and accuracy rankings.
#
# Usage: tools/score_study.sh [GRAFT] [OUTDIR]
#   GRAFT  graft executable (default build/src/graft)
#   OUTDIR work directory (default score-study); results in OUTDIR/results.csv
# Needs Debian's dataset-fashion-mnist and opencv-doc (digits.png), python3.
# About 15-20 minutes on 2 CPU cores with PoCL.
set -eu
G=${1:-build/src/graft}
O=${2:-score-study}
HERE=$(cd "$(dirname "$0")" && pwd)
FM=/usr/share/datasets/fashion-mnist
# The idx3 file path has no test split, so pretraining skips evaluation.
SRC="$FM/train-images-idx3-ubyte.gz"
TARGET="--data fashion-mnist --classes 5-9 --per-class 100"
mkdir -p "$O"
log() { echo "[$(date +%H:%M:%S)] $*"; }

# ---- candidates: name, then graft train arguments
pretrain() {
    name=$1
    shift
    if [ -s "$O/$name.graft" ]; then log "have $name"; return; fi
    log "pretrain $name: $*"
    "$G" train --quiet --batch 64 --out "$O/$name.graft" --log "$O/$name-log.csv" "$@" \
        >"$O/$name-train.txt" 2>&1
}
[ -d "$O/digits" ] || python3 "$HERE/digits_to_folder.py" "$O/digits" >/dev/null
pretrain fm04-1ep      --data "$SRC" --classes 0-4 --per-class 1000 --epochs 1
pretrain fm04-3ep      --data "$SRC" --classes 0-4 --per-class 1000 --epochs 3
pretrain fm04-50pc     --data "$SRC" --classes 0-4 --per-class 50 --epochs 3
pretrain digits-2ep    --data "$O/digits" --size 28 --epochs 2
pretrain fm09-2ep      --data "$SRC" --per-class 500 --epochs 2
# Weights as initialised (lr 0): only the BatchNorm statistics see data.
pretrain random-lr0    --data "$SRC" --classes 0-4 --per-class 20 --epochs 1 --lr 0 --momentum 0
CANDS="fm04-1ep fm04-3ep fm04-50pc digits-2ep fm09-2ep random-lr0"

# ---- LogME of every candidate on the same 500 target images
log "score"
set --
for c in $CANDS; do set -- "$@" "$O/$c.graft"; done
"$G" score $TARGET --csv "$O/score.csv" --json "$O/score.json" "$@" | tee "$O/score.txt"

# ---- actual transfer: linear probe and fine-tuning, evaluated on the
# test images of classes 5-9 (5000 images)
acc() { sed -n 's/^final test accuracy \([0-9.]*\)%.*/\1/p' "$1" | tail -n 1; }
for c in $CANDS; do
    if [ ! -s "$O/$c-lp.txt" ]; then
        log "linear-probe $c"
        "$G" finetune --quiet --from "$O/$c.graft" $TARGET --strategy linear-probe --epochs 30 \
            --out "$O/$c-lp.graft" >"$O/$c-lp.txt" 2>&1
    fi
    if [ ! -s "$O/$c-ft.txt" ]; then
        log "finetune $c"
        "$G" finetune --quiet --from "$O/$c.graft" $TARGET --strategy finetune --epochs 5 \
            --out "$O/$c-ft.graft" >"$O/$c-ft.txt" 2>&1
    fi
done

# ---- table and Kendall's tau
R="$O/results.csv"
echo "candidate,logme,linear_probe_acc,finetune_acc" >"$R.tmp"
for c in $CANDS; do
    s=$(awk -F, -v m="$O/$c.graft" '$2 == m { print $5 }' "$O/score.csv")
    echo "$c,$s,$(acc "$O/$c-lp.txt"),$(acc "$O/$c-ft.txt")" >>"$R.tmp"
done
mv "$R.tmp" "$R"
r=$(awk -F, '$7 == 1 { print $5 }' "$O/score.csv")
echo "random-init (graft score baseline): LogME $r"
column -s, -t "$R" 2>/dev/null || cat "$R"
printf 'Kendall tau (LogME vs linear probe): '
python3 "$HERE/kendall_tau.py" "$R" logme linear_probe_acc
printf 'Kendall tau (LogME vs finetune):     '
python3 "$HERE/kendall_tau.py" "$R" logme finetune_acc
