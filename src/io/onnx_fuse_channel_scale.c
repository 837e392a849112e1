/* A per-channel scale of an NCHW tensor, Mul(x, s) with s a constant of
 * shape [C, 1, 1] (ConvNeXt's layer scale, a trainable parameter in
 * torch): becomes a depthwise 1x1 Conv without bias, whose weight
 * [C, 1, 1, 1] the importer makes with an Unsqueeze of s that it folds. So
 * the scale stays a trainable parameter, exports as a Conv and re-imports
 * as one. */
#include <string.h>

#include "onnx_fuse.h"

/* Dimensions of constant name (an initializer or a Constant node's tensor);
 * -1 when neither. */
static int const_dims(const onnx_fuse_graph *fg, const char *name, int64_t dims[8])
{
    const Onnx__TensorProto *t = NULL;
    for (size_t i = 0; i < fg->g->n_initializer && !t; i++)
        if (!strcmp(onnx_str(fg->g->initializer[i]->name), name)) t = fg->g->initializer[i];
    int p = t ? -1 : onnx_fuse_producer(fg, name);
    if (p >= 0 && onnx_fuse_is_op(fg->node[p], "Identity", 1)) /* a shared initializer */
        return const_dims(fg, onnx_fuse_in(fg->node[p], 0), dims);
    if (p >= 0 && onnx_fuse_is_op(fg->node[p], "Constant", 0)) {
        const Onnx__AttributeProto *a = onnx_fuse_attr(fg->node[p], "value");
        t = a ? a->t : NULL;
    }
    if (!t || t->n_dims > 8) return -1;
    for (size_t d = 0; d < t->n_dims; d++) dims[d] = t->dims[d];
    return (int)t->n_dims;
}

int onnx_fuse_channel_scale(onnx_fuse_graph *fg, size_t root)
{
    const Onnx__NodeProto *nd = fg->node[root];
    if (!onnx_fuse_is_op(nd, "Mul", 2)) return 0;
    const char *a = onnx_fuse_in(nd, 0), *b = onnx_fuse_in(nd, 1);
    int ca = onnx_fuse_is_const(fg, a), cb = onnx_fuse_is_const(fg, b);
    if (ca == cb) return 0;
    const char *x = ca ? b : a, *s = ca ? a : b;
    int64_t d[8];
    if (const_dims(fg, s, d) != 3 || d[0] < 1 || d[0] > (1 << 20) || d[1] != 1 || d[2] != 1)
        return 0;
    const char *w = onnx_fuse_new_value(fg, s);
    if (!w) return -1;
    Onnx__NodeProto *add[2];
    add[0] = onnx_fuse_new_node(fg, "", "Unsqueeze", onnx_str(nd->name), 1, &s, w);
    const char *in[2] = {x, w};
    add[1] = onnx_fuse_new_node(fg, "", "Conv", onnx_str(nd->name), 2, in, nd->output[0]);
    if (!add[0] || !add[1]) return -1;
    /* One axis as an int attribute (the fuse graph writes no ints), which
     * the importer's folding reads like axes = [1]. */
    onnx_fuse_set_int(fg, add[0], "axes", 1);
    onnx_fuse_set_int(fg, add[1], "group", d[0]);
    return onnx_fuse_replace(fg, &root, 1, add, 2) ? -1 : 1;
}
