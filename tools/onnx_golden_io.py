"""What the ONNX golden generators (tools/make_onnx_*goldens.py) share:
non-trivial BatchNorm statistics and the export of one golden, written as

  OUT/NAME.onnx      the model (checked with onnx.checker)
  OUT/NAME.in.f32    the input
  OUT/NAME.out.f32   PyTorch's output on it
"""
import io
import os

import onnx
import torch
import torch.nn as nn


def randomise_batchnorm(mod, g):
    """A BatchNorm2d gets a random affine and running statistics (fresh ones are
    identities); returns whether mod was one."""
    if not isinstance(mod, nn.BatchNorm2d):
        return False
    c = mod.num_features
    mod.weight.data = 0.5 + torch.rand(c, generator=g)
    mod.bias.data = 0.2 * torch.randn(c, generator=g)
    mod.running_mean.data = 0.2 * torch.randn(c, generator=g)
    mod.running_var.data = 0.5 + torch.rand(c, generator=g)
    return True


def write_golden(out, name, model, x, y, opset, mode):
    """Exports model (input x, batch axis dynamic) and writes the three files."""
    f = io.BytesIO()
    torch.onnx.export(model, x, f, opset_version=opset, training=mode, do_constant_folding=True,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    m = onnx.load_from_string(f.getvalue())
    onnx.checker.check_model(m)
    with open(os.path.join(out, name + ".onnx"), "wb") as fh:
        fh.write(f.getvalue())
    x.numpy().astype("<f4").tofile(os.path.join(out, name + ".in.f32"))
    y.numpy().astype("<f4").tofile(os.path.join(out, name + ".out.f32"))
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"{name}: opset {opset}, {len(m.graph.node)} nodes ({', '.join(ops)}), "
          f"{len(f.getvalue())} bytes")
