/* A Mul of two computed tensors (squeeze-excitation's scale * x) becomes a
 * graft:Mul node, imported by the mul kind, which checks the shapes. A Mul
 * by a constant is left alone (no layer takes it here). Runs after the
 * patterns that contain a Mul. */
#include "onnx_fuse.h"

int onnx_fuse_mul(onnx_fuse_graph *fg, size_t root)
{
    const Onnx__NodeProto *mul = fg->node[root];
    if (!onnx_fuse_is_op(mul, "Mul", 2)) return 0;
    const char *in[2] = {onnx_fuse_in(mul, 0), onnx_fuse_in(mul, 1)};
    for (int k = 0; k < 2; k++)
        if (!*in[k] || onnx_fuse_is_const(fg, in[k])) return 0;
    Onnx__NodeProto *m =
        onnx_fuse_new_node(fg, ONNX_FUSE_DOMAIN, "Mul", onnx_str(mul->name), 2, in, mul->output[0]);
    if (!m || onnx_fuse_replace(fg, &root, 1, &m, 1)) return -1;
    return 1;
}
