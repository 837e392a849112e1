/* GELU, exact form x * Phi(x) (torch.nn.GELU(), ConvNeXt's MLP); backward
 * reads the forward input (cl/shared/gelu.cl). ONNX: the Div/Erf/Add/Mul/Mul
 * chain torch writes (ONNX has Gelu only from opset 20), which the
 * importer's pattern src/io/onnx_fuse_gelu.c turns into one graft:Gelu
 * node; exported as that chain. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "layer.h"
#include "layer_kind.h"

static graft_status gelu_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "gelu '%s': needs 1 input, got %d", l->name, l->nin);
    l->out = l->in[0];
    return GRAFT_OK;
}

static graft_status gelu_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "gelu_fwd", n, KA_MEM(io->in[0]), KA_MEM(io->out), KA_INT(n));
}

static graft_status gelu_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "gelu_bwd", n, KA_MEM(io->in[0]), KA_MEM(io->dout), KA_MEM(io->din[0]),
                    KA_INT(n), KA_FLT(io->din_beta[0]));
}

static const layer_ops gelu_ops = {gelu_setup, NULL, gelu_forward, gelu_backward, NULL, NULL};

/* A scalar constant input's value, or NAN. */
static double scalar_input(onnx_importer *im, int k)
{
    onnx_const t;
    if (im->api->constant(im, k, &t) != GRAFT_OK) return NAN;
    double v = t.n == 1 ? t.data[0] : NAN;
    free(t.data);
    return v;
}

/* graft:Gelu(x, sqrt2, one, half): the chain's constants must be those of
 * the erf form (sqrt 2 as a float). */
static graft_status gelu_import(onnx_importer *im)
{
    onnx_value x;
    graft_status s = im->api->input(im, 0, 0, &x);
    if (s != GRAFT_OK) return s;
    double r2 = scalar_input(im, 1), one = scalar_input(im, 2), half = scalar_input(im, 3);
    if (!(fabs(r2 - sqrt(2.0)) < 1e-6 && one == 1.0 && half == 0.5))
        return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "Div/Erf/Add/Mul/Mul with constants %g, %g, "
                         "%g is not GELU's x * 0.5 * (1 + erf(x / sqrt 2))", r2, one, half);
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_GELU);
    return im->api->emit(im, &sp, 1, &x.node, x.rank, NULL);
}

/* x * 0.5 * (1 + erf(x / sqrt 2)) in torch's node order: Div, Erf, Add,
 * Mul, Mul. */
static graft_status gelu_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                                int nin)
{
    (void)s, (void)nin;
    const char *x = ex->api->input_name(ex, 0);
    char t[4][LAYER_NAME_LEN + 16];
    for (int k = 0; k < 4; k++) snprintf(t[k], sizeof t[k], "%s.gelu%d", name, k);
    ex->api->scalar(ex, "graft.sqrt2", 1.4142135381698608f);
    ex->api->scalar(ex, "graft.one", 1.0f);
    ex->api->scalar(ex, "graft.half", 0.5f);
    ex->api->node(ex, "Div", t[0], t[0]);
    ex->api->in(ex, x);
    ex->api->in(ex, "graft.sqrt2");
    ex->api->node(ex, "Erf", t[1], t[1]);
    ex->api->in(ex, t[0]);
    ex->api->node(ex, "Add", t[2], t[2]);
    ex->api->in(ex, t[1]);
    ex->api->in(ex, "graft.one");
    ex->api->node(ex, "Mul", t[3], t[3]);
    ex->api->in(ex, x);
    ex->api->in(ex, t[2]);
    ex->api->node(ex, "Mul", name, name);
    ex->api->in(ex, t[3]);
    ex->api->in(ex, "graft.half");
    return GRAFT_OK;
}

static const char *const gelu_onnx_ops[] = {"graft:Gelu", NULL};

/* No style-specific kernels; not fused into a BatchNorm; FLOPs not
 * counted (elementwise). */
const layer_kind gelu_kind = {
    .kind = GRAFT_LAYER_GELU, .name = "gelu", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &gelu_ops, .ops_gpu = &gelu_ops,
    .onnx_ops = gelu_onnx_ops, .onnx_import = gelu_import, .onnx_export = gelu_export,
};
