/* 2-D convolution (GRAFT_LAYER_CONV2D): im2col + GEMM per group, or
 * direct kernels when each group has a single input channel (depthwise). */
#include <math.h>

#include "gemm.h"
#include "layer.h"

/* Derived sizes of one conv layer for a batch of n. */
typedef struct conv_dims {
    int n, cin, h, w, cout, hout, wout, k, stride, pad, dil, groups;
    int cin_g, cout_g; /* channels per group */
    int K;             /* rows of one group's column matrix: cin_g*k*k */
    int P;             /* output pixels per sample */
    size_t np;         /* columns: n*P */
} conv_dims;

static conv_dims conv_dims_of(const layer *l, int n)
{
    const graft_layer_spec *s = &l->spec;
    conv_dims d;
    d.n = n;
    d.cin = l->in[0].c;
    d.h = l->in[0].h;
    d.w = l->in[0].w;
    d.cout = l->out.c;
    d.hout = l->out.h;
    d.wout = l->out.w;
    d.k = s->kernel;
    d.stride = s->stride;
    d.pad = s->pad;
    d.dil = s->dilation;
    d.groups = s->groups;
    d.cin_g = d.cin / d.groups;
    d.cout_g = d.cout / d.groups;
    d.K = d.cin_g * d.k * d.k;
    d.P = d.hout * d.wout;
    d.np = (size_t)n * d.P;
    return d;
}

static graft_status conv_setup(graft_ctx *ctx, layer *l)
{
    const graft_layer_spec *s = &l->spec;
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "conv2d '%s': needs 1 input, got %d", l->name, l->nin);
    if (s->channels <= 0 || s->kernel <= 0 || s->stride <= 0 || s->pad < 0 || s->dilation <= 0 ||
        s->groups <= 0)
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG,
                        "conv2d '%s': bad hyper-parameters (channels %d, kernel %d, stride %d, "
                        "pad %d, dilation %d, groups %d)",
                        l->name, s->channels, s->kernel, s->stride, s->pad, s->dilation, s->groups);
    layer_shape in = l->in[0];
    if (in.c % s->groups || s->channels % s->groups)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE,
                        "conv2d '%s': %d input and %d output channels are not both divisible "
                        "by groups=%d",
                        l->name, in.c, s->channels, s->groups);
    long span = (long)s->dilation * (s->kernel - 1) + 1; /* receptive field of one output */
    long hout = ((long)in.h + 2L * s->pad - span) / s->stride + 1;
    long wout = ((long)in.w + 2L * s->pad - span) / s->stride + 1;
    /* C division truncates toward zero, so test the numerator itself. */
    if ((long)in.h + 2L * s->pad < span || (long)in.w + 2L * s->pad < span || hout <= 0 ||
        wout <= 0)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE,
                        "conv2d '%s': kernel %d (dilation %d, span %ld) does not fit input %dx%d "
                        "padded by %d",
                        l->name, s->kernel, s->dilation, span, in.h, in.w, s->pad);
    l->out = (layer_shape){s->channels, (int)hout, (int)wout};
    int wshape[4] = {s->channels, in.c / s->groups, s->kernel, s->kernel};
    TRY(layer_add_param(ctx, l, "weight", 4, wshape, 1));
    if (s->bias) {
        int bshape[1] = {s->channels};
        TRY(layer_add_param(ctx, l, "bias", 1, bshape, 1));
    }
    return GRAFT_OK;
}

static graft_status conv_init(graft_ctx *ctx, layer *l, rng *r)
{
    double fan_in = (double)(l->in[0].c / l->spec.groups) * l->spec.kernel * l->spec.kernel;
    TRY(param_init_normal(ctx, &l->params[0], r, sqrt(2.0 / fan_in)));
    if (l->spec.bias) TRY(param_init_const(ctx, &l->params[1], 0.0f));
    return GRAFT_OK;
}

static graft_status im2col(graft_ctx *ctx, const conv_dims *d, cl_mem x, cl_mem col)
{
    size_t total = (size_t)d->cin * d->k * d->k * d->np;
    size_t gws[2] = {(size_t)d->n, (size_t)d->cin}, lws[2] = {1, 1};
    (void)total;
    return LAUNCH(ctx, "conv_im2col", 2, gws, lws, KA_MEM(x), KA_MEM(col), KA_INT(d->n),
                    KA_INT(d->cin), KA_INT(d->h), KA_INT(d->w), KA_INT(d->hout),
                    KA_INT(d->wout), KA_INT(d->k), KA_INT(d->stride), KA_INT(d->pad),
                    KA_INT(d->dil));
}

/* Direct kernels only for grouped convs with one input channel per group
 * (depthwise); a dense conv on a 1-channel input is a fine GEMM. */
static int conv_is_direct(const conv_dims *d) { return d->cin_g == 1 && d->groups > 1; }

static graft_status conv_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    conv_dims d = conv_dims_of(l, io->n);
    cl_mem wt = l->params[0].data;
    /* Kernels need a valid buffer even when has_bias is 0. */
    cl_mem bias = l->spec.bias ? l->params[1].data : wt;
    size_t nout = (size_t)d.n * d.cout * d.P;

    if (conv_is_direct(&d))
        return LAUNCH1D(ctx, "conv_dw_forward", nout, KA_MEM(io->in[0]), KA_MEM(wt),
                        KA_MEM(bias), KA_INT(l->spec.bias), KA_MEM(io->out), KA_INT(d.n),
                        KA_INT(d.cin), KA_INT(d.h), KA_INT(d.w), KA_INT(d.cout),
                        KA_INT(d.hout), KA_INT(d.wout), KA_INT(d.k), KA_INT(d.stride),
                        KA_INT(d.pad), KA_INT(d.dil));

    cl_mem col, y;
    TRY(ctx_scratch(ctx, 0, (size_t)d.groups * d.K * d.np * sizeof(float), &col));
    TRY(im2col(ctx, &d, io->in[0], col));
    /* With one sample [Cout][P] already is NCHW: write the output directly. */
    if (d.n == 1)
        y = io->out;
    else
        TRY(ctx_scratch(ctx, 1, nout * sizeof(float), &y));
    for (int g = 0; g < d.groups; g++) {
        gemm_operand a = {wt, (size_t)g * d.cout_g * d.K, d.K, 0};
        gemm_operand b = {col, (size_t)g * d.K * d.np, (int)d.np, 0};
        TRY(gemm_run(ctx, d.cout_g, (int)d.np, d.K, 1.0f, a, b, 0.0f, y,
                     (size_t)g * d.cout_g * d.np, (int)d.np));
    }
    if (d.n == 1 && !l->spec.bias) return GRAFT_OK;
    size_t gws[2] = {(size_t)d.n, (size_t)d.cout}, lws[2] = {1, 1};
    return LAUNCH(ctx, "conv_cnp_to_nchw", 2, gws, lws, KA_MEM(y), KA_MEM(io->out), KA_MEM(bias),
                    KA_INT(l->spec.bias), KA_INT(d.n), KA_INT(d.cout), KA_INT(d.P));
}

static graft_status conv_backward_direct(graft_ctx *ctx, layer *l, const bwd_io *io,
                                         const conv_dims *d)
{
    param *pw = &l->params[0];
    if (io->param_grads) {
        size_t lws = 64, gws = (size_t)d->cout * d->k * d->k * lws;
        TRY(LAUNCH(ctx, "conv_dw_backward_weight", 1, &gws, &lws, KA_MEM(io->dout),
                   KA_MEM(io->in[0]), KA_MEM(pw->grad), KA_INT(d->n), KA_INT(d->cin),
                   KA_INT(d->h), KA_INT(d->w), KA_INT(d->cout), KA_INT(d->hout),
                   KA_INT(d->wout), KA_INT(d->k), KA_INT(d->stride), KA_INT(d->pad),
                   KA_INT(d->dil)));
    }
    if (!io->din[0]) return GRAFT_OK;
    size_t nin = (size_t)d->n * d->cin * d->h * d->w;
    return LAUNCH1D(ctx, "conv_dw_backward_data", nin, KA_MEM(io->dout), KA_MEM(pw->data),
                    KA_MEM(io->din[0]), KA_INT(d->n), KA_INT(d->cin), KA_INT(d->h),
                    KA_INT(d->w), KA_INT(d->cout), KA_INT(d->hout), KA_INT(d->wout),
                    KA_INT(d->k), KA_INT(d->stride), KA_INT(d->pad), KA_INT(d->dil),
                    KA_FLT(io->din_beta[0]));
}

static graft_status conv_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    conv_dims d = conv_dims_of(l, io->n);
    param *pw = &l->params[0];
    if (io->param_grads && l->spec.bias)
        TRY(reduce_bias_grad(ctx, io->dout, d.n, d.cout, d.P, l->params[1].grad, 0.0f));
    if (conv_is_direct(&d)) return conv_backward_direct(ctx, l, io, &d);
    if (!io->param_grads && !io->din[0]) return GRAFT_OK;

    /* dY' = dout as [Cout][n*P]; with one sample it already is. */
    size_t nout = (size_t)d.n * d.cout * d.P;
    cl_mem dy = io->dout;
    if (d.n > 1) {
        TRY(ctx_scratch(ctx, 1, nout * sizeof(float), &dy));
        size_t gws[2] = {(size_t)d.n, (size_t)d.cout}, lws[2] = {1, 1};
        TRY(LAUNCH(ctx, "conv_nchw_to_cnp", 2, gws, lws, KA_MEM(io->dout), KA_MEM(dy), KA_INT(d.n),
                     KA_INT(d.cout), KA_INT(d.P)));
    }
    size_t colbytes = (size_t)d.groups * d.K * d.np * sizeof(float);
    if (io->param_grads) {
        cl_mem col;
        TRY(ctx_scratch(ctx, 0, colbytes, &col));
        TRY(im2col(ctx, &d, io->in[0], col));
        for (int g = 0; g < d.groups; g++) {
            /* dW_g[Cout_g, K] = dY'_g [Cout_g, nP] x col_g^T */
            gemm_operand a = {dy, (size_t)g * d.cout_g * d.np, (int)d.np, 0};
            gemm_operand b = {col, (size_t)g * d.K * d.np, (int)d.np, 1};
            TRY(gemm_run(ctx, d.cout_g, d.K, (int)d.np, 1.0f, a, b, 0.0f, pw->grad,
                         (size_t)g * d.cout_g * d.K, d.K));
        }
    }
    if (!io->din[0]) return GRAFT_OK;
    cl_mem dcol;
    TRY(ctx_scratch(ctx, 2, colbytes, &dcol));
    for (int g = 0; g < d.groups; g++) {
        /* dcol_g[K, nP] = W_g^T x dY'_g */
        gemm_operand a = {pw->data, (size_t)g * d.cout_g * d.K, d.K, 1};
        gemm_operand b = {dy, (size_t)g * d.cout_g * d.np, (int)d.np, 0};
        TRY(gemm_run(ctx, d.K, (int)d.np, d.cout_g, 1.0f, a, b, 0.0f, dcol,
                     (size_t)g * d.K * d.np, (int)d.np));
    }
    size_t nin = (size_t)d.n * d.cin * d.h * d.w;
    size_t gws[2] = {(size_t)d.n, (size_t)d.cin}, lws[2] = {1, 1};
    (void)nin;
    return LAUNCH(ctx, "conv_col2im", 2, gws, lws, KA_MEM(dcol), KA_MEM(io->din[0]), KA_INT(d.n),
                    KA_INT(d.cin), KA_INT(d.h), KA_INT(d.w), KA_INT(d.hout), KA_INT(d.wout),
                    KA_INT(d.k), KA_INT(d.stride), KA_INT(d.pad), KA_INT(d.dil),
                    KA_FLT(io->din_beta[0]));
}

static double conv_flops(const layer *l)
{
    return 2.0 * l->out.c * (double)(l->in[0].c / l->spec.groups) * l->spec.kernel *
           l->spec.kernel * l->out.h * l->out.w;
}

const layer_ops conv2d_ops = {conv_setup, conv_init, conv_forward, conv_backward, NULL, conv_flops};
