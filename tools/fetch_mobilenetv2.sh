#!/bin/sh
# Fetches nsfwjs 4.3.0 (MIT) from the npm registry, verifies the tarball's
# sha512, and converts its MobileNetV2 (alpha 1.0, ImageNet-initialised,
# uint8-quantised TensorFlow.js weights) to ONNX and to a graft backbone:
#
#   tools/fetch_mobilenetv2.sh [--size N] [--out DIR] [--graft PATH] [--check]
#
# Writes DIR/mobilenetv2-SIZE.onnx (backbone through global average pooling
# plus a placeholder 1280->5 linear head that graft finetune replaces),
# DIR/mobilenetv2-full-SIZE.onnx (the original 256-128-5 nsfwjs head) and,
# when the graft CLI is found, DIR/mobilenetv2-imagenet[-SIZE].graft
# (inputs in [0, 1], mean 0, std 1). --check also writes the float64 NumPy
# reference on skimage photos (python3-skimage) and compares graft's pooled
# features and logits with it (needs build/tools/onnx_features).
# DIR defaults to out/ (ignored by git). Needs npm, /usr/bin/python3 with
# numpy and onnx (Debian python3-numpy, python3-onnx). See docs/mobilenetv2.md.
set -eu

VERSION=4.3.0
# sha512 of nsfwjs-4.3.0.tgz; equals `npm view nsfwjs@4.3.0 dist.integrity`
# (sha512-WTKDte0vp1X97N1h34P79G/hG+sVT3+TnDz9di1WseIJR93v11E4viNX7Vg9WsO6HYoR772Nzq2iM8jo3XBZ+g==)
SHA512=593283b5ed2fa755fdecdd61df83fbf46fe11beb154f7f939c3cfd762d56b1e20947ddefd75138be2357ed583d5ac3ba1d8a11efbd8dceada233c8e8dd7059fa

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/out
size=224
graft=
check=0
while [ $# -gt 0 ]; do
    case $1 in
        --size) size=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --graft) graft=$2; shift 2 ;;
        --check) check=1; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "fetch_mobilenetv2: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
py=${GRAFT_PYTHON:-/usr/bin/python3}
if [ -z "$graft" ]; then
    for g in "$root/build/src/graft" "$(command -v graft || true)"; do
        if [ -n "$g" ] && [ -x "$g" ]; then graft=$g; break; fi
    done
fi

command -v npm >/dev/null 2>&1 || {
    echo "fetch_mobilenetv2: npm not found (Debian: apt-get install npm)" >&2; exit 1; }
command -v sha512sum >/dev/null 2>&1 || {
    echo "fetch_mobilenetv2: sha512sum not found (coreutils)" >&2; exit 1; }
"$py" -c 'import numpy, onnx' 2>/dev/null || {
    echo "fetch_mobilenetv2: $py cannot import numpy and onnx (apt-get install python3-numpy python3-onnx)" >&2
    exit 1; }

mkdir -p "$out"
pkg=$out/nsfwjs-$VERSION
tgz=$out/nsfwjs-$VERSION.tgz
if [ ! -f "$tgz" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    echo "fetch_mobilenetv2: npm pack nsfwjs@$VERSION"
    (cd "$tmp" && npm pack --silent "nsfwjs@$VERSION" >/dev/null) || {
        echo "fetch_mobilenetv2: 'npm pack nsfwjs@$VERSION' failed (is the npm registry reachable?)" >&2
        exit 1; }
    mv "$tmp/nsfwjs-$VERSION.tgz" "$tgz"
fi
got=$(sha512sum "$tgz" | cut -d' ' -f1)
if [ "$got" != "$SHA512" ]; then
    echo "fetch_mobilenetv2: checksum mismatch for $tgz" >&2
    echo "  expected sha512 $SHA512" >&2
    echo "  got             $got" >&2
    echo "  (delete the file to fetch it again; do not use it)" >&2
    exit 1
fi
echo "fetch_mobilenetv2: sha512 OK ($tgz)"
rm -rf "$pkg"
mkdir -p "$pkg"
tar -xzf "$tgz" -C "$pkg" package/dist/models/mobilenet_v2 package/LICENSE 2>/dev/null ||
    tar -xzf "$tgz" -C "$pkg" package/dist/models/mobilenet_v2
mdir=$pkg/package/dist/models/mobilenet_v2

conv() {
    "$py" "$root/tools/tfjs_to_onnx.py" --model-js "$mdir/model.min.js" \
        --weights-js "$mdir/group1-shard1of1.min.js" --size "$size" "$@"
}
onnx=$out/mobilenetv2-$size.onnx
full=$out/mobilenetv2-full-$size.onnx
conv --out "$onnx" --head linear
if [ "$check" = 1 ]; then
    conv --out "$full" --head full --check "$out/check$size"
else
    conv --out "$full" --head full
fi

if [ -z "$graft" ]; then
    echo "fetch_mobilenetv2: no graft CLI found (build it, or pass --graft); ONNX files are in $out"
    exit 0
fi
if [ "$size" = 224 ]; then name=mobilenetv2-imagenet.graft; else name=mobilenetv2-imagenet-$size.graft; fi
"$graft" import "$onnx" --out "$out/$name" --mean 0,0,0 --std 1,1,1
"$graft" import "$full" --out "$out/mobilenetv2-full-$size.graft" --mean 0,0,0 --std 1,1,1
echo "fetch_mobilenetv2: wrote $out/$name"

if [ "$check" = 1 ]; then
    feat=$root/build/tools/onnx_features
    [ -x "$feat" ] || { echo "fetch_mobilenetv2: $feat not built (ninja -C build)" >&2; exit 1; }
    c=$out/check$size
    "$feat" "$out/mobilenetv2-full-$size.graft" "$c/inputs.f32" "$c/graft_features.f32" average_pooling2d_1
    "$feat" "$out/mobilenetv2-full-$size.graft" "$c/inputs.f32" "$c/graft_logits.f32"
    "$py" "$root/tools/tfjs_to_onnx.py" --compare "$c" "$c/graft_features.f32" --what features
    "$py" "$root/tools/tfjs_to_onnx.py" --compare "$c" "$c/graft_logits.f32" --what logits
fi
