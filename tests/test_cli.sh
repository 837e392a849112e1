#!/bin/sh
# End-to-end checks of the graft command-line tool on the committed
# 512-image Fashion-MNIST fixture.
# Usage: test_cli.sh GRAFT_EXECUTABLE SOURCE_ROOT
# Prints "ok - ..." / "not ok - ..." per check and "N passed, M failed";
# exits 1 on any failure, 77 (skip) when no OpenCL device exists.
set -u
G=${1:?usage: test_cli.sh GRAFT SOURCE_ROOT}
SRC=${2:?usage: test_cli.sh GRAFT SOURCE_ROOT}
FIX="$SRC/data/fixtures/fmnist512-images-idx3-ubyte.gz"
. "$SRC/tests/shlib.sh"

# ---- usage (no device needed)
for c in devices train eval predict info; do
    run "$G" "$c" --help
    if [ "$rc" -eq 0 ] && grep -q '^usage: graft' "$T/out"; then ok "$c --help"; else bad "$c --help (exit $rc)"; fi
done
run "$G" --help
if [ "$rc" -eq 0 ] && grep -q 'predict' "$T/out"; then ok "graft --help lists commands"; else bad "graft --help"; fi
run "$G" frobnicate
if [ "$rc" -eq 2 ] && grep -q "unknown command 'frobnicate'" "$T/err"; then ok "unknown command exits 2"; else bad "unknown command (exit $rc)"; fi
run "$G" eval --bogus
if [ "$rc" -eq 2 ] && grep -q "unknown option '--bogus'" "$T/err"; then ok "unknown flag exits 2"; else bad "unknown flag (exit $rc)"; fi
run "$G" eval --modle m.graft
if [ "$rc" -eq 2 ] && grep -q "unknown option '--modle'; did you mean --model?" "$T/err"; then ok "an unknown option suggests the nearest"
else bad "nearest option (exit $rc)"; fi
run "$G" finetune --strat linear-probe
if [ "$rc" -eq 2 ] && grep -q "did you mean --strategy?" "$T/err"; then ok "a prefix of one option suggests it"
else bad "prefix suggestion (exit $rc)"; fi
# --help defaults: every "(default X)" in each command's help equals the value
# its option table starts from (args_check_defaults; "{}" prints the value)
for c in train finetune cv selftrain score compare eval predict info import export; do
    run "$G" "$c" --help-defaults
    if [ "$rc" -eq 0 ] && grep -q " 0 differ$" "$T/out"; then ok "$c --help defaults equal the code's"
    else bad "$c --help defaults (exit $rc)"; fi
done
# missing paths and ONNX models are refused before any device is opened
# (GRAFT_DEVICE names no device, so reaching the device would fail otherwise)
run env GRAFT_DEVICE=no-such-device "$G" eval --model "$T/none.graft"
if [ "$rc" -eq 1 ] && grep -q -- "--model $T/none.graft does not exist" "$T/err"; then ok "a missing --model: does not exist"
else bad "missing --model (exit $rc)"; fi
run env GRAFT_DEVICE=no-such-device "$G" eval --model "$SRC/data/onnx/resnet_mini.onnx"
if [ "$rc" -eq 1 ] && grep -q "is an ONNX model; convert it" "$T/err" && grep -q "graft import .*resnet_mini.onnx --out" "$T/err"
then ok "--model x.onnx points to graft import"; else bad "--model x.onnx (exit $rc)"; fi
run env GRAFT_DEVICE=no-such-device "$G" finetune --from "$SRC/data/onnx/resnet_mini.onnx" --data "$T/none"
if [ "$rc" -eq 1 ] && grep -q "is an ONNX model" "$T/err"; then ok "finetune --from x.onnx points to graft import"
else bad "finetune --from x.onnx (exit $rc)"; fi
touch "$T/x.graft"
run env GRAFT_DEVICE=no-such-device "$G" finetune --from "$T/x.graft" --data "$T/none"
if [ "$rc" -eq 1 ] && grep -q -- "--data $T/none does not exist" "$T/err"; then ok "finetune: a missing --data does not exist, before the device"
else bad "finetune missing --data (exit $rc)"; fi
run env GRAFT_DEVICE=no-such-device "$G" predict --model "$T/x.graft" "$T/none.jpg"
if [ "$rc" -eq 1 ] && grep -q "$T/none.jpg does not exist" "$T/err"; then ok "predict: a missing image does not exist, before the device"
else bad "predict missing image (exit $rc)"; fi
# the workflow commands: every path option, and score's positional models
nodev() { # nodev WHAT EXPECTED-MESSAGE ARGS...: exit 1 with the path's message, not the device's
    what=$1 msg=$2
    shift 2
    run env GRAFT_DEVICE=no-such-device "$G" "$@"
    if [ "$rc" -eq 1 ] && grep -q -- "$msg does not exist" "$T/err" && ! grep -q "no-such-device" "$T/err"
    then ok "$what does not exist, before the device"; else bad "$what (exit $rc)"; cat "$T/err"; fi
}
nodev "cv: a missing --from" "--from $T/none.graft" cv --from "$T/none.graft" --data "$FIX"
nodev "cv: a missing --data" "--data $T/none" cv --from "$T/x.graft" --data "$T/none"
nodev "selftrain: a missing --from" "--from $T/none.graft" selftrain --from "$T/none.graft" --data "$FIX" --unlabelled "$FIX"
nodev "selftrain: a missing --data" "--data $T/none" selftrain --from "$T/x.graft" --data "$T/none" --unlabelled "$FIX"
nodev "selftrain: a missing --unlabelled" "--unlabelled $T/none" selftrain --from "$T/x.graft" --data "$FIX" --unlabelled "$T/none"
nodev "compare: a missing --from" "--from $T/none.graft" compare --from "$T/none.graft" --data "$FIX"
nodev "compare: a missing --data" "--data $T/none" compare --from "$T/x.graft" --data "$T/none"
nodev "compare: a missing --eval-data" "--eval-data $T/none" compare --from "$T/x.graft" --data "$FIX" --eval-data "$T/none"
nodev "score: a missing --data" "--data $T/none" score --data "$T/none" "$T/x.graft"
nodev "score: a missing model" "graft score: $T/none.graft" score --data "$FIX" "$T/x.graft" "$T/none.graft"
run env GRAFT_DEVICE=no-such-device "$G" score --data "$FIX" "$SRC/data/onnx/resnet_mini.onnx"
if [ "$rc" -eq 1 ] && grep -q "is an ONNX model" "$T/err"; then ok "score x.onnx points to graft import"
else bad "score x.onnx (exit $rc)"; fi
run "$G" finetune --help
if grep -q -- '--epochs N  *epochs (default 15)' "$T/out" && grep -q -- '--batch N  *batch size, or auto.*(default 32)' "$T/out"
then ok "finetune --help shows its own epochs and batch defaults"; else bad "finetune --help defaults"; fi
run "$G" train --epochs abc
if [ "$rc" -eq 2 ] && grep -q "epochs" "$T/err"; then ok "--epochs abc exits 2"; else bad "--epochs abc (exit $rc)"; fi
run "$G" eval
if [ "$rc" -eq 2 ] && grep -q "model" "$T/err"; then ok "eval without --model exits 2"; else bad "eval without --model (exit $rc)"; fi
run "$G" info --model a --arch refnet
expect "info with both --model and --arch exits 2" 2

# ---- devices
run "$G" devices
if [ "$rc" -ne 0 ]; then
    echo "# no OpenCL device; skipping the rest"
    cat "$T/err"
    finish 77
fi
if [ "$(wc -l <"$T/out")" -ge 2 ]; then ok "devices lists a device"; else bad "devices lists no device"; fi

# ---- train on the fixture
M="$T/m.graft"
run "$G" train --quiet --data "$FIX" --epochs 1 --batch 32 --per-class 10 --out "$M"
if [ "$rc" -eq 0 ] && [ -s "$M" ]; then ok "train writes a model"; else bad "train (exit $rc)"; finish; fi

# ---- the kernel profile and the fusion switch (environment, read per context)
run env GRAFT_PROFILE_KERNELS=1 "$G" eval --quiet --model "$M" --data "$FIX"
if [ "$rc" -eq 0 ] && grep -q '^graft kernel profile' "$T/err" && grep -Eq '^  bn_apply[a-z_]* +[1-9]' "$T/err" \
    && ! grep -Eq '^  act_fwd ' "$T/err"; then ok "GRAFT_PROFILE_KERNELS=1 prints per-kernel times (ReLU fused: no act_fwd)"
else bad "GRAFT_PROFILE_KERNELS=1 (exit $rc)"; fi
run env GRAFT_PROFILE_KERNELS=1 GRAFT_FUSE=0 "$G" eval --quiet --model "$M" --data "$FIX"
if [ "$rc" -eq 0 ] && grep -Eq '^  act_fwd +[1-9]' "$T/err"; then ok "GRAFT_FUSE=0 runs the activations unfused"
else bad "GRAFT_FUSE=0 (exit $rc)"; fi
run env GRAFT_FUSE=yes "$G" eval --quiet --model "$M" --data "$FIX"
if [ "$rc" -ne 0 ] && grep -q "GRAFT_FUSE='yes'" "$T/err"; then ok "GRAFT_FUSE=yes is refused with its value"
else bad "GRAFT_FUSE=yes (exit $rc)"; fi

# ---- info
run "$G" info --model "$M"
if [ "$rc" -eq 0 ] && grep -q '^parameters: 140458$' "$T/out" && grep -q 'conv1' "$T/out" \
    && grep -q '^normalisation:' "$T/out"; then ok "info --model (refnet: 140458 parameters)"
else bad "info --model (exit $rc)"; fi
run "$G" info --arch resnet18 --classes 1000
if [ "$rc" -eq 0 ] && grep -q '^parameters: 11689512$' "$T/out" && grep -q '^training memory' "$T/out"
then ok "info --arch resnet18 --classes 1000 (11689512 parameters)"
else bad "info --arch resnet18 (exit $rc)"; fi
run "$G" info --arch vgg
expect "info --arch vgg exits 2" 2

# ---- eval
run "$G" eval --quiet --model "$M" --data "$FIX" --json "$T/e.json" --csv "$T/e.csv" \
    --predictions "$T/p.csv"
if [ "$rc" -eq 0 ] && grep -Eq '^top-1 accuracy: [0-9]+\.[0-9]{2}%$' "$T/out"; then ok "eval prints top-1"
else bad "eval (exit $rc)"; fi
if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["images"]==512 and len(d["confusion"])==10 and sum(map(sum,d["confusion"]))==512' "$T/e.json" 2>"$T/err"
then ok "eval --json is valid JSON with a 10x10 confusion matrix"
else bad "eval --json"; fi
if [ "$(wc -l <"$T/e.csv")" -eq 11 ] && head -n 1 "$T/e.csv" | grep -q '^class,name,precision,recall,f1,support'
then ok "eval --csv has a row per class"; else bad "eval --csv"; fi

# ---- predict agrees with eval
N=64
if python3 "$SRC/tools/idx_to_pngs.py" -n $N "$FIX" "$T/png" >"$T/out" 2>"$T/err"; then ok "idx_to_pngs writes PNGs"
else bad "idx_to_pngs"; fi
run "$G" predict --quiet --model "$M" --top 3 --batch 20 --csv "$T/pred.csv" "$T/png"
if [ "$rc" -eq 0 ] && [ "$(wc -l <"$T/pred.csv")" -eq $((N + 1)) ]; then ok "predict a folder"
else bad "predict (exit $rc)"; fi
if python3 - "$T/pred.csv" "$T/p.csv" $N >"$T/out" 2>"$T/err" <<'PY'
import csv, os, sys
pred = list(csv.DictReader(open(sys.argv[1])))
ev = list(csv.DictReader(open(sys.argv[2])))
n = int(sys.argv[3])
assert len(pred) == n, len(pred)
for row in pred:
    idx = int(os.path.basename(row["path"]).split("_")[0])
    assert row["label"] == ev[idx]["predicted"], (row, ev[idx])
    assert abs(float(row["prob"]) - float(ev[idx]["prob"])) < 1e-3, (row, ev[idx])
    assert "rank3_label" in row
PY
then ok "predict labels match eval's arg-max"; else bad "predict vs eval"; fi
run "$G" predict --quiet --model "$M" "$T/png/00_9.png"
if [ "$rc" -eq 0 ] && grep -q '00_9.png' "$T/out"; then ok "predict one file prints a table"; else bad "predict one file (exit $rc)"; fi

# ---- bad input
printf 'not a png' >"$T/png/zz_bad.png"
run "$G" predict --quiet --model "$M" "$T/png"
if [ "$rc" -eq 1 ] && grep -q 'zz_bad.png' "$T/err"; then ok "predict names a bad file and exits 1"
else bad "predict bad file (exit $rc)"; fi
run "$G" predict --quiet --skip-bad --model "$M" "$T/png"
if [ "$rc" -eq 0 ] && grep -q 'skipped 1 bad file' "$T/err" && [ "$(wc -l <"$T/out")" -eq $((N + 1)) ]
then ok "predict --skip-bad counts it"; else bad "predict --skip-bad (exit $rc)"; fi
head -c 1000 "$M" >"$T/trunc.graft"
run "$G" eval --quiet --model "$T/trunc.graft" --data "$FIX"
if [ "$rc" -eq 1 ] && grep -q 'trunc.graft' "$T/err"; then ok "truncated model: exit 1 naming the file"
else bad "truncated model (exit $rc)"; fi
run "$G" eval --quiet --model "$M" --data "$T/no-such-dir/x-images-idx3-ubyte.gz"
if [ "$rc" -ne 0 ] && grep -q 'no-such-dir' "$T/err"; then ok "missing --data path: error naming it"
else bad "missing --data (exit $rc)"; fi
run "$G" predict --quiet --model "$M" "$T/missing.png"
if [ "$rc" -ne 0 ] && grep -q 'missing.png' "$T/err"; then ok "predict missing file fails naming it"
else bad "predict missing file (exit $rc)"; fi

# ---- resume equals an uninterrupted run
# Two epochs straight against one epoch, a checkpoint, and a resumed second
# epoch: the model files must be byte-identical (seeded shuffles, restored
# optimizer state and step count).
A="$T/straight.graft"
B="$T/resumed.graft"
run "$G" train --quiet --data "$FIX" --epochs 2 --batch 32 --per-class 10 --out "$A"
rc_a=$rc
run "$G" train --quiet --data "$FIX" --epochs 2 --batch 32 --per-class 10 --out "$B" \
    --checkpoint-every 1 --stop-after 1
rc_b=$rc
if [ "$rc_a" -eq 0 ] && [ "$rc_b" -eq 0 ] && [ -s "$T/resumed-ckpt.graft" ]; then
    run "$G" train --quiet --data "$FIX" --epochs 2 --batch 32 --per-class 10 --out "$B" \
        --resume "$T/resumed-ckpt.graft"
    if [ "$rc" -eq 0 ] && cmp -s "$A" "$B"; then ok "resume after epoch 1 equals an uninterrupted run"
    else bad "resume (exit $rc; files differ or missing)"; fi
else
    bad "resume setup (exit $rc_a / $rc_b)"
fi
run "$G" train --quiet --data "$FIX" --epochs 2 --per-class 10 --out "$T/x.graft" --resume "$M"
if [ "$rc" -eq 1 ] && grep -q 'not a checkpoint' "$T/err"; then ok "--resume with a model file is refused"
else bad "--resume with a model file (exit $rc)"; fi

finish
