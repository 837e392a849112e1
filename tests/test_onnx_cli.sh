#!/bin/sh
# End-to-end checks of graft import / export on the committed ONNX goldens;
# when a Python with the onnx package exists, onnx.checker validates the
# exported files.
# Usage: test_onnx_cli.sh GRAFT_EXECUTABLE SOURCE_ROOT
set -u
G=${1:?usage: test_onnx_cli.sh GRAFT SOURCE_ROOT}
SRC=${2:?usage: test_onnx_cli.sh GRAFT SOURCE_ROOT}
D="$SRC/data/onnx"
. "$SRC/tests/shlib.sh"

for c in import export; do
    run "$G" "$c" --help
    if [ "$rc" -eq 0 ] && grep -q "^usage: graft $c" "$T/out"; then ok "$c --help"; else bad "$c --help (exit $rc)"; fi
done
run "$G" import "$D/resnet_mini.onnx"
if [ "$rc" -eq 2 ]; then ok "import without --out exits 2"; else bad "import without --out (exit $rc)"; fi

if ! "$G" devices >/dev/null 2>&1; then echo "no OpenCL device: skipping the rest"; # --labels: names as many as the outputs (CR LF, trailing blank lines fine)
# land in the .graft; a wrong count or an empty line in the middle is an
# error and nothing is written. The import record shows in graft info.
printf 'tench\r\ngoldfish\nshark\nray\neel\n\n' >"$T/labels5.txt"
run "$G" import "$D/shape_mini.onnx" --out "$T/l.graft" --labels "$T/labels5.txt"
run "$G" info --model "$T/l.graft"
if [ "$rc" -eq 0 ] && grep -q '0=tench, 1=goldfish, 2=shark, 3=ray, 4=eel' "$T/out" &&
    grep -q '"file":"shape_mini.onnx","opset":13,"producer":"pytorch [0-9.]*","input":\[3,16,12\]' "$T/out"
then ok "import --labels and the import record in graft info"; else bad "import --labels (exit $rc)"; fi
printf 'a\nb\nc\n' >"$T/labels3.txt"
run "$G" import "$D/shape_mini.onnx" --out "$T/l3.graft" --labels "$T/labels3.txt"
if [ "$rc" -eq 1 ] && grep -q '3 class names but the network has 5 outputs' "$T/err" && [ ! -e "$T/l3.graft" ]
then ok "import --labels with the wrong count: error, nothing written"; else bad "--labels count (exit $rc)"; fi
printf 'a\nb\n\nc\nd\ne\n' >"$T/labelsb.txt"
run "$G" import "$D/shape_mini.onnx" --out "$T/lb.graft" --labels "$T/labelsb.txt"
if [ "$rc" -eq 1 ] && grep -q 'line 3 is empty' "$T/err" && [ ! -e "$T/lb.graft" ]
then ok "import --labels with an empty line: error, nothing written"; else bad "--labels blank (exit $rc)"; fi

echo "$pass passed, $fail failed"; exit 77; fi

# A Python that has the onnx package (Debian: python3-onnx), if any.
PY=""
for p in "${GRAFT_PYTHON:-}" python3 /usr/bin/python3; do
    [ -n "$p" ] && "$p" -c 'import onnx' >/dev/null 2>&1 && { PY=$p; break; }
done
check_onnx() { # FILE DESC
    if [ -z "$PY" ]; then ok "$2 # SKIP no python onnx package"; return; fi
    run "$PY" -c "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)" "$1"
    if [ "$rc" -eq 0 ]; then ok "$2"; else bad "$2 (exit $rc)"; fi
}

for m in resnet_mini mobile_mini folded_mini; do
    run "$G" import --quiet "$D/$m.onnx" --out "$T/$m.graft"
    if [ "$rc" -eq 0 ] && [ -s "$T/$m.graft" ] && grep -q "wrote" "$T/out"; then ok "import $m"; else bad "import $m (exit $rc)"; fi
    run "$G" info --model "$T/$m.graft"
    if [ "$rc" -eq 0 ] && grep -q 'linear' "$T/out"; then ok "info on imported $m"; else bad "info $m (exit $rc)"; fi
    run "$G" export "$T/$m.graft" --out "$T/$m.onnx"
    if [ "$rc" -eq 0 ] && [ -s "$T/$m.onnx" ]; then ok "export $m"; else bad "export $m (exit $rc)"; fi
    check_onnx "$T/$m.onnx" "onnx.checker accepts exported $m"
    run "$G" export --fold-bn "$T/$m.graft" --out "$T/$m.fold.onnx"
    if [ "$rc" -eq 0 ] && [ -s "$T/$m.fold.onnx" ]; then ok "export --fold-bn $m"; else bad "export --fold-bn $m (exit $rc)"; fi
    check_onnx "$T/$m.fold.onnx" "onnx.checker accepts exported $m with folded BN"
    run "$G" import "$T/$m.fold.onnx" --out "$T/$m.re.graft"
    if [ "$rc" -eq 0 ] && [ -s "$T/$m.re.graft" ]; then ok "re-import exported $m"; else bad "re-import $m (exit $rc)"; fi
done
run "$G" import "$D/folded_mini.onnx" --out "$T/f.graft"
if [ "$rc" -eq 0 ] && grep -q "dropped the final Softmax" "$T/err"; then ok "import notes the dropped Softmax"
else bad "Softmax note (exit $rc)"; fi

run "$G" import "$D/unsupported.onnx" --out "$T/u.graft"
if [ "$rc" -eq 1 ] && grep -q "Erf (node '/Erf')" "$T/err" && grep -q "Sin (node '/Sin')" "$T/err" && [ ! -e "$T/u.graft" ]
then ok "unsupported operators listed, nothing written"; else bad "unsupported ops (exit $rc)"; fi
run "$G" import "$D/batch_arith.onnx" --out "$T/b.graft"
if [ "$rc" -eq 1 ] && grep -q "node 'Mul' (Mul).*batch size" "$T/err" && [ ! -e "$T/b.graft" ]
then ok "a failure while mapping (batch arithmetic) writes nothing"; else bad "batch_arith (exit $rc)"; fi
# ShuffleNet and ConvNeXt blocks: the patterns' layers export to files onnx.checker accepts.
for m in shuffle_mini convnext_mini split_mini; do
    run "$G" import "$D/$m.onnx" --out "$T/$m.graft"
    run "$G" export "$T/$m.graft" --out "$T/$m.x.onnx"
    if [ "$rc" -eq 0 ] && [ -s "$T/$m.x.onnx" ]; then ok "import + export $m"; else bad "export $m (exit $rc)"; fi
    check_onnx "$T/$m.x.onnx" "onnx.checker accepts exported $m"
done
head -c 5000 "$D/resnet_mini.onnx" >"$T/trunc.onnx"
run "$G" import "$T/trunc.onnx" --out "$T/t.graft"
if [ "$rc" -eq 1 ] && grep -q 'trunc.onnx.*truncated or corrupt' "$T/err" && [ ! -e "$T/t.graft" ]
then ok "truncated ONNX: clear error, nothing written"; else bad "truncated ONNX (exit $rc)"; fi
run "$G" export "$T/no-such.graft" --out "$T/x.onnx"
if [ "$rc" -eq 1 ] && grep -q 'no-such.graft' "$T/err" && [ ! -e "$T/x.onnx" ]; then ok "export of a missing model fails naming it"
else bad "export missing model (exit $rc)"; fi

# --labels: names as many as the outputs (CR LF, trailing blank lines fine)
# land in the .graft; a wrong count or an empty line in the middle is an
# error and nothing is written. The import record shows in graft info.
printf 'tench\r\ngoldfish\nshark\nray\neel\n\n' >"$T/labels5.txt"
run "$G" import "$D/shape_mini.onnx" --out "$T/l.graft" --labels "$T/labels5.txt"
run "$G" info --model "$T/l.graft"
if [ "$rc" -eq 0 ] && grep -q '0=tench, 1=goldfish, 2=shark, 3=ray, 4=eel' "$T/out" &&
    grep -q '"file":"shape_mini.onnx","opset":13,"producer":"pytorch [0-9.]*","input":\[3,16,12\]' "$T/out"
then ok "import --labels and the import record in graft info"; else bad "import --labels (exit $rc)"; fi
printf 'a\nb\nc\n' >"$T/labels3.txt"
run "$G" import "$D/shape_mini.onnx" --out "$T/l3.graft" --labels "$T/labels3.txt"
if [ "$rc" -eq 1 ] && grep -q '3 class names but the network has 5 outputs' "$T/err" && [ ! -e "$T/l3.graft" ]
then ok "import --labels with the wrong count: error, nothing written"; else bad "--labels count (exit $rc)"; fi
printf 'a\nb\n\nc\nd\ne\n' >"$T/labelsb.txt"
run "$G" import "$D/shape_mini.onnx" --out "$T/lb.graft" --labels "$T/labelsb.txt"
if [ "$rc" -eq 1 ] && grep -q 'line 3 is empty' "$T/err" && [ ! -e "$T/lb.graft" ]
then ok "import --labels with an empty line: error, nothing written"; else bad "--labels blank (exit $rc)"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] || exit 1
exit 0
