#!/usr/bin/python3
"""Builds the ONNX golden models of tests/test_onnx.c with Debian's python3-torch.

Small networks with fixed (seeded) random weights and BatchNorm statistics are exported
to ONNX; fixed inputs and the PyTorch outputs (logits, before any final Softmax) are
written as raw little-endian float32 files:

  data/onnx/NAME.onnx      the model
  data/onnx/NAME.in.f32    input  [N, C, H, W]
  data/onnx/NAME.out.f32   output [N, classes]

Usage: /usr/bin/python3 tools/make_onnx_goldens.py [OUTDIR]   (default data/onnx)
Needs python3-torch and python3-onnx (tools/install-deps.sh --bench).
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
N = 2  # batch of the stored inputs


def randomise(model, seed):
    """Non-trivial BN affine and running statistics (fresh BN layers are identities)."""
    g = torch.Generator().manual_seed(seed)
    for mod in model.modules():
        if randomise_batchnorm(mod, g):
            continue
    return model


def conv_bn(cin, cout, k, s=1, groups=1, act=nn.ReLU):
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class Basic(nn.Module):
    def __init__(self, cin, cout, s):
        super().__init__()
        self.c1 = conv_bn(cin, cout, 3, s)
        self.c2 = conv_bn(cout, cout, 3, 1, act=None)
        self.down = conv_bn(cin, cout, 1, s, act=None) if s != 1 or cin != cout else None

    def forward(self, x):
        idn = x if self.down is None else self.down(x)
        return F.relu(self.c2(self.c1(x)) + idn)


class ResNetMini(nn.Module):
    """conv-bn-relu stem, maxpool, two basic blocks (one with a 1x1 downsample), GAP, fc."""

    def __init__(self, classes=5):
        super().__init__()
        self.stem = conv_bn(3, 8, 3)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = Basic(8, 8, 1)
        self.layer2 = Basic(8, 16, 2)
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        x = self.layer2(self.layer1(self.pool(self.stem(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class InvRes(nn.Module):
    def __init__(self, cin, cout, s, t):
        super().__init__()
        h = cin * t
        self.body = nn.Sequential(conv_bn(cin, h, 1, act=nn.ReLU6),
                                  conv_bn(h, h, 3, s, groups=h, act=nn.ReLU6),
                                  conv_bn(h, cout, 1, act=None))
        self.res = s == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.res else y


class MobileMini(nn.Module):
    """MobileNetV2-style: stem, inverted residuals with depthwise convs and ReLU6, a
    MatMul + Add classifier (not Gemm)."""

    def __init__(self, classes=4):
        super().__init__()
        self.stem = conv_bn(3, 8, 3, 2, act=nn.ReLU6)
        self.b1 = InvRes(8, 8, 1, 3)
        self.b2 = InvRes(8, 12, 2, 2)
        self.b3 = InvRes(12, 12, 1, 2)
        self.head = conv_bn(12, 24, 1, act=nn.ReLU6)
        self.w = nn.Parameter(0.2 * torch.randn(24, classes))
        self.b = nn.Parameter(0.1 * torch.randn(classes))

    def forward(self, x):
        x = self.head(self.b3(self.b2(self.b1(self.stem(x)))))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return torch.matmul(x, self.w) + self.b


class FoldedMini(nn.Module):
    """Exported in EVAL mode, so the exporter folds every BatchNorm into its conv.
    Also: a concat of two branches, average pooling counting padding, LeakyReLU,
    ReLU6, a 2x2 max pool, a dilated conv, dropout, and a final Softmax graft drops."""

    def __init__(self, classes=3):
        super().__init__()
        self.stem = conv_bn(3, 8, 3)
        self.a = conv_bn(8, 6, 1, act=nn.ReLU6)
        self.b = nn.Sequential(nn.Conv2d(8, 6, 3, 1, 2, dilation=2), nn.BatchNorm2d(6), nn.LeakyReLU(0.1))
        self.avg = nn.AvgPool2d(3, 2, 1, count_include_pad=True)
        self.mp = nn.MaxPool2d(2, 2)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(12 * 2 * 2, classes)

    def forward(self, x, softmax=True):
        x = self.stem(x)
        x = torch.cat([self.a(x), self.b(x)], 1)
        x = self.mp(self.avg(x))
        x = self.fc(self.drop(torch.flatten(x, 1)))
        return F.softmax(x, 1) if softmax else x


class ShapeMini(nn.Module):
    """The window shapes of googlenet, inception_v3 and densenet121: 1x7 and 7x1 convs
    (pads [0, 3, 0, 3] and [3, 0, 3, 0]), a Concat of one input, MaxPool with ceil_mode,
    average pools counting the padding (inception) and not (with ceil_mode), a 1x3 max
    pool, and a Concat of three branches."""

    def __init__(self, classes=5):
        super().__init__()
        self.stem = conv_bn(3, 8, 3)
        self.c17 = nn.Sequential(nn.Conv2d(8, 6, (1, 7), padding=(0, 3), bias=False),
                                 nn.BatchNorm2d(6), nn.ReLU())
        self.c71 = nn.Sequential(nn.Conv2d(6, 6, (7, 1), padding=(3, 0), bias=False),
                                 nn.BatchNorm2d(6), nn.ReLU())
        self.mp_ceil = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.avg_incl = nn.AvgPool2d(3, 1, 1, count_include_pad=True)
        self.avg_excl = nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)
        self.mp13 = nn.MaxPool2d((1, 3), 1, (0, 1))
        self.fc = nn.Linear(20, classes)

    def forward(self, x):
        x = torch.cat([self.stem(x)], 1)                       # one input: identity
        x = self.mp_ceil(x)                                    # 16x12 -> 8x6 (floor: 7x5)
        y = self.c71(self.c17(x))
        x = torch.cat([x, y, self.avg_incl(y)], 1)             # 8 + 6 + 6 = 20 channels
        x = self.mp13(self.avg_excl(x))                        # 8x6 -> 5x4 (floor: 4x3)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Unsupported(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = torch.erf(self.c(x)).sin()
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def export(name, model, shape, opset, mode, ref=None):
    torch.manual_seed(1000 + opset)
    x = torch.randn(N, *shape)
    model.eval()
    with torch.no_grad():
        y = (ref or model)(x)
    write_golden(OUT, name, model, x, y, opset, mode)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(6)
    keep, fold = torch.onnx.TrainingMode.PRESERVE, torch.onnx.TrainingMode.EVAL
    export("resnet_mini", randomise(ResNetMini(), 1), (3, 16, 16), 11, keep)
    torch.manual_seed(7)
    mob = randomise(MobileMini(), 2)
    export("mobile_mini", mob, (3, 16, 16), 13, keep)
    export("mobile_mini_op17", mob, (3, 16, 16), 17, keep)
    torch.manual_seed(8)
    fm = randomise(FoldedMini(), 3)
    export("folded_mini", fm, (3, 8, 8), 9, fold, ref=lambda x: fm(x, softmax=False))
    torch.manual_seed(10)
    export("shape_mini", randomise(ShapeMini(), 4), (3, 16, 12), 13, keep)
    torch.manual_seed(9)
    export("unsupported", Unsupported(), (3, 8, 8), 11, fold)
    os.remove(os.path.join(OUT, "unsupported.in.f32"))
    os.remove(os.path.join(OUT, "unsupported.out.f32"))


if __name__ == "__main__":
    main()
