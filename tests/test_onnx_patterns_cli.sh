#!/bin/sh
# graft import / export of the patterns' goldens end to end: models with
# squeeze-excitation, hard-swish and SiLU import, export to ONNX that
# onnx.checker accepts (when python3-onnx is there) and re-import with the
# same layers; ops no pattern takes are named and nothing is written.
# Usage: test_onnx_patterns_cli.sh GRAFT_EXECUTABLE SOURCE_ROOT
set -u
G=${1:?usage: test_onnx_patterns_cli.sh GRAFT SOURCE_ROOT}
SRC=${2:?usage: test_onnx_patterns_cli.sh GRAFT SOURCE_ROOT}
D="$SRC/data/onnx"
. "$SRC/tests/shlib.sh"

if ! "$G" devices >/dev/null 2>&1; then echo "no OpenCL device: skipping"; finish 77; fi
PY=""
for p in "${GRAFT_PYTHON:-}" python3 /usr/bin/python3; do
    [ -n "$p" ] && "$p" -c 'import onnx' >/dev/null 2>&1 && { PY=$p; break; }
done

# graft info's layer table (not the first line or the meta: they name the files).
layers() { sed -e 1d -e '/^meta:/d' "$T/out"; }

for m in gate_mini gate_mini_op14 gate_scale_first mean_mini; do
    run "$G" import --quiet "$D/$m.onnx" --out "$T/$m.graft"
    if [ "$rc" -eq 0 ] && [ -s "$T/$m.graft" ]; then ok "import $m"; else bad "import $m (exit $rc)"; fi
    run "$G" info --model "$T/$m.graft"
    layers >"$T/$m.info"
    run "$G" export "$T/$m.graft" --out "$T/$m.onnx"
    if [ "$rc" -eq 0 ] && [ -s "$T/$m.onnx" ]; then ok "export $m"; else bad "export $m (exit $rc)"; fi
    if [ -z "$PY" ]; then ok "onnx.checker accepts exported $m # SKIP no python onnx package"
    else
        run "$PY" -c "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)" "$T/$m.onnx"
        expect "onnx.checker accepts exported $m" 0
    fi
    run "$G" import --quiet "$T/$m.onnx" --out "$T/$m.re.graft"
    run "$G" info --model "$T/$m.re.graft"
    layers >"$T/$m.re.info"
    if [ "$rc" -eq 0 ] && cmp -s "$T/$m.re.info" "$T/$m.info"; then ok "re-import of exported $m has the same layers"
    else bad "re-import $m (exit $rc)"; diff "$T/$m.info" "$T/$m.re.info" | head -n 20; fi
done
grep -q 'hard_swish' "$T/gate_mini.info" && grep -q 'silu' "$T/gate_mini.info" && grep -q 'mul' "$T/gate_mini.info" \
    && ok "info lists hard_swish, silu and mul" || bad "info of gate_mini: $(cat "$T/gate_mini.info")"

# finetune --from an imported model: a new head, every layer trained (two
# classes of the JPEG fixtures, converted to the model's 14x10 input).
mkdir -p "$T/data/a" "$T/data/b"
cp "$SRC"/data/fixtures/jpeg/exif[1-4]_*.jpg "$T/data/a/"
cp "$SRC"/data/fixtures/jpeg/exif[5-8]_*.jpg "$T/data/b/"
run "$G" finetune --from "$T/gate_mini.graft" --data "$T/data" --strategy finetune --epochs 2 \
    --batch 4 --out "$T/ft.graft"
if [ "$rc" -eq 0 ] && [ -s "$T/ft.graft" ] && grep -q "epoch 2/2" "$T/out" "$T/err"; then ok "finetune --from imported gate_mini"
else bad "finetune gate_mini (exit $rc)"; fi

run "$G" import "$D/near_miss.onnx" --out "$T/n.graft"
if [ "$rc" -eq 1 ] && grep -q "Mul (node '/Mul')" "$T/err" && grep -q "ReduceMean (node '/ReduceMean')" "$T/err" \
    && [ ! -e "$T/n.graft" ]; then ok "ops no pattern takes are named, nothing written"
else bad "near_miss (exit $rc)"; fi
finish
