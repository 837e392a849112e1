/* Split, the one multi-output op graft maps: each output becomes its own
 * graft:SplitPart(x[, split]) node with attributes index and parts, which
 * channel_slice_kind imports as the channels of that part (opset 13's
 * split input or equal parts; the opset < 13 split attribute is left to
 * the unsupported-operator message). */
#include <string.h>

#include "onnx_fuse.h"

int onnx_fuse_split(onnx_fuse_graph *fg, size_t root)
{
    const Onnx__NodeProto *nd = fg->node[root];
    const char *dom = onnx_str(nd->domain);
    if ((*dom && strcmp(dom, "ai.onnx")) || strcmp(onnx_str(nd->op_type), "Split") ||
        nd->n_input < 1 || nd->n_input > 2 || nd->n_output < 1 || nd->n_output > 64 ||
        onnx_fuse_attr(nd, "split"))
        return 0;
    const char *in[2] = {onnx_fuse_in(nd, 0), onnx_fuse_in(nd, 1)};
    int nin = *in[1] ? 2 : 1;
    if (nin == 2 && !onnx_fuse_is_const(fg, in[1])) return 0;
    Onnx__NodeProto *add[64];
    int n = (int)nd->n_output;
    for (int k = 0; k < n; k++) {
        add[k] = onnx_fuse_new_node(fg, ONNX_FUSE_DOMAIN, "SplitPart", onnx_str(nd->name), nin, in,
                                    onnx_str(nd->output[k]));
        if (!add[k]) return -1;
        onnx_fuse_set_int(fg, add[k], "index", k);
        onnx_fuse_set_int(fg, add[k], "parts", n);
        onnx_fuse_set_int(fg, add[k], "axis", onnx_fuse_attr_int(nd, "axis", 0));
    }
    return onnx_fuse_replace(fg, &root, 1, add, n) ? -1 : 1;
}
