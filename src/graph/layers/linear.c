/* Fully connected layer (GRAFT_LAYER_LINEAR): any per-sample input is
 * flattened to F = C*H*W; weight is [out, F] as in PyTorch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "layer.h"
#include "layer_kind.h"

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

static const layer_ops linear_ops = {linear_setup, linear_init, linear_forward, linear_backward, NULL,
                                     linear_flops};

/* Gemm (B constant) and MatMul (B constant [in, out]) as a linear layer;
 * a MatMul's bias stays zero until a following Add of a constant supplies
 * it (the importer's await_bias / fold_bias_add). A MatMul over the last
 * axis of a channels-last value (ConvNeXt's pointwise Linear) acts on the
 * channels of each pixel: a 1x1 convolution, whose output stays
 * channels-last. */
static graft_status linear_import(onnx_importer *im)
{
    int is_gemm = !strcmp(im->api->op(im), "Gemm");
    onnx_value x;
    onnx_const B = {0}, Cb = {0};
    graft_status s = im->api->input(im, 0, 0, &x);
    if (s == GRAFT_OK) s = im->api->constant(im, 1, &B);
    if (s != GRAFT_OK) return s;
    int pixelwise = !is_gemm && x.rank == ONNX_RANK_NHWC;
    int64_t fin = pixelwise ? x.c : (int64_t)x.c * x.h * x.w;
    int transB = is_gemm ? (int)im->api->attr_int(im, "transB", 0) : 0;
    double alpha = is_gemm ? im->api->attr_float(im, "alpha", 1.0f) : 1.0;
    double beta = is_gemm ? im->api->attr_float(im, "beta", 1.0f) : 1.0;
    if (is_gemm && im->api->attr_int(im, "transA", 0)) {
        s = onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "transA=1 is not supported");
        goto done;
    }
    if (B.ndims != 2 || B.dims[transB ? 1 : 0] != fin) {
        s = onnx_fail(im, GRAFT_ERR_SHAPE, "weight of %d dimensions [%lld, %lld]%s does not take "
                      "%lld input features", B.ndims, (long long)B.dims[0], (long long)B.dims[1],
                      transB ? " (transB)" : "", (long long)fin);
        goto done;
    }
    int nout = (int)B.dims[transB ? 0 : 1];
    graft_layer_spec sp = graft_layer_default(pixelwise ? GRAFT_LAYER_CONV2D : GRAFT_LAYER_LINEAR);
    if (pixelwise) sp.kernel = 1, sp.pad = 0;
    sp.channels = nout;
    sp.bias = 1; /* MatMul: zero until an Add supplies it */
    if (is_gemm && im->api->has_input(im, 2)) {
        if ((s = im->api->constant(im, 2, &Cb)) != GRAFT_OK) goto done;
        if (Cb.n != (size_t)nout && Cb.n != 1) {
            s = onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "C has %zu values; graft needs a bias of %d "
                          "values (or a scalar)", Cb.n, nout);
            goto done;
        }
    }
    /* graft's weight is [out, in]. */
    double *wt = malloc((size_t)nout * (size_t)fin * sizeof *wt);
    double *bias = calloc((size_t)nout, sizeof *bias);
    if (!wt || !bias) {
        free(wt);
        free(bias);
        s = onnx_fail(im, GRAFT_ERR_HOST_MEMORY, "out of host memory");
        goto done;
    }
    for (int64_t o = 0; o < nout; o++)
        for (int64_t i = 0; i < fin; i++)
            wt[o * fin + i] = alpha * (transB ? B.data[o * fin + i] : B.data[i * nout + o]);
    for (int o = 0; Cb.data && o < nout; o++) bias[o] = beta * Cb.data[Cb.n == 1 ? 0 : o];
    int p0;
    s = im->api->emit(im, &sp, 1, &x.node, pixelwise ? ONNX_RANK_NHWC : 2, &p0);
    if (s == GRAFT_OK) s = im->api->set_param(im, p0, wt, (size_t)nout * (size_t)fin);
    if (s == GRAFT_OK) s = im->api->set_param(im, p0 + 1, bias, (size_t)nout);
    if (s == GRAFT_OK && !is_gemm && im->api->output_uses(im, 0) == 1)
        im->api->await_bias(im, p0 + 1);
    free(wt);
    free(bias);
done:
    free(B.data);
    free(Cb.data);
    return s;
}

/* Gemm with transB; a 4-D input is flattened first (Gemm takes [N, F]). */
static graft_status linear_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                                  int nin)
{
    (void)nin;
    const char *x = ex->api->input_name(ex, 0);
    char buf[LAYER_NAME_LEN + 16];
    if (ex->api->input_rank(ex, 0) == 4) {
        snprintf(buf, sizeof buf, "%s.flatten", name);
        ex->api->node(ex, "Flatten", buf, buf);
        ex->api->in(ex, x);
        ex->api->attr_int(ex, "axis", 1);
        x = buf;
    }
    char wn[LAYER_NAME_LEN + 16], bn[LAYER_NAME_LEN + 16];
    TRY(ex->api->param(ex, 0, "weight", wn, sizeof wn));
    if (s->bias) TRY(ex->api->param(ex, 1, "bias", bn, sizeof bn));
    ex->api->node(ex, "Gemm", name, name);
    ex->api->in(ex, x);
    ex->api->in(ex, wn);
    if (s->bias) ex->api->in(ex, bn);
    ex->api->attr_int(ex, "transB", 1);
    ex->api->set_rank(ex, 2);
    return GRAFT_OK;
}

static const char *const linear_onnx_ops[] = {"Gemm", "MatMul", NULL};

const layer_kind linear_kind = {
    .kind = GRAFT_LAYER_LINEAR, .name = "linear", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &linear_ops, .ops_gpu = &linear_ops, .counts_flops = 1,
    .onnx_ops = linear_onnx_ops, .onnx_import = linear_import, .onnx_export = linear_export,
};
