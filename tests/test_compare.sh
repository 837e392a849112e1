#!/bin/sh
# End-to-end check of graft compare on the committed 512-image
# Fashion-MNIST fixture: pretrain on classes 0-4, compare scratch, linear
# probe and fine-tuning on classes 5-9 with tiny settings.
# Usage: test_compare.sh GRAFT_EXECUTABLE SOURCE_ROOT
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed";
# exits 1 on any failure, 77 (skip) when no OpenCL device exists.
set -u
G=${1:?usage: test_compare.sh GRAFT SOURCE_ROOT}
SRC=${2:?usage: test_compare.sh GRAFT SOURCE_ROOT}
FIX="$SRC/data/fixtures/fmnist512-images-idx3-ubyte.gz"
T=$(mktemp -d "${TMPDIR:-/tmp}/graft-compare.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() {
    fail=$((fail + 1))
    echo "not ok - $1"
    for f in "$T/out" "$T/err"; do [ -s "$f" ] && sed 's/^/#   /' "$f" | tail -n 15; done
}
run() { "$@" >"$T/out" 2>"$T/err"; rc=$?; }
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ] || exit 1
    exit "${1:-0}"
}

# ---- usage (no device needed)
run "$G" compare --help
if [ "$rc" -eq 0 ] && grep -q '^usage: graft compare' "$T/out"; then ok "compare --help"; else bad "compare --help (exit $rc)"; fi
run "$G" compare --from x.graft --data "$FIX" --arms scratch,bogus
if [ "$rc" -eq 2 ] && grep -q "unknown arm 'bogus'" "$T/err"; then ok "bad --arms exits 2"; else bad "bad --arms (exit $rc)"; fi
run "$G" compare --from x.graft --data "$FIX" --arms finetune,finetune
if [ "$rc" -eq 2 ]; then ok "repeated arm exits 2"; else bad "repeated arm (exit $rc)"; fi
run "$G" compare --data "$FIX"
if [ "$rc" -eq 2 ] && grep -q -- '--from' "$T/err"; then ok "compare without --from exits 2"; else bad "no --from (exit $rc)"; fi
run "$G" compare --from x.graft --data "$FIX" --target 1.5
if [ "$rc" -eq 2 ] && grep -q -- '--target' "$T/err"; then ok "--target 1.5 exits 2"; else bad "--target 1.5 (exit $rc)"; fi

run "$G" devices
if [ "$rc" -ne 0 ]; then
    echo "# no OpenCL device; skipping the rest"
    finish 77
fi

# ---- pretrain a tiny source on classes 0-4
S="$T/src.graft"
run "$G" train --quiet --data "$FIX" --classes 0-4 --per-class 20 --epochs 1 --batch 16 --out "$S"
if [ "$rc" -eq 0 ] && [ -s "$S" ]; then ok "pretrain a source"; else bad "pretrain (exit $rc)"; finish; fi

# ---- compare on classes 5-9 (2 seeds x 3 arms x 2 epochs)
P="$T/rep"
run "$G" compare --from "$S" --data "$FIX" --classes 5-9 --per-class 5 --eval-data "$FIX" \
    --eval-classes 5-9 --epochs 2 --batch 16 --seeds 2 --out "$P"
if [ "$rc" -eq 0 ]; then ok "compare runs"; else bad "compare (exit $rc)"; finish; fi
for arm in scratch linear-probe finetune; do
    if grep -q "^== arm $arm seed 2" "$T/out"; then ok "progress header for $arm"; else bad "no header for $arm"; fi
done
if [ -s "$P.html" ] && grep -q '<svg' "$P.html" && grep -q '</html>' "$P.html"; then ok "HTML report with SVG"
else bad "HTML report"; fi
# header + 3 arms x 2 seeds x 2 epochs
if [ "$(wc -l <"$P.csv")" -eq 13 ] && head -n 1 "$P.csv" | grep -q '^arm,rep,epoch,seconds,accuracy$'
then ok "CSV has a row per arm, seed and epoch"; else bad "CSV rows: $(wc -l <"$P.csv")"; fi
if [ "$(wc -l <"$P-summary.csv")" -eq 4 ]; then ok "summary CSV has a row per arm"; else bad "summary CSV"; fi
for arm in linear-probe finetune; do
    if grep -Eq "^$arm: .*(time saved|no time saved)" "$T/out"; then ok "time saved line for $arm"
    else bad "no time saved line for $arm"; fi
done
if grep -q "^report: $P.html" "$T/out"; then ok "prints where the report is"; else bad "report path line"; fi

# ---- gradual alone (no scratch arm) still writes a report
run "$G" compare --quiet --from "$S" --data "$FIX" --classes 5-9 --per-class 5 --eval-data "$FIX" \
    --eval-classes 5-9 --epochs 2 --batch 16 --arms gradual --out "$T/g"
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$T/g.csv")" -eq 3 ] && grep -q 'gradual: .*time saved' "$T/out"
then ok "gradual-only compare"; else bad "gradual-only compare (exit $rc)"; fi

# ---- --target sets the accuracy time to target is measured to; the report says so
run "$G" compare --quiet --from "$S" --data "$FIX" --classes 5-9 --per-class 5 --eval-data "$FIX" \
    --eval-classes 5-9 --epochs 2 --batch 16 --arms scratch,linear-probe --target 0.25 --out "$T/t"
if [ "$rc" -eq 0 ] && grep -q '^linear-probe: .* the target 0\.2500' "$T/out" && ! grep -q "scratch's best" "$T/out" \
    && grep -q '0\.2500 (set by --target)' "$T/t.html" && ! grep -q '^note: ' "$T/out" \
    && head -n 1 "$T/t-summary.csv" | grep -q '^arm,reps,final_accuracy_mean,final_accuracy_std,reps_reaching_target,'
then ok "--target 0.25: lines and report name the given target"; else bad "--target 0.25 (exit $rc)"; fi
if python3 - "$T/t.csv" "$T/t-summary.csv" <<'PY'
import csv, sys
# the columns are unchanged, and each arm's seconds to target is that of
# its first epoch at or above 0.25 (one seed), empty when none reaches it
rows = list(csv.DictReader(open(sys.argv[1])))
summ = list(csv.DictReader(open(sys.argv[2])))
assert list(rows[0]) == ["arm", "rep", "epoch", "seconds", "accuracy"]
assert [r["arm"] for r in summ] == ["scratch", "linear-probe"]
for r in summ:
    hit = [float(x["seconds"]) for x in rows if x["arm"] == r["arm"] and float(x["accuracy"]) >= 0.25]
    if hit:
        assert r["reps_reaching_target"] == "1" and abs(float(r["seconds_to_target_mean"]) - hit[0]) < 1e-6, r
    else:
        assert r["reps_reaching_target"] == "0" and r["seconds_to_target_mean"] == "", r
PY
then ok "--target: CSV columns kept, times measured to the given target"; else bad "--target CSV"; fi

# ---- scratch's best is 100%: a note says time to target is time to a
# perfect score (two very different classes, one evaluation image each)
python3 "$SRC/tools/idx_to_pngs.py" -n 512 --folders "$FIX" "$T/all" >/dev/null 2>&1 || bad "idx_to_pngs --folders"
for pair in 1:trouser 8:bag; do
    mkdir -p "$T/tr/${pair#*:}" "$T/ev/${pair#*:}"
    cp "$T/all/${pair%%:*}"/*.png "$T/tr/${pair#*:}/"
    cp "$(ls "$T/all/${pair%%:*}"/*.png | head -n 1)" "$T/ev/${pair#*:}/"
done
run "$G" compare --quiet --from "$S" --data "$T/tr" --eval-data "$T/ev" --per-class 20 --epochs 4 \
    --batch 8 --arms scratch --out "$T/p"
if [ "$rc" -eq 0 ] && grep -q "^scratch: reaches scratch's best 1\.0000" "$T/out" \
    && grep -q "^note: scratch's best is 100% accuracy, so time to target is time to a perfect score" "$T/out"
then ok "scratch's best of 100% gets a note"; else bad "100% note (exit $rc)"; fi

# ---- no evaluation data: the fixture has no test split
run "$G" compare --quiet --from "$S" --data "$FIX" --classes 5-9 --per-class 5 --epochs 1 --out "$T/n"
if [ "$rc" -eq 1 ] && grep -q 'eval-data' "$T/err"; then ok "no evaluation data: exit 1 naming --eval-data"
else bad "no evaluation data (exit $rc)"; fi

finish
