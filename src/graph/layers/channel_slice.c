/* Channel slice: channels [pad, pad + channels) of the input (ShuffleNet
 * v2 splits a tensor into two halves this way; ONNX Slice on axis 1). The
 * spec's pad is the number of channels cut off the front. Kernels:
 * cl/shared/channel_slice.cl. */
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "layer_kind.h"

static graft_status slice_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "channel_slice '%s': needs 1 input, got %d",
                        l->name, l->nin);
    int c0 = l->spec.pad, cy = l->spec.channels;
    if (c0 < 0 || cy < 1 || c0 > l->in[0].c - cy)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "channel_slice '%s': channels [%d, %d) are not "
                        "inside the input's %d", l->name, c0, c0 + cy, l->in[0].c);
    l->out = (layer_shape){cy, l->in[0].h, l->in[0].w};
    return GRAFT_OK;
}

static graft_status slice_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    int S = l->out.h * l->out.w;
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "channel_slice_fwd", n, KA_MEM(io->in[0]), KA_MEM(io->out),
                    KA_INT(io->n), KA_INT(l->in[0].c), KA_INT(l->out.c), KA_INT(l->spec.pad),
                    KA_INT(S));
}

static graft_status slice_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    int S = l->out.h * l->out.w;
    size_t n = (size_t)io->n * shape_numel(l->in[0]);
    return LAUNCH1D(ctx, "channel_slice_bwd", n, KA_MEM(io->dout), KA_MEM(io->din[0]),
                    KA_INT(io->n), KA_INT(l->in[0].c), KA_INT(l->out.c), KA_INT(l->spec.pad),
                    KA_INT(S), KA_FLT(io->din_beta[0]));
}

static const layer_ops slice_ops = {slice_setup, NULL, slice_forward, slice_backward, NULL, NULL};

/* Slice with constant starts/ends/axes (steps 1) that cuts axis 1 only. */
static graft_status slice_import(onnx_importer *im)
{
    onnx_value x;
    graft_status s = im->api->input(im, 0, 0, &x);
    if (s != GRAFT_OK) return s;
    if (x.rank != 4) return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "graft slices only NCHW tensors");
    if (im->api->opset(im) < 10)
        return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "Slice before opset 10 (attributes); "
                         "re-export with opset 10 or later");
    double v[4][4] = {{0}};
    size_t nv[4] = {0};
    for (int k = 1; k < 5; k++) {
        if (!im->api->has_input(im, k)) continue;
        onnx_const t;
        if ((s = im->api->constant(im, k, &t)) != GRAFT_OK) return s;
        nv[k - 1] = t.n;
        for (size_t i = 0; i < t.n && i < 4; i++) v[k - 1][i] = t.data[i];
        free(t.data);
    }
    /* starts, ends, axes (default 0..), steps (default 1): one axis, 1. */
    int one = nv[0] == 1 && nv[1] == 1 && (nv[2] == 0 || nv[2] == 1) && (nv[3] == 0 || nv[3] == 1);
    double axis = nv[2] ? v[2][0] : 0, step = nv[3] ? v[3][0] : 1;
    if (!one || !(axis == 1 || axis == -3) || step != 1)
        return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "graft slices one run of channels (axis 1, "
                         "step 1)");
    double b = v[0][0], e = v[1][0];
    if (b < 0) b += x.c;
    if (e < 0) e += x.c;
    b = b < 0 ? 0 : b > x.c ? x.c : b;
    e = e < 0 ? 0 : e > x.c ? x.c : e;
    if (e <= b) return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "the slice keeps no channel");
    if (b == 0 && e == x.c) return im->api->alias(im, &x);
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_CHANNEL_SLICE);
    sp.pad = (int)b;
    sp.channels = (int)(e - b);
    return im->api->emit(im, &sp, 1, &x.node, 4, NULL);
}

/* graft:SplitPart(x[, split]) (src/io/onnx_fuse_split.c): part `index` of
 * a Split on the channels into `parts` outputs, of the sizes in split or
 * equal. */
static graft_status split_part_import(onnx_importer *im)
{
    onnx_value x;
    graft_status s = im->api->input(im, 0, 0, &x);
    if (s != GRAFT_OK) return s;
    int64_t axis = im->api->attr_int(im, "axis", 0), k = im->api->attr_int(im, "index", 0);
    int64_t parts = im->api->attr_int(im, "parts", 1);
    if (x.rank != 4 || !(axis == 1 || axis == -3))
        return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "graft splits NCHW tensors on the channels "
                         "(axis 1) only");
    int64_t b = 0, n = 0, total = 0;
    if (im->api->has_input(im, 1)) {
        onnx_const t;
        if ((s = im->api->constant(im, 1, &t)) != GRAFT_OK) return s;
        int ok = t.n == (size_t)parts;
        for (size_t i = 0; ok && i < t.n; i++) {
            ok = t.data[i] >= 0 && t.data[i] <= x.c;
            if (ok && (int64_t)i < k) b += (int64_t)t.data[i];
            if (ok && (int64_t)i == k) n = (int64_t)t.data[i];
            if (ok) total += (int64_t)t.data[i];
        }
        free(t.data);
        if (!ok || total != x.c)
            return onnx_fail(im, GRAFT_ERR_SHAPE, "split sizes do not add up to the %d channels",
                             x.c);
    } else {
        if (parts < 1 || x.c % parts)
            return onnx_fail(im, GRAFT_ERR_SHAPE, "%d channels do not split into %lld equal parts",
                             x.c, (long long)parts);
        n = x.c / parts;
        b = k * n;
    }
    if (n < 1) return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "an empty part");
    if (n == x.c) return im->api->alias(im, &x);
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_CHANNEL_SLICE);
    sp.pad = (int)b;
    sp.channels = (int)n;
    return im->api->emit(im, &sp, 1, &x.node, 4, NULL);
}

static graft_status slice_any_import(onnx_importer *im)
{
    return strcmp(im->api->op(im), "SplitPart") ? slice_import(im) : split_part_import(im);
}

static graft_status slice_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                                 int nin)
{
    (void)nin;
    if (ex->api->input_rank(ex, 0) != 4) return ex->api->rank2(ex);
    char b[LAYER_NAME_LEN + 16], e[LAYER_NAME_LEN + 16], a[LAYER_NAME_LEN + 16];
    snprintf(b, sizeof b, "%s.starts", name);
    snprintf(e, sizeof e, "%s.ends", name);
    snprintf(a, sizeof a, "%s.axes", name);
    int64_t vb = s->pad, ve = (int64_t)s->pad + s->channels, va = 1;
    ex->api->ints(ex, b, &vb, 1);
    ex->api->ints(ex, e, &ve, 1);
    ex->api->ints(ex, a, &va, 1);
    ex->api->node(ex, "Slice", name, name);
    ex->api->in(ex, ex->api->input_name(ex, 0));
    ex->api->in(ex, b);
    ex->api->in(ex, e);
    ex->api->in(ex, a);
    return GRAFT_OK;
}

static const char *const slice_onnx_ops[] = {"Slice", "graft:SplitPart", NULL};

/* No style-specific kernels; no FLOPs (a copy). */
const layer_kind channel_slice_kind = {
    .kind = GRAFT_LAYER_CHANNEL_SLICE, .name = "channel_slice", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &slice_ops, .ops_gpu = &slice_ops,
    .onnx_ops = slice_onnx_ops, .onnx_import = slice_any_import, .onnx_export = slice_export,
};
