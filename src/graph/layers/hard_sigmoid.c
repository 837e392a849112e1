/* Hard sigmoid y = clamp(alpha * x + beta, 0, 1), elementwise (ONNX
 * HardSigmoid; PyTorch's hardsigmoid is alpha 1/6, beta 0.5, the gate of
 * MobileNetV3's squeeze-excitation). alpha and beta are the spec's slope
 * and p. Backward reads the forward input (cl/shared/hard_sigmoid.cl). */
#include "layer.h"
#include "layer_kind.h"

static graft_status hard_sigmoid_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "hard_sigmoid '%s': needs 1 input, got %d", l->name,
                        l->nin);
    l->out = l->in[0];
    return GRAFT_OK;
}

static graft_status hard_sigmoid_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "hard_sigmoid_fwd", n, KA_MEM(io->in[0]), KA_MEM(io->out), KA_INT(n),
                    KA_FLT(l->spec.slope), KA_FLT(l->spec.p));
}

static graft_status hard_sigmoid_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "hard_sigmoid_bwd", n, KA_MEM(io->in[0]), KA_MEM(io->dout),
                    KA_MEM(io->din[0]), KA_INT(n), KA_FLT(l->spec.slope), KA_FLT(l->spec.p),
                    KA_FLT(io->din_beta[0]));
}

static const layer_ops hard_sigmoid_ops = {hard_sigmoid_setup, NULL, hard_sigmoid_forward,
                                           hard_sigmoid_backward, NULL, NULL};

/* ONNX's defaults are alpha 0.2, beta 0.5. */
static graft_status hard_sigmoid_import(onnx_importer *im)
{
    onnx_value x;
    graft_status s = im->api->input(im, 0, 0, &x);
    if (s != GRAFT_OK) return s;
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_HARD_SIGMOID);
    sp.slope = im->api->attr_float(im, "alpha", 0.2f);
    sp.p = im->api->attr_float(im, "beta", 0.5f);
    return im->api->emit(im, &sp, 1, &x.node, x.rank, NULL);
}

static graft_status hard_sigmoid_export(onnx_exporter *ex, const char *name,
                                        const graft_layer_spec *s, int nin)
{
    (void)nin;
    ex->api->node(ex, "HardSigmoid", name, name);
    ex->api->in(ex, ex->api->input_name(ex, 0));
    ex->api->attr_float(ex, "alpha", s->slope);
    ex->api->attr_float(ex, "beta", s->p);
    return GRAFT_OK;
}

static const char *const hard_sigmoid_onnx_ops[] = {"HardSigmoid", NULL};

/* No style-specific kernels; not fused into a BatchNorm; FLOPs not counted
 * (elementwise). */
const layer_kind hard_sigmoid_kind = {
    .kind = GRAFT_LAYER_HARD_SIGMOID, .name = "hard_sigmoid", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &hard_sigmoid_ops, .ops_gpu = &hard_sigmoid_ops,
    .onnx_ops = hard_sigmoid_onnx_ops, .onnx_import = hard_sigmoid_import,
    .onnx_export = hard_sigmoid_export,
};
