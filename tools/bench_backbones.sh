#!/usr/bin/env bash
# Real backbones at 224x224 (issue 11), the part of tools/bench.sh that
# compares graft with ONNX Runtime (inference) and PyTorch (training) on
# MobileNetV2 and ResNet-18:
#
#   tools/bench_backbones.sh run DIR [--reps N] [--quick]
#   tools/bench_backbones.sh summary DIR
#
# run: exports both with Debian's python3-torchvision (random weights, opset
# 13; tools/export_torchvision.py, cached in out/zoo), imports them with
# `graft import`, so that graft and ONNX Runtime run the same graph and
# weights, checks their logits agree, then per repetition runs every figure
# with the two sides alternating (the order swaps every repetition).
# PyTorch trains torchvision's own model of the same architecture (random
# weights; speed does not depend on them). Raw JSON lines go to
# DIR/bb-SIDE-MODE-ARCH-BATCH.jsonl. Missing tools are skipped with a note
# (exit status 0): no torchvision means no backbones at all, no ONNX Runtime
# (node/npm or the package) no onnxruntime figures.
# summary: prints one line per figure in issue 11's form, medians over the
# repetitions, and the targets.
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=${1:-} out=${2:-}
[ -n "$cmd" ] && [ -n "$out" ] || { echo "usage: tools/bench_backbones.sh run|summary DIR [--reps N] [--quick]" >&2; exit 2; }
shift 2
reps=5 quick=0
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) reps="$2"; shift ;;
        --quick) quick=1 ;;
        *) echo "bench_backbones: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
py=/usr/bin/python3
[ -x "$py" ] || py=python3
archs="mobilenetv2 resnet18"
size=224

if [ "$cmd" = run ]; then
    mkdir -p "$out"
    if [ "$quick" = 1 ]; then
        infer_it=(--warmup 1 --iters 2) lat_it=(--warmup 1 --iters 3) train_it=(--warmup 1 --iters 1)
    else
        infer_it=(--warmup 3 --iters 10) lat_it=(--warmup 5 --iters 20) train_it=(--warmup 2 --iters 5)
    fi
    if ! "$py" -c 'import torch, torchvision' 2>/dev/null; then
        echo "bench: backbones skipped: no python3-torchvision (tools/install-deps.sh --bench)" | tee "$out/bb-skipped.txt" >&2
        exit 0
    fi
    have_ort=1
    if NODE_PATH=$(tools/ort/install.sh 2>"$out/bb-ort-install.err"); then
        export NODE_PATH
    else
        have_ort=0
        echo "bench: backbones: onnxruntime skipped ($(tail -1 "$out/bb-ort-install.err"))" | tee "$out/bb-ort-skipped.txt" >&2
    fi
    ninja -C build src/graft tools/onnx_features tools/bench_graft >/dev/null
    cache=out/zoo
    declare -A onnx graft
    for a in $archs; do
        if ! read -r _ onnx[$a] _ < <("$py" tools/export_torchvision.py --out "$cache" "$a" 2>"$out/bb-export.err"); then
            echo "bench: backbones skipped: exporting $a failed (see $out/bb-export.err)" | tee "$out/bb-skipped.txt" >&2
            exit 0
        fi
        graft[$a]="$cache/$(basename "${onnx[$a]}" .onnx).graft"
        if [ ! -f "${graft[$a]}" ] || [ "${graft[$a]}" -ot build/src/graft ]; then
            if ! build/src/graft import "${onnx[$a]}" --out "${graft[$a]}" --quiet >/dev/null 2>"$out/bb-import.err"; then
                echo "bench: backbones skipped: graft import $a failed (see $out/bb-import.err)" | tee "$out/bb-skipped.txt" >&2
                exit 0
            fi
        fi
    done
    x="$cache/input-$size.f32"   # 16 images, shared with tools/zoo.sh

    # graft and ONNX Runtime on the same file and the same 2 images.
    : >"$out/bb-check.txt"
    if [ "$have_ort" = 1 ]; then
        head -c $((2 * 3 * size * size * 4)) "$x" >"$out/bb-input-2.f32"
        for a in $archs; do
            if build/tools/onnx_features "${graft[$a]}" "$out/bb-input-2.f32" "$out/bb-$a-graft.f32" \
                   >/dev/null 2>>"$out/bb-graft.err" &&
               node tools/ort/run.js --model "${onnx[$a]}" --input "$out/bb-input-2.f32" \
                   --shape 2,3,$size,$size --warmup 0 --iters 1 --output "$out/bb-$a-ort.f32" \
                   >/dev/null 2>>"$out/bb-ort.err"; then
                e=$("$py" tools/logits_error.py "$out/bb-$a-graft.f32" "$out/bb-$a-ort.f32" 1000)
            else
                e="failed"
            fi
            echo "$a $e" >>"$out/bb-check.txt"
        done
    fi

    threads=${POCL_MAX_PTHREAD_COUNT:-2}
    have_torch=0
    "$py" -c 'import torch' 2>/dev/null && have_torch=1
    jobs=("infer 16" "infer 1" "train 16")
    for r in $(seq 1 "$reps"); do
        for job in "${jobs[@]}"; do
            read -r mode b <<<"$job"
            other=$([ "$mode" = infer ] && echo onnxruntime || echo pytorch)
            for a in $archs; do
                first=graft second=$other
                [ $((r % 2)) = 0 ] && first=$other second=graft
                its=("${infer_it[@]}")
                [ "$mode" = train ] && its=("${train_it[@]}")
                [ "$b" = 1 ] && its=("${lat_it[@]}")
                for side in $first $second; do
                    f="$out/bb-$side-$mode-$a-$b.jsonl"
                    echo "bench: backbones rep $r/$reps $side $mode $a batch $b" >&2
                    case $side in
                        graft) build/tools/bench_graft "$mode" --model "${graft[$a]}" --batch "$b" "${its[@]}" \
                                   >>"$f" 2>>"$out/bb-graft.err" || echo "bench: graft $mode $a failed" >&2 ;;
                        onnxruntime) [ "$have_ort" = 1 ] &&
                            { node tools/ort/run.js --model "${onnx[$a]}" --input "$x" --shape "$b,3,$size,$size" \
                                  --threads "$threads" "${its[@]}" >>"$f" 2>>"$out/bb-ort.err" ||
                              echo "bench: onnxruntime $a failed" >&2; } ;;
                        pytorch) [ "$have_torch" = 1 ] &&
                            { "$py" tools/bench_torch.py train --arch "$a" --size "$size" --batch "$b" \
                                  --threads "$threads" "${its[@]}" >>"$f" 2>>"$out/bb-torch.err" ||
                              echo "bench: pytorch train $a failed" >&2; } ;;
                    esac
                done
            done
        done
    done
    exit 0
fi

[ "$cmd" = summary ] || { echo "bench_backbones: unknown command $cmd" >&2; exit 2; }
[ -f "$out/bb-skipped.txt" ] && { cat "$out/bb-skipped.txt"; exit 0; }
ls "$out"/bb-graft-*.jsonl >/dev/null 2>&1 || exit 0
"$py" - "$out" "$archs" "$size" <<'EOF'
import json, os, statistics, sys
out, archs, size = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])

def med(side, mode, arch, batch, field):
    p = os.path.join(out, f"bb-{side}-{mode}-{arch}-{batch}.jsonl")
    if not os.path.exists(p):
        return None
    v = [json.loads(l) for l in open(p) if l.startswith("{")]
    v = [r[field] for r in v if r.get("what") == mode and field in r]
    return statistics.median(v) if v else None

p = os.path.join(out, "bb-check.txt")
if os.path.exists(p):
    for l in open(p):
        a, e = l.split()
        print(f"check {a} {size}: graft vs onnxruntime logits on the imported file, "
              f"max relative error {e}")
targets = []
for mode, batch, other, goal in (("infer", 16, "onnxruntime", 1.0), ("infer", 1, "onnxruntime", 0.8),
                                 ("train", 16, "pytorch", 2.0)):
    for a in archs:
        g, o = med("graft", mode, a, batch, "images_per_s"), med(other, mode, a, batch, "images_per_s")
        if g is None:
            continue
        line = f"{mode} {a} {size} batch {batch}: graft {g:.1f} img/s, "
        line += f"{other} {o:.1f} img/s, {g / o:.2f}x" if o else f"{other} n/a"
        print(line)
        if o:
            targets.append((f"{mode} {a} batch {batch} >= {goal:.1f}x {other}", g / o >= goal, f"{g / o:.2f}x"))
for mode, batch, other, goal in (("infer", 16, "onnxruntime", 1.5), ("train", 16, "pytorch", 1.0)):
    for a in archs:
        g, o = med("graft", mode, a, batch, "peak_rss_mib"), med(other, mode, a, batch, "peak_rss_mib")
        if g is None or o is None:
            continue
        print(f"peak RSS {mode} {a} {size} batch {batch}: graft {g:.0f} MiB, {other} {o:.0f} MiB, {g / o:.2f}x")
        targets.append((f"peak RSS {mode} {a} batch {batch} <= {goal:.1f}x {other}", g <= goal * o, f"{g / o:.2f}x"))
for what, met, fig in targets:
    print(f"target {what}: {'met' if met else 'MISSED'} ({fig})")
EOF
