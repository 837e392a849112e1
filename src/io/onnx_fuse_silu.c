/* SiLU: x * Sigmoid(x) (PyTorch's opset-13 export of nn.SiLU, EfficientNet)
 * becomes one graft:SiLU node, imported by the silu kind. */
#include "onnx_fuse_gate.h"

int onnx_fuse_silu(onnx_fuse_graph *fg, size_t root)
{
    int gate = onnx_fuse_gate_of(fg, root, "Sigmoid");
    if (gate < 0) return 0;
    const Onnx__NodeProto *mul = fg->node[root];
    const char *x = onnx_fuse_in(fg->node[gate], 0);
    Onnx__NodeProto *silu =
        onnx_fuse_new_node(fg, ONNX_FUSE_DOMAIN, "SiLU", onnx_str(mul->name), 1, &x, mul->output[0]);
    size_t rm[2] = {(size_t)gate, root};
    if (!silu || onnx_fuse_replace(fg, rm, 2, &silu, 1)) return -1;
    return 1;
}
