/* ReduceMean over H and W (axes [2, 3], torchvision's x.mean([2, 3]) in
 * MNASNet) is a GlobalAveragePool; with keepdims=0 a Flatten follows, which
 * the importer turns into nothing for a C x 1 x 1 tensor. */
#include "onnx_fuse.h"

int onnx_fuse_reduce_mean_hw(onnx_fuse_graph *fg, size_t root)
{
    const Onnx__NodeProto *rm = fg->node[root];
    if (!onnx_fuse_is_op(rm, "ReduceMean", 1)) return 0;
    const Onnx__AttributeProto *axes = onnx_fuse_attr(rm, "axes");
    /* Positive axes only: the input's rank is not known here, and -2, -1
     * mean H, W only on a 4-D tensor. */
    if (!axes || axes->n_ints != 2 ||
        !((axes->ints[0] == 2 && axes->ints[1] == 3) || (axes->ints[0] == 3 && axes->ints[1] == 2)))
        return 0;
    int keep = onnx_fuse_attr_int(rm, "keepdims", 1) != 0;
    const char *x = onnx_fuse_in(rm, 0), *out = rm->output[0], *name = onnx_str(rm->name);
    const char *pooled = keep ? out : onnx_fuse_new_value(fg, out);
    if (!pooled) return -1;
    Onnx__NodeProto *add[2];
    add[0] = onnx_fuse_new_node(fg, "", "GlobalAveragePool", name, 1, &x, pooled);
    add[1] = keep ? NULL : onnx_fuse_new_node(fg, "", "Flatten", name, 1, &pooled, out);
    if (!add[0] || (!keep && !add[1])) return -1;
    if (!keep) onnx_fuse_set_int(fg, add[1], "axis", 1);
    return onnx_fuse_replace(fg, &root, 1, add, keep ? 1 : 2) ? -1 : 1;
}
