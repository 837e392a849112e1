/* Inverted dropout. The mask is recomputed in backward from (seed, call,
 * element) by a counter-based hash, so nothing is stored per element. */
#include <stdio.h>
#include <stdlib.h>

#include "layer.h"
#include "layer_kind.h"

#define KA_U64(v) ((karg){sizeof(cl_ulong), &(cl_ulong){(cl_ulong)(v)}})

typedef struct drop_priv {
    int masked;          /* last forward applied a mask (training, p > 0) */
    uint64_t call;       /* its counter value */
} drop_priv;

static graft_status drop_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "dropout '%s': needs 1 input, got %d", l->name,
                        l->nin);
    if (!(l->spec.p >= 0.0f && l->spec.p < 1.0f))
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "dropout '%s': p %g not in [0, 1)", l->name,
                        (double)l->spec.p);
    l->out = l->in[0];
    l->priv = calloc(1, sizeof(drop_priv));
    if (!l->priv) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    return GRAFT_OK;
}

static void drop_destroy(layer *l)
{
    free(l->priv);
    l->priv = NULL;
}

static graft_status drop_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    drop_priv *p = l->priv;
    size_t n = (size_t)io->n * shape_numel(l->out);
    p->masked = io->training && l->spec.p > 0.0f;
    if (!p->masked) {
        CL_TRY(ctx, clEnqueueCopyBuffer(ctx->queue, io->in[0], io->out, 0, 0, n * sizeof(float), 0,
                                        NULL, NULL), "dropout forward copy");
        return GRAFT_OK;
    }
    p->call = l->calls++;
    return LAUNCH1D(ctx, "drop_fwd", n, KA_MEM(io->in[0]), KA_MEM(io->out), KA_INT(n),
                    KA_U64(l->seed), KA_U64(p->call), KA_FLT(l->spec.p),
                    KA_FLT(1.0f / (1.0f - l->spec.p)));
}

static graft_status drop_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    drop_priv *p = l->priv;
    size_t n = (size_t)io->n * shape_numel(l->out);
    if (!p->masked)
        return LAUNCH1D(ctx, "axpby_f32", n, KA_MEM(io->dout), KA_MEM(io->din[0]), KA_INT(n),
                        KA_FLT(1.0f), KA_FLT(io->din_beta[0]));
    return LAUNCH1D(ctx, "drop_bwd", n, KA_MEM(io->dout), KA_MEM(io->din[0]), KA_INT(n),
                    KA_U64(l->seed), KA_U64(p->call), KA_FLT(l->spec.p),
                    KA_FLT(1.0f / (1.0f - l->spec.p)), KA_FLT(io->din_beta[0]));
}

static const layer_ops dropout_ops = {drop_setup, NULL, drop_forward, drop_backward, drop_destroy,
                                      NULL};

/* Dropout with ratio 0 is dropped (an alias); its mask output unused. */
static graft_status drop_import(onnx_importer *im)
{
    onnx_value x;
    graft_status s = im->api->input(im, 0, 0, &x);
    if (s != GRAFT_OK) return s;
    double ratio = 0.5;
    if (im->api->opset(im) < 12) ratio = im->api->attr_float(im, "ratio", 0.5f);
    else if (im->api->has_input(im, 1)) {
        onnx_const t;
        if ((s = im->api->constant(im, 1, &t)) != GRAFT_OK) return s;
        if (t.n == 1) ratio = t.data[0];
        free(t.data);
    }
    if (im->api->output_uses(im, 1))
        return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "the mask output is used");
    if (!(ratio > 0)) return im->api->alias(im, &x);
    if (!(ratio < 1)) return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "ratio %g not below 1", ratio);
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_DROPOUT);
    sp.p = (float)ratio;
    return im->api->emit(im, &sp, 1, &x.node, x.rank, NULL);
}

static graft_status drop_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                                int nin)
{
    (void)nin;
    char buf[LAYER_NAME_LEN + 16];
    snprintf(buf, sizeof buf, "%s.ratio", name);
    ex->api->scalar(ex, buf, s->p);
    ex->api->node(ex, "Dropout", name, name);
    ex->api->in(ex, ex->api->input_name(ex, 0));
    ex->api->in(ex, buf);
    return GRAFT_OK;
}

static const char *const drop_onnx_ops[] = {"Dropout", NULL};

const layer_kind dropout_kind = {
    .kind = GRAFT_LAYER_DROPOUT, .name = "dropout", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &dropout_ops, .ops_gpu = &dropout_ops,
    .onnx_ops = drop_onnx_ops, .onnx_import = drop_import, .onnx_export = drop_export,
};
