/* Fully connected layer (GRAFT_LAYER_LINEAR): any per-sample input is
 * flattened to F = C*H*W; weight is [out, F] as in PyTorch. */
#include <math.h>

#include "gemm.h"
#include "layer.h"

static graft_status linear_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "linear '%s': needs 1 input, got %d", l->name, l->nin);
    if (l->spec.channels <= 0)
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "linear '%s': %d outputs", l->name,
                        l->spec.channels);
    size_t f = shape_numel(l->in[0]);
    if (f == 0 || f > 0x7fffffff)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "linear '%s': input of %zu features", l->name, f);
    l->out = (layer_shape){l->spec.channels, 1, 1};
    int wshape[2] = {l->spec.channels, (int)f};
    TRY(layer_add_param(ctx, l, "weight", 2, wshape, 1));
    if (l->spec.bias) {
        int bshape[1] = {l->spec.channels};
        TRY(layer_add_param(ctx, l, "bias", 1, bshape, 1));
    }
    return GRAFT_OK;
}

static graft_status linear_init(graft_ctx *ctx, layer *l, rng *r)
{
    /* std sqrt(1/F): a classifier head should start with small logits. */
    double f = (double)shape_numel(l->in[0]);
    TRY(param_init_normal(ctx, &l->params[0], r, sqrt(1.0 / f)));
    if (l->spec.bias) TRY(param_init_const(ctx, &l->params[1], 0.0f));
    return GRAFT_OK;
}

static graft_status linear_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    int f = (int)shape_numel(l->in[0]), nout = l->spec.channels;
    /* Y[n, out] = X[n, F] W^T */
    gemm_operand a = {io->in[0], 0, f, 0};
    gemm_operand b = {l->params[0].data, 0, f, 1};
    TRY(gemm_run(ctx, io->n, nout, f, 1.0f, a, b, 0.0f, io->out, 0, nout));
    if (!l->spec.bias) return GRAFT_OK;
    return LAUNCH1D(ctx, "linear_bias_add", (size_t)io->n * nout, KA_MEM(io->out),
                    KA_MEM(l->params[1].data), KA_INT(io->n), KA_INT(nout));
}

static graft_status linear_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    int f = (int)shape_numel(l->in[0]), nout = l->spec.channels;
    if (io->param_grads) {
        /* dW[out, F] = dY^T X */
        gemm_operand a = {io->dout, 0, nout, 1};
        gemm_operand b = {io->in[0], 0, f, 0};
        TRY(gemm_run(ctx, nout, f, io->n, 1.0f, a, b, 0.0f, l->params[0].grad, 0, f));
        if (l->spec.bias)
            TRY(reduce_bias_grad(ctx, io->dout, io->n, nout, 1, l->params[1].grad, 0.0f));
    }
    if (!io->din[0]) return GRAFT_OK;
    /* dX[n, F] = dY W, accumulated when din_beta is 1 */
    gemm_operand a = {io->dout, 0, nout, 0};
    gemm_operand b = {l->params[0].data, 0, f, 0};
    return gemm_run(ctx, io->n, f, nout, 1.0f, a, b, io->din_beta[0], io->din[0], 0, f);
}

static double linear_flops(const layer *l)
{
    return 2.0 * l->spec.channels * (double)shape_numel(l->in[0]);
}

const layer_ops linear_ops = {linear_setup, linear_init, linear_forward, linear_backward, NULL,
                              linear_flops};
