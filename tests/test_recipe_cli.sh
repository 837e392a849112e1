#!/bin/sh
# graft finetune's default recipe and graft lr-find end to end on the
# committed fixture: the phases are announced, lr-find prints its curve
# with a suggestion and writes CSV and HTML, bad ranges exit 2.
# Usage: test_recipe_cli.sh GRAFT_EXECUTABLE SOURCE_ROOT
set -u
G=${1:?usage: test_recipe_cli.sh GRAFT SOURCE_ROOT}
SRC=${2:?usage: test_recipe_cli.sh GRAFT SOURCE_ROOT}
FIX="$SRC/data/fixtures/fmnist512-images-idx3-ubyte.gz"
. "$SRC/tests/shlib.sh"

run "$G" lr-find --help
if [ "$rc" -eq 0 ] && grep -q '^usage: graft lr-find' "$T/out"; then ok "lr-find --help"
else bad "lr-find --help (exit $rc)"; fi
run "$G" lr-find --from x.graft --data "$FIX" --lr-min 1 --lr-max 0.5
if [ "$rc" -eq 2 ] && grep -q "lr-min" "$T/err"; then ok "lr-find: an empty range exits 2"
else bad "lr-find empty range (exit $rc)"; fi
run "$G" finetune --from x.graft --data "$FIX" --strategy nonsense
if [ "$rc" -eq 2 ] && grep -q "expected recipe" "$T/err"; then ok "finetune --strategy lists recipe"
else bad "finetune --strategy nonsense (exit $rc)"; fi

run "$G" devices
if [ "$rc" -ne 0 ]; then
    echo "# no OpenCL device; skipping the rest"
    finish 77
fi
S="$T/src.graft"
run "$G" train --quiet --data "$FIX" --classes 0-4 --epochs 1 --batch 32 --out "$S"
expect "train a source on classes 0-4" 0

TGT="--from $S --data $FIX --classes 5-9 --per-class 8"
# shellcheck disable=SC2086
run "$G" finetune $TGT --eval-data "$FIX" --eval-classes 5-9 --epochs 2 --head-epochs 1 --batch 16 \
    --out "$T/r.graft"
if [ "$rc" -eq 0 ] && grep -q '^graft finetune: recipe from' "$T/out" &&
    grep -q '^recipe: phase 1, the new head alone on cached features for 1 epoch' "$T/out" &&
    grep -q '^recipe: phase 2, every layer for 2 epochs: backbone lr x0.1 (top) to x0.01' "$T/out" &&
    grep -q 'BatchNorm statistics frozen (8 images per class, below' "$T/out" &&
    [ "$(grep -c '^epoch [123]/3 ' "$T/out")" = 3 ]; then
    ok "finetune runs the recipe by default, phase by phase"
else bad "finetune default recipe (exit $rc)"; fi

# shellcheck disable=SC2086
run "$G" lr-find $TGT --steps 30 --batch 8 --head-epochs 1 --rows 8 --out "$T/lrf"
if [ "$rc" -eq 0 ] && grep -q '<- suggested' "$T/out" && grep -q '^suggested lr [0-9]' "$T/out" &&
    [ "$(head -n 1 "$T/lrf.csv")" = "step,lr,loss,smoothed" ] && grep -q '<svg' "$T/lrf.html"; then
    ok "lr-find prints the curve, a suggestion, and writes CSV and HTML"
else bad "lr-find (exit $rc)"; fi
finish
