#!/usr/bin/env bash
# The main job end to end on the built-in default data (Fashion-MNIST from
# Debian's dataset-fashion-mnist): installs, builds, then runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
#
# Does transfer pay off? Pretrains refnet on Fashion-MNIST classes 0-4
# (30,000 images of tops, trousers, pullovers, dresses, coats), compares
# scratch, a linear probe, fine-tuning and partial (fine-tuning above a
# frozen, cached prefix up to pool1) on a few-shot target: classes 5-9
# (sandal, shirt, sneaker, bag, ankle boot), 100 per class, evaluated on
# their 5,000 test images. Under 15 minutes on 2 cores (docs/transfer.md).
#
# Usage: tools/flagship.sh [--quick] [--digits]
#   --quick   tiny settings: a smoke test of the whole pipeline (~2 minutes)
#   --digits  second pair: Fashion-MNIST 0-4 -> OpenCV's handwritten digits
#             (opencv-doc digits.png, 20x20, resized to 28x28 by the loader)
# Outputs go to out/flagship[-quick][-digits]/; the pretrained source is
# reused when it is newer than the graft binary.
usage() { sed -n '6,19p' "$0" | sed 's/^# \{0,1\}//'; }
quick=0
digits=0
for a in "$@"; do
    case "$a" in
    --quick) quick=1 ;;
    --digits) digits=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "flagship: unknown option '$a'" >&2; usage >&2; exit 2 ;;
    esac
done
t_start=$(date +%s)

tools/install-deps.sh
if [ -d build ]; then
    meson configure build -Dbuildtype=release >/dev/null
else
    meson setup build -Dbuildtype=release >/dev/null
fi
ninja -C build -j"$(nproc)"
G=./build/src/graft
$G devices

# Pretraining epochs on 30,000 images (~90-130 s each here); compare epochs
# per arm on the 500-image target (~2 s of training + ~8 s of evaluation).
# --lr 0.05 (scratch's default) for finetune too: the same learning rate
# for both arms that train every layer, and for partial.
ARMS=(--arms scratch,linear-probe,finetune,partial)
if [ "$quick" = 1 ]; then
    SRC_DIR=out/flagship-quick
    PRE=(--per-class 300 --epochs 1)
    CMP=(--per-class 20 --epochs 3 --lr 0.05)
else
    SRC_DIR=out/flagship
    PRE=(--epochs 2)
    CMP=(--per-class 100 --epochs 12 --lr 0.05)
fi
mkdir -p "$SRC_DIR"
SRC="$SRC_DIR/source.graft"

# (a) source model: refnet on Fashion-MNIST classes 0-4.
if [ -f "$SRC" ] && [ "$SRC" -nt "$G" ]; then
    echo "flagship: reusing $SRC (newer than $G; delete it to retrain)"
else
    echo "flagship: pretraining refnet on Fashion-MNIST classes 0-4"
    $G train --data fashion-mnist --classes 0-4 "${PRE[@]}" --batch 64 --out "$SRC"
fi

# (b) the comparison.
if [ "$digits" = 1 ]; then
    OUT_DIR="$SRC_DIR-digits"
    D="$OUT_DIR/digits"
    if [ ! -d "$D/test/9" ]; then
        echo "flagship: converting OpenCV digits into $D"
        rm -rf "$D"
        python3 tools/digits_to_folder.py "$D/all"
        # Columns 0-49 of the sheet train, columns 50-99 test (250 + 250 per digit).
        for c in 0 1 2 3 4 5 6 7 8 9; do
            mkdir -p "$D/train/$c" "$D/test/$c"
            find "$D/all/$c" -name '*_[5-9][0-9].png' -exec mv -t "$D/test/$c" {} +
            find "$D/all/$c" -name '*.png' -exec mv -t "$D/train/$c" {} +
        done
        rm -rf "$D/all"
    fi
    $G compare --from "$SRC" --data "$D/train" --eval-data "$D/test" --seeds 1 "${ARMS[@]}" \
        "${CMP[@]}" --batch 32 --out "$OUT_DIR/report"
    REPORT="$OUT_DIR/report"
else
    $G compare --from "$SRC" --data fashion-mnist --classes 5-9 --eval-classes 5-9 --seeds 1 "${ARMS[@]}" \
        "${CMP[@]}" --batch 32 --out "$SRC_DIR/report"
    REPORT="$SRC_DIR/report"
fi
echo "flagship: report at $REPORT.html ($REPORT.csv, $REPORT-summary.csv)"
echo "flagship: total wall time $(($(date +%s) - t_start)) s"
