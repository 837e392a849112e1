/* SiLU (swish) y = x * sigmoid(x), elementwise: EfficientNet's activation.
 * ONNX (to opset 17) has no such op; it is imported from the pattern
 * x * Sigmoid(x) (src/io/onnx_fuse_silu.c) and exported as that pair.
 * Backward reads the forward input (cl/shared/silu.cl). */
#include "layer.h"
#include "layer_kind.h"

static graft_status silu_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "silu '%s': needs 1 input, got %d", l->name, l->nin);
    l->out = l->in[0];
    return GRAFT_OK;
}

static graft_status silu_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "silu_fwd", n, KA_MEM(io->in[0]), KA_MEM(io->out), KA_INT(n));
}

static graft_status silu_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "silu_bwd", n, KA_MEM(io->in[0]), KA_MEM(io->dout), KA_MEM(io->din[0]),
                    KA_INT(n), KA_FLT(io->din_beta[0]));
}

static const layer_ops silu_ops = {silu_setup, NULL, silu_forward, silu_backward, NULL, NULL};

static graft_status silu_import(onnx_importer *im)
{
    onnx_value x;
    graft_status s = im->api->input(im, 0, 0, &x);
    if (s != GRAFT_OK) return s;
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_SILU);
    return im->api->emit(im, &sp, 1, &x.node, x.rank, NULL);
}

/* Sigmoid into "<name>.gate", then Mul(x, gate): the importer's pattern
 * makes it one silu again. */
static graft_status silu_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                                int nin)
{
    (void)s, (void)nin;
    char gate[LAYER_NAME_LEN + 8];
    snprintf(gate, sizeof gate, "%s.gate", name);
    const char *x = ex->api->input_name(ex, 0);
    ex->api->node(ex, "Sigmoid", gate, gate);
    ex->api->in(ex, x);
    ex->api->node(ex, "Mul", name, name);
    ex->api->in(ex, x);
    ex->api->in(ex, gate);
    return GRAFT_OK;
}

static const char *const silu_onnx_ops[] = {"graft:SiLU", NULL};

/* No style-specific kernels; not fused into a BatchNorm; FLOPs not counted
 * (elementwise). */
const layer_kind silu_kind = {
    .kind = GRAFT_LAYER_SILU, .name = "silu", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &silu_ops, .ops_gpu = &silu_ops,
    .onnx_ops = silu_onnx_ops, .onnx_import = silu_import, .onnx_export = silu_export,
};
