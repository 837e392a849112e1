/* Hard swish: x * HardSigmoid(x) (PyTorch's opset-13 export of
 * nn.Hardswish, MobileNetV3) becomes one graft:HardSwish node carrying the
 * HardSigmoid's alpha and beta (ONNX defaults 0.2, 0.5 when absent),
 * imported by the hard_swish kind. */
#include "onnx_fuse_gate.h"

int onnx_fuse_hard_swish(onnx_fuse_graph *fg, size_t root)
{
    int gate = onnx_fuse_gate_of(fg, root, "HardSigmoid");
    if (gate < 0) return 0;
    const Onnx__NodeProto *mul = fg->node[root], *hs = fg->node[gate];
    const char *x = onnx_fuse_in(hs, 0);
    Onnx__NodeProto *hw = onnx_fuse_new_node(fg, ONNX_FUSE_DOMAIN, "HardSwish", onnx_str(mul->name),
                                             1, &x, mul->output[0]);
    if (!hw) return -1;
    onnx_fuse_set_float(fg, hw, "alpha", onnx_fuse_attr_float(hs, "alpha", 0.2f));
    onnx_fuse_set_float(fg, hw, "beta", onnx_fuse_attr_float(hs, "beta", 0.5f));
    size_t rm[2] = {(size_t)gate, root};
    if (fg->oom || onnx_fuse_replace(fg, rm, 2, &hw, 1)) return -1;
    return 1;
}
