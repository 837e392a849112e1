/* x * G(x): the matching step the SiLU and hard-swish patterns share. */
#include <string.h>

#include "onnx_fuse_gate.h"

int onnx_fuse_gate_of(const onnx_fuse_graph *fg, size_t root, const char *gate_op)
{
    const Onnx__NodeProto *mul = fg->node[root];
    if (!onnx_fuse_is_op(mul, "Mul", 2)) return -1;
    for (int k = 0; k < 2; k++) {
        const char *g = onnx_fuse_in(mul, (size_t)k), *x = onnx_fuse_in(mul, (size_t)(1 - k));
        int p = onnx_fuse_producer(fg, g);
        if (p < 0 || !onnx_fuse_is_op(fg->node[p], gate_op, 1)) continue;
        if (strcmp(onnx_fuse_in(fg->node[p], 0), x) || onnx_fuse_uses(fg, g) != 1) continue;
        return p;
    }
    return -1;
}
