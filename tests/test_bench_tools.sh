#!/bin/sh
# The measurement tools tools/bench.sh and tools/zoo.sh build on, on the
# committed ONNX goldens: bench_graft --model (an .onnx file and a .graft
# file), onnx_features' interface (default node, unknown NODE), and
# tools/logits_error.py (the error figure both scripts print).
# Usage: test_bench_tools.sh BENCH_GRAFT ONNX_FEATURES GRAFT SOURCE_ROOT
set -u
B=${1:?usage: test_bench_tools.sh BENCH_GRAFT ONNX_FEATURES GRAFT SOURCE_ROOT}
F=${2:?}
G=${3:?}
SRC=${4:?}
D="$SRC/data/onnx"
. "$SRC/tests/shlib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
E="$SRC/tools/logits_error.py"

# logits_error.py: needs no device.
"$PY" -c 'import array, sys; array.array("f", [1, -4, 2, 0.5]).tofile(open(sys.argv[1], "wb")); array.array("f", [1, -4.002, 2, 0.6]).tofile(open(sys.argv[2], "wb")); array.array("f", [1, 2, 3]).tofile(open(sys.argv[3], "wb"))' \
    "$T/a.f32" "$T/b.f32" "$T/c.f32"
run "$PY" "$E" "$T/a.f32" "$T/a.f32" 2
if [ "$rc" -eq 0 ] && [ "$(cat "$T/out")" = 0 ]; then ok "logits_error: identical files give 0"; else bad "logits_error identical"; fi
# image 0: 0.002 / 4.002; image 1: 0.1 / 2 = 0.05 (the worst)
run "$PY" "$E" "$T/b.f32" "$T/a.f32" 2
if [ "$rc" -eq 0 ] && [ "$(cat "$T/out")" = 0.05 ]; then ok "logits_error: worst image, relative to its largest logit"; else bad "logits_error worst ($(cat "$T/out"))"; fi
run "$PY" "$E" "$T/a.f32" "$T/c.f32" 2
expect "logits_error: files of different sizes exit 1" 1

if ! "$G" devices >/dev/null 2>&1; then echo "no OpenCL device: skipping the rest"; echo "$pass passed, $fail failed"; exit 77; fi

# bench_graft --model: an imported .onnx and the same model as .graft.
run "$B" infer --model "$D/resnet_mini.onnx" --batch 2 --iters 1 --warmup 0
if [ "$rc" -eq 0 ] && grep -q '^{"what":"infer","model":"[^"]*resnet_mini.onnx","size":[0-9]*,"batch":2,"images_per_s"' "$T/out"
then ok "bench_graft infer --model FILE.onnx"; else bad "bench_graft infer --model FILE.onnx (exit $rc)"; fi
run "$G" import "$D/mobile_mini.onnx" --out "$T/m.graft" --quiet
expect "graft import mobile_mini" 0
run "$B" train --model "$T/m.graft" --batch 3 --iters 2 --warmup 1
if [ "$rc" -eq 0 ] && grep -q '^{"what":"train",.*"batch":3,.*"final_loss":[0-9]' "$T/out"
then ok "bench_graft train --model FILE.graft"; else bad "bench_graft train --model FILE.graft (exit $rc)"; fi
run "$B" infer --model "$T/missing.graft" --batch 2 --iters 1
expect "bench_graft --model with a missing file exits 1" 1

# onnx_features: the logits by default, as PyTorch computed them.
run "$F" "$T/m.graft" "$D/mobile_mini.in.f32" "$T/y.f32"
expect "onnx_features MODEL INPUTS OUT" 0
k=$(( $(wc -c <"$D/mobile_mini.out.f32") / 4 / 2 ))
run "$PY" "$E" "$T/y.f32" "$D/mobile_mini.out.f32" "$k"
if [ "$rc" -eq 0 ] && "$PY" -c 'import sys; sys.exit(float(sys.argv[1]) > 1e-4)' "$(cat "$T/out")"
then ok "onnx_features logits match PyTorch's within 1e-4 ($(cat "$T/out"))"; else bad "onnx_features logits ($(cat "$T/out"))"; fi
run "$F" "$T/m.graft" "$D/mobile_mini.in.f32" "$T/y1.f32" no-such-node 1
expect "onnx_features with an unknown NODE exits 1" 1
finish
