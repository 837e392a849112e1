/* Layer norm over the channels at each pixel (ConvNeXt's LayerNorm, which
 * torch applies to an NHWC view; graft keeps NCHW and normalises over C):
 * y = (x - mean_c) / sqrt(var_c + eps) * weight[c] + bias[c], biased
 * variance. Kernels: cl/shared/layer_norm.cl; the forward keeps each
 * pixel's mean and 1/std for the backward. ONNX: LayerNormalization
 * (opset 17) or torch's ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add
 * chain (the importer's matcher makes it one graft:LayerNormalization
 * node) over the last axis of a channels-last tensor; exported as that
 * chain between two Transposes. */
#include <stdio.h>
#include <stdlib.h>

#include "layer.h"
#include "layer_kind.h"

typedef struct ln_priv {
    cl_mem stats; /* 2 floats (mean, invstd) per pixel of the last forward */
    size_t cap;   /* pixels it holds */
} ln_priv;

static graft_status ln_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "layer_norm '%s': needs 1 input, got %d", l->name,
                        l->nin);
    if (!(l->spec.eps > 0.0f))
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "layer_norm '%s': eps %g must be > 0",
                        l->name, (double)l->spec.eps);
    l->out = l->in[0];
    int c = l->in[0].c;
    TRY(layer_add_param(ctx, l, "weight", 1, &c, 1));
    return layer_add_param(ctx, l, "bias", 1, &c, 1);
}

static graft_status ln_init(graft_ctx *ctx, layer *l, rng *r)
{
    (void)r;
    TRY(param_init_const(ctx, &l->params[0], 1.0f));
    return param_init_const(ctx, &l->params[1], 0.0f);
}

static void ln_destroy(layer *l)
{
    ln_priv *p = l->priv;
    if (!p) return;
    if (p->stats) clReleaseMemObject(p->stats);
    free(p);
    l->priv = NULL;
}

/* The statistics buffer for n samples, grown as batches grow. */
static graft_status ln_stats(graft_ctx *ctx, layer *l, int n, cl_mem *out)
{
    if (!l->priv && !(l->priv = calloc(1, sizeof(ln_priv))))
        return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    ln_priv *p = l->priv;
    size_t need = (size_t)n * l->in[0].h * l->in[0].w;
    if (need > p->cap) {
        if (p->stats) clReleaseMemObject(p->stats);
        p->stats = NULL;
        p->cap = 0;
        TRY(ctx_alloc(ctx, 2 * need * sizeof(float), &p->stats, "layer_norm statistics"));
        p->cap = need;
    }
    *out = p->stats;
    return GRAFT_OK;
}

static graft_status ln_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    cl_mem st = NULL;
    TRY(ln_stats(ctx, l, io->n, &st));
    int S = l->in[0].h * l->in[0].w;
    return LAUNCH1D(ctx, "layer_norm_fwd", (size_t)io->n * S, KA_MEM(io->in[0]), KA_MEM(io->out),
                    KA_INT(io->n), KA_INT(l->in[0].c), KA_INT(S), KA_MEM(l->params[0].data),
                    KA_MEM(l->params[1].data), KA_FLT(l->spec.eps), KA_MEM(st));
}

static graft_status ln_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    ln_priv *p = l->priv;
    if (!p || p->cap < (size_t)io->n * l->in[0].h * l->in[0].w)
        return ctx_fail(ctx, GRAFT_ERR_INTERNAL, "layer_norm '%s': backward without a forward",
                        l->name);
    int C = l->in[0].c, S = l->in[0].h * l->in[0].w;
    if (io->param_grads)
        TRY(LAUNCH1D(ctx, "layer_norm_bwd_params", (size_t)C, KA_MEM(io->in[0]), KA_MEM(io->dout),
                     KA_INT(io->n), KA_INT(C), KA_INT(S), KA_MEM(p->stats),
                     KA_MEM(l->params[0].grad), KA_MEM(l->params[1].grad)));
    if (!io->din[0]) return GRAFT_OK;
    return LAUNCH1D(ctx, "layer_norm_bwd_data", (size_t)io->n * S, KA_MEM(io->in[0]),
                    KA_MEM(io->dout), KA_MEM(io->din[0]), KA_INT(io->n), KA_INT(C), KA_INT(S),
                    KA_MEM(l->params[0].data), KA_MEM(p->stats), KA_FLT(io->din_beta[0]));
}

static const layer_ops ln_ops = {ln_setup, ln_init, ln_forward, ln_backward, ln_destroy, NULL};

/* LayerNormalization(x, scale, bias) over the last axis of a channels-last
 * (ONNX_RANK_NHWC) or N x C tensor. The pattern's graft:LayerNormalization
 * (src/io/onnx_fuse_layer_norm.c) has two more inputs: epsilon, and the
 * Pow's exponent, which must be 2; with axis 1 it normalises axis 1 of an
 * NCHW tensor alone (ONNX's axis 1 would take C, H and W together). */
static graft_status ln_import(onnx_importer *im)
{
    onnx_value x;
    graft_status s = im->api->input(im, 0, 0, &x);
    if (s != GRAFT_OK) return s;
    int64_t axis = im->api->attr_int(im, "axis", -1);
    int pattern = im->api->num_inputs(im) == 5;
    int last = axis == -1 || (x.rank == ONNX_RANK_NHWC && axis == 3) || (x.rank == 2 && axis == 1);
    int channels_first = pattern && x.rank == 4 && axis == 1;
    if (!channels_first && (!(x.rank == ONNX_RANK_NHWC || x.rank == 2) || !last))
        return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "graft normalises over the channels only: "
                         "the last axis of a channels-last (Transpose [0, 2, 3, 1]) or N x C "
                         "tensor");
    if (im->api->attr_int(im, "stash_type", 1) != 1)
        return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "stash_type other than float");
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_LAYER_NORM);
    sp.eps = im->api->attr_float(im, "epsilon", 1e-5f);
    if (im->api->num_inputs(im) == 5) {
        onnx_const e, two;
        if ((s = im->api->constant(im, 3, &e)) != GRAFT_OK) return s;
        if ((s = im->api->constant(im, 4, &two)) != GRAFT_OK) {
            free(e.data);
            return s;
        }
        int ok = e.n == 1 && two.n == 1 && two.data[0] == 2.0 && e.data[0] > 0;
        sp.eps = e.n ? (float)e.data[0] : 0;
        free(e.data);
        free(two.data);
        if (!ok)
            return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "ReduceMean/Sub/Pow/... is a layer norm "
                             "only with Pow(., 2) and a positive scalar epsilon");
    }
    onnx_const w = {0}, b = {0};
    int p0;
    s = im->api->constant(im, 1, &w);
    if (s == GRAFT_OK && im->api->has_input(im, 2)) s = im->api->constant(im, 2, &b);
    if (s == GRAFT_OK && (w.n != (size_t)x.c || (b.data && b.n != (size_t)x.c)))
        s = onnx_fail(im, GRAFT_ERR_SHAPE, "scale and bias need %d values (the channels)", x.c);
    if (s == GRAFT_OK) s = im->api->emit(im, &sp, 1, &x.node, x.rank, &p0);
    if (s == GRAFT_OK) s = im->api->set_param(im, p0, w.data, w.n);
    if (s == GRAFT_OK && b.data) s = im->api->set_param(im, p0 + 1, b.data, b.n);
    free(w.data);
    free(b.data);
    return s;
}

/* torch's chain over the last axis, between Transposes to and from NHWC
 * when the input is spatial. */
static graft_status ln_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                              int nin)
{
    (void)nin;
    const onnx_export_api *a = ex->api;
    int spatial = a->input_rank(ex, 0) == 4;
    char t[12][LAYER_NAME_LEN + 16], w[LAYER_NAME_LEN + 16], b[LAYER_NAME_LEN + 16],
        eps[LAYER_NAME_LEN + 16];
    const char *step[] = {"nhwc", "mean", "centred", "square", "var", "var_eps", "std",
                          "normal", "scaled", "shifted"};
    for (int k = 0; k < 10; k++) snprintf(t[k], sizeof t[k], "%s.%s", name, step[k]);
    if (!spatial) snprintf(t[0], sizeof t[0], "%s", a->input_name(ex, 0));
    if (!spatial) snprintf(t[9], sizeof t[9], "%s", name);
    TRY(a->param(ex, 0, "weight", w, sizeof w));
    TRY(a->param(ex, 1, "bias", b, sizeof b));
    snprintf(eps, sizeof eps, "%s.eps", name);
    a->scalar(ex, eps, s->eps);
    a->scalar(ex, "graft.two", 2.0f);
    static const int64_t to_nhwc[4] = {0, 2, 3, 1}, to_nchw[4] = {0, 3, 1, 2}, last = -1;
    if (spatial) {
        a->node(ex, "Transpose", t[0], t[0]);
        a->in(ex, a->input_name(ex, 0));
        a->attr_list(ex, "perm", to_nhwc, 4);
    }
    a->node(ex, "ReduceMean", t[1], t[1]);
    a->in(ex, t[0]);
    a->attr_list(ex, "axes", &last, 1);
    a->node(ex, "Sub", t[2], t[2]);
    a->in(ex, t[0]);
    a->in(ex, t[1]);
    a->node(ex, "Pow", t[3], t[3]);
    a->in(ex, t[2]);
    a->in(ex, "graft.two");
    a->node(ex, "ReduceMean", t[4], t[4]);
    a->in(ex, t[3]);
    a->attr_list(ex, "axes", &last, 1);
    a->node(ex, "Add", t[5], t[5]);
    a->in(ex, t[4]);
    a->in(ex, eps);
    a->node(ex, "Sqrt", t[6], t[6]);
    a->in(ex, t[5]);
    a->node(ex, "Div", t[7], t[7]);
    a->in(ex, t[2]);
    a->in(ex, t[6]);
    a->node(ex, "Mul", t[8], t[8]);
    a->in(ex, t[7]);
    a->in(ex, w);
    /* The chain's last node carries the layer's name: the importer names
     * the layer after it, so a re-import keeps the name. */
    a->node(ex, "Add", name, t[9]);
    a->in(ex, t[8]);
    a->in(ex, b);
    if (spatial) {
        char back[LAYER_NAME_LEN + 16];
        snprintf(back, sizeof back, "%s.nchw", name);
        a->node(ex, "Transpose", back, name);
        a->in(ex, t[9]);
        a->attr_list(ex, "perm", to_nchw, 4);
    }
    return GRAFT_OK;
}

static const char *const ln_onnx_ops[] = {"LayerNormalization", "graft:LayerNormalization", NULL};

/* No style-specific kernels (one work-item per pixel or channel suits
 * both); FLOPs not counted (the convention counts conv and linear). */
const layer_kind layer_norm_kind = {
    .kind = GRAFT_LAYER_LAYER_NORM, .name = "layer_norm", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &ln_ops, .ops_gpu = &ln_ops,
    .onnx_ops = ln_onnx_ops, .onnx_import = ln_import, .onnx_export = ln_export,
};
