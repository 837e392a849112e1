#!/usr/bin/python3
"""Builds the ONNX goldens of the importer's patterns and activations (tests/test_onnx_patterns.c)
with Debian's python3-torch: squeeze-excitation blocks as torchvision writes them (MobileNetV3,
EfficientNet, RegNet, MNASNet), with seeded random weights; files as tools/make_onnx_goldens.py:

  data/onnx/NAME.onnx      the model
  data/onnx/NAME.in.f32    input  [2, C, H, W]
  data/onnx/NAME.out.f32   PyTorch's output [2, classes]

Usage: /usr/bin/python3 tools/make_onnx_pattern_goldens.py [OUTDIR]   (default data/onnx)
"""
import os
import sys
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_golden_io import randomise_batchnorm, write_golden  # noqa: E402

warnings.filterwarnings("ignore")
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "data", "onnx")
N = 2


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    for mod in model.modules():
        if randomise_batchnorm(mod, g):
            continue
    return model


class SE(nn.Module):
    """torchvision's SqueezeExcitation: pool, fc1, act, fc2, gate, scale * x."""

    def __init__(self, c, sq, act, gate, keepdim_mean=False):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, sq, 1), nn.Conv2d(sq, c, 1)
        self.act, self.gate, self.mean = act(), gate(), keepdim_mean

    def forward(self, x):
        s = x.mean([2, 3], keepdim=True) if self.mean else F.adaptive_avg_pool2d(x, 1)
        s = self.gate(self.fc2(self.act(self.fc1(s))))
        return s * x


class GateMini(nn.Module):
    """HardSwish (HardSigmoid * x) and SiLU (Sigmoid * x) activations, SE blocks with
    HardSigmoid and Sigmoid gates (the scale first and second in the Mul), a ReduceMean
    over H, W with keepdims 1 and 0, a HardSwish on the classifier's hidden vector."""

    def __init__(self, classes=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.se1 = SE(8, 4, nn.ReLU, nn.Hardsigmoid)
        self.pw = nn.Sequential(nn.Conv2d(8, 12, 1, bias=False), nn.BatchNorm2d(12), nn.SiLU())
        self.se2 = SE(12, 3, nn.SiLU, nn.Sigmoid, keepdim_mean=True)
        self.fc1 = nn.Linear(12, 16)
        self.act = nn.Hardswish()
        self.fc2 = nn.Linear(16, classes)

    def forward(self, x):
        x = self.se1(self.dw(self.stem(x)))
        x = self.se2(self.pw(x))
        x = x.mean([2, 3])
        return self.fc2(self.act(self.fc1(x)))


class GateScaleFirst(nn.Module):
    """x * gate with x first (RegNet writes the scale first, MNASNet-style heads the
    mean): the Mul's operands the other way round, and a plain Sigmoid gate on x."""

    def __init__(self, classes=3):
        super().__init__()
        self.c = nn.Conv2d(3, 6, 3, 1, 1)
        self.fc1, self.fc2 = nn.Conv2d(6, 2, 1), nn.Conv2d(2, 6, 1)
        self.fc = nn.Linear(6, classes)

    def forward(self, x):
        x = F.relu(self.c(x))
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        x = x * s
        x = x * torch.sigmoid(x)  # SiLU with x first
        x = torch.sigmoid(x) * x  # and second
        return self.fc(x.mean([2, 3]))


class MeanMini(nn.Module):
    """ReduceMean over H, W with keepdims 1 (then a 1x1 conv) and 0 (then the classifier)."""

    def __init__(self, classes=4):
        super().__init__()
        self.c = nn.Conv2d(3, 6, 3, 1, 1)
        self.p = nn.Conv2d(6, 5, 1)
        self.fc = nn.Linear(5, classes)

    def forward(self, x):
        x = self.p(F.relu(self.c(x)).mean([2, 3], keepdim=True))
        return self.fc(x.mean([2, 3]))


class NearMiss(nn.Module):
    """Ops the patterns do not take: a Mul by a constant and a ReduceMean over channels.
    The importer must name both and write nothing."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(1, 2)

    def forward(self, x):
        x = self.c(x) * 2.0
        x = x.mean(1, keepdim=True)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def hostile_hard_sigmoid():
    """A HardSigmoid with a second input: refused by its arity, not imported ignoring it."""
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 3, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, 3, 3])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["r"], name="r"),
                           helper.make_node("HardSigmoid", ["x", "r"], ["y"], name="hs")],
                          "hard_sigmoid_two_inputs", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with open(os.path.join(OUT, "hard_sigmoid_two_inputs.onnx"), "wb") as fh:
        fh.write(m.SerializeToString())


def export(name, model, shape, opset):
    torch.manual_seed(2000 + opset)
    x = torch.randn(N, *shape)
    model.eval()
    with torch.no_grad():
        y = model(x)
    write_golden(OUT, name, model, x, y, opset, torch.onnx.TrainingMode.PRESERVE)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(20)
    export("mean_mini", MeanMini(), (3, 5, 7), 13)
    torch.manual_seed(21)
    gm = randomise(GateMini(), 4)
    export("gate_mini", gm, (3, 14, 10), 13)
    export("gate_mini_op14", gm, (3, 14, 10), 14)  # HardSwish as one ONNX op
    torch.manual_seed(22)
    export("gate_scale_first", GateScaleFirst(), (3, 7, 9), 13)
    torch.manual_seed(23)
    export("near_miss", NearMiss(), (3, 6, 6), 13)
    os.remove(os.path.join(OUT, "near_miss.in.f32"))
    os.remove(os.path.join(OUT, "near_miss.out.f32"))
    hostile_hard_sigmoid()


if __name__ == "__main__":
    main()
