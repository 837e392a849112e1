#!/usr/bin/python3
"""Exports torchvision classification CNNs to ONNX, as a user would.

  /usr/bin/python3 tools/export_torchvision.py [--out DIR] [--images N]
                                                [--list] [ARCH ...]

Each ARCH (default: all of ZOO) becomes DIR/ARCH.onnx (random weights,
BatchNorm statistics calibrated on random images, torch.onnx.export, opset 13, batch axis dynamic, input 1x3x224x224 or 299 for
inception_v3) and DIR/input-SIZE.f32: N random NCHW float32 images at that
size (standard normal, seed 0), shared by every model of that size. Files
already present are kept (DIR is a cache). One line per model on stdout:
"ARCH PATH SIZE". Speed does not depend on the weights, and correctness is
checked against ONNX Runtime on the same file, so random weights suffice.
Needs Debian's python3-torch and python3-torchvision (0.14).
"""

import argparse
import os
import sys

ZOO = [
    "resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "mobilenet_v2",
    "squeezenet1_1", "densenet121", "googlenet", "inception_v3", "mnasnet1_0",
    "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "efficientnet_v2_s",
    "regnet_y_400mf", "shufflenet_v2_x1_0", "convnext_tiny",
]
# torchvision's own names for the two backbones of tools/bench.sh --backbones
ALIASES = {"mobilenetv2": "mobilenet_v2"}


def input_size(arch):
    return 299 if arch == "inception_v3" else 224


def build(arch):
    import torchvision
    kw = {"weights": None}
    # googlenet and inception_v3 add auxiliary heads unless told not to;
    # in eval mode they are unused, but export is cleaner without them.
    if arch in ("googlenet", "inception_v3"):
        kw.update(aux_logits=False, init_weights=True)
    return getattr(torchvision.models, arch)(**kw).eval()


def calibrate(model, size):
    """Gives the random network the scale of a trained one. torchvision's
    initialisers leave some models' features near zero (googlenet: logits
    are its bias) or huge (inception_v3, 94 convs), which would make the
    comparison with ONNX Runtime say little. So every BatchNorm gets a
    random affine and running statistics measured on random images (as
    training would leave them), and the network then normalises its own
    features. Speed does not change."""
    import torch
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return model
    with torch.no_grad():
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
            if m.affine:
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
        model.train()
        for _ in range(2):
            model(torch.randn(4, 3, size, size))
    return model.eval()


def export(arch, path, size):
    import torch
    torch.manual_seed(0)
    model = calibrate(build(arch), size)
    x = torch.randn(1, 3, size, size)
    tmp = path + ".tmp.onnx"
    with torch.no_grad():
        torch.onnx.export(model, x, tmp, opset_version=13, input_names=["input"],
                          output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          do_constant_folding=True)
    os.replace(tmp, path)


def write_input(path, n, size):
    import numpy as np
    x = np.random.default_rng(0).standard_normal((n, 3, size, size)).astype(np.float32)
    tmp = path + ".tmp"
    x.tofile(tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="out/zoo", help="cache folder (default out/zoo)")
    ap.add_argument("--images", type=int, default=16, help="images in input-SIZE.f32")
    ap.add_argument("--list", action="store_true", help="print the architectures and stop")
    ap.add_argument("arch", nargs="*")
    a = ap.parse_args()
    if a.list:
        print("\n".join(ZOO))
        return 0
    archs = [ALIASES.get(x, x) for x in (a.arch or ZOO)]
    unknown = [x for x in archs if x not in ZOO]
    if unknown:
        print(f"export_torchvision: unknown architecture {', '.join(unknown)} "
              f"(known: {' '.join(ZOO)})", file=sys.stderr)
        return 2
    os.makedirs(a.out, exist_ok=True)
    for arch in archs:
        size = input_size(arch)
        inp = os.path.join(a.out, f"input-{size}.f32")
        if not os.path.exists(inp) or os.path.getsize(inp) != a.images * 3 * size * size * 4:
            write_input(inp, a.images, size)
        path = os.path.join(a.out, f"{arch}.onnx")
        if not os.path.exists(path):
            print(f"export_torchvision: exporting {arch}", file=sys.stderr, flush=True)
            export(arch, path, size)
        print(f"{arch} {path} {size}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
