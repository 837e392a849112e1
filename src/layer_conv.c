/* 2-D convolution (GRAFT_LAYER_CONV2D): im2col + GEMM per group over chunks
 * of images (scratch bounded by CONV_CHUNK_BYTES), or
 * direct kernels when each group has a single input channel (depthwise). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* Cap on each of the im2col path's scratch buffers (columns in slot 0, the
 * [Cout][nc*P] output or gradient in slot 1, the column gradient in slot 2):
 * the batch goes through im2col + GEMM in chunks of nc images so that none
 * of them exceeds it (at least one image per chunk, however large). The
 * environment variable GRAFT_CONV_CHUNK_BYTES (a byte count, read on every
 * call) overrides it; the tests use it to force small chunks. */
#define CONV_CHUNK_BYTES ((size_t)32 << 20)

static size_t conv_chunk_bytes(void)
{
    const char *e = getenv("GRAFT_CONV_CHUNK_BYTES");
    if (e && *e) {
        char *end;
        unsigned long long v = strtoull(e, &end, 10);
        if (*end == '\0' && v > 0) return (size_t)v;
    }
    return CONV_CHUNK_BYTES;
}

/* Images per chunk: the largest count whose column matrix (groups*K rows)
 * and [Cout][nc*P] matrix both fit the cap, clamped to [1, n]. */
static int conv_chunk_images(const conv_dims *d)
{
    size_t rows = (size_t)d->groups * d->K;
    if ((size_t)d->cout > rows) rows = (size_t)d->cout;
    size_t per_image = rows * d->P * sizeof(float);
    size_t nc = conv_chunk_bytes() / per_image;
    if (nc < 1) nc = 1;
    if (nc > (size_t)d->n) nc = (size_t)d->n;
    return (int)nc;
}

/* Columns of images n0 .. n0+nc-1 of x into col ([groups*K][nc*P]). */
static graft_status im2col(graft_ctx *ctx, const conv_dims *d, cl_mem x, cl_mem col, int n0,
                           int nc)
{
    size_t gws[2] = {(size_t)nc, (size_t)d->cin}, lws[2] = {1, 1};
    return LAUNCH(ctx, "conv_im2col", 2, gws, lws, KA_MEM(x), KA_MEM(col), KA_INT(n0),
                  KA_INT(nc), KA_INT(d->cin), KA_INT(d->h), KA_INT(d->w), KA_INT(d->hout),
                  KA_INT(d->wout), KA_INT(d->k), KA_INT(d->stride), KA_INT(d->pad),
                  KA_INT(d->dil));
}

/* Direct kernels only for grouped convs with one input channel per group
 * (depthwise); a dense conv on a 1-channel input is a fine GEMM. */
static int conv_is_direct(const conv_dims *d) { return d->cin_g == 1 && d->groups > 1; }

/* The implicit-GEMM kernel (cl/conv_implicit.cl) serves stride-1,
 * dilation-1, ungrouped convs with output rows of at most 32 pixels on CPU
 * devices: no column matrix, no layout pass (forward, input gradient and,
 * with conv_implicit_dw, weight gradient). GRAFT_CONV_IMPLICIT=0 forces
 * im2col + GEMM everywhere and =1 the implicit kernel wherever it applies
 * (read on every call, for benchmarks and tests); by default it runs
 * where it measured faster (docs/performance.md):
 *  - forward, unless K = cin*k*k < 32 (refnet's conv1: the GEMM is bound
 *    by writing its output and im2col is tiny);
 *  - input gradient, only when one image's column matrix exceeds 512 KiB
 *    (about L2): there im2col/col2im traffic dominates, while with smaller
 *    ones the dcol GEMM's tall shape (cin*k*k rows) runs faster than the
 *    implicit kernel's cin rows plus its gathering;
 *  - weight gradient, always (every refnet conv was faster). */
enum { IMPLICIT_FWD, IMPLICIT_DX, IMPLICIT_DW };
static int conv_implicit_ok(graft_ctx *ctx, const conv_dims *d, int use)
{
    if (!ctx_is_cpu(ctx) || d->groups != 1 || d->stride != 1 || d->dil != 1 || d->wout > 32)
        return 0;
    if (use == IMPLICIT_DX && (d->w > 32 || d->pad > d->k - 1)) return 0;
    const char *e = getenv("GRAFT_CONV_IMPLICIT");
    if (e && !strcmp(e, "0")) return 0;
    if (e && !strcmp(e, "1")) return 1;
    if (use == IMPLICIT_FWD) return d->K >= 32;
    if (use == IMPLICIT_DW) return 1;
    return (size_t)d->K * d->P * sizeof(float) > ((size_t)512 << 10);
}

/* y (NCHW, n images from n0) = beta * y + conv(x, W) (+ bias), stride 1,
 * with W (M x cin*k*k, row-major) packed into scratch slot 3 first. */
static graft_status conv_implicit_run(graft_ctx *ctx, int M, cl_mem w, cl_mem x, cl_mem bias,
                                      int has_bias, cl_mem y, int n, int cin, int h, int wd,
                                      int hout, int wout, int k, int pad, float beta)
{
    int K = cin * k * k;
    cl_mem ap;
    TRY(ctx_scratch(ctx, 3, gemm_packed_a_floats(M, K) * sizeof(float), &ap));
    TRY(gemm_pack_a_into(ctx, M, K, (gemm_operand){w, 0, K, 0}, ap, 0));
    int rps = 32 / wout;
    if (rps > hout) rps = hout;
    int stripes = n * ((hout + rps - 1) / rps), pm = (M + 5) / 6;
    /* All row panels in one item (as gemm_blocked_w's default of up to 64)
     * unless that leaves too few items for the cores. */
    int pc = pm < 64 ? pm : 64;
    int want = 4 * (int)(ctx->info.compute_units ? ctx->info.compute_units : 1);
    while (pc > 1 && (long)stripes * ((pm + pc - 1) / pc) < want) pc = (pc + 1) / 2;
    size_t gws[2] = {(size_t)stripes, (size_t)((pm + pc - 1) / pc)}, lws[2] = {1, 1};
    return LAUNCH(ctx, "conv_implicit_fwd", 2, gws, lws, KA_MEM(ap), KA_MEM(x), KA_MEM(bias),
                  KA_INT(has_bias), KA_MEM(y), KA_INT(0), KA_INT(n), KA_INT(cin), KA_INT(h),
                  KA_INT(wd), KA_INT(M), KA_INT(hout), KA_INT(wout), KA_INT(k), KA_INT(pad),
                  KA_INT(rps), KA_INT(pc), KA_FLT(beta));
}

/* dW (Cout x cin*k*k) of a stride-1 conv without a column matrix: a
 * zero-padded copy of x (scratch 0), partial sums per item (scratch 1),
 * then their sum. */
static graft_status conv_implicit_dw_run(graft_ctx *ctx, const conv_dims *d, cl_mem x,
                                         cl_mem dy, cl_mem dw)
{
    int hp = d->h + 2 * d->pad, wp = d->w + 2 * d->pad;
    cl_mem xp, part;
    TRY(ctx_scratch(ctx, 0, (size_t)d->n * d->cin * hp * wp * sizeof(float), &xp));
    size_t g2[2] = {(size_t)d->n, (size_t)d->cin}, l2[2] = {1, 1};
    TRY(LAUNCH(ctx, "conv_pad_input", 2, g2, l2, KA_MEM(x), KA_MEM(xp), KA_INT(d->n),
               KA_INT(d->cin), KA_INT(d->h), KA_INT(d->w), KA_INT(d->pad)));
    int rpc = 256 / d->wout; /* whole output rows per chunk, KC = 256 pixels at most */
    if (rpc > d->hout) rpc = d->hout;
    int nchunks = d->n * ((d->hout + rpc - 1) / rpc), pn = (d->cout + 31) / 32;
    /* Enough items for every core (4 per compute unit), each with >= 1 chunk. */
    int want = 4 * (int)(ctx->info.compute_units ? ctx->info.compute_units : 1);
    int nsplit = (want + pn - 1) / pn;
    if (nsplit > nchunks) nsplit = nchunks;
    TRY(ctx_scratch(ctx, 1, (size_t)nsplit * d->K * d->cout * sizeof(float), &part));
    size_t gw[2] = {(size_t)pn, (size_t)nsplit};
    TRY(LAUNCH(ctx, "conv_implicit_dw", 2, gw, l2, KA_MEM(xp), KA_MEM(dy), KA_MEM(part),
               KA_INT(d->n), KA_INT(d->cin), KA_INT(hp), KA_INT(wp), KA_INT(d->cout),
               KA_INT(d->hout), KA_INT(d->wout), KA_INT(d->k), KA_INT(rpc), KA_INT(nsplit)));
    return LAUNCH1D(ctx, "conv_dw_reduce", (size_t)d->cout * d->K, KA_MEM(part), KA_MEM(dw),
                    KA_INT(d->cout), KA_INT(d->K), KA_INT(nsplit));
}

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

    if (conv_implicit_ok(ctx, &d, IMPLICIT_FWD))
        return conv_implicit_run(ctx, d.cout, wt, io->in[0], bias, l->spec.bias, io->out, d.n,
                                 d.cin, d.h, d.w, d.hout, d.wout, d.k, d.pad, 0.0f);

    int nc = conv_chunk_images(&d);
    size_t cnp = (size_t)nc * d.P; /* columns of a full chunk */
    cl_mem col, y;
    TRY(ctx_scratch(ctx, 0, (size_t)d.groups * d.K * cnp * sizeof(float), &col));
    /* With one sample [Cout][P] already is NCHW: write the output directly. */
    if (d.n == 1)
        y = io->out;
    else
        TRY(ctx_scratch(ctx, 1, (size_t)d.cout * cnp * sizeof(float), &y));
    for (int n0 = 0; n0 < d.n; n0 += nc) {
        int m = d.n - n0 < nc ? d.n - n0 : nc;
        size_t mnp = (size_t)m * d.P;
        TRY(im2col(ctx, &d, io->in[0], col, n0, m));
        for (int g = 0; g < d.groups; g++) {
            gemm_operand a = {wt, (size_t)g * d.cout_g * d.K, d.K, 0};
            gemm_operand b = {col, (size_t)g * d.K * mnp, (int)mnp, 0};
            TRY(gemm_run(ctx, d.cout_g, (int)mnp, d.K, 1.0f, a, b, 0.0f, y,
                         (size_t)g * d.cout_g * mnp, (int)mnp));
        }
        if (d.n == 1 && !l->spec.bias) continue;
        size_t gws[2] = {(size_t)m, (size_t)d.cout}, lws[2] = {1, 1};
        TRY(LAUNCH(ctx, "conv_cnp_to_nchw", 2, gws, lws, KA_MEM(y), KA_MEM(io->out),
                   KA_MEM(bias), KA_INT(l->spec.bias), KA_INT(n0), KA_INT(m), KA_INT(d.cout),
                   KA_INT(d.P)));
    }
    return GRAFT_OK;
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

    /* The input gradient of a stride-1 conv is a stride-1 conv of dy with
     * transposed, flipped weights and pad k-1-pad: the implicit kernel
     * computes it straight from dy (no dcol matrix, no col2im). */
    cl_mem din = io->din[0];
    if (din && conv_implicit_ok(ctx, &d, IMPLICIT_DX)) {
        cl_mem wflip;
        size_t nw = (size_t)d.cout * d.K;
        TRY(ctx_scratch(ctx, 4, nw * sizeof(float), &wflip));
        TRY(LAUNCH1D(ctx, "conv_flip_weights", nw, KA_MEM(pw->data), KA_MEM(wflip),
                     KA_INT(d.cout), KA_INT(d.cin), KA_INT(d.k)));
        TRY(conv_implicit_run(ctx, d.cin, wflip, io->dout, pw->data, 0, din, d.n, d.cout,
                              d.hout, d.wout, d.h, d.w, d.k, d.k - 1 - d.pad,
                              io->din_beta[0]));
        din = NULL;
    }
    int pgrads = io->param_grads;
    if (pgrads && conv_implicit_ok(ctx, &d, IMPLICIT_DW)) {
        TRY(conv_implicit_dw_run(ctx, &d, io->in[0], io->dout, pw->grad));
        pgrads = 0;
    }
    if (!pgrads && !din) return GRAFT_OK;

    int nc = conv_chunk_images(&d);
    size_t cnp = (size_t)nc * d.P; /* columns of a full chunk */
    size_t colbytes = (size_t)d.groups * d.K * cnp * sizeof(float);
    /* dY' = a chunk of dout as [Cout][nc*P]; with one sample it already is. */
    cl_mem dy = io->dout, col = NULL, dcol = NULL;
    if (d.n > 1) TRY(ctx_scratch(ctx, 1, (size_t)d.cout * cnp * sizeof(float), &dy));
    if (pgrads) TRY(ctx_scratch(ctx, 0, colbytes, &col));
    if (din) TRY(ctx_scratch(ctx, 2, colbytes, &dcol));
    for (int n0 = 0; n0 < d.n; n0 += nc) {
        int m = d.n - n0 < nc ? d.n - n0 : nc;
        size_t mnp = (size_t)m * d.P;
        size_t gws[2] = {(size_t)m, (size_t)d.cout}, lws[2] = {1, 1};
        if (d.n > 1)
            TRY(LAUNCH(ctx, "conv_nchw_to_cnp", 2, gws, lws, KA_MEM(io->dout), KA_MEM(dy),
                       KA_INT(n0), KA_INT(m), KA_INT(d.cout), KA_INT(d.P)));
        if (pgrads) {
            TRY(im2col(ctx, &d, io->in[0], col, n0, m));
            /* The first chunk overwrites dW, the others add to it. */
            float beta = n0 == 0 ? 0.0f : 1.0f;
            for (int g = 0; g < d.groups; g++) {
                /* dW_g[Cout_g, K] (+)= dY'_g [Cout_g, mP] x col_g^T */
                gemm_operand a = {dy, (size_t)g * d.cout_g * mnp, (int)mnp, 0};
                gemm_operand b = {col, (size_t)g * d.K * mnp, (int)mnp, 1};
                TRY(gemm_run(ctx, d.cout_g, d.K, (int)mnp, 1.0f, a, b, beta, pw->grad,
                             (size_t)g * d.cout_g * d.K, d.K));
            }
        }
        if (!din) continue;
        for (int g = 0; g < d.groups; g++) {
            /* dcol_g[K, mP] = W_g^T x dY'_g */
            gemm_operand a = {pw->data, (size_t)g * d.cout_g * d.K, d.K, 1};
            gemm_operand b = {dy, (size_t)g * d.cout_g * mnp, (int)mnp, 0};
            TRY(gemm_run(ctx, d.K, (int)mnp, d.cout_g, 1.0f, a, b, 0.0f, dcol,
                         (size_t)g * d.K * mnp, (int)mnp));
        }
        size_t gws_in[2] = {(size_t)m, (size_t)d.cin};
        TRY(LAUNCH(ctx, "conv_col2im", 2, gws_in, lws, KA_MEM(dcol), KA_MEM(din),
                   KA_INT(n0), KA_INT(m), KA_INT(d.cin), KA_INT(d.h), KA_INT(d.w),
                   KA_INT(d.hout), KA_INT(d.wout), KA_INT(d.k), KA_INT(d.stride),
                   KA_INT(d.pad), KA_INT(d.dil), KA_FLT(io->din_beta[0])));
    }
    return GRAFT_OK;
}

static double conv_flops(const layer *l)
{
    return 2.0 * l->out.c * (double)(l->in[0].c / l->spec.groups) * l->spec.kernel *
           l->spec.kernel * l->out.h * l->out.w;
}

const layer_ops conv2d_ops = {conv_setup, conv_init, conv_forward, conv_backward, NULL, conv_flops};
