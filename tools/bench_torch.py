#!/usr/bin/python3
"""PyTorch side of graft's side-by-side benchmark.

Every figure is printed as one JSON object per line on stdout, so that a C
driver (or jq) can read it; anything human-oriented goes to stderr.  The first
line is always {"what":"env",...}.

Modes:
  train     training step throughput of "refnet" (or --arch, a torchvision
            classification model with random weights, at --size) on random
            in-memory data
  infer     inference throughput (eval mode, no_grad)
  layers    per-layer forward / backward time
  transfer  the flagship Fashion-MNIST transfer task (scratch, linear-probe,
            finetune, partial) for time-to-accuracy comparison

Use /usr/bin/python3 (Debian's python3-torch); if the python3 on PATH has no
torch the script re-executes itself with /usr/bin/python3.

Importable: refnet(), load_idx(), bench_train(), bench_infer(),
bench_layers() and run_transfer() are plain functions.
"""

import argparse
import gzip
import json
import math
import os
import platform
import resource
import statistics
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    # The python3 first on PATH may be a pyenv one without torch: run the
    # script again with Debian's python3, which has python3-torch.
    if __name__ == "__main__" and os.path.exists("/usr/bin/python3") and \
            os.path.realpath(sys.executable) != \
            os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

REFNET_PARAMS_10 = 140458
DATA_DIR = "/usr/share/datasets/fashion-mnist"
SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)


def emit(obj):
    """Print one JSON line and flush (the reader is usually a pipe)."""
    print(json.dumps(obj, sort_keys=False), flush=True)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def peak_rss_mib():
    # ru_maxrss is KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------
# model

def conv_block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class RefNet(nn.Module):
    """1x28x28 -> conv32 conv32 pool conv64 conv64 pool conv128 gap linear."""

    LAYERS = ("conv1", "conv2", "pool1", "conv3", "conv4", "pool2",
              "conv5", "gap", "fc")

    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = conv_block(1, 32)
        self.conv2 = conv_block(32, 32)
        self.pool1 = nn.MaxPool2d(2)
        self.conv3 = conv_block(32, 64)
        self.conv4 = conv_block(64, 64)
        self.pool2 = nn.MaxPool2d(2)
        self.conv5 = conv_block(64, 128)
        self.gap = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(128, classes)

    def features(self, x):
        for name in self.LAYERS[:-1]:
            x = getattr(self, name)(x)
        return x

    def forward(self, x):
        return self.fc(self.features(x))


def refnet(classes=10):
    return RefNet(classes)


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def make_sgd(params, lr=0.05, momentum=0.9, weight_decay=5e-4,
             wd_on="all"):
    """SGD; wd_on="weights" decays only tensors with 2+ dimensions (conv and
    linear weights, not biases or BatchNorm), as graft's optimizer does."""
    if wd_on == "weights":
        params = list(params)
        params = [{"params": [p for p in params if p.dim() >= 2]},
                  {"params": [p for p in params if p.dim() < 2],
                   "weight_decay": 0.0}]
    return torch.optim.SGD(params, lr=lr, momentum=momentum,
                           weight_decay=weight_decay)


def make_sched(opt, schedule, total_steps):
    """Per-step schedule: "cosine" anneals from lr to 0 over total_steps
    (graft's cosine, min_factor 0); "constant" returns None."""
    if schedule != "cosine":
        return None
    total = max(1, total_steps)
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) /
                                                total)))


def steps_per_epoch(n, batch):
    return (n + batch - 1) // batch


# --------------------------------------------------------------------------
# environment

def setup(threads, seed):
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)


def env_info(threads):
    cfg = torch.__config__.show()
    par = torch.__config__.parallel_info()
    model_name = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model_name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "what": "env",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "threads_requested": threads,
        "interop_threads": torch.get_num_interop_threads(),
        "nproc": os.cpu_count(),
        "cpu": model_name,
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "mkl": bool(torch.backends.mkl.is_available()),
        "openmp": bool(torch.backends.openmp.is_available()),
        "parallel_backend": next((ln.split(":", 1)[1].strip()
                                  for ln in par.splitlines()
                                  if ln.startswith("ATen parallel backend")),
                                 ""),
        "cpu_capability": next((ln.split(":", 1)[1].strip()
                                for ln in cfg.splitlines()
                                if "CPU capability usage" in ln), ""),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }


# --------------------------------------------------------------------------
# synthetic benchmarks

def random_batch(batch, classes, seed, channels=1, size=28):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, channels, size, size, generator=g)
    y = torch.randint(0, classes, (batch,), generator=g)
    return x, y


# tools/bench.sh's names for torchvision's models
TORCHVISION_ALIASES = {"mobilenetv2": "mobilenet_v2"}


def make_model(arch, classes):
    """(model, channels, default size): refnet, or a torchvision
    classification model by name with random weights (Debian's
    python3-torchvision), as tools/export_torchvision.py exports it."""
    if arch == "refnet":
        return refnet(classes), 1, 28
    import torchvision
    name = TORCHVISION_ALIASES.get(arch, arch)
    kw = {"weights": None, "num_classes": classes}
    if name in ("googlenet", "inception_v3"):
        kw.update(aux_logits=False, init_weights=True)
    return getattr(torchvision.models, name)(**kw), 3, \
        299 if name == "inception_v3" else 224


def _summary(times_s, batch):
    med = statistics.median(times_s)
    return {
        "images_per_s": round(batch / med, 2),
        "median_step_ms": round(med * 1e3, 3),
        "mean_step_ms": round(statistics.fmean(times_s) * 1e3, 3),
        "min_step_ms": round(min(times_s) * 1e3, 3),
        "max_step_ms": round(max(times_s) * 1e3, 3),
        "iters": len(times_s),
    }


def bench_train(batch=64, iters=30, warmup=5, classes=10, seed=0,
                arch="refnet", size=None):
    model, channels, dsize = make_model(arch, classes)
    size = size or dsize
    model.train()
    opt = make_sgd(model.parameters())
    x, y = random_batch(batch, classes, seed, channels, size)
    times = []
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        t1 = time.perf_counter()
        if i >= warmup:
            times.append(t1 - t0)
    out = {"what": "train", "model": arch, "size": size, "batch": batch}
    out.update(_summary(times, batch))
    out["threads"] = torch.get_num_threads()
    out["final_loss"] = round(float(loss), 4)
    out["peak_rss_mib"] = round(peak_rss_mib(), 1)
    return out


def bench_infer(batch=256, iters=30, warmup=5, classes=10, seed=0,
                arch="refnet", size=None):
    model, channels, dsize = make_model(arch, classes)
    size = size or dsize
    model.eval()
    x, _ = random_batch(batch, classes, seed, channels, size)
    times = []
    with torch.no_grad():
        for i in range(warmup + iters):
            t0 = time.perf_counter()
            model(x)
            t1 = time.perf_counter()
            if i >= warmup:
                times.append(t1 - t0)
    out = {"what": "infer", "model": arch, "size": size, "batch": batch}
    out.update(_summary(times, batch))
    out["threads"] = torch.get_num_threads()
    out["peak_rss_mib"] = round(peak_rss_mib(), 1)
    return out


def bench_layers(batch=64, iters=10, warmup=3, classes=10, seed=0):
    """Time each top-level module of refnet on its own (train mode).

    The input of every module is captured from one full forward pass; the
    backward of a module is timed with a random upstream gradient and
    includes the weight gradients and (except for conv1, whose input is the
    image) the input gradient, as in a real training step.
    """
    model = refnet(classes)
    model.train()
    x, _ = random_batch(batch, classes, seed)
    inputs = {}
    with torch.no_grad():
        h = x
        for name in RefNet.LAYERS:
            inputs[name] = h.clone()
            h = getattr(model, name)(h)
    rows = []
    for name in RefNet.LAYERS:
        m = getattr(model, name)
        xin = inputs[name].clone().requires_grad_(name != "conv1")
        fwd, bwd = [], []
        for i in range(warmup + iters):
            t0 = time.perf_counter()
            out = m(xin)
            t1 = time.perf_counter()
            g = torch.ones_like(out)
            t2 = time.perf_counter()
            out.backward(g)
            t3 = time.perf_counter()
            if i >= warmup:
                fwd.append(t1 - t0)
                bwd.append(t3 - t2)
            model.zero_grad(set_to_none=True)
            xin.grad = None
        rows.append({"what": "layer", "model": "refnet", "name": name,
                     "batch": batch,
                     "out_shape": list(out.shape),
                     "fwd_ms": round(statistics.median(fwd) * 1e3, 3),
                     "bwd_ms": round(statistics.median(bwd) * 1e3, 3)})
    # whole model for reference (the sum of the parts is usually a bit
    # higher: no in-place ReLU chaining across modules, no loss)
    fwd, bwd = [], []
    for i in range(warmup + iters):
        t0 = time.perf_counter()
        out = model(x)
        t1 = time.perf_counter()
        out.sum().backward()
        t2 = time.perf_counter()
        if i >= warmup:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
        model.zero_grad(set_to_none=True)
    rows.append({"what": "layer", "model": "refnet", "name": "total",
                 "batch": batch,
                 "fwd_ms": round(statistics.median(fwd) * 1e3, 3),
                 "bwd_ms": round(statistics.median(bwd) * 1e3, 3),
                 "sum_fwd_ms": round(sum(r["fwd_ms"] for r in rows), 3),
                 "sum_bwd_ms": round(sum(r["bwd_ms"] for r in rows), 3)})
    return rows


# --------------------------------------------------------------------------
# Fashion-MNIST

def load_idx(path):
    """Parse a (gzipped) IDX file into a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError("%s: not an IDX file" % path)
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4",
              0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise ValueError("%s: unknown IDX type 0x%02x" % (path, data[2]))
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big")
            for i in range(ndim)]
    arr = np.frombuffer(data, dtype=dtypes[data[2]], offset=4 + 4 * ndim)
    return arr.reshape(dims)


def load_fashion(data_dir=DATA_DIR):
    def p(name):
        return os.path.join(data_dir, name)
    xtr = load_idx(p("train-images-idx3-ubyte.gz"))
    ytr = load_idx(p("train-labels-idx1-ubyte.gz"))
    xte = load_idx(p("t10k-images-idx3-ubyte.gz"))
    yte = load_idx(p("t10k-labels-idx1-ubyte.gz"))
    return xtr, ytr.astype(np.int64), xte, yte.astype(np.int64)


def to_tensor(images, mean, std):
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    return ((x - mean) / std).unsqueeze(1).contiguous()


def select(x, y, classes):
    """Images of the given classes, labels remapped to 0..len(classes)-1."""
    mask = np.isin(y, classes)
    lut = np.full(256, -1, dtype=np.int64)
    for i, c in enumerate(classes):
        lut[c] = i
    return x[mask], lut[y[mask]]


def sample_per_class(y, per_class, seed):
    rng = np.random.default_rng(seed)
    idx = []
    for c in np.unique(y):
        where = np.flatnonzero(y == c)
        idx.append(rng.choice(where, size=per_class, replace=False))
    return np.sort(np.concatenate(idx))


def evaluate(model, x, y, batch=500):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            pred = model(x[i:i + batch]).argmax(1)
            correct += int((pred == y[i:i + batch]).sum())
    return correct / len(x)


def train_epoch(model, opt, x, y, batch, gen, sched=None, frozen=()):
    """One epoch; modules in frozen stay in eval mode (BatchNorm keeps its
    running statistics, as graft's frozen layers do)."""
    model.train()
    for m in frozen:
        m.eval()
    perm = torch.randperm(len(x), generator=gen)
    loss = None
    for i in range(0, len(x), batch):
        idx = perm[i:i + batch]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
    return float(loss)


def pretrain(x, y, xte, yte, epochs, batch, seed, lr, cache=None,
             schedule="constant", wd_on="all"):
    """Source model on classes 0-4; returns (state_dict, info)."""
    meta = {"epochs": epochs, "batch": batch, "seed": seed, "lr": lr,
            "n": int(len(x)), "torch": torch.__version__}
    if schedule != "constant" or wd_on != "all":
        meta.update(schedule=schedule, wd_on=wd_on)
    if cache and os.path.exists(cache):
        blob = torch.load(cache)
        if blob.get("meta") == meta:
            info = dict(blob["info"])
            info["cached"] = True
            return blob["state"], info
        log("bench_torch: cache %s has other settings, retraining" % cache)
    torch.manual_seed(seed)
    model = refnet(len(SOURCE_CLASSES))
    opt = make_sgd(model.parameters(), lr=lr, wd_on=wd_on)
    sched = make_sched(opt, schedule, epochs * steps_per_epoch(len(x), batch))
    gen = torch.Generator().manual_seed(seed)
    secs = 0.0
    for ep in range(epochs):
        t0 = time.perf_counter()
        loss = train_epoch(model, opt, x, y, batch, gen, sched)
        secs += time.perf_counter() - t0
        log("pretrain epoch %d/%d loss %.4f %.1fs" % (ep + 1, epochs, loss,
                                                       secs))
    acc = evaluate(model, xte, yte)
    info = {"epochs": epochs, "batch": batch, "images": int(len(x)),
            "lr": lr, "schedule": schedule, "wd_on": wd_on,
            "train_seconds": round(secs, 3), "source_accuracy": acc,
            "cached": False}
    state = model.state_dict()
    if cache:
        d = os.path.dirname(cache)
        if d:
            os.makedirs(d, exist_ok=True)
        torch.save({"meta": meta, "info": info, "state": state}, cache)
    return state, info


def run_arm(arm, pre_state, xtr, ytr, xte, yte, epochs, batch, seed, lr,
            probe_opt="sgd", lr_probe=None, schedule="constant",
            wd_on="all", cut="pool1"):
    """Yield per-epoch dicts for one arm. "partial" fine-tunes the modules
    after `cut` (a name in RefNet.LAYERS, named as graft's layers; "conv3"
    is graft's conv3.act, the output of the conv3 block) the ordinary
    PyTorch way: the modules up to
    and including it have requires_grad False and stay in eval mode, and
    every step runs forward through them (no caching); autograd does no
    backward below the first trainable layer."""
    torch.manual_seed(seed + 1)
    gen = torch.Generator().manual_seed(seed + 2)
    nclass = len(TARGET_CLASSES)
    model = refnet(nclass)
    if arm in ("finetune", "linear-probe", "partial"):
        state = {k: v for k, v in pre_state.items() if not k.startswith("fc.")}
        missing = model.load_state_dict(state, strict=False).missing_keys
        assert sorted(missing) == ["fc.bias", "fc.weight"], missing
    secs = 0.0
    total_steps = epochs * steps_per_epoch(len(xtr), batch)
    if arm == "linear-probe":
        for p in model.parameters():
            p.requires_grad_(False)
        head = model.fc
        for p in head.parameters():
            p.requires_grad_(True)
        model.eval()
        # features once, backbone in eval mode (counted as training time)
        t0 = time.perf_counter()
        with torch.no_grad():
            ftr = model.features(xtr)
        secs += time.perf_counter() - t0
        with torch.no_grad():  # test features: evaluation, not counted
            fte = torch.cat([model.features(xte[i:i + 500])
                             for i in range(0, len(xte), 500)])
        if probe_opt == "adam":
            opt = torch.optim.Adam(head.parameters(), lr=1e-3)
        else:
            opt = make_sgd(head.parameters(),
                           lr=lr if lr_probe is None else lr_probe,
                           wd_on=wd_on)
        sched = make_sched(opt, schedule, total_steps)
        for ep in range(1, epochs + 1):
            t0 = time.perf_counter()
            train_epoch(head, opt, ftr, ytr, batch, gen, sched)
            secs += time.perf_counter() - t0
            acc = evaluate(head, fte, yte)
            yield {"what": "transfer", "arm": arm, "epoch": ep,
                   "train_seconds": round(secs, 4), "accuracy": acc}
        return
    frozen = ()
    if arm == "partial":
        frozen = [getattr(model, n)
                  for n in RefNet.LAYERS[:RefNet.LAYERS.index(cut) + 1]]
        for m in frozen:
            for p in m.parameters():
                p.requires_grad_(False)
    opt = make_sgd([p for p in model.parameters() if p.requires_grad], lr=lr,
                   wd_on=wd_on)
    sched = make_sched(opt, schedule, total_steps)
    for ep in range(1, epochs + 1):
        t0 = time.perf_counter()
        train_epoch(model, opt, xtr, ytr, batch, gen, sched, frozen)
        secs += time.perf_counter() - t0
        acc = evaluate(model, xte, yte)
        yield {"what": "transfer", "arm": arm, "epoch": ep,
               "train_seconds": round(secs, 4), "accuracy": acc}


def run_transfer(args, out=emit):
    t_all = time.perf_counter()
    xtr8, ytr, xte8, yte = load_fashion(args.data_dir)
    # one normalisation for everything: mean/std of the 60,000 train images
    mean = float(xtr8.mean()) / 255.0
    std = float((xtr8.astype(np.float32) / 255.0).std())
    sx, sy = select(xtr8, ytr, SOURCE_CLASSES)
    if args.pretrain_images > 0:
        sx, sy = sx[:args.pretrain_images], sy[:args.pretrain_images]
    stx, sty = select(xte8, yte, SOURCE_CLASSES)
    tx, ty = select(xtr8, ytr, TARGET_CLASSES)
    ttx, tty = select(xte8, yte, TARGET_CLASSES)
    pick = sample_per_class(ty, args.per_class, args.seed)
    tx, ty = tx[pick], ty[pick]
    out({"what": "transfer_data", "mean": round(mean, 6), "std": round(std, 6),
         "source_train": int(len(sx)), "source_test": int(len(stx)),
         "target_train": int(len(tx)), "target_test": int(len(ttx)),
         "per_class": args.per_class, "seed": args.seed})

    def t(a, b):
        return to_tensor(a, mean, std), torch.from_numpy(b)
    sx, sy = t(sx, sy)
    stx, sty = t(stx, sty)
    tx, ty = t(tx, ty)
    ttx, tty = t(ttx, tty)

    arms = args.arms.split(",")
    pre_state = None
    if any(a != "scratch" for a in arms):
        pre_state, info = pretrain(sx, sy, stx, sty, args.pretrain_epochs,
                                   args.pretrain_batch, args.seed,
                                   args.pretrain_lr, args.cache,
                                   args.schedule, args.wd_on)
        rec = {"what": "pretrain", "model": "refnet"}
        rec.update(info)
        out(rec)

    curves = {}
    for arm in arms:
        if arm not in ("scratch", "linear-probe", "finetune", "partial"):
            raise SystemExit("bench_torch: unknown arm %r" % arm)
        curves[arm] = []
        for rec in run_arm(arm, pre_state, tx, ty, ttx, tty, args.epochs,
                           args.batch, args.seed, args.lr, args.probe_opt,
                           args.lr_probe, args.schedule, args.wd_on,
                           args.partial_cut):
            out(rec)
            curves[arm].append(rec)
            log("%-12s epoch %2d  %.3f  %.2fs" % (arm, rec["epoch"],
                                                  rec["accuracy"],
                                                  rec["train_seconds"]))

    target = None
    if "scratch" in curves:
        target = max(r["accuracy"] for r in curves["scratch"])
    for arm, recs in curves.items():
        best = max(recs, key=lambda r: r["accuracy"])
        hit = None
        if target is not None:
            hit = next((r for r in recs if r["accuracy"] >= target), None)
        out({"what": "transfer_summary", "arm": arm,
             "epochs": len(recs),
             "final_accuracy": recs[-1]["accuracy"],
             "best_accuracy": best["accuracy"], "best_epoch": best["epoch"],
             "train_seconds": recs[-1]["train_seconds"],
             "scratch_best_accuracy": target,
             "epoch_to_scratch_best": hit["epoch"] if hit else None,
             "seconds_to_scratch_best":
                 hit["train_seconds"] if hit else None})
    out({"what": "transfer_done",
         "wall_seconds": round(time.perf_counter() - t_all, 2),
         "peak_rss_mib": round(peak_rss_mib(), 1)})


# --------------------------------------------------------------------------
# command line

def build_parser():
    ap = argparse.ArgumentParser(
        description="PyTorch side of graft's benchmark (JSON lines on "
                    "stdout, first line {\"what\":\"env\"}).")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--threads", type=int, default=2,
                        help="torch.set_num_threads (default 2)")
    common.add_argument("--seed", type=int, default=0)
    common.add_argument("--quick", action="store_true",
                        help="short run (few iterations / epochs)")
    sub = ap.add_subparsers(dest="mode", required=True)

    for name, bdef, hlp in (("train", 64, "training step throughput"),
                            ("infer", 256, "inference throughput")):
        p = sub.add_parser(name, parents=[common], help=hlp)
        p.add_argument("--batch", type=int, default=bdef)
        p.add_argument("--iters", type=int, default=30)
        p.add_argument("--warmup", type=int, default=5)
        p.add_argument("--classes", type=int, default=None,
                       help="classes (default 10 for refnet, else 1000)")
        p.add_argument("--arch", default="refnet",
                       help="refnet or a torchvision classification model "
                            "(mobilenetv2 = mobilenet_v2), random weights")
        p.add_argument("--size", type=int, default=None,
                       help="input height and width (default 28 for "
                            "refnet, 224, inception_v3 299)")

    p = sub.add_parser("layers", parents=[common],
                       help="per-layer forward/backward ms")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)

    p = sub.add_parser("transfer", parents=[common],
                       help="Fashion-MNIST 0-4 -> 5-9 transfer task")
    p.add_argument("--data-dir", default=DATA_DIR)
    p.add_argument("--pretrain-epochs", type=int, default=2)
    p.add_argument("--pretrain-batch", type=int, default=64)
    p.add_argument("--pretrain-images", type=int, default=0,
                   help="use only the first N source images (0: all "
                        "30,000; --quick: 6,000)")
    p.add_argument("--cache", default=None,
                   help="load/save the pretrained state dict here")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--probe-opt", choices=("sgd", "adam"), default="sgd",
                   help="optimizer of the linear-probe head")
    p.add_argument("--lr-probe", type=float, default=None,
                   help="linear-probe SGD learning rate (default: --lr)")
    p.add_argument("--pretrain-lr", type=float, default=None,
                   help="pretraining learning rate (default: --lr)")
    p.add_argument("--schedule", choices=("constant", "cosine"),
                   default="constant",
                   help="learning-rate schedule of pretraining and every "
                        "arm; cosine: per step from lr to 0 over the run, "
                        "as graft's default (default constant)")
    p.add_argument("--wd-on", choices=("all", "weights"), default="all",
                   help="weight decay 5e-4 on all parameters or only on "
                        "conv/linear weights, as graft (default all)")
    p.add_argument("--arms", default="scratch,linear-probe,finetune,partial")
    p.add_argument("--partial-cut", default="pool1",
                   choices=RefNet.LAYERS[:-2],
                   help="partial arm: modules up to and including this one "
                        "are frozen (default pool1, as graft's default; "
                        "conv3 is graft's conv3.act)")
    return ap


def main(argv=None):
    args = build_parser().parse_args(argv)
    setup(args.threads, args.seed)
    emit(env_info(args.threads))
    n = count_params(refnet(10))
    assert n == REFNET_PARAMS_10, n
    if args.mode in ("train", "infer"):
        if args.quick:
            args.iters, args.warmup = min(args.iters, 5), min(args.warmup, 2)
        fn = bench_train if args.mode == "train" else bench_infer
        classes = args.classes or (10 if args.arch == "refnet" else 1000)
        emit(fn(args.batch, args.iters, args.warmup, classes, args.seed,
                args.arch, args.size))
    elif args.mode == "layers":
        if args.quick:
            args.iters, args.warmup = min(args.iters, 3), 1
        for row in bench_layers(args.batch, args.iters, args.warmup,
                                seed=args.seed):
            emit(row)
    else:
        if args.quick:
            args.pretrain_epochs = 1
            if args.pretrain_images == 0:
                args.pretrain_images = 6000
            args.epochs = min(args.epochs, 3)
        if args.pretrain_lr is None:
            args.pretrain_lr = args.lr
        run_transfer(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
