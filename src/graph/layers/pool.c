/* Max/average pooling and global average pooling. Max pooling keeps the
 * arg-max of each output (an index within the input plane) for backward. */
#include <stdlib.h>

#include "layer.h"

typedef struct pool_priv {
    cl_mem arg;   /* int per output element of the last forward */
    size_t bytes;
} pool_priv;

static graft_status pool_setup(graft_ctx *ctx, layer *l)
{
    const char *kn = graft_layer_kind_name(l->spec.kind);
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "%s '%s': needs 1 input, got %d", kn, l->name,
                        l->nin);
    int k = l->spec.kernel, s = l->spec.stride, p = l->spec.pad;
    layer_shape in = l->in[0];
    /* pad <= k/2 (as PyTorch) keeps every window on at least one real pixel. */
    if (k < 1 || s < 1 || p < 0 || p > k / 2)
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG,
                        "%s '%s': kernel %d, stride %d, pad %d (need k >= 1, s >= 1, "
                        "0 <= pad <= k/2)", kn, l->name, k, s, p);
    int oh = in.h + 2 * p - k, ow = in.w + 2 * p - k;
    if (oh < 0 || ow < 0)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "%s '%s': kernel %d larger than padded input %dx%d",
                        kn, l->name, k, in.h + 2 * p, in.w + 2 * p);
    l->out = (layer_shape){in.c, oh / s + 1, ow / s + 1};
    return GRAFT_OK;
}

static void pool_destroy(layer *l)
{
    pool_priv *p = l->priv;
    if (!p) return;
    if (p->arg) clReleaseMemObject(p->arg);
    free(p);
    l->priv = NULL;
}

static graft_status pool_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    layer_shape in = l->in[0], o = l->out;
    int planes = io->n * in.c;
    size_t nout = (size_t)planes * o.h * o.w;
    if (l->spec.kind == GRAFT_LAYER_AVGPOOL2D)
        return LAUNCH1D(ctx, "pool_avg_fwd", nout, KA_MEM(io->in[0]), KA_MEM(io->out),
                        KA_INT(planes), KA_INT(in.h), KA_INT(in.w), KA_INT(o.h), KA_INT(o.w),
                        KA_INT(l->spec.kernel), KA_INT(l->spec.stride), KA_INT(l->spec.pad));
    if (!l->priv) {
        l->priv = calloc(1, sizeof(pool_priv));
        if (!l->priv) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    }
    pool_priv *p = l->priv;
    if (p->bytes < nout * sizeof(cl_int)) { /* grows with the batch size */
        if (p->arg) clReleaseMemObject(p->arg);
        p->arg = NULL;
        p->bytes = 0;
        TRY(ctx_alloc(ctx, nout * sizeof(cl_int), &p->arg, "maxpool arg-max"));
        p->bytes = nout * sizeof(cl_int);
    }
    if (ctx_is_cpu(ctx)) {
        size_t g = (size_t)planes, lw = 1;
        return LAUNCH(ctx, "pool_max_fwd_cpu", 1, &g, &lw, KA_MEM(io->in[0]), KA_MEM(io->out),
                      KA_MEM(p->arg), KA_INT(planes), KA_INT(in.h), KA_INT(in.w), KA_INT(o.h),
                      KA_INT(o.w), KA_INT(l->spec.kernel), KA_INT(l->spec.stride),
                      KA_INT(l->spec.pad));
    }
    return LAUNCH1D(ctx, "pool_max_fwd_gpu", nout, KA_MEM(io->in[0]), KA_MEM(io->out), KA_MEM(p->arg),
                    KA_INT(planes), KA_INT(in.h), KA_INT(in.w), KA_INT(o.h), KA_INT(o.w),
                    KA_INT(l->spec.kernel), KA_INT(l->spec.stride), KA_INT(l->spec.pad));
}

static graft_status pool_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    layer_shape in = l->in[0], o = l->out;
    int planes = io->n * in.c;
    size_t nin = (size_t)planes * in.h * in.w;
    if (l->spec.kind == GRAFT_LAYER_AVGPOOL2D)
        return LAUNCH1D(ctx, "pool_avg_bwd", nin, KA_MEM(io->dout), KA_MEM(io->din[0]),
                        KA_INT(planes), KA_INT(in.h), KA_INT(in.w), KA_INT(o.h), KA_INT(o.w),
                        KA_INT(l->spec.kernel), KA_INT(l->spec.stride), KA_INT(l->spec.pad),
                        KA_FLT(io->din_beta[0]));
    pool_priv *p = l->priv;
    if (!p || p->bytes < (size_t)planes * o.h * o.w * sizeof(cl_int))
        return ctx_fail(ctx, GRAFT_ERR_INTERNAL, "maxpool2d '%s': backward before forward",
                        l->name);
    if (ctx_is_cpu(ctx)) {
        size_t g = (size_t)planes, lw = 1;
        return LAUNCH(ctx, "pool_max_bwd_cpu", 1, &g, &lw, KA_MEM(io->dout), KA_MEM(p->arg),
                      KA_MEM(io->din[0]), KA_INT(planes), KA_INT(in.h), KA_INT(in.w),
                      KA_INT(o.h), KA_INT(o.w), KA_FLT(io->din_beta[0]));
    }
    return LAUNCH1D(ctx, "pool_max_bwd_gpu", nin, KA_MEM(io->dout), KA_MEM(p->arg),
                    KA_MEM(io->din[0]), KA_INT(planes), KA_INT(in.h), KA_INT(in.w), KA_INT(o.h),
                    KA_INT(o.w), KA_INT(l->spec.kernel), KA_INT(l->spec.stride),
                    KA_INT(l->spec.pad), KA_FLT(io->din_beta[0]));
}

static double pool_flops(const layer *l)
{
    return (double)shape_numel(l->out) * l->spec.kernel * l->spec.kernel;
}

const layer_ops pool_ops = {pool_setup, NULL, pool_forward, pool_backward, pool_destroy,
                            pool_flops};

/* ---- global average pooling: C x H x W -> C x 1 x 1. */

static graft_status gap_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "global_avgpool '%s': needs 1 input, got %d",
                        l->name, l->nin);
    l->out = (layer_shape){l->in[0].c, 1, 1};
    return GRAFT_OK;
}

static graft_status gap_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    int planes = io->n * l->in[0].c, S = l->in[0].h * l->in[0].w;
    return LAUNCH1D(ctx, "gap_fwd", (size_t)planes, KA_MEM(io->in[0]), KA_MEM(io->out),
                    KA_INT(planes), KA_INT(S));
}

static graft_status gap_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    int planes = io->n * l->in[0].c, S = l->in[0].h * l->in[0].w;
    if (ctx_is_cpu(ctx)) {
        size_t g = (size_t)planes, lw = 1;
        return LAUNCH(ctx, "gap_bwd_cpu", 1, &g, &lw, KA_MEM(io->dout), KA_MEM(io->din[0]),
                      KA_INT(planes), KA_INT(S), KA_FLT(io->din_beta[0]));
    }
    return LAUNCH1D(ctx, "gap_bwd_gpu", (size_t)planes * S, KA_MEM(io->dout), KA_MEM(io->din[0]),
                    KA_INT(planes), KA_INT(S), KA_FLT(io->din_beta[0]));
}

static double gap_flops(const layer *l) { return (double)shape_numel(l->in[0]); }

const layer_ops global_avgpool_ops = {gap_setup, NULL, gap_forward, gap_backward, NULL, gap_flops};
