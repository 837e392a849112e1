#!/bin/sh
# A photo-folder workflow end to end: class folders made here, classes
# matched by name between a model and data that holds only some of them.
# Usage: test_photo_cli.sh GRAFT_EXECUTABLE SOURCE_ROOT
# Exits 1 on any failure, 77 (skip) when no OpenCL device exists.
set -u
G=${1:?usage: test_photo_cli.sh GRAFT SOURCE_ROOT}
SRC=${2:?usage: test_photo_cli.sh GRAFT SOURCE_ROOT}
FIX="$SRC/data/fixtures/fmnist512-images-idx3-ubyte.gz"
. "$SRC/tests/shlib.sh"

run "$G" devices
if [ "$rc" -ne 0 ]; then
    echo "# no OpenCL device; skipping"
    finish 77
fi

# Four named classes from the fixture (labels 1 trouser, 5 sandal, 8 bag,
# 9 boot): train/<name>/*.png; the test folder lacks the first class by
# name order, so matching by position would shift every label.
python3 "$SRC/tools/idx_to_pngs.py" -n 512 --folders "$FIX" "$T/all" >/dev/null 2>&1 \
    || { bad "idx_to_pngs --folders"; finish; }
for pair in 1:bag 5:boot 8:sandal 9:trouser; do
    lab=${pair%%:*} name=${pair#*:}
    mkdir -p "$T/train/$name" "$T/test/$name"
    cp "$T/all/$lab"/*.png "$T/train/$name/"
    [ "$name" = bag ] || cp "$T/all/$lab"/*.png "$T/test/$name/"
done
# mixed formats: committed JPEG fixtures among the PNGs, one under a PNG name
J="$SRC/data/fixtures/jpeg"
cp "$J/baseline.jpg" "$T/train/bag/j1.jpg"
cp "$J/progressive.jpg" "$T/train/boot/j2.jpeg"
cp "$J/exif6_be.jpg" "$T/train/boot/j3.png"
cp "$J/cmyk_adobe.jpg" "$T/test/boot/j4.jpg"
M="$T/m.graft"
run "$G" train --quiet --data "$T/train" --epochs 4 --batch 16 --lr 0.05 --out "$M"
if [ "$rc" -eq 0 ] && [ -s "$M" ]; then ok "train on a 4-class folder of PNGs and JPEGs"; else bad "train (exit $rc)"; finish; fi
run "$G" eval --model "$M" --data "$T/train" --json "$T/all.json"
full=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["top1"])' "$T/all.json" 2>/dev/null)
run "$G" eval --model "$M" --data "$T/test" --json "$T/three.json"
three=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["top1"])' "$T/three.json" 2>/dev/null)
if [ "$rc" -eq 0 ] && python3 -c "import sys; sys.exit(not (float('$three') >= 0.7 and float('$full') >= 0.7))" 2>/dev/null
then ok "eval on 3 of the model's 4 classes matches them by name (top-1 $three, all four $full)"
else bad "eval on 3 of 4 classes: top-1 '$three' (all four '$full', exit $rc)"; fi
if grep -q "has no images of 1 of the 4 classes of the model: 'bag'" "$T/err"; then ok "eval names the model class absent from the data"
else bad "eval does not name the absent class"; fi
if grep -q '^top-1 accuracy' "$T/out" && ! grep -q '^top-5' "$T/out"; then ok "no top-5 line with 4 classes"
else bad "top-5 printed with 4 classes"; fi
mkdir -p "$T/test/zebra" && cp "$T/all/0"/*.png "$T/test/zebra/"
nz=$(ls "$T/test/zebra" | wc -l)
run "$G" eval --model "$M" --data "$T/test"
if [ "$rc" -eq 1 ] && grep -q "the model lacks 1 of the 4 classes of .*: 'zebra'" "$T/err"
then ok "a data class the model lacks is an error naming it"; else bad "unknown class (exit $rc)"; fi
run "$G" eval --model "$M" --data "$T/test" --allow-unknown --json "$T/skip.json"
skip=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["top1"])' "$T/skip.json" 2>/dev/null)
if [ "$rc" -eq 0 ] && grep -q "skipped $nz images of 1 class the model lacks: 'zebra'" "$T/err" && [ "$skip" = "$three" ]
then ok "--allow-unknown skips them and says how many ($nz)"; else bad "--allow-unknown (exit $rc, top-1 '$skip')"; fi
rm -rf "$T/test/zebra"
run "$G" finetune --quiet --from "$M" --data "$T/test" --keep-head --strategy linear-probe --epochs 1 \
    --lr 0.001 --out "$T/kept.graft"
run2=$rc
run "$G" eval --model "$T/kept.graft" --data "$T/test" --json "$T/kept.json"
kept=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["top1"], j["classes"])' "$T/kept.json" 2>/dev/null)
if [ "$run2" -eq 0 ] && [ "$rc" -eq 0 ] && python3 -c "import sys; a,k='$kept'.split(); sys.exit(not (float(a) >= 0.7 and k == '4'))" 2>/dev/null
then ok "finetune --keep-head on 3 of 4 classes keeps the labels by name ($kept)"; else bad "finetune --keep-head (exit $run2/$rc, '$kept')"; fi

# ---- info shortens a long class list (a 30-class list from a CSV)
i=0
for f in "$T"/all/*/*.png; do
    [ $i -lt 30 ] || break
    printf '%s,class_%02d\n' "$f" $i
    i=$((i + 1))
done >"$T/many.csv"
run "$G" train --quiet --data "$T/many.csv" --epochs 1 --out "$T/many.graft"
run "$G" info --model "$T/many.graft"
if [ "$rc" -eq 0 ] && grep -q "^classes (30): 0=class_00, .* 11=class_11, ... 15 more ..., 27=class_27, 28=class_28, 29=class_29$" "$T/out"
then ok "info shortens a 30-class list"; else bad "info class list (exit $rc)"; grep '^classes' "$T/out"; fi

# ---- --classes by name (mixed with indices)
run "$G" eval --model "$M" --data "$T/train" --classes trouser,0 --json "$T/sel.json"
sel=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["images"], sum(c["support"] for c in j["per_class"] if c["name"] in ("trouser","bag")))' "$T/sel.json" 2>/dev/null)
set -- $sel
if [ "$rc" -eq 0 ] && [ -n "$sel" ] && [ "$1" = "$2" ]; then ok "--classes trouser,0 selects by name and index ($1 images)"
else bad "--classes by name (exit $rc, '$sel')"; fi
run "$G" eval --model "$M" --data "$T/train" --classes trouser,zebra
if [ "$rc" -eq 2 ] && grep -q "'zebra' is neither a class name of the data (bag, boot, ...)" "$T/err"
then ok "an unknown class name in --classes is a usage error naming it"; else bad "--classes zebra (exit $rc)"; fi

# ---- predict on JPEGs; formats graft does not read are named
mkdir -p "$T/pred"
cp "$J/baseline.jpg" "$T/pred/a.jpg"
cp "$T/test/boot/$(ls "$T/test/boot" | head -n 1)" "$T/pred/b.png"
cp "$J/png_named.jpg" "$T/pred/c.jpg"
run "$G" predict --quiet --model "$M" --csv - "$T/pred"
if [ "$rc" -eq 0 ] && [ "$(grep -c '^.*/[abc]\.\(jpg\|png\),' "$T/out")" -eq 3 ]; then ok "predict a folder with JPEGs"
else bad "predict JPEGs (exit $rc)"; fi
cp "$J/sample.webp" "$T/pred/d.jpg"
run "$G" predict --quiet --model "$M" "$T/pred"
if [ "$rc" -eq 1 ] && grep -q "d.jpg: unsupported image format (WebP); graft reads PNG and JPEG" "$T/err"
then ok "a WebP-headed file is named as an unsupported format"; else bad "WebP in predict (exit $rc)"; fi
run "$G" predict --quiet --skip-bad --model "$M" "$T/pred"
if [ "$rc" -eq 0 ] && grep -q "skipped 1 bad file" "$T/err"; then ok "predict --skip-bad skips it and counts it"
else bad "predict --skip-bad (exit $rc)"; fi
cp "$J/sample.webp" "$T/test/boot/w.png"
run "$G" eval --model "$M" --data "$T/test"
if [ "$rc" -eq 1 ] && grep -q "w.png: unsupported image format (WebP)" "$T/err"; then ok "eval names a WebP in a class folder"
else bad "WebP in a class folder (exit $rc)"; fi
run "$G" eval --model "$M" --data "$T/test" --skip-bad
if [ "$rc" -eq 0 ] && grep -q "skipped 1 bad file (1 in formats graft does not read)" "$T/err"
then ok "eval --skip-bad skips and counts the unsupported file"; else bad "eval --skip-bad (exit $rc)"; fi
rm -f "$T/test/boot/w.png"
rm -f "$T/pred/d.jpg"

# ---- export with the model card; import reads it back
run "$G" export "$M" --out "$T/m.onnx"
if [ "$rc" -eq 0 ] && [ -s "$T/m.onnx" ]; then ok "export"; else bad "export (exit $rc)"; fi
"$G" info --model "$M" >"$T/info0" 2>&1
run "$G" import "$T/m.onnx" --out "$T/back.graft"
"$G" info --model "$T/back.graft" >"$T/info1" 2>&1
if [ "$rc" -eq 0 ] && grep -q "model card: 4 class names" "$T/err" \
    && grep -q "classes (4): 0=bag, 1=boot, 2=sandal, 3=trouser" "$T/info1" \
    && [ "$(grep '^normalisation' "$T/info0")" = "$(grep '^normalisation' "$T/info1")" ]
then ok "import reads the class names and mean/std back from the card"
else bad "card round trip (exit $rc)"; sed 's/^/#   /' "$T/info1" | tail -n 4; fi
run "$G" predict --quiet --model "$T/back.graft" --csv - "$T/pred"
cp "$T/out" "$T/pred_back.csv"
run "$G" predict --quiet --model "$M" --csv - "$T/pred"
if cmp -s "$T/out" "$T/pred_back.csv"; then ok "the re-imported model predicts as the original"
else bad "re-imported predictions differ"; fi
cp "$T/out" "$T/pred_graft.csv"
PY=""
for p in "${GRAFT_PYTHON:-}" /usr/bin/python3 python3; do
    [ -n "$p" ] && "$p" -c 'import onnx' >/dev/null 2>&1 && { PY=$p; break; }
done
if [ -z "$PY" ]; then ok "ONNX metadata_props # SKIP no python onnx package"
else
    run "$PY" - "$T/m.onnx" "$T/info0" <<'PYEOF'
import json, sys, onnx
card = {p.key: p.value for p in onnx.load(sys.argv[1]).metadata_props}
norm = [l for l in open(sys.argv[2]) if l.startswith("normalisation")][0]
assert json.loads(card["class_names"]) == ["bag", "boot", "sandal", "trouser"], card
assert json.loads(card["input_shape"]) == [1, 28, 28], card   # refnet trains grey at 28x28
assert card["colour_mode"] == "grey" and card["pixel_scale"] == "1/255", card
assert card["resize"] == "shorter_side_bilinear_centre_crop" and card["output"] == "logits", card
mean, std = json.loads(card["mean"]), json.loads(card["std"])
assert len(mean) == 1 and len(std) == 1 and std[0] > 0, card
assert "%.4f" % mean[0] in norm and "%.4f" % std[0] in norm, (norm, mean, std)
PYEOF
    if [ "$rc" -eq 0 ]; then ok "ONNX metadata_props hold the model card (python3-onnx)"; else bad "metadata_props"; fi
fi
if [ -n "$PY" ] && "$PY" -c 'import onnxruntime, PIL, numpy' >/dev/null 2>&1; then
    run "$PY" "$SRC/tools/onnx_predict.py" "$T/m.onnx" "$T/pred"/*
    if [ "$rc" -eq 0 ] && [ "$(cut -d, -f1,2 "$T/out")" = "$(tail -n +2 "$T/pred_graft.csv" | cut -d, -f1,2)" ]
    then ok "tools/onnx_predict.py (ONNX Runtime) predicts as graft"; else bad "onnx_predict.py differs from graft"; fi
else
    ok "ONNX Runtime reproduces graft predict # SKIP no onnxruntime/Pillow/numpy"
fi

finish
