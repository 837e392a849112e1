#!/usr/bin/env bash
# Side-by-side benchmark, graft against PyTorch (and OpenBLAS for GEMMs), in
# one run: the two alternate inside every repetition, figures are medians
# over the repetitions. Prints one ratio line per figure (issue 5).
#
#   tools/bench.sh [--quick] [--transfer | --transfer-only]
#                  [--backbones | --backbones-only | --no-backbones]
#                  [--reps N] [--out DIR] [--summary DIR]
#
# --quick: 2 repetitions of short runs (about 30 s on a quiet 2-core machine),
# plus one repetition of the backbone figures with few iterations when
# torchvision is installed.
# --backbones: also MobileNetV2 and ResNet-18 at 224x224 against ONNX Runtime
# and PyTorch (tools/bench_backbones.sh, issue 11; installs onnxruntime-node
# into out/ort on first use); --backbones-only: only those; --no-backbones:
# none, not even inside --quick (the refnet figures alone, about 30 s).
# --transfer: also the flagship time-to-accuracy comparison (many minutes);
# --transfer-only: only that (sections 1-4 skipped).
# Raw JSON lines stay in DIR (default out/bench-<time>); --summary DIR
# prints the lines again from an earlier run's DIR. PyTorch is
# optional: without it graft's figures still print.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0 transfer=0 backbones=0 nobackbones=0 refnet=1 reps="" out="" summary=0
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --transfer) transfer=1 ;;
        --transfer-only) transfer=1 refnet=0 ;;
        --backbones) backbones=1 ;;
        --backbones-only) backbones=1 refnet=0 ;;
        --no-backbones) nobackbones=1 ;;
        --reps) reps="$2"; shift ;;
        --out) out="$2"; shift ;;
        --summary) out="$2"; summary=1; shift ;;
        *) echo "usage: tools/bench.sh [--quick] [--transfer | --transfer-only] [--backbones | --backbones-only | --no-backbones] [--reps N] [--out DIR] [--summary DIR]" >&2; exit 2 ;;
    esac
    shift
done
if [ "$quick" = 1 ]; then
    reps=${reps:-2} iters=2 warmup=1 liters=2 greps=1 batches_layers="64"
else
    reps=${reps:-5} iters=8 warmup=2 liters=5 greps=5 batches_layers="64 256"
fi
out=${out:-out/bench-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
if [ "$summary" = 0 ]; then

# Build if needed (release, as in docs/performance.md).
if [ ! -d build ]; then meson setup build -Dbuildtype=release >/dev/null; fi
ninja -C build tools/bench_graft tools/bench_gemm src/graft >/dev/null
bg=build/tools/bench_graft

# Same thread count on both sides: PoCL's pthread device and torch.
threads=2
export POCL_MAX_PTHREAD_COUNT=$threads

# PyTorch: Debian's interpreter (the pyenv python3 on PATH lacks torch).
py=/usr/bin/python3
[ -x "$py" ] || py=python3
have_torch=0
if "$py" -c 'import torch' 2>/dev/null; then have_torch=1; fi
torch() { "$py" tools/bench_torch.py "$@" --threads "$threads" 2>>"$out/torch.err"; }

echo "bench: reps $reps, train/infer $iters iterations after $warmup, threads $threads," \
     "pytorch $([ $have_torch = 1 ] && echo yes || echo absent), results in $out" >&2
uptime >"$out/uptime-start"
if [ "$refnet" = 1 ]; then

# 1. train 64 / train 256 / infer 256, alternating graft and PyTorch; the
#    order swaps every repetition so load from others hits both alike.
for r in $(seq 1 "$reps"); do
    for job in "train 64" "train 256" "infer 256"; do
        read -r mode b <<<"$job"
        first=graft
        [ $((r % 2)) = 0 ] && first=torch
        for side in $first $([ $first = graft ] && echo torch || echo graft); do
            echo "bench: rep $r/$reps $side $mode batch $b" >&2
            if [ "$side" = graft ]; then
                "$bg" "$mode" --batch "$b" --iters "$iters" --warmup "$warmup" >>"$out/graft.jsonl"
            elif [ $have_torch = 1 ]; then
                torch "$mode" --batch "$b" --iters "$iters" --warmup "$warmup" >>"$out/torch.jsonl" ||
                    echo "bench: pytorch $mode failed (see $out/torch.err)" >&2
            fi
        done
    done
done

# 2. Per-layer graft times (profiling API: every layer synchronised).
for b in $batches_layers; do
    echo "bench: graft layers batch $b" >&2
    "$bg" layers --batch "$b" --iters "$liters" --warmup 1 >"$out/layers-$b.jsonl"
done

# 2b. Where a graft training step spends its time, per kernel
#     (GRAFT_PROFILE_KERNELS=1 synchronises and times every launch).
echo "bench: graft kernel profile, train batch 64" >&2
GRAFT_PROFILE_KERNELS=1 "$bg" train --batch 64 --iters "$liters" --warmup 1 \
    >"$out/kernels-64.jsonl" 2>"$out/kernels-64.txt"

# 3. Conv-shaped GEMMs at batch 64, graft against OpenBLAS, env as given;
#    then (full run) with OPENBLAS_CORETYPE unset, which lets OpenBLAS pick
#    its AVX-512 kernels here.
echo "bench: gemm (env as given)" >&2
build/tools/bench_gemm --batch 64 --square 0 --reps "$greps" --no-clblast >"$out/gemm-env.txt"
if [ "$quick" = 0 ]; then
    echo "bench: gemm (OPENBLAS_CORETYPE unset)" >&2
    env -u OPENBLAS_CORETYPE build/tools/bench_gemm --batch 64 --square 0 --reps "$greps" \
        --no-clblast >"$out/gemm-nocoretype.txt"
fi

# 4. Start-up of a second process: the first run warms the kernel cache.
"$bg" startup >"$out/startup-first.jsonl"
for r in $(seq 1 "$reps"); do "$bg" startup >>"$out/startup.jsonl"; done
fi

# 5. Backbones at 224x224 against ONNX Runtime and PyTorch (issue 11);
#    --quick: one short repetition, skipped with a note when torchvision or
#    ONNX Runtime is missing.
if [ "$nobackbones" = 0 ] && { [ "$backbones" = 1 ] || [ "$quick" = 1 ]; }; then
    if [ "$quick" = 1 ]; then bb=(--reps 1 --quick); else bb=(--reps "$reps"); fi
    tools/bench_backbones.sh run "$out" "${bb[@]}"
fi

# 6. Flagship transfer task (optional, slow): the same protocol on both
#    sides (docs/benchmark.md, "Transfer time to accuracy"). Pretraining:
#    refnet on Fashion-MNIST 0-4, batch 64, SGD momentum 0.9, lr 0.05 cosine,
#    weight decay 5e-4 on weights; arms on classes 5-9, 100 images per class,
#    12 epochs, batch 32, lr 0.05 (scratch, finetune, partial; probe: each
#    side's default), evaluated on the 5,000 test images after every epoch.
#    partial: everything up to pool1 frozen (conv1, conv2 and their BN);
#    graft caches its output once, PyTorch runs the frozen layers every step.
if [ "$transfer" = 1 ]; then
    if [ "$quick" = 1 ]; then
        src_dir=out/flagship-quick pre=(--per-class 300 --epochs 1)
        cmp=(--per-class 20 --epochs 3) tq=(--pretrain-epochs 1 --pretrain-images 1500)
        tcache=out/pretrain-bench-quick.pt
    else
        src_dir=out/flagship pre=(--epochs 2)
        cmp=(--per-class 100 --epochs 12) tq=(--pretrain-epochs 2)
        tcache=out/pretrain-bench-cosine.pt
    fi
    mkdir -p "$src_dir"
    src="$src_dir/source.graft"
    if [ -f "$src" ]; then
        echo "bench: graft transfer: reusing $src" >&2
    else
        echo "bench: graft transfer: pretraining $src" >&2
        build/src/graft train --data fashion-mnist --classes 0-4 "${pre[@]}" --batch 64 \
            --lr 0.05 --schedule cosine --out "$src" >"$out/transfer-graft-pretrain.txt"
    fi
    echo "bench: graft transfer: compare" >&2
    build/src/graft compare --from "$src" --data fashion-mnist --classes 5-9 --eval-classes 5-9 \
        --arms scratch,linear-probe,finetune,partial --freeze-until pool1 \
        "${cmp[@]}" --seeds 1 --batch 32 --lr 0.05 --out "$out/transfer-graft" \
        >"$out/transfer-graft.txt"
    if [ $have_torch = 1 ]; then
        echo "bench: pytorch transfer (pretraining cached in $tcache)" >&2
        mkdir -p out
        torch transfer "${tq[@]}" --pretrain-batch 64 --per-class "${cmp[1]}" \
            --epochs "${cmp[3]}" --batch 32 --lr 0.05 --schedule cosine --wd-on weights \
            --arms scratch,linear-probe,finetune,partial --partial-cut pool1 \
            --cache "$tcache" >"$out/transfer-torch.jsonl" ||
            echo "bench: pytorch transfer failed (see $out/torch.err)" >&2
    fi
fi
uptime >"$out/uptime-end"
fi
[ -f "$out/torch.jsonl" ] && have_torch=1 || have_torch=0
[ -f "$out/transfer-graft.csv" ] && transfer=1

python3 - "$out" "$have_torch" "$transfer" <<'EOF'
import json, os, re, statistics, sys
out, have_torch, transfer = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1"

def load(name):
    p = os.path.join(out, name)
    if not os.path.exists(p):
        return []
    return [json.loads(l) for l in open(p) if l.startswith("{")]

def med(rows, what, batch, field):
    v = [r[field] for r in rows if r.get("what") == what and r.get("batch") == batch]
    return statistics.median(v) if v else None

g, t = load("graft.jsonl"), load("torch.jsonl")
targets = []  # (what, met, figure)
for what, batch, label in (("train", 64, "train"), ("train", 256, "train"), ("infer", 256, "infer")):
    gv, tv = med(g, what, batch, "images_per_s"), med(t, what, batch, "images_per_s")
    if gv is None:
        continue
    line = f"{label} refnet batch {batch}: graft {gv:.0f} img/s"
    if tv:
        line += f", pytorch {tv:.0f} img/s, {gv / tv:.2f}x"
    else:
        line += ", pytorch n/a"
    print(line)
    if tv:
        targets.append((f"{label} batch {batch} >= 1.50x pytorch", gv / tv >= 1.5, f"{gv / tv:.2f}x"))
    # PyTorch's step times can be bimodal (docs/benchmark.md): the fastest
    # steps show what each side does at its best.
    gf, tf = med(g, what, batch, "min_step_ms"), med(t, what, batch, "min_step_ms")
    if gf and tf:
        print(f"  fastest steps: graft {1e3 * batch / gf:.0f} img/s, pytorch {1e3 * batch / tf:.0f} img/s, "
              f"{tf / gf:.2f}x")

gm, tm = med(g, "train", 256, "peak_rss_mib"), med(t, "train", 256, "peak_rss_mib")
if gm is not None:
    line = f"peak RSS train refnet batch 256: graft {gm:.0f} MiB"
    line += f", pytorch {tm:.0f} MiB, {gm / tm:.2f}x" if tm else ", pytorch n/a"
    print(line)
if gm is not None and tm:
    targets.append(("peak RSS train batch 256 <= pytorch", gm <= tm, f"{gm / tm:.2f}x"))

peak_avx2, peak_avx512 = 193.0, 386.0
for f in sorted(n for n in os.listdir(out) if n.startswith("layers-")):
    rows = [r for r in load(f) if r.get("what") == "layer"]
    tot = [r for r in rows if r["name"] == "total"][0]
    b = tot["batch"]
    print(f"layers graft batch {b} (ms per call, fwd / bwd; conv GFLOP/s fwd / bwd):")
    for r in rows:
        if r["name"] == "total":
            continue
        extra = f"  {r['fwd_gflops']:.0f} / {r['bwd_gflops']:.0f} GFLOP/s" if "fwd_gflops" in r else ""
        print(f"  {r['name']:<12} {r['kind']:<10} {r['fwd_ms']:8.2f} {r['bwd_ms']:8.2f}{extra}")
    print(f"  {'total':<23} {tot['fwd_ms']:8.2f} {tot['bwd_ms']:8.2f}  ({tot['images_per_s']:.0f} img/s profiled)")
    c = tot["conv_train_gflops"]
    print(f"conv layers in training, batch {b}: graft {c:.0f} GFLOP/s, {100 * c / peak_avx2:.0f}% of "
          f"{peak_avx2:.0f} (256-bit FMA peak), {100 * c / peak_avx512:.0f}% of {peak_avx512:.0f} "
          f"(AVX-512 peak)")
    targets.append((f"conv layers training batch {b} >= 60% of 193", c >= 0.6 * peak_avx2,
                    f"{100 * c / peak_avx2:.0f}%"))

p = os.path.join(out, "kernels-64.txt")
if os.path.exists(p):
    lines = [l for l in open(p).read().splitlines() if l.startswith("  ")]
    if lines:
        print("kernels graft train batch 64 (top 8 by time; every launch synchronised):")
        for l in lines[:9]:
            print(l)

rx = re.compile(r"^gemm (\S+) \((b\d+ \S+ \S+), .*graft ([\d.]+) GFLOP/s.*openblas ([\d.]+) GFLOP/s")
rxc = re.compile(r"conv-pass ([\d.]+) GFLOP/s")
for f, label in (("gemm-env.txt", "OpenBLAS env as given"),
                 ("gemm-nocoretype.txt", "OpenBLAS with OPENBLAS_CORETYPE unset")):
    p = os.path.join(out, f)
    if not os.path.exists(p):
        continue
    lines = open(p).read().splitlines()
    core = next((l for l in lines if l.startswith("openblas:")), "")
    rat, crat = [], []
    for l in lines:
        m = rx.match(l)
        if m:
            gg, ob = float(m.group(3)), float(m.group(4))
            rat.append(gg / ob)
            extra = ""
            mc = rxc.search(l)
            if mc:
                cp = float(mc.group(1))
                crat.append(cp / ob)
                extra = f"; graft conv pass {cp:.0f} GFLOP/s, {cp / ob:.2f}x"
            print(f"gemm {m.group(2)} {m.group(1)}: graft {gg:.0f} GFLOP/s, openblas {ob:.0f} GFLOP/s, {gg / ob:.2f}x{extra}")
    if rat:
        print(f"gemm conv shapes batch 64 ({label}; {core.strip()}): median {statistics.median(rat):.2f}x, "
              f"min {min(rat):.2f}x, {sum(x >= 1 for x in rat)}/{len(rat)} shapes >= 1.00x")
        targets.append((f"gemm >= 1.00x openblas ({label}), every shape", min(rat) >= 1,
                        f"median {statistics.median(rat):.2f}x, min {min(rat):.2f}x"))
    if crat:
        # What graft runs for the same work: the conv layer pass (implicit
        # kernels on CPU, no im2col) against OpenBLAS's GEMM alone (its
        # im2col not counted).
        print(f"conv passes vs openblas gemm of the same shape ({label}): median "
              f"{statistics.median(crat):.2f}x, min {min(crat):.2f}x, "
              f"{sum(x >= 1 for x in crat)}/{len(crat)} >= 1.00x (openblas without its im2col)")

st = load("startup.jsonl")
if st:
    s = statistics.median(r["since_exec_s"] for r in st)
    fs = statistics.median(r["first_step_s"] for r in st)
    ss = statistics.median(r["second_step_s"] for r in st)
    cache = "warm" if all(r["programs_built"] == 0 for r in st) else "NOT warm"
    print(f"startup second process: graft {s:.2f} s from exec to end of first training step "
          f"(batch 64, cache {cache}; first step {fs:.2f} s, next step {ss:.2f} s)")
    targets.append(("second-process startup < 1 s", s < 1, f"{s:.2f} s"))

def curves_graft():
    """arm -> [(epoch, seconds, accuracy)] from graft compare's PREFIX.csv (rep 0)."""
    import csv
    p = os.path.join(out, "transfer-graft.csv")
    c = {}
    if os.path.exists(p):
        for r in csv.DictReader(open(p)):
            if r["rep"] == "0":
                c.setdefault(r["arm"], []).append((int(r["epoch"]), float(r["seconds"]),
                                                   float(r["accuracy"])))
    return c

def curves_torch():
    c = {}
    for r in load("transfer-torch.jsonl"):
        if r.get("what") == "transfer":
            c.setdefault(r["arm"], []).append((r["epoch"], r["train_seconds"], r["accuracy"]))
    return c

def time_to(curve, acc):
    """(seconds, epoch) at the first epoch reaching acc, or None."""
    if not curve or acc is None:
        return None
    return next(((s, e) for e, s, a in curve if a >= acc - 1e-9), None)

def fmt_t(hit):
    return f"{hit[0]:.1f} s (epoch {hit[1]})" if hit else "not reached"

if transfer:
    cg, ct = curves_graft(), curves_torch()
    best = lambda c: max(a for _, _, a in c["scratch"]) if c.get("scratch") else None
    gb, tb = best(cg), best(ct)
    common = min(x for x in (gb, tb) if x is not None) if (gb or tb) else None
    print(f"transfer protocol: graft compare vs bench_torch.py transfer, 12 epochs batch 32 lr 0.05, "
          f"scratch best: graft {gb}, pytorch {tb}; common target {common}")
    for arm in ("scratch", "linear-probe", "finetune", "partial"):
        g, t = cg.get(arm), ct.get(arm)
        if not g:
            print(f"transfer {arm}: graft n/a")
            continue
        hg, ht = time_to(g, gb), time_to(t, tb)
        ratio = f"{hg[0] / ht[0]:.2f}x" if hg and ht else "ratio n/a"
        tpart = f"pytorch {fmt_t(ht)} to {tb:.4f}" if t else "pytorch n/a"
        print(f"transfer {arm}: graft {fmt_t(hg)} to {gb:.4f}, {tpart} "
              f"(each side's own scratch best), {ratio}; final accuracy graft {g[-1][2]:.4f}"
              + (f", pytorch {t[-1][2]:.4f}" if t else "")
              + f"; total training graft {g[-1][1]:.1f} s" + (f", pytorch {t[-1][1]:.1f} s" if t else ""))
        if not t:
            continue
        cg_hit, ct_hit = time_to(g, common), time_to(t, common)
        if cg_hit and ct_hit:
            r = cg_hit[0] / ct_hit[0]
            print(f"transfer {arm} common target {common:.4f}: graft {fmt_t(cg_hit)}, "
                  f"pytorch {fmt_t(ct_hit)}, {r:.2f}x")
            targets.append((f"transfer {arm} time to {common:.4f} <= 0.50x pytorch", r <= 0.5,
                            f"{r:.2f}x; own scratch bests: {ratio}"))
        else:
            print(f"transfer {arm} common target {common:.4f}: graft {fmt_t(cg_hit)}, "
                  f"pytorch {fmt_t(ct_hit)}, ratio n/a")
            targets.append((f"transfer {arm} time to {common:.4f} <= 0.50x pytorch", False,
                            f"not reached by {'graft' if not cg_hit else ''}"
                            f"{' and ' if not cg_hit and not ct_hit else ''}"
                            f"{'pytorch' if not ct_hit else ''}"))
else:
    print("transfer: not run (--transfer)")
for what, met, fig in targets:
    print(f"target {what}: {'met' if met else 'MISSED'} ({fig})")
EOF
[ "$nobackbones" = 1 ] || tools/bench_backbones.sh summary "$out"
echo "load average (1/5/15 min): start $(sed 's/.*load average: //' "$out/uptime-start"), end $(sed 's/.*load average: //' "$out/uptime-end")"
