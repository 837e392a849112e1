/* BatchNorm2d over N, H, W per channel (PyTorch semantics: biased variance
 * for normalising, unbiased variance in the running estimate). */
#include <stdlib.h>

#include "kernel_options.h"
#include "layer.h"


typedef struct bn_priv {
    cl_mem mean, invstd; /* statistics used by the last forward */
    cl_mem sums;         /* 2C: sum dy, sum dy*xhat (backward) */
    int batch_stats;     /* last forward normalised with batch statistics */
    int valid;           /* a forward has run */
} bn_priv;

static graft_status bn_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "batchnorm2d '%s': needs 1 input, got %d", l->name,
                        l->nin);
    if (!(l->spec.eps > 0.0f) || !(l->spec.momentum >= 0.0f && l->spec.momentum <= 1.0f))
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG,
                        "batchnorm2d '%s': eps %g must be > 0 and momentum %g in [0, 1]", l->name,
                        (double)l->spec.eps, (double)l->spec.momentum);
    l->out = l->in[0];
    int c = l->in[0].c;
    TRY(layer_add_param(ctx, l, "weight", 1, &c, 1));
    TRY(layer_add_param(ctx, l, "bias", 1, &c, 1));
    TRY(layer_add_param(ctx, l, "running_mean", 1, &c, 0));
    TRY(layer_add_param(ctx, l, "running_var", 1, &c, 0));
    return GRAFT_OK;
}

static graft_status bn_init(graft_ctx *ctx, layer *l, rng *r)
{
    (void)r;
    TRY(param_init_const(ctx, &l->params[0], 1.0f));
    TRY(param_init_const(ctx, &l->params[1], 0.0f));
    TRY(param_init_const(ctx, &l->params[2], 0.0f));
    return param_init_const(ctx, &l->params[3], 1.0f);
}

static void bn_destroy(layer *l)
{
    bn_priv *p = l->priv;
    if (!p) return;
    if (p->mean) clReleaseMemObject(p->mean);
    if (p->invstd) clReleaseMemObject(p->invstd);
    if (p->sums) clReleaseMemObject(p->sums);
    free(p);
    l->priv = NULL;
}

/* Per-channel buffers are allocated on first use (setup allocates only
 * parameters). */
static graft_status bn_priv_get(graft_ctx *ctx, layer *l, bn_priv **out)
{
    if (!l->priv) {
        bn_priv *p = calloc(1, sizeof *p);
        if (!p) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
        l->priv = p;
        size_t c = (size_t)l->in[0].c;
        TRY(ctx_alloc(ctx, c * sizeof(float), &p->mean, "batchnorm mean"));
        TRY(ctx_alloc(ctx, c * sizeof(float), &p->invstd, "batchnorm invstd"));
        TRY(ctx_alloc(ctx, 2 * c * sizeof(float), &p->sums, "batchnorm sums"));
    }
    *out = l->priv;
    return GRAFT_OK;
}

static graft_status bn_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    bn_priv *p = NULL;
    TRY(bn_priv_get(ctx, l, &p));
    int C = l->in[0].c, S = l->in[0].h * l->in[0].w;
    size_t total = (size_t)io->n * C * S;
    int batch = io->training && !l->bn_frozen;
    int cpu = ctx_is_cpu(ctx);
    size_t g2[2] = {(size_t)io->n, (size_t)C}, l2[2] = {1, 1}, g1 = (size_t)C, l1 = 1;
    if (batch) {
        size_t g = (size_t)C * BN_LWS, lw = BN_LWS;
        TRY(LAUNCH(ctx, cpu ? "bn_stats_cpu" : "bn_stats_gpu", 1, cpu ? &g1 : &g, cpu ? &l1 : &lw, KA_MEM(io->in[0]), KA_INT(io->n), KA_INT(C),
                   KA_INT(S), KA_MEM(p->mean), KA_MEM(p->invstd), KA_MEM(l->params[2].data),
                   KA_MEM(l->params[3].data), KA_FLT(l->spec.eps), KA_FLT(l->spec.momentum),
                   KA_INT(1)));
    } else {
        TRY(LAUNCH1D(ctx, "bn_running_stats", (size_t)C, KA_MEM(l->params[2].data),
                     KA_MEM(l->params[3].data), KA_INT(C), KA_FLT(l->spec.eps), KA_MEM(p->mean),
                     KA_MEM(p->invstd)));
    }
    p->batch_stats = batch;
    p->valid = 1;
    int act = l->fused_act - 1;
    if (cpu)
        return LAUNCH(ctx, "bn_apply_cpu", 2, g2, l2, KA_MEM(io->in[0]), KA_MEM(io->out),
                      KA_INT(io->n), KA_INT(C), KA_INT(S), KA_MEM(p->mean), KA_MEM(p->invstd),
                      KA_MEM(l->params[0].data), KA_MEM(l->params[1].data), KA_INT(act),
                      KA_FLT(l->fused_slope));
    return LAUNCH1D(ctx, "bn_apply_gpu", total, KA_MEM(io->in[0]), KA_MEM(io->out), KA_INT(total),
                    KA_INT(C), KA_INT(S), KA_MEM(p->mean), KA_MEM(p->invstd),
                    KA_MEM(l->params[0].data), KA_MEM(l->params[1].data), KA_INT(act),
                    KA_FLT(l->fused_slope));
}

static graft_status bn_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    bn_priv *p = l->priv;
    if (!p || !p->valid)
        return ctx_fail(ctx, GRAFT_ERR_INTERNAL, "batchnorm2d '%s': backward before forward",
                        l->name);
    int C = l->in[0].c, S = l->in[0].h * l->in[0].w;
    size_t total = (size_t)io->n * C * S;
    /* The sums feed dx only with batch statistics, but are dgamma/dbeta too. */
    int cpu = ctx_is_cpu(ctx);
    int act = l->fused_act - 1; /* dout is the fused activation's output gradient */
    size_t g2[2] = {(size_t)io->n, (size_t)C}, l2[2] = {1, 1}, g1 = (size_t)C, l1 = 1;
    if (io->param_grads || (io->din[0] && p->batch_stats)) {
        size_t g = (size_t)C * BN_LWS, lw = BN_LWS;
        TRY(LAUNCH(ctx, cpu ? "bn_bwd_reduce_cpu" : "bn_bwd_reduce_gpu", 1, cpu ? &g1 : &g, cpu ? &l1 : &lw, KA_MEM(io->in[0]), KA_MEM(io->dout),
                   KA_INT(io->n), KA_INT(C), KA_INT(S), KA_MEM(p->mean), KA_MEM(p->invstd),
                   KA_MEM(p->sums), KA_MEM(l->params[0].grad), KA_MEM(l->params[1].grad),
                   KA_INT(io->param_grads ? 1 : 0), KA_MEM(io->out), KA_INT(act),
                   KA_FLT(l->fused_slope)));
    }
    if (!io->din[0]) return GRAFT_OK;
    if (cpu)
        return LAUNCH(ctx, "bn_bwd_dx_cpu", 2, g2, l2, KA_MEM(io->in[0]), KA_MEM(io->dout),
                      KA_MEM(io->din[0]), KA_INT(io->n), KA_INT(C), KA_INT(S), KA_INT(io->n * S),
                      KA_MEM(p->mean), KA_MEM(p->invstd), KA_MEM(l->params[0].data),
                      KA_MEM(p->sums), KA_INT(p->batch_stats), KA_FLT(io->din_beta[0]),
                      KA_MEM(io->out), KA_INT(act), KA_FLT(l->fused_slope));
    return LAUNCH1D(ctx, "bn_bwd_dx_gpu", total, KA_MEM(io->in[0]), KA_MEM(io->dout),
                    KA_MEM(io->din[0]), KA_INT(total), KA_INT(C), KA_INT(S),
                    KA_INT(io->n * S), KA_MEM(p->mean), KA_MEM(p->invstd),
                    KA_MEM(l->params[0].data), KA_MEM(p->sums), KA_INT(p->batch_stats),
                    KA_FLT(io->din_beta[0]), KA_MEM(io->out), KA_INT(act),
                    KA_FLT(l->fused_slope));
}

static double bn_flops(const layer *l) { return 2.0 * (double)shape_numel(l->out); }

const layer_ops batchnorm_ops = {bn_setup, bn_init, bn_forward, bn_backward, bn_destroy, bn_flops};
