/* BatchNorm2d over N, H, W per channel (PyTorch semantics: biased variance
 * for normalising, unbiased variance in the running estimate). */
#include <stdlib.h>
#include <string.h>

#include "batchnorm_sync.h"
#include "kernel_options.h"
#include "layer.h"
#include "layer_kind.h"


typedef struct bn_priv {
    cl_mem mean, invstd; /* statistics used by the last forward */
    cl_mem sums;         /* 2C: sum dy, sum dy*xhat (backward) */
    int batch_stats;     /* last forward normalised with batch statistics */
    int synced;          /* ... over every replica (batchnorm_sync.c) */
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

/* The kernels of one style: the CPU-shaped ones run one work-item per
 * channel or per (sample, channel) plane, the GPU-shaped ones a work-group
 * per channel or an item per element. */
typedef struct bn_kernels {
    graft_status (*stats)(graft_ctx *ctx, layer *l, const fwd_io *io, bn_priv *p);
    graft_status (*apply)(graft_ctx *ctx, layer *l, const fwd_io *io, bn_priv *p);
    graft_status (*bwd_reduce)(graft_ctx *ctx, layer *l, const bwd_io *io, bn_priv *p);
    graft_status (*bwd_dx)(graft_ctx *ctx, layer *l, const bwd_io *io, bn_priv *p);
} bn_kernels;

static graft_status bn_stats_cpu(graft_ctx *ctx, layer *l, const fwd_io *io, bn_priv *p)
{
    int C = l->in[0].c, S = l->in[0].h * l->in[0].w;
    size_t g = (size_t)C, lw = 1;
    return LAUNCH(ctx, "bn_stats_cpu", 1, &g, &lw, KA_MEM(io->in[0]), KA_INT(io->n), KA_INT(C),
                  KA_INT(S), KA_MEM(p->mean), KA_MEM(p->invstd), KA_MEM(l->params[2].data),
                  KA_MEM(l->params[3].data), KA_FLT(l->spec.eps), KA_FLT(l->spec.momentum),
                  KA_INT(!bn_sync_now(l)));
}

static graft_status bn_stats_gpu(graft_ctx *ctx, layer *l, const fwd_io *io, bn_priv *p)
{
    int C = l->in[0].c, S = l->in[0].h * l->in[0].w;
    size_t g = (size_t)C * BN_LWS, lw = BN_LWS;
    return LAUNCH(ctx, "bn_stats_gpu", 1, &g, &lw, KA_MEM(io->in[0]), KA_INT(io->n), KA_INT(C),
                  KA_INT(S), KA_MEM(p->mean), KA_MEM(p->invstd), KA_MEM(l->params[2].data),
                  KA_MEM(l->params[3].data), KA_FLT(l->spec.eps), KA_FLT(l->spec.momentum),
                  KA_INT(!bn_sync_now(l)));
}

static graft_status bn_apply_cpu(graft_ctx *ctx, layer *l, const fwd_io *io, bn_priv *p)
{
    int C = l->in[0].c, S = l->in[0].h * l->in[0].w;
    size_t g2[2] = {(size_t)io->n, (size_t)C}, l2[2] = {1, 1};
    return LAUNCH(ctx, "bn_apply_cpu", 2, g2, l2, KA_MEM(io->in[0]), KA_MEM(io->out),
                  KA_INT(io->n), KA_INT(C), KA_INT(S), KA_MEM(p->mean), KA_MEM(p->invstd),
                  KA_MEM(l->params[0].data), KA_MEM(l->params[1].data), KA_INT(l->fused_act - 1),
                  KA_FLT(l->fused_slope));
}

static graft_status bn_apply_gpu(graft_ctx *ctx, layer *l, const fwd_io *io, bn_priv *p)
{
    int C = l->in[0].c, S = l->in[0].h * l->in[0].w;
    size_t total = (size_t)io->n * C * S;
    return LAUNCH1D(ctx, "bn_apply_gpu", total, KA_MEM(io->in[0]), KA_MEM(io->out), KA_INT(total),
                    KA_INT(C), KA_INT(S), KA_MEM(p->mean), KA_MEM(p->invstd),
                    KA_MEM(l->params[0].data), KA_MEM(l->params[1].data), KA_INT(l->fused_act - 1),
                    KA_FLT(l->fused_slope));
}

/* The per-channel reductions of the backward pass: one item per channel
 * (CPU style, lws 1) or one work-group of BN_LWS per channel (GPU style).
 * dout is the fused activation's output gradient (act = fused_act - 1). */
static graft_status bn_bwd_reduce(graft_ctx *ctx, layer *l, const bwd_io *io, bn_priv *p,
                                  const char *kernel, size_t lws)
{
    int C = l->in[0].c, S = l->in[0].h * l->in[0].w;
    size_t g = (size_t)C * lws;
    return LAUNCH(ctx, kernel, 1, &g, &lws, KA_MEM(io->in[0]), KA_MEM(io->dout),
                  KA_INT(io->n), KA_INT(C), KA_INT(S), KA_MEM(p->mean), KA_MEM(p->invstd),
                  KA_MEM(p->sums), KA_MEM(l->params[0].grad), KA_MEM(l->params[1].grad),
                  KA_INT(io->param_grads ? 1 : 0), KA_MEM(io->out), KA_INT(l->fused_act - 1),
                  KA_FLT(l->fused_slope));
}

static graft_status bn_bwd_reduce_cpu(graft_ctx *ctx, layer *l, const bwd_io *io, bn_priv *p)
{
    return bn_bwd_reduce(ctx, l, io, p, "bn_bwd_reduce_cpu", 1);
}

static graft_status bn_bwd_reduce_gpu(graft_ctx *ctx, layer *l, const bwd_io *io, bn_priv *p)
{
    return bn_bwd_reduce(ctx, l, io, p, "bn_bwd_reduce_gpu", BN_LWS);
}

static graft_status bn_bwd_dx_cpu(graft_ctx *ctx, layer *l, const bwd_io *io, bn_priv *p)
{
    int C = l->in[0].c, S = l->in[0].h * l->in[0].w;
    size_t g2[2] = {(size_t)io->n, (size_t)C}, l2[2] = {1, 1};
    return LAUNCH(ctx, "bn_bwd_dx_cpu", 2, g2, l2, KA_MEM(io->in[0]), KA_MEM(io->dout),
                  KA_MEM(io->din[0]), KA_INT(io->n), KA_INT(C), KA_INT(S), KA_INT(io->n * S),
                  KA_MEM(p->mean), KA_MEM(p->invstd), KA_MEM(l->params[0].data),
                  KA_MEM(p->sums), KA_INT(p->batch_stats), KA_FLT(io->din_beta[0]),
                  KA_MEM(io->out), KA_INT(l->fused_act - 1), KA_FLT(l->fused_slope));
}

static graft_status bn_bwd_dx_gpu(graft_ctx *ctx, layer *l, const bwd_io *io, bn_priv *p)
{
    int C = l->in[0].c, S = l->in[0].h * l->in[0].w;
    size_t total = (size_t)io->n * C * S;
    return LAUNCH1D(ctx, "bn_bwd_dx_gpu", total, KA_MEM(io->in[0]), KA_MEM(io->dout),
                    KA_MEM(io->din[0]), KA_INT(total), KA_INT(C), KA_INT(S),
                    KA_INT(io->n * S), KA_MEM(p->mean), KA_MEM(p->invstd),
                    KA_MEM(l->params[0].data), KA_MEM(p->sums), KA_INT(p->batch_stats),
                    KA_FLT(io->din_beta[0]), KA_MEM(io->out), KA_INT(l->fused_act - 1),
                    KA_FLT(l->fused_slope));
}

static const bn_kernels bn_cpu = {bn_stats_cpu, bn_apply_cpu, bn_bwd_reduce_cpu, bn_bwd_dx_cpu};
static const bn_kernels bn_gpu = {bn_stats_gpu, bn_apply_gpu, bn_bwd_reduce_gpu, bn_bwd_dx_gpu};

static graft_status bn_forward(graft_ctx *ctx, layer *l, const fwd_io *io, const bn_kernels *k)
{
    bn_priv *p = NULL;
    TRY(bn_priv_get(ctx, l, &p));
    int C = l->in[0].c;
    int batch = io->training && !l->bn_frozen;
    p->synced = batch && bn_sync_now(l);
    if (batch) {
        TRY(k->stats(ctx, l, io, p));
        if (p->synced) TRY(bn_sync_stats(ctx, l, io->n, p->mean, p->invstd));
    } else {
        TRY(LAUNCH1D(ctx, "bn_running_stats", (size_t)C, KA_MEM(l->params[2].data),
                     KA_MEM(l->params[3].data), KA_INT(C), KA_FLT(l->spec.eps), KA_MEM(p->mean),
                     KA_MEM(p->invstd)));
    }
    p->batch_stats = batch;
    p->valid = 1;
    return k->apply(ctx, l, io, p);
}

static graft_status bn_backward(graft_ctx *ctx, layer *l, const bwd_io *io, const bn_kernels *k)
{
    bn_priv *p = l->priv;
    if (!p || !p->valid)
        return ctx_fail(ctx, GRAFT_ERR_INTERNAL, "batchnorm2d '%s': backward before forward",
                        l->name);
    /* The sums feed dx only with batch statistics, but are dgamma/dbeta too. */
    if (io->param_grads || (io->din[0] && p->batch_stats)) TRY(k->bwd_reduce(ctx, l, io, p));
    if (p->synced && io->din[0]) TRY(bn_sync_sums(ctx, l, p->sums));
    if (!io->din[0]) return GRAFT_OK;
    return k->bwd_dx(ctx, l, io, p);
}

static graft_status bn_forward_cpu(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    return bn_forward(ctx, l, io, &bn_cpu);
}
static graft_status bn_forward_gpu(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    return bn_forward(ctx, l, io, &bn_gpu);
}
static graft_status bn_backward_cpu(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    return bn_backward(ctx, l, io, &bn_cpu);
}
static graft_status bn_backward_gpu(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    return bn_backward(ctx, l, io, &bn_gpu);
}

static double bn_flops(const layer *l) { return 2.0 * (double)shape_numel(l->out); }

static const layer_ops bn_cpu_ops = {bn_setup, bn_init, bn_forward_cpu, bn_backward_cpu,
                                     bn_destroy, bn_flops};
static const layer_ops bn_gpu_ops = {bn_setup, bn_init, bn_forward_gpu, bn_backward_gpu,
                                     bn_destroy, bn_flops};

/* BatchNormalization (inference form): scale, bias, mean, var as constant
 * inputs 1-4. ONNX's momentum is the complement of graft's. */
static graft_status bn_import(onnx_importer *im)
{
    onnx_value x;
    onnx_const p[4];
    memset(p, 0, sizeof p);
    graft_status s = im->api->input(im, 0, 0, &x);
    if (s != GRAFT_OK) return s;
    for (int i = 0; i < 4 && s == GRAFT_OK; i++) {
        s = im->api->constant(im, i + 1, &p[i]);
        if (s == GRAFT_OK && p[i].n != (size_t)x.c)
            s = onnx_fail(im, GRAFT_ERR_SHAPE, "input %d has %zu values for %d channels", i + 1,
                          p[i].n, x.c);
    }
    if (s == GRAFT_OK && im->api->attr_int(im, "training_mode", 0))
        s = onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "training_mode=1 graphs are not supported");
    if (s == GRAFT_OK) {
        graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_BATCHNORM2D);
        sp.eps = im->api->attr_float(im, "epsilon", 1e-5f);
        /* ONNX: running = m*running + (1-m)*batch; graft uses the complement. */
        sp.momentum = 1.0f - im->api->attr_float(im, "momentum", 0.9f);
        int p0;
        s = im->api->emit(im, &sp, 1, &x.node, x.rank, &p0);
        for (int i = 0; i < 4 && s == GRAFT_OK; i++) s = im->api->set_param(im, p0 + i, p[i].data, p[i].n);
    }
    for (int i = 0; i < 4; i++) free(p[i].data);
    return s;
}

/* A BatchNorm the exporter did not fold into its conv. */
static graft_status bn_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                              int nin)
{
    (void)nin;
    char pn[4][LAYER_NAME_LEN + 16];
    static const char *const suf[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int k = 0; k < 4; k++) TRY(ex->api->param(ex, k, suf[k], pn[k], sizeof pn[k]));
    ex->api->node(ex, "BatchNormalization", name, name);
    ex->api->in(ex, ex->api->input_name(ex, 0));
    for (int k = 0; k < 4; k++) ex->api->in(ex, pn[k]);
    ex->api->attr_float(ex, "epsilon", s->eps);
    ex->api->attr_float(ex, "momentum", 1.0f - s->momentum); /* ONNX's convention */
    return GRAFT_OK;
}

static const char *const bn_onnx_ops[] = {"BatchNormalization", NULL};

const layer_kind batchnorm2d_kind = {
    .kind = GRAFT_LAYER_BATCHNORM2D, .name = "batchnorm2d", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &bn_cpu_ops, .ops_gpu = &bn_gpu_ops,
    .onnx_ops = bn_onnx_ops, .onnx_import = bn_import, .onnx_export = bn_export,
};
