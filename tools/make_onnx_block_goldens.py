#!/usr/bin/python3
"""Builds the ONNX goldens of tests/test_onnx_blocks.c with Debian's python3-torch and
python3-torchvision: small networks made of torchvision's own ShuffleNet v2 and ConvNeXt
blocks, with seeded random weights (LayerNorm affines and layer scales too, so that none is
an identity); files as tools/make_onnx_goldens.py:

  data/onnx/NAME.onnx      the model
  data/onnx/NAME.in.f32    input  [2, C, H, W]
  data/onnx/NAME.out.f32   PyTorch's output [2, classes]

Usage: /usr/bin/python3 tools/make_onnx_block_goldens.py [OUTDIR]   (default data/onnx)
"""
import os
import sys
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.convnext import CNBlock, LayerNorm2d
from torchvision.models.shufflenetv2 import InvertedResidual

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_golden_io import randomise_batchnorm, write_golden  # noqa: E402

warnings.filterwarnings("ignore")
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "data", "onnx")
N = 2


def randomise(model, seed):
    """Non-trivial BatchNorm statistics, LayerNorm affines and layer scales."""
    g = torch.Generator().manual_seed(seed)
    for mod in model.modules():
        if randomise_batchnorm(mod, g):
            continue
        elif isinstance(mod, nn.LayerNorm):
            mod.weight.data = 0.5 + torch.rand(mod.weight.shape, generator=g)
            mod.bias.data = 0.2 * torch.randn(mod.bias.shape, generator=g)
        elif isinstance(mod, CNBlock):
            mod.layer_scale.data = 0.5 + torch.rand(mod.layer_scale.shape, generator=g)
    return model


class ShuffleMini(nn.Module):
    """A stride-2 unit (two branches, Concat, channel shuffle) and two stride-1 units
    (chunk into halves: Slice on channels computed from Shape; shuffle), global mean, fc."""

    def __init__(self, classes=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, 1, 1, bias=False), nn.BatchNorm2d(6), nn.ReLU())
        self.units = nn.Sequential(InvertedResidual(6, 10, 2), InvertedResidual(10, 10, 1),
                                   InvertedResidual(10, 10, 1))
        self.fc = nn.Linear(10, classes)

    def forward(self, x):
        return self.fc(self.units(self.stem(x)).mean([2, 3]))


class ConvNeXtMini(nn.Module):
    """torchvision's ConvNeXt layout in small: a patchify stem with LayerNorm2d, two CNBlocks
    (depthwise 7x7, channels-last LayerNorm, Linear, GELU, Linear, layer scale, residual), a
    LayerNorm2d + stride-2 conv downsample, one more CNBlock, and the classifier head
    (global pool, LayerNorm2d, Flatten, Linear)."""

    def __init__(self, classes=4):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 2, 2), LayerNorm2d(8, eps=1e-6))
        self.stage1 = nn.Sequential(CNBlock(8, 1.0, 0.0), CNBlock(8, 1.0, 0.0))
        self.down = nn.Sequential(LayerNorm2d(8, eps=1e-6), nn.Conv2d(8, 12, 2, 2))
        self.stage2 = CNBlock(12, 1.0, 0.0)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), LayerNorm2d(12, eps=1e-6), nn.Flatten(1),
                                  nn.Linear(12, classes))

    def forward(self, x):
        return self.head(self.stage2(self.down(self.stage1(self.stem(x)))))


class LayerNormFirst(nn.Module):
    """The original ConvNeXt code's LayerNorm for channels_first data: means over axis 1 of
    the NCHW tensor, weight and bias broadcast as [C, 1, 1]."""

    def __init__(self, c, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(0.5 + torch.rand(c))
        self.bias = nn.Parameter(0.2 * torch.randn(c))
        self.eps = eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class LnFirstMini(nn.Module):
    def __init__(self, classes=3):
        super().__init__()
        self.c1, self.n, self.c2 = nn.Conv2d(3, 6, 3, 1, 1), LayerNormFirst(6), nn.Conv2d(6, 5, 1)
        self.fc = nn.Linear(5, classes)

    def forward(self, x):
        return self.fc(self.c2(self.n(self.c1(x))).mean([2, 3]))


class SplitMini(nn.Module):
    """torch.split into unequal channel parts (one ONNX Split with a split input) and into
    equal ones, the parts convolved and concatenated."""

    def __init__(self, classes=3):
        super().__init__()
        self.c = nn.Conv2d(3, 9, 3, 1, 1)
        self.a, self.b = nn.Conv2d(2, 4, 1), nn.Conv2d(7, 4, 3, 1, 1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x):
        x = F.relu(self.c(x))
        a, b = torch.split(x, [2, 7], 1)
        x = torch.cat([self.a(a), self.b(b)], 1)
        p, q = torch.split(x, 4, 1)
        return self.fc(torch.cat([q, p], 1).mean([2, 3]))


class ViewMini(nn.Module):
    """x.view(x.size(0), -1) before the classifier: Shape -> Gather -> Unsqueeze -> Concat
    -> Reshape, which folds to a flatten with the batch kept open."""

    def __init__(self, classes=3):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, 2, 1)
        self.fc = nn.Linear(4 * 3 * 4, classes)

    def forward(self, x):
        x = F.relu(self.c(x))
        return self.fc(x.view(x.size(0), -1))


class BatchArith(nn.Module):
    """A reshape whose shape is arithmetic on the batch size (x.size(0) * 2): refused,
    since graft leaves the batch open."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, 1, 1)
        self.fc = nn.Linear(2 * 3 * 4, 2)

    def forward(self, x):
        x = self.c(x)
        return self.fc(x.reshape(x.size(0) * 2, -1)).reshape(x.size(0), -1)


class BlockNearMiss(nn.Module):
    """A division of a computed tensor (not shape arithmetic) and a Transpose that is not
    to channels-last: the first must be named up front, and nothing imported."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = self.c(x) / 3.0
        x = x.transpose(2, 3)
        return self.fc(x.mean([2, 3]))


def export(name, model, shape, opset, seed):
    torch.manual_seed(seed)
    x = torch.randn(N, *shape)
    model.eval()
    with torch.no_grad():
        y = model(x)
    write_golden(OUT, name, model, x, y, opset, torch.onnx.TrainingMode.PRESERVE)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(30)
    export("shuffle_mini", randomise(ShuffleMini(), 5), (3, 10, 14), 13, 3000)
    torch.manual_seed(31)
    cm = randomise(ConvNeXtMini(), 6)
    export("convnext_mini", cm, (3, 16, 12), 13, 3001)
    export("convnext_mini_op17", cm, (3, 16, 12), 17, 3001)  # LayerNormalization nodes
    torch.manual_seed(33)
    export("split_mini", SplitMini(), (3, 7, 5), 13, 3003)
    torch.manual_seed(36)
    export("ln_first_mini", LnFirstMini(), (3, 5, 6), 13, 3006)
    torch.manual_seed(34)
    export("view_mini", ViewMini(), (3, 5, 7), 13, 3004)
    torch.manual_seed(35)
    export("batch_arith", BatchArith(), (3, 3, 4), 13, 3005)
    os.remove(os.path.join(OUT, "batch_arith.in.f32"))
    os.remove(os.path.join(OUT, "batch_arith.out.f32"))
    torch.manual_seed(32)
    export("block_near_miss", BlockNearMiss(), (3, 6, 6), 13, 3002)
    os.remove(os.path.join(OUT, "block_near_miss.in.f32"))
    os.remove(os.path.join(OUT, "block_near_miss.out.f32"))


if __name__ == "__main__":
    main()
