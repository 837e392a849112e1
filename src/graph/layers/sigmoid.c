/* Logistic sigmoid y = 1 / (1 + e^-x), elementwise; backward reads the
 * forward input (cl/shared/sigmoid.cl). */
#include "layer.h"
#include "layer_kind.h"

static graft_status sigmoid_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "sigmoid '%s': needs 1 input, got %d", l->name,
                        l->nin);
    l->out = l->in[0];
    return GRAFT_OK;
}

static graft_status sigmoid_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "sigmoid_fwd", n, KA_MEM(io->in[0]), KA_MEM(io->out), KA_INT(n));
}

static graft_status sigmoid_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "sigmoid_bwd", n, KA_MEM(io->in[0]), KA_MEM(io->dout),
                    KA_MEM(io->din[0]), KA_INT(n), KA_FLT(io->din_beta[0]));
}

static const layer_ops sigmoid_ops = {sigmoid_setup, NULL, sigmoid_forward, sigmoid_backward,
                                      NULL, NULL};

static graft_status sigmoid_import(onnx_importer *im)
{
    onnx_value x;
    graft_status s = im->api->input(im, 0, 0, &x);
    if (s != GRAFT_OK) return s;
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_SIGMOID);
    return im->api->emit(im, &sp, 1, &x.node, x.rank, NULL);
}

static graft_status sigmoid_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                                   int nin)
{
    (void)s, (void)nin;
    ex->api->node(ex, "Sigmoid", name, name);
    ex->api->in(ex, ex->api->input_name(ex, 0));
    return GRAFT_OK;
}

static const char *const sigmoid_onnx_ops[] = {"Sigmoid", NULL};

/* No style-specific kernels (one table for both styles); not fused into a
 * BatchNorm; FLOPs not counted (elementwise). */
const layer_kind sigmoid_kind = {
    .kind = GRAFT_LAYER_SIGMOID, .name = "sigmoid", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &sigmoid_ops, .ops_gpu = &sigmoid_ops,
    .onnx_ops = sigmoid_onnx_ops, .onnx_import = sigmoid_import, .onnx_export = sigmoid_export,
};
