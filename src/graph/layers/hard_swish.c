/* Hard swish y = x * clamp(alpha * x + beta, 0, 1), elementwise
 * (MobileNetV3's activation; alpha and beta are the spec's slope and p,
 * 1/6 and 0.5 in PyTorch and in ONNX's HardSwish). Imported from ONNX
 * HardSwish (opset 14) and from the pattern x * HardSigmoid(x) (PyTorch's
 * opset-13 export, src/io/onnx_fuse_hard_swish.c); exported as that pair
 * (opset 13 has no HardSwish). Backward reads the forward input. */
#include "layer.h"
#include "layer_kind.h"

static graft_status hard_swish_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "hard_swish '%s': needs 1 input, got %d", l->name,
                        l->nin);
    l->out = l->in[0];
    return GRAFT_OK;
}

static graft_status hard_swish_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "hard_swish_fwd", n, KA_MEM(io->in[0]), KA_MEM(io->out), KA_INT(n),
                    KA_FLT(l->spec.slope), KA_FLT(l->spec.p));
}

static graft_status hard_swish_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "hard_swish_bwd", n, KA_MEM(io->in[0]), KA_MEM(io->dout),
                    KA_MEM(io->din[0]), KA_INT(n), KA_FLT(l->spec.slope), KA_FLT(l->spec.p),
                    KA_FLT(io->din_beta[0]));
}

static const layer_ops hard_swish_ops = {hard_swish_setup, NULL, hard_swish_forward,
                                         hard_swish_backward, NULL, NULL};

/* ONNX HardSwish has no attributes (1/6, 0.5); the pattern's node carries
 * its HardSigmoid's alpha and beta. */
static graft_status hard_swish_import(onnx_importer *im)
{
    onnx_value x;
    graft_status s = im->api->input(im, 0, 0, &x);
    if (s != GRAFT_OK) return s;
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_HARD_SWISH);
    sp.slope = im->api->attr_float(im, "alpha", 1.0f / 6);
    sp.p = im->api->attr_float(im, "beta", 0.5f);
    return im->api->emit(im, &sp, 1, &x.node, x.rank, NULL);
}

/* HardSigmoid into "<name>.gate", then Mul(x, gate): the importer's
 * pattern makes it one hard_swish again. */
static graft_status hard_swish_export(onnx_exporter *ex, const char *name,
                                      const graft_layer_spec *s, int nin)
{
    (void)nin;
    char gate[LAYER_NAME_LEN + 8];
    snprintf(gate, sizeof gate, "%s.gate", name);
    const char *x = ex->api->input_name(ex, 0);
    ex->api->node(ex, "HardSigmoid", gate, gate);
    ex->api->in(ex, x);
    ex->api->attr_float(ex, "alpha", s->slope);
    ex->api->attr_float(ex, "beta", s->p);
    ex->api->node(ex, "Mul", name, name);
    ex->api->in(ex, x);
    ex->api->in(ex, gate);
    return GRAFT_OK;
}

static const char *const hard_swish_onnx_ops[] = {"HardSwish", "graft:HardSwish", NULL};

/* No style-specific kernels; not fused into a BatchNorm; FLOPs not counted
 * (elementwise). */
const layer_kind hard_swish_kind = {
    .kind = GRAFT_LAYER_HARD_SWISH, .name = "hard_swish", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &hard_swish_ops, .ops_gpu = &hard_swish_ops,
    .onnx_ops = hard_swish_onnx_ops, .onnx_import = hard_swish_import,
    .onnx_export = hard_swish_export,
};
