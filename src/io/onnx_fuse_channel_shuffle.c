/* ShuffleNet's channel shuffle as torch writes it: Reshape(x, [N, g, C/g,
 * H, W]) -> Transpose([0, 2, 1, 3, 4]) -> Reshape(., [N, -1, H, W]), the
 * shapes computed by Shape/Gather/Concat chains that the importer folds.
 * Becomes graft:ChannelShuffle(x, shape5, shape4); channel_shuffle_kind's
 * import checks the two shapes once they are constants. */
#include <string.h>

#include "onnx_fuse.h"

int onnx_fuse_channel_shuffle(onnx_fuse_graph *fg, size_t root)
{
    const Onnx__NodeProto *back = fg->node[root];
    if (!onnx_fuse_is_op(back, "Reshape", 2)) return 0;
    const char *swapped = onnx_fuse_in(back, 0);
    int pt = onnx_fuse_producer(fg, swapped);
    if (pt < 0 || !onnx_fuse_is_op(fg->node[pt], "Transpose", 1) ||
        onnx_fuse_uses(fg, swapped) != 1)
        return 0;
    const Onnx__AttributeProto *perm = onnx_fuse_attr(fg->node[pt], "perm");
    static const int64_t want[5] = {0, 2, 1, 3, 4};
    if (!perm || perm->n_ints != 5) return 0;
    for (int i = 0; i < 5; i++)
        if (perm->ints[i] != want[i]) return 0;
    const char *split = onnx_fuse_in(fg->node[pt], 0);
    int pr = onnx_fuse_producer(fg, split);
    if (pr < 0 || !onnx_fuse_is_op(fg->node[pr], "Reshape", 2) || onnx_fuse_uses(fg, split) != 1)
        return 0;
    const char *in[3] = {onnx_fuse_in(fg->node[pr], 0), onnx_fuse_in(fg->node[pr], 1),
                         onnx_fuse_in(back, 1)};
    Onnx__NodeProto *sh = onnx_fuse_new_node(fg, ONNX_FUSE_DOMAIN, "ChannelShuffle",
                                             onnx_str(back->name), 3, in, back->output[0]);
    if (!sh) return -1;
    size_t rm[3] = {(size_t)pr, (size_t)pt, root};
    return onnx_fuse_replace(fg, rm, 3, &sh, 1) ? -1 : 1;
}
