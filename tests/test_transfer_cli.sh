#!/bin/sh
# End-to-end checks of graft cv, graft selftrain and the cached frozen
# prefix (graft compare --arms partial, graft finetune --freeze-until) on
# the committed 512-image Fashion-MNIST fixture, with tiny settings.
# Usage: test_transfer_cli.sh GRAFT_EXECUTABLE SOURCE_ROOT
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed";
# exits 1 on any failure, 77 (skip) when no OpenCL device exists.
set -u
G=${1:?usage: test_transfer_cli.sh GRAFT SOURCE_ROOT}
SRC=${2:?usage: test_transfer_cli.sh GRAFT SOURCE_ROOT}
FIX="$SRC/data/fixtures/fmnist512-images-idx3-ubyte.gz"
. "$SRC/tests/shlib.sh"
# pycheck DESC SCRIPT ARGS...: python3 exit status decides.
pycheck() {
    d=$1
    shift
    if python3 -c "$@" >"$T/py" 2>&1; then ok "$d"; else bad "$d"; sed 's/^/#   /' "$T/py"; fi
}

# ---- usage (no device needed)
for c in cv selftrain; do
    run "$G" "$c" --help
    if [ "$rc" -eq 0 ] && grep -q "^usage: graft $c" "$T/out"; then ok "$c --help"; else bad "$c --help (exit $rc)"; fi
done
run "$G" --help
if [ "$rc" -eq 0 ] && grep -q ' cv ' "$T/out" && grep -q ' selftrain ' "$T/out"; then ok "graft --help lists cv and selftrain"
else bad "graft --help"; fi
run "$G" cv --data "$FIX"
expect "cv without --from exits 2" 2
run "$G" cv --from x.graft --data "$FIX" --folds 1
expect "cv --folds 1 exits 2" 2
run "$G" cv --from x.graft --data "$FIX" --strategy bogus
expect "cv --strategy bogus exits 2" 2
run "$G" cv --from x.graft --data "$FIX" --devices 0,,1
expect "cv --devices 0,,1 exits 2" 2
run "$G" cv --from x.graft --data "$FIX" --bogus
expect "cv --bogus exits 2" 2
run "$G" selftrain --from x.graft --data "$FIX"
expect "selftrain without --unlabelled exits 2" 2
run "$G" selftrain --from x.graft --data "$FIX" --unlabelled "$FIX" --threshold -1
expect "selftrain --threshold -1 exits 2" 2
run "$G" selftrain --from x.graft --data "$FIX" --unlabelled "$FIX" --per-class-cap x
expect "selftrain --per-class-cap x exits 2" 2
run "$G" selftrain --from x.graft --data "$FIX" --unlabelled "$FIX" --bn maybe
expect "selftrain --bn maybe exits 2" 2
run "$G" compare --help
if [ "$rc" -eq 0 ] && grep -q 'partial' "$T/out" && grep -q -- '--freeze-until' "$T/out"; then
    ok "compare --help describes the partial arm and --freeze-until"
else bad "compare --help (exit $rc)"; fi
run "$G" finetune --help
if [ "$rc" -eq 0 ] && grep -q -- '--no-cache' "$T/out"; then ok "finetune --help lists --no-cache"
else bad "finetune --help (exit $rc)"; fi

# ---- a source model
run "$G" devices
if [ "$rc" -ne 0 ]; then
    echo "# no OpenCL device; skipping the rest"
    finish 77
fi
S="$T/src.graft"
run "$G" train --quiet --data "$FIX" --classes 0-4 --per-class 10 --epochs 1 --batch 16 --out "$S"
if [ "$rc" -eq 0 ] && [ -s "$S" ]; then ok "train a source model"; else bad "train (exit $rc)"; finish; fi

# ---- cv
CV="--from $S --data $FIX --classes 5-9 --per-class 7 --epochs 1 --batch 16 --quiet"
# shellcheck disable=SC2086
run "$G" cv $CV --folds 3 --json "$T/cv1.json" --csv "$T/cv1.csv"
if [ "$rc" -eq 0 ] && [ "$(grep -Ec '^ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9.]+% +[0-9.]+$' "$T/out")" -eq 3 ] \
    && grep -Eq '^mean accuracy: [0-9.]+% ± [0-9.]+%$' "$T/out"; then ok "cv --folds 3 prints 3 fold lines and the mean"
else bad "cv --folds 3 (exit $rc)"; fi
if [ "$(wc -l <"$T/cv1.csv" 2>/dev/null)" = 4 ]; then ok "cv --csv has a header and 3 rows"; else bad "cv --csv"; fi
pycheck "cv folds are stratified (held-out sizes within the class count, all images used once)" '
import json, sys
j = json.load(open(sys.argv[1]))
f = j["folds"]; h = [x["heldout"] for x in f]
assert len(f) == 3 and j["images"] == 35 and j["classes"] == 5, j
assert sum(h) == 35 and max(h) - min(h) <= j["classes"], h
assert all(x["train"] + x["heldout"] == 35 for x in f), f
' "$T/cv1.json"
# shellcheck disable=SC2086
run "$G" cv $CV --folds 3 --devices 0,0 --json "$T/cv2.json"
if [ "$rc" -eq 0 ]; then ok "cv --devices 0,0 runs"; else bad "cv --devices 0,0 (exit $rc)"; fi
pycheck "cv --devices 0,0 (two threads) equals the sequential run" '
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
key = lambda j: [(x["fold"], x["train"], x["heldout"], x["accuracy"], x["loss"]) for x in j["folds"]]
assert b["devices"] == 2, b
assert key(a) == key(b), (key(a), key(b))
assert a["mean_accuracy"] == b["mean_accuracy"]
' "$T/cv1.json" "$T/cv2.json"
for s in linear-probe gradual; do
    # shellcheck disable=SC2086
    run "$G" cv $CV --folds 2 --strategy "$s" --refit --out "$T/cv-$s.graft"
    if [ "$rc" -eq 0 ] && [ -s "$T/cv-$s.graft" ] && grep -q '^mean accuracy' "$T/out"; then
        ok "cv --strategy $s --refit writes a model"
    else bad "cv --strategy $s --refit (exit $rc)"; fi
done
# shellcheck disable=SC2086
run "$G" cv $CV --folds 50
if [ "$rc" -eq 1 ] && grep -q 'empty' "$T/err"; then ok "cv with more folds than images fails"; else bad "cv --folds 50 (exit $rc)"; fi

# ---- partial arm: fine-tuning above a frozen, cached prefix
CMP="--from $S --data $FIX --classes 5-9 --per-class 5 --eval-data $FIX --eval-classes 5-9
     --epochs 2 --batch 16"
# shellcheck disable=SC2086
run "$G" compare $CMP --arms scratch,partial --out "$T/p"
if [ "$rc" -eq 0 ] && grep -q "^== arm partial seed 1" "$T/out" \
    && grep -q "partial arm: layers up to 'pool1' (node 7) frozen" "$T/out"; then
    ok "compare --arms scratch,partial runs, default cut pool1"
else bad "compare --arms scratch,partial (exit $rc)"; fi
if [ "$(grep -c '^partial,0,' "$T/p.csv" 2>/dev/null)" = 2 ] && grep -q '^partial: ' "$T/out" \
    && grep -q 'frozen and cached' "$T/p.html"; then
    ok "partial arm in the CSV, the summary and the report"
else bad "partial arm in the outputs"; fi
# shellcheck disable=SC2086
run "$G" compare $CMP --arms partial --freeze-until conv3.act --quiet --out "$T/p1"
if [ "$rc" -eq 0 ] && [ "$(grep -c '^partial,0,' "$T/p1.csv" 2>/dev/null)" = 2 ]; then
    ok "compare --arms partial --freeze-until conv3.act"
else bad "compare --freeze-until conv3.act (exit $rc)"; fi
# shellcheck disable=SC2086
run "$G" compare $CMP --arms partial --freeze-until 10 --quiet --out "$T/p7"
if [ "$rc" -eq 0 ] && [ -s "$T/p7.csv" ] \
    && [ "$(cut -d, -f1-3,5 "$T/p1.csv")" = "$(cut -d, -f1-3,5 "$T/p7.csv")" ]; then
    ok "--freeze-until 10 (an index) is conv3.act"
else bad "--freeze-until 10 (exit $rc)"; fi
# shellcheck disable=SC2086
run "$G" compare $CMP --arms partial --freeze-until nosuch --out "$T/px"
if [ "$rc" -eq 1 ] && grep -q "'nosuch': no such layer" "$T/err"; then ok "unknown --freeze-until layer: exit 1 naming it"
else bad "--freeze-until nosuch (exit $rc)"; fi
# shellcheck disable=SC2086
run "$G" compare $CMP --arms partial --freeze-until fc --out "$T/px"
if [ "$rc" -eq 1 ] && grep -q "cannot cache the output of 'fc'" "$T/err"; then
    ok "--freeze-until at the classifier: exit 1 naming it"
else bad "--freeze-until fc (exit $rc)"; fi
# shellcheck disable=SC2086
run "$G" compare $CMP --arms partial --augment flip --out "$T/px"
if [ "$rc" -eq 1 ] && grep -q "augment" "$T/err"; then ok "partial arm with augmentation: exit 1"
else bad "partial with --augment flip (exit $rc)"; fi

# ---- finetune --freeze-until caches the prefix unless --no-cache or augmentation
FT="--from $S --data $FIX --classes 5-9 --per-class 5 --eval-data $FIX --eval-classes 5-9
    --epochs 2 --batch 16 --freeze-until pool1 --strategy finetune"
# shellcheck disable=SC2086
run "$G" finetune $FT --out "$T/fc.graft"
if [ "$rc" -eq 0 ] && [ "$(grep -c "caching the output of 'pool1' once" "$T/out")" = 1 ]; then
    ok "finetune --freeze-until pool1 says it caches"
else bad "finetune --freeze-until pool1 (exit $rc)"; fi
grep '^epoch' "$T/out" | sed 's/ [0-9]* img\/s .*//' >"$T/fc.epochs"
# shellcheck disable=SC2086
run "$G" finetune $FT --no-cache --out "$T/fn.graft"
if [ "$rc" -eq 0 ] && ! grep -q "caching" "$T/out"; then ok "finetune --no-cache does not cache"
else bad "finetune --no-cache (exit $rc)"; fi
grep '^epoch' "$T/out" | sed 's/ [0-9]* img\/s .*//' >"$T/fn.epochs"
if [ -s "$T/fc.epochs" ] && cmp -s "$T/fc.epochs" "$T/fn.epochs"; then
    ok "cached and uncached finetune: the same losses and accuracies"
else bad "cached vs uncached epochs differ"; diff "$T/fc.epochs" "$T/fn.epochs" | sed 's/^/#   /'; fi
run "$G" eval --model "$T/fc.graft" --data "$FIX" --classes 5-9
a=$(grep -E '^(top-1 accuracy|mean loss):' "$T/out" | tr '\n' ' ')
run "$G" eval --model "$T/fn.graft" --data "$FIX" --classes 5-9
b=$(grep -E '^(top-1 accuracy|mean loss):' "$T/out" | tr '\n' ' ')
if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "the cached run's model file evaluates as the uncached one ($a)"
else bad "eval of cached '$a' vs uncached '$b' models"; fi
# shellcheck disable=SC2086
run "$G" finetune $FT --augment flip --out "$T/fa.graft"
if [ "$rc" -eq 0 ] && grep -q "not caching the output of 'pool1': augmentation" "$T/out"; then
    ok "finetune with augmentation falls back, with a note"
else bad "finetune --augment flip (exit $rc)"; fi

# ---- selftrain
ST="--from $S --data $FIX --classes 5-9 --per-class 5 --eval-data $FIX --unlabelled $FIX
    --unlabelled-per-class 8 --epochs 1 --batch 16 --quiet"
# shellcheck disable=SC2086
run "$G" selftrain $ST --rounds 2 --threshold 0.0 --per-class-cap 5 --json "$T/st.json" --out "$T/st.graft"
if [ "$rc" -eq 0 ] && [ -s "$T/st.graft" ] && [ "$(grep -c '^round [0-9]' "$T/out")" -eq 3 ]; then
    ok "selftrain prints rounds 0..2 and writes the model"
else bad "selftrain (exit $rc)"; fi
pycheck "selftrain threshold 0, cap 5 keeps min(5, predicted) per class" '
import json, sys
j = json.load(open(sys.argv[1]))
r = j["rounds"]
assert len(r) == 3 and j["pool"] == 40 and r[0]["kept"] == 0, j
for x in r[1:]:
    assert sum(x["candidates"]) == 40, x
    assert x["per_class"] == [min(5, c) for c in x["candidates"]], x
    assert x["kept"] == sum(x["per_class"]) and x["train"] == 25 + x["kept"], x
    assert x["checked"] == x["kept"] and 0 <= x["correct"] <= x["kept"], x
' "$T/st.json"
# shellcheck disable=SC2086
run "$G" selftrain $ST --rounds 1 --threshold 1.01 --json "$T/st0.json" --out "$T/st0.graft"
pycheck "selftrain threshold 1.01 keeps none" '
import json, sys
j = json.load(open(sys.argv[1]))
r = j["rounds"][1]
assert r["kept"] == 0 and sum(r["candidates"]) == 0 and r["train"] == 25, r
' "$T/st0.json"

finish
