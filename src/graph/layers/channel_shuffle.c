/* ShuffleNet's channel shuffle: the C channels viewed as groups x (C /
 * groups) are transposed (x.view(N, g, C/g, H, W).transpose(1, 2)
 * .reshape(N, C, H, W)). Kernels: cl/shared/channel_shuffle.cl. ONNX: the
 * Reshape -> Transpose -> Reshape chain torch writes, which the importer's
 * matcher turns into one graft:ChannelShuffle node; exported as that chain. */
#include <stdio.h>
#include <stdlib.h>

#include "layer.h"
#include "layer_kind.h"

static graft_status shuffle_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "channel_shuffle '%s': needs 1 input, got %d",
                        l->name, l->nin);
    int g = l->spec.groups;
    if (g < 1 || l->in[0].c % g)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "channel_shuffle '%s': %d groups do not divide %d "
                        "channels", l->name, g, l->in[0].c);
    l->out = l->in[0];
    return GRAFT_OK;
}

static graft_status shuffle_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "channel_shuffle_fwd", n, KA_MEM(io->in[0]), KA_MEM(io->out),
                    KA_INT(io->n), KA_INT(l->out.c), KA_INT(l->spec.groups),
                    KA_INT(l->out.h * l->out.w));
}

static graft_status shuffle_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "channel_shuffle_bwd", n, KA_MEM(io->dout), KA_MEM(io->din[0]),
                    KA_INT(io->n), KA_INT(l->out.c), KA_INT(l->spec.groups),
                    KA_INT(l->out.h * l->out.w), KA_FLT(io->din_beta[0]));
}

static const layer_ops shuffle_ops = {shuffle_setup, NULL, shuffle_forward, shuffle_backward,
                                      NULL, NULL};

/* A constant shape input: n values into v (at most 5), 0 when it does not
 * fit. The batch entry reads as 0 (keep) or -1. */
static int shape_input(onnx_importer *im, int k, double *v, int want)
{
    onnx_const t;
    if (im->api->constant(im, k, &t) != GRAFT_OK) return -1;
    int ok = t.n == (size_t)want;
    for (size_t i = 0; ok && i < t.n; i++) v[i] = t.data[i];
    free(t.data);
    return ok;
}

/* graft:ChannelShuffle(x, shape5, shape4): x reshaped to [N, g, C/g, H, W],
 * axes 1 and 2 swapped, reshaped back to [N, C, H, W]. */
static graft_status shuffle_import(onnx_importer *im)
{
    onnx_value x;
    graft_status s = im->api->input(im, 0, 0, &x);
    if (s != GRAFT_OK) return s;
    double a[5], b[4];
    int ra = shape_input(im, 1, a, 5), rb = ra > 0 ? shape_input(im, 2, b, 4) : 0;
    if (ra < 0 || rb < 0) return GRAFT_ERR_UNSUPPORTED; /* constant() said why */
    int ok = x.rank == 4 && ra && rb && a[1] >= 1 && a[1] * a[2] == x.c && a[3] == x.h &&
             a[4] == x.w && (b[1] == -1 || b[1] == x.c) && b[2] == x.h && b[3] == x.w &&
             (a[0] == 0 || a[0] == -1 || b[0] == 0 || b[0] == -1 || a[0] == b[0]);
    if (!ok)
        return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "Reshape -> Transpose -> Reshape is not a "
                         "channel shuffle of this %dx%dx%d tensor ([N, g, C/g, H, W] then [N, C, "
                         "H, W])", x.c, x.h, x.w);
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_CHANNEL_SHUFFLE);
    sp.groups = (int)a[1];
    return im->api->emit(im, &sp, 1, &x.node, 4, NULL);
}

/* The chain torch writes, with 0 (keep) for the batch dimension. */
static graft_status shuffle_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                                   int nin)
{
    (void)nin;
    if (ex->api->input_rank(ex, 0) != 4) return ex->api->rank2(ex);
    int c, h, w;
    ex->api->input_shape(ex, 0, &c, &h, &w);
    char s5[LAYER_NAME_LEN + 16], s4[LAYER_NAME_LEN + 16], t0[LAYER_NAME_LEN + 16],
        t1[LAYER_NAME_LEN + 16];
    snprintf(s5, sizeof s5, "%s.shape5", name);
    snprintf(s4, sizeof s4, "%s.shape4", name);
    snprintf(t0, sizeof t0, "%s.split", name);
    snprintf(t1, sizeof t1, "%s.swap", name);
    int64_t v5[5] = {0, s->groups, c / s->groups, h, w}, v4[4] = {0, -1, h, w};
    int64_t perm[5] = {0, 2, 1, 3, 4};
    ex->api->ints(ex, s5, v5, 5);
    ex->api->ints(ex, s4, v4, 4);
    ex->api->node(ex, "Reshape", t0, t0);
    ex->api->in(ex, ex->api->input_name(ex, 0));
    ex->api->in(ex, s5);
    ex->api->node(ex, "Transpose", t1, t1);
    ex->api->in(ex, t0);
    ex->api->attr_list(ex, "perm", perm, 5);
    ex->api->node(ex, "Reshape", name, name);
    ex->api->in(ex, t1);
    ex->api->in(ex, s4);
    return GRAFT_OK;
}

static const char *const shuffle_onnx_ops[] = {"graft:ChannelShuffle", NULL};

/* No style-specific kernels; no FLOPs (a permutation). */
const layer_kind channel_shuffle_kind = {
    .kind = GRAFT_LAYER_CHANNEL_SHUFFLE, .name = "channel_shuffle", .min_inputs = 1,
    .max_inputs = 1, .ops_cpu = &shuffle_ops, .ops_gpu = &shuffle_ops,
    .onnx_ops = shuffle_onnx_ops, .onnx_import = shuffle_import, .onnx_export = shuffle_export,
};
