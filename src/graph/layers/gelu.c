/* GELU, exact form x * Phi(x) (torch.nn.GELU(), ConvNeXt's MLP); backward
 * reads the forward input (cl/shared/gelu.cl). ONNX: Gelu (opset 20, for
 * files that use it) or the Div/Erf/Add/Mul/Mul pattern torch writes
 * before that (the importer's matcher turns it into one graft:Gelu node);
 * exported as that pattern, which every opset reads. */
#include <stdio.h>

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

static graft_status gelu_import(onnx_importer *im)
{
    onnx_value x;
    graft_status s = im->api->input(im, 0, 0, &x);
    if (s != GRAFT_OK) return s;
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

static const char *const gelu_onnx_ops[] = {"Gelu", "graft:Gelu", NULL};

/* No style-specific kernels; not fused into a BatchNorm; FLOPs not
 * counted (elementwise). */
const layer_kind gelu_kind = {
    .kind = GRAFT_LAYER_GELU, .name = "gelu", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &gelu_ops, .ops_gpu = &gelu_ops,
    .onnx_ops = gelu_onnx_ops, .onnx_import = gelu_import, .onnx_export = gelu_export,
};
