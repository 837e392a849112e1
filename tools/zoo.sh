#!/usr/bin/env bash
# torchvision's CNN zoo through graft (issue 12): for each architecture,
# export it to ONNX (tools/export_torchvision.py: random weights, opset 13,
# dynamic batch), `graft import` it, run graft (build/tools/onnx_features)
# and ONNX Runtime (tools/ort/run.js) on the same random input, and print one
# table row: imported? (or graft's first reason for refusing), the worst
# relative error of the logits (max|graft - ort| / max|ort| per image), the
# round trip (graft export -> onnx.checker -> graft import -> logits
# bit-identical to the first import's), finetune (`graft finetune --from`
# on 4 fixture images of 2 classes, --strategy finetune, 1 epoch: the
# 1000-class head replaced, every layer trained), and with --speed graft's
# and ORT's inference img/s.
#
#   tools/zoo.sh [--speed] [--quick] [--batch B] [--reps N] [--cache DIR] [--out DIR] [ARCH ...]
#
# --quick skips the round trip and finetune columns.
# Default: all 17 architectures, correctness only at batch 2 (a few minutes
# on 2 cores, mostly export and import of the big models). --speed adds
# inference timing at batch 16 (--batch B), 2 warm-up + 5 timed runs per
# side, the two sides alternating over --reps repetitions (default 1),
# medians; graft and ORT both on 2 threads. Exports and imports are cached in
# DIR (default out/zoo); the table also goes to OUT/zoo.csv (default
# out/zoo-<time>) with each step's log beside it.
set -euo pipefail
cd "$(dirname "$0")/.."

speed=0 quick=0 batch="" reps=1 cache=out/zoo out=""
archs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --speed) speed=1 ;;
        --quick) quick=1 ;;
        --batch) batch="$2"; shift ;;
        --reps) reps="$2"; shift ;;
        --cache) cache="$2"; shift ;;
        --out) out="$2"; shift ;;
        -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "usage: tools/zoo.sh [--speed] [--quick] [--batch B] [--reps N] [--cache DIR] [--out DIR] [ARCH ...]" >&2; exit 2 ;;
        *) archs+=("$1") ;;
    esac
    shift
done
check_batch=2
if [ -z "$batch" ]; then batch=$([ "$speed" = 1 ] && echo 16 || echo "$check_batch"); fi
out=${out:-out/zoo-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$cache" "$out"

py=/usr/bin/python3
if ! "$py" -c 'import torch, torchvision' 2>/dev/null; then
    echo "zoo: needs Debian's python3-torch and python3-torchvision (tools/install-deps.sh --bench)" >&2
    exit 1
fi
NODE_PATH=$(tools/ort/install.sh) || { echo "zoo: ONNX Runtime is not available" >&2; exit 1; }
export NODE_PATH
if [ ! -d build ]; then meson setup build -Dbuildtype=release >/dev/null; fi
ninja -C build src/graft tools/onnx_features tools/bench_graft >/dev/null
threads=2
export POCL_MAX_PTHREAD_COUNT=$threads
[ ${#archs[@]} -gt 0 ] || mapfile -t archs < <("$py" tools/export_torchvision.py --list)

# The first reason graft import gives: "OP: why" for a single refused node,
# else the unsupported operator types it lists.
first_reason() {
    "$py" - "$1" <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().strip().splitlines()
msg = lines[-1] if lines else "?"
m = re.search(r"node '[^']*' \((\w+)\): (.*)", msg)
if m:
    print(f"{m.group(1)}: {m.group(2)}")
else:
    m = re.search(r"(\d+) unsupported ONNX operator types?: (.*?)(; graft imports|$)", msg)
    if not m:
        print(msg.split(": ", 2)[-1])
    else:
        ops = re.findall(r"(\w+) \(node", m.group(2))
        more = int(m.group(1)) - len(ops)  # graft's message stops at 1 KiB
        print(", ".join(ops) + (f" and {more} more" if more > 0 else ""))
EOF
}

# Round trip of imported model $1 (ONNX $2, input $3): "yes", or what broke.
round_trip() {
    local g=$1 name=$2 x=$3 rt="$out/$name-rt"
    if ! build/src/graft export "$g" --out "$rt.onnx" --quiet >"$rt.log" 2>&1; then
        echo "no: export: $(tail -1 "$rt.log" | sed 's/^graft export: //')"
    elif ! "$py" -c 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)' \
            "$rt.onnx" >>"$rt.log" 2>&1; then
        echo "no: onnx.checker: $(tail -1 "$rt.log")"
    elif ! build/src/graft import "$rt.onnx" --out "$rt.graft" --quiet >>"$rt.log" 2>&1; then
        echo "no: re-import: $(tail -1 "$rt.log" | sed 's/^graft import: //')"
    elif ! build/tools/onnx_features "$rt.graft" "$x" "$rt.f32" >>"$rt.log" 2>&1; then
        echo "no: run failed"
    elif cmp -s "$out/$name-graft.f32" "$rt.f32"; then
        echo yes
    else
        echo "no: logits differ"
    fi
    rm -f "$rt.onnx" "$rt.graft"
}

# graft finetune --from imported model $1 on fashion-mnist fixture images
# (converted to the model's input): "yes (loss L)", or what broke.
finetune() {
    local g=$1 name=$2 ft="$out/$name-ft"
    if build/src/graft finetune --from "$g" --data data/fixtures/fmnist512-images-idx3-ubyte.gz \
            --classes 0,1 --per-class 2 --batch 4 --epochs 1 --strategy finetune \
            --out "$ft.graft" >"$ft.log" 2>&1 &&
        build/src/graft info --model "$ft.graft" >"$ft.info" 2>&1 && grep -q ", 2 classes," "$ft.info"; then
        echo "yes (loss $(sed -n 's/.*train loss \([0-9.]*\).*/\1/p' "$ft.log" | tail -1))"
    else
        echo "no: $(tail -1 "$ft.log" | sed 's/^graft finetune: //')"
    fi
    rm -f "$ft.graft"
}

csv="$out/zoo.csv"
echo "architecture,imported,max_rel_error,graft_img_s,ort_img_s,batch,round_trip,finetune" >"$csv"
uptime >"$out/uptime-start"
echo "zoo: ${#archs[@]} architectures, $([ $speed = 1 ] && echo "speed at batch $batch" || echo "correctness only"), cache $cache, results in $out" >&2
for arch in "${archs[@]}"; do
    read -r name onnx size < <("$py" tools/export_torchvision.py --out "$cache" "$arch" 2>"$out/$arch-export.log") || {
        echo "zoo: $arch: export failed (see $out/$arch-export.log)" >&2
        echo "$arch,export failed,,,," >>"$csv"
        continue
    }
    g="$cache/$name.graft"
    imported=yes err="" gs="" os="" rt="" ft=""
    if [ ! -f "$g" ] || [ "$g" -ot "$onnx" ] || [ "$g" -ot build/src/graft ]; then
        if ! build/src/graft import "$onnx" --out "$g" --quiet >"$out/$name-import.log" 2>&1; then
            imported="no: $(first_reason "$out/$name-import.log")"
            rm -f "$g"
        fi
    fi
    if [ "$imported" = yes ]; then
        # The same check_batch images on both sides.
        x="$out/input-$size-b$check_batch.f32"
        [ -f "$x" ] || head -c $((check_batch * 3 * size * size * 4)) "$cache/input-$size.f32" >"$x"
        if build/tools/onnx_features "$g" "$x" "$out/$name-graft.f32" >"$out/$name-graft.log" 2>&1 &&
            node tools/ort/run.js --model "$onnx" --input "$x" --shape "$check_batch,3,$size,$size" \
                --warmup 0 --iters 1 --output "$out/$name-ort.f32" >"$out/$name-ort.jsonl" 2>"$out/$name-ort.log"; then
            classes=$(( $(stat -c %s "$out/$name-ort.f32") / 4 / check_batch ))
            err=$("$py" tools/logits_error.py "$out/$name-graft.f32" "$out/$name-ort.f32" "$classes")
            if [ "$quick" = 0 ]; then
                rt=$(round_trip "$g" "$name" "$x")
                ft=$(finetune "$g" "$name")
            fi
        else
            err="run failed"
        fi
        if [ "$speed" = 1 ]; then
            for r in $(seq 1 "$reps"); do
                sides="graft ort"
                [ $((r % 2)) = 0 ] && sides="ort graft"
                for side in $sides; do
                    if [ "$side" = graft ]; then
                        build/tools/bench_graft infer --model "$g" --batch "$batch" --iters 5 --warmup 2 \
                            >>"$out/$name-speed-graft.jsonl" 2>>"$out/$name-graft.log" || true
                    else
                        node tools/ort/run.js --model "$onnx" --input "$cache/input-$size.f32" \
                            --shape "$batch,3,$size,$size" --warmup 2 --iters 5 --threads "$threads" \
                            >>"$out/$name-speed-ort.jsonl" 2>>"$out/$name-ort.log" || true
                    fi
                done
            done
            med() { "$py" -c 'import json,statistics,sys
v=[json.loads(l)["images_per_s"] for l in open(sys.argv[1]) if l.startswith("{\"what\":\"infer\"")]
print(f"{statistics.median(v):.1f}" if v else "failed")' "$1"; }
            gs=$(med "$out/$name-speed-graft.jsonl") os=$(med "$out/$name-speed-ort.jsonl")
        fi
    fi
    q=${imported//\"/\'} rt=${rt//\"/\'} ft=${ft//\"/\'}
    echo "$name,\"$q\",$err,$gs,$os,$([ $speed = 1 ] && echo "$batch"),\"$rt\",\"$ft\"" >>"$csv"
    echo "zoo: $name: $imported${err:+, max rel error $err}${rt:+, round trip $rt}${ft:+, finetune $ft}${gs:+, graft $gs img/s, ort $os img/s}" >&2
done
uptime >"$out/uptime-end"

# The table (markdown), from the CSV.
"$py" - "$csv" "$speed" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
speed = sys.argv[2] == "1"
head = ["architecture", "imported", "max rel error vs ORT", "round trip", "finetune"]
if speed:
    head += [f"graft img/s (batch {rows[0]['batch'] if rows else ''})", "ORT img/s", "graft / ORT"]
print("| " + " | ".join(head) + " |")
print("| " + " | ".join("---" for _ in head) + " |")
for r in rows:
    cells = [r["architecture"], r["imported"], r["max_rel_error"] or "-",
             r["round_trip"] or "-", r["finetune"] or "-"]
    if speed:
        g, o = r["graft_img_s"], r["ort_img_s"]
        try:
            ratio = f"{float(g) / float(o):.2f}x"
        except ValueError:
            ratio = "-"
        cells += [g or "-", o or "-", ratio]
    print("| " + " | ".join(cells) + " |")
ok = sum(r["imported"] == "yes" for r in rows)
match = sum(r["imported"] == "yes" and r["max_rel_error"] not in ("", "run failed")
            and float(r["max_rel_error"]) <= 1e-4 for r in rows)
rt = sum(r["round_trip"] == "yes" for r in rows)
ft = sum(r["finetune"].startswith("yes") for r in rows)
print(f"\n{ok} of {len(rows)} import, {match} match ONNX Runtime within 1e-4, "
      f"{rt} round-trip bit-identically, {ft} fine-tune")
EOF
echo "load average (1/5/15 min): start $(sed 's/.*load average: //' "$out/uptime-start"), end $(sed 's/.*load average: //' "$out/uptime-end"); csv $csv"
