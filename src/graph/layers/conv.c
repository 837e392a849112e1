/* 2-D convolution (GRAFT_LAYER_CONV2D): im2col + GEMM per group over chunks
 * of images (scratch bounded by the context's conv_chunk_bytes), or
 * direct kernels when each group has a single input channel (depthwise). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_depthwise.h"
#include "conv_packed.h"
#include "conv_pointwise.h"
#include "conv_winograd.h"
#include "fold_bn.h"
#include "gemm.h"
#include "kernel_options.h"
#include "layer.h"
#include "layer_kind.h"

/* Derived sizes of one conv layer for a batch of n. */
typedef struct conv_dims {
    int n, cin, h, w, cout, hout, wout, stride, dil, groups;
    int kh, kw;        /* kernel height and width */
    int pt, pl, pb, pr; /* pads: top, left, bottom, right */
    /* square: kh == kw and the four pads equal, with k and pad their
     * values. The depthwise CPU kernels, the implicit GEMMs and inference
     * folding serve square windows only; the others take im2col + GEMM or
     * the general direct kernels. */
    int square, k, pad;
    int cin_g, cout_g; /* channels per group */
    int K;             /* rows of one group's column matrix: cin_g*kh*kw */
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
    int pads[4];
    graft_layer_window(s, &d.kh, &d.kw, pads);
    d.pt = pads[0], d.pl = pads[1], d.pb = pads[2], d.pr = pads[3];
    d.square = d.kh == d.kw && d.pt == d.pl && d.pt == d.pb && d.pt == d.pr;
    d.k = d.kh;
    d.pad = d.pt;
    d.stride = s->stride;
    d.dil = s->dilation;
    d.groups = s->groups;
    d.cin_g = d.cin / d.groups;
    d.cout_g = d.cout / d.groups;
    d.K = d.cin_g * d.kh * d.kw;
    d.P = d.hout * d.wout;
    d.np = (size_t)n * d.P;
    return d;
}

static graft_status conv_setup(graft_ctx *ctx, layer *l)
{
    const graft_layer_spec *s = &l->spec;
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "conv2d '%s': needs 1 input, got %d", l->name, l->nin);
    int kh, kw, p[4];
    graft_layer_window(s, &kh, &kw, p);
    if (s->channels <= 0 || kh <= 0 || kw <= 0 || s->stride <= 0 || p[0] < 0 || p[1] < 0 ||
        p[2] < 0 || p[3] < 0 || s->dilation <= 0 || s->groups <= 0)
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG,
                        "conv2d '%s': bad hyper-parameters (channels %d, kernel %dx%d, stride %d, "
                        "pads %d,%d,%d,%d, dilation %d, groups %d)",
                        l->name, s->channels, kh, kw, s->stride, p[0], p[1], p[2], p[3],
                        s->dilation, s->groups);
    layer_shape in = l->in[0];
    if (in.c % s->groups || s->channels % s->groups)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE,
                        "conv2d '%s': %d input and %d output channels are not both divisible "
                        "by groups=%d",
                        l->name, in.c, s->channels, s->groups);
    /* receptive field of one output */
    long span_h = (long)s->dilation * (kh - 1) + 1, span_w = (long)s->dilation * (kw - 1) + 1;
    long hp = (long)in.h + p[0] + p[2], wp = (long)in.w + p[1] + p[3];
    /* C division truncates toward zero, so test the numerator itself. */
    if (hp < span_h || wp < span_w)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE,
                        "conv2d '%s': kernel %dx%d (dilation %d) does not fit input %dx%d "
                        "padded to %ldx%ld",
                        l->name, kh, kw, s->dilation, in.h, in.w, hp, wp);
    long hout = (hp - span_h) / s->stride + 1, wout = (wp - span_w) / s->stride + 1;
    l->out = (layer_shape){s->channels, (int)hout, (int)wout};
    int wshape[4] = {s->channels, in.c / s->groups, kh, kw};
    TRY(layer_add_param(ctx, l, "weight", 4, wshape, 1));
    if (s->bias) {
        int bshape[1] = {s->channels};
        TRY(layer_add_param(ctx, l, "bias", 1, bshape, 1));
    }
    return GRAFT_OK;
}

static graft_status conv_init(graft_ctx *ctx, layer *l, rng *r)
{
    int kh, kw;
    graft_layer_window(&l->spec, &kh, &kw, NULL);
    double fan_in = (double)(l->in[0].c / l->spec.groups) * kh * kw;
    TRY(param_init_normal(ctx, &l->params[0], r, sqrt(2.0 / fan_in)));
    if (l->spec.bias) TRY(param_init_const(ctx, &l->params[1], 0.0f));
    return GRAFT_OK;
}

/* Cap on each of the im2col path's scratch buffers (columns in slot 0, the
 * [Cout][nc*P] output or gradient in slot 1, the column gradient in slot 2):
 * the batch goes through im2col + GEMM in chunks of nc images so that none
 * of them exceeds it (at least one image per chunk, however large). It is
 * graft_ctx_params.conv_chunk_bytes (default 32 MiB); the tests set it small
 * to force small chunks. */
static size_t conv_chunk_bytes(const graft_ctx *ctx) { return ctx->conv_chunk_bytes; }

/* Images per chunk: the largest count whose column matrix (groups*K rows)
 * and [Cout][nc*P] matrix both fit the cap, clamped to [1, n]. */
static int conv_chunk_images(const graft_ctx *ctx, const conv_dims *d)
{
    size_t rows = (size_t)d->groups * d->K;
    if ((size_t)d->cout > rows) rows = (size_t)d->cout;
    size_t per_image = rows * d->P * sizeof(float);
    size_t nc = conv_chunk_bytes(ctx) / per_image;
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
                  KA_INT(d->wout), KA_INT(d->kh), KA_INT(d->kw), KA_INT(d->stride),
                  KA_INT(d->pt), KA_INT(d->pl), KA_INT(d->dil));
}

/* Direct kernels only for grouped convs with one input channel per group
 * (depthwise); a dense conv on a 1-channel input is a fine GEMM. */
static int conv_is_direct(const conv_dims *d) { return d->cin_g == 1 && d->groups > 1; }

static dw_shape conv_dw_shape(const conv_dims *d)
{
    return (dw_shape){d->n,    d->cin, d->h, d->w,      d->cout, d->hout,
                      d->wout, d->k,   d->stride, d->pad, d->dil};
}

/* Implicit GEMMs (cl/cpu/conv_implicit_cpu.cl) serve dilation-1,
 * ungrouped convs on CPU devices: they read the input (zero-padded copy,
 * or the input itself when pad is 0) directly instead of an im2col matrix
 * and write NCHW directly, so neither the column matrix nor a layout pass
 * exists. graft_ctx_params.conv_path IM2COL forces im2col + GEMM everywhere
 * and IMPLICIT the implicit kernels wherever they apply (benchmarks and
 * tests). By default (docs/performance.md, items 7-8 and "Backbones at
 * 224"):
 *  - forward (any stride) by conv_tall_cpu, except a forward with
 *    K = cin*k*k < 16 and k > 1 (refnet's conv1, K = 9: its GEMM is bound
 *    by the output writes and its im2col matrix is tiny; MobileNetV2's
 *    stem, K = 27, gains the folded epilogue);
 *  - input gradient of stride-1 convs by conv_tall_cpu;
 *  - weight gradient (any stride) by conv_implicit_dw (chunks of whole
 *    output rows, so rows of at most 256 pixels). */
enum { IMPLICIT_FWD, IMPLICIT_DX, IMPLICIT_DW };
/* Only the CPU-style ops ask (their forward and backward pass implicit = 1). */
static int conv_implicit_ok(graft_ctx *ctx, const conv_dims *d, int use)
{
    if (d->groups != 1 || d->dil != 1 || !d->square) return 0;
    if (use == IMPLICIT_DX && d->stride != 1) return 0;
    if (use == IMPLICIT_DX && d->pad > d->k - 1) return 0; /* pad k-1-pad must be >= 0 */
    if (use == IMPLICIT_DW && d->wout > 256) return 0;
    if (ctx->conv_path == GRAFT_CONV_PATH_IM2COL) return 0;
    if (ctx->conv_path == GRAFT_CONV_PATH_IMPLICIT) return 1;
    return use != IMPLICIT_FWD || d->K >= 16 || d->k == 1;
}

/* 1x1, stride-1, pad-0, ungrouped convs: forward and input gradient by
 * conv_pointwise_cpu (src/graph/layers/conv_pointwise.c) with conv_path
 * AUTO and graft_ctx_params.conv_pointwise on; the weight gradient stays
 * with conv_implicit_dw. Only the CPU-style ops ask. */
static int conv_pointwise_ok(const graft_ctx *ctx, const conv_dims *d)
{
    return ctx->conv_pointwise && ctx->conv_path == GRAFT_CONV_PATH_AUTO && d->groups == 1 &&
           d->kh == 1 && d->kw == 1 && d->stride == 1 && !d->pt && !d->pl && !d->pb && !d->pr;
}

static pw_shape conv_pw_shape(const conv_dims *d) { return (pw_shape){d->n, d->cin, d->cout, d->P}; }

/* Winograd (conv_winograd.h) for stride-1, pad-1 3x3 dense convs, CPU
 * style only: forward (flip 0, cin -> cout) and input gradient (flip 1, a
 * conv of dy from cout to cin channels). */
static int conv_winograd_ok(const graft_ctx *ctx, const conv_dims *d, int flip, int cached)
{
    if (ctx->conv_winograd == GRAFT_CONV_WINOGRAD_OFF || d->groups != 1 || d->dil != 1 ||
        !d->square || d->k != 3 || d->stride != 1 || d->pad != 1)
        return 0;
    wino_shape s = {d->n, flip ? d->cout : d->cin, flip ? d->cin : d->cout, d->h, d->w};
    if (!conv_winograd_fits(&s)) return 0;
    if (ctx->conv_winograd == GRAFT_CONV_WINOGRAD_ON) return 1;
    return ctx->conv_path == GRAFT_CONV_PATH_AUTO && conv_winograd_pays(ctx, &s, cached);
}

/* dW (Cout x cin*k*k) of a conv without a column matrix: a
 * zero-padded copy of x (scratch 0; x itself when pad is 0), partial sums
 * per item (scratch 1), then their sum. */
static graft_status conv_implicit_dw_run(graft_ctx *ctx, const conv_dims *d, cl_mem x,
                                         cl_mem padded, cl_mem dy, cl_mem dw)
{
    int hp = d->h + 2 * d->pad, wp = d->w + 2 * d->pad;
    cl_mem xp = d->pad ? padded : x, part;
    size_t l2[2] = {1, 1};
    if (!xp) {
        TRY(ctx_scratch(ctx, 0, (size_t)d->n * d->cin * hp * wp * sizeof(float), &xp));
        size_t g2[2] = {(size_t)d->n, (size_t)d->cin};
        TRY(LAUNCH(ctx, "conv_pad_input_cpu", 2, g2, l2, KA_MEM(x), KA_MEM(xp), KA_INT(d->n),
                   KA_INT(d->cin), KA_INT(d->h), KA_INT(d->w), KA_INT(d->pad)));
    }
    int rpc = GEMM_KC / d->wout; /* whole output rows per chunk, at most KC pixels */
    if (rpc > d->hout) rpc = d->hout;
    int nchunks = d->n * ((d->hout + rpc - 1) / rpc), pn = (d->cout + GEMM_NRW - 1) / GEMM_NRW;
    /* Enough items for every core (4 per compute unit), each with >= 1 chunk. */
    int want = 4 * (int)(ctx->info.compute_units ? ctx->info.compute_units : 1);
    int nsplit = (want + pn - 1) / pn;
    if (nsplit > nchunks) nsplit = nchunks;
    TRY(ctx_scratch(ctx, 1, (size_t)nsplit * d->K * d->cout * sizeof(float), &part));
    size_t gw[2] = {(size_t)pn, (size_t)nsplit};
    TRY(LAUNCH(ctx, "conv_implicit_dw_cpu", 2, gw, l2, KA_MEM(xp), KA_MEM(dy), KA_MEM(part),
               KA_INT(d->n), KA_INT(d->cin), KA_INT(hp), KA_INT(wp), KA_INT(d->cout),
               KA_INT(d->hout), KA_INT(d->wout), KA_INT(d->k), KA_INT(d->stride), KA_INT(rpc),
               KA_INT(nsplit)));
    return LAUNCH1D(ctx, "conv_dw_reduce_cpu", (size_t)d->cout * d->K, KA_MEM(part), KA_MEM(dw),
                    KA_INT(d->cout), KA_INT(d->K), KA_INT(nsplit));
}

/* Kernel arguments of an epilogue (conv_tall_cpu, dw_forward_cpu): the
 * BatchNorm buffers (any valid buffer when none), eps, has_bn, act, slope. */
#define EP_BUF(ep, f, any) KA_MEM((ep) && (ep)->gamma ? (ep)->f : (any))
#define EPILOGUE_ARGS(ep, any)                                                                  \
    EP_BUF(ep, gamma, any), EP_BUF(ep, beta, any), EP_BUF(ep, mean, any), EP_BUF(ep, var, any),  \
        KA_FLT((ep) ? (ep)->eps : 0.0f), KA_INT((ep) && (ep)->gamma),                            \
        KA_INT((ep) ? (ep)->act : -1),                                                           \
        KA_FLT((ep) ? (ep)->slope : 0.0f)

/* y (NCHW, nout channels, hout x wout) = beta * y + conv of x (n x cin x
 * h x wd, padded by pad, stride d->stride for flip 0) with the weights w
 * of this layer (flip 0: forward, cout x cin x k x k) or their rotated
 * transpose (flip 1: x is dy and y the input gradient of a stride-1 conv),
 * by conv_tall_cpu, which reads B straight from w (or, for flip 0, from
 * packed when not NULL: w packed by conv_tall_pack): the input padded into
 * scratch 0 (or into keep; read in place when pad is 0). */
static graft_status conv_tall_run(graft_ctx *ctx, const conv_dims *d, int flip, cl_mem x,
                                  int cin, int h, int wd, int pad, cl_mem w, cl_mem packed,
                                  cl_mem bias, int has_bias, cl_mem y, int nout, int hout,
                                  int wout, float beta, cl_mem keep, const conv_epilogue *ep)
{
    int hp = h + 2 * pad, wp = wd + 2 * pad, stride = flip ? 1 : d->stride;
    if (packed && !flip) flip = 2, w = packed;
    cl_mem xp = pad ? keep : x;
    size_t l2[2] = {1, 1};
    if (pad) {
        if (!xp) TRY(ctx_scratch(ctx, 0, (size_t)d->n * cin * hp * wp * sizeof(float), &xp));
        size_t g2[2] = {(size_t)d->n, (size_t)cin};
        TRY(LAUNCH(ctx, "conv_pad_input_cpu", 2, g2, l2, KA_MEM(x), KA_MEM(xp), KA_INT(d->n),
                   KA_INT(cin), KA_INT(h), KA_INT(wd), KA_INT(pad)));
    }
    long np = (long)d->n * hout * wout;
    int pm = (int)((np + GEMM_MR - 1) / GEMM_MR), pn = (nout + GEMM_NRW - 1) / GEMM_NRW, pc = 64;
    int want = 4 * (int)(ctx->info.compute_units ? ctx->info.compute_units : 1);
    while (pc > 1 && (long)pn * ((pm + pc - 1) / pc) < want) pc = (pc + 1) / 2;
    size_t gws[2] = {(size_t)pn, (size_t)((pm + pc - 1) / pc)};
    return LAUNCH(ctx, "conv_tall_cpu", 2, gws, l2, KA_MEM(xp), KA_MEM(w), KA_INT(flip),
                  KA_MEM(bias), KA_INT(has_bias), KA_MEM(y), KA_INT(d->n), KA_INT(cin),
                  KA_INT(hp), KA_INT(wp), KA_INT(nout), KA_INT(hout), KA_INT(wout),
                  KA_INT(d->k), KA_INT(stride), KA_INT(pc), KA_FLT(beta), EPILOGUE_ARGS(ep, w),
                  KA_MEM(ep && ep->res ? ep->res : w), KA_INT(ep && ep->res));
}

/* The zero-padded input of the last training forward of an implicit conv,
 * kept for the weight gradient (it would otherwise be padded again):
 * about 1.3x the layer's input, held between forward and backward. */
typedef struct conv_priv {
    cl_mem xpad;
    size_t bytes;
    int n;     /* batch it holds; 0 = nothing valid */
    /* Frozen forwards: the weights packed for each kernel, one slot per
     * kind, so a conv that takes Winograd for full batches and conv_tall
     * for a small last one keeps both. */
    packed_weights pk[PACKED_KINDS];
} conv_priv;

static void conv_destroy(layer *l)
{
    conv_priv *p = l->priv;
    if (!p) return;
    if (p->xpad) clReleaseMemObject(p->xpad);
    for (int k = 0; k < PACKED_KINDS; k++) packed_release(&p->pk[k]);
    free(p);
    l->priv = NULL;
}

static graft_status conv_priv_of(graft_ctx *ctx, layer *l, conv_priv **out)
{
    if (!l->priv) {
        l->priv = calloc(1, sizeof(conv_priv));
        if (!l->priv) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    }
    *out = l->priv;
    return GRAFT_OK;
}

/* The weights of a frozen forward (io->frozen) packed as kind (Winograd's
 * transform of shape s, or conv_tall_cpu's B), packed now unless the
 * cached copy is current. */
static graft_status conv_packed_weights(graft_ctx *ctx, layer *l, const conv_dims *d,
                                        packed_kind kind, const wino_shape *s, cl_mem *out)
{
    conv_priv *p = NULL;
    TRY(conv_priv_of(ctx, l, &p));
    const param *w = &l->params[0];
    packed_weights *pk = &p->pk[kind];
    if (packed_current(pk, w, kind)) {
        *out = pk->buf;
        return GRAFT_OK;
    }
    int stripes = (d->cout + GEMM_NRW - 1) / GEMM_NRW;
    size_t bytes = kind == PACKED_WINOGRAD ? conv_winograd_weight_bytes(s)
                                           : (size_t)d->K * stripes * GEMM_NRW * sizeof(float);
    TRY(packed_prepare(ctx, pk, bytes, l->name, out));
    if (kind == PACKED_WINOGRAD) {
        TRY(conv_winograd_weights(ctx, s, 0, w->data, *out));
    } else {
        size_t l1 = 1, g1 = (size_t)d->K;
        TRY(LAUNCH(ctx, "conv_tall_pack_b_cpu", 1, &g1, &l1, KA_MEM(w->data), KA_MEM(*out),
                   KA_INT(d->K), KA_INT(d->cout), KA_INT(stripes)));
    }
    packed_done(pk, w, kind);
    return GRAFT_OK;
}

static graft_status conv_keep_buffer(graft_ctx *ctx, layer *l, size_t bytes, cl_mem *out)
{
    conv_priv *p = NULL;
    TRY(conv_priv_of(ctx, l, &p));
    p->n = 0;
    char what[128];
    snprintf(what, sizeof what, "padded input of conv2d '%s'", l->name);
    TRY(ctx_grow(ctx, &p->xpad, &p->bytes, bytes, what));
    *out = p->xpad;
    return GRAFT_OK;
}

/* implicit: the CPU style, whose ops may take the implicit-GEMM kernels
 * (cl/cpu/conv_implicit_cpu.cl); the GPU style never does. */
static graft_status conv_forward(graft_ctx *ctx, layer *l, const fwd_io *io, int implicit,
                                 const conv_epilogue *ep)
{
    conv_dims d = conv_dims_of(l, io->n);
    cl_mem wt = l->params[0].data;
    /* Kernels need a valid buffer even when has_bias is 0. */
    cl_mem bias = l->spec.bias ? l->params[1].data : wt;
    size_t nout = (size_t)d.n * d.cout * d.P;

    if (conv_is_direct(&d) && implicit && d.square) {
        dw_shape s = conv_dw_shape(&d);
        return conv_depthwise_forward_cpu(ctx, &s, io->in[0], wt, bias, l->spec.bias, io->out,
                                          ep);
    }
    if (conv_is_direct(&d))
        return LAUNCH1D(ctx, "conv_dw_forward", nout, KA_MEM(io->in[0]), KA_MEM(wt),
                        KA_MEM(bias), KA_INT(l->spec.bias), KA_MEM(io->out), KA_INT(d.n),
                        KA_INT(d.cin), KA_INT(d.h), KA_INT(d.w), KA_INT(d.cout),
                        KA_INT(d.hout), KA_INT(d.wout), KA_INT(d.kh), KA_INT(d.kw),
                        KA_INT(d.stride), KA_INT(d.pt), KA_INT(d.pl), KA_INT(d.dil));

    if (l->priv) ((conv_priv *)l->priv)->n = 0;
    if (implicit && conv_pointwise_ok(ctx, &d)) {
        pw_shape s = conv_pw_shape(&d);
        return conv_pointwise_forward_cpu(ctx, &s, io->in[0], wt, bias, l->spec.bias, io->out,
                                          ep);
    }
    if (implicit && conv_winograd_ok(ctx, &d, 0, io->frozen)) {
        wino_shape s = {d.n, d.cin, d.cout, d.h, d.w};
        cl_mem u = NULL;
        if (io->frozen) TRY(conv_packed_weights(ctx, l, &d, PACKED_WINOGRAD, &s, &u));
        return conv_winograd_run(ctx, &s, 0, io->in[0], wt, u, bias, l->spec.bias, io->out,
                                 0.0f, ep);
    }
    if (implicit && conv_implicit_ok(ctx, &d, IMPLICIT_FWD)) {
        cl_mem keep = NULL, packed = NULL;
        if (io->frozen) TRY(conv_packed_weights(ctx, l, &d, PACKED_TALL, NULL, &packed));
        /* Kept for the weight gradient, which frozen nodes never take. */
        if (io->training && !io->frozen && d.pad && conv_implicit_ok(ctx, &d, IMPLICIT_DW))
            TRY(conv_keep_buffer(ctx, l, (size_t)d.n * d.cin * (d.h + 2 * d.pad) *
                                             (d.w + 2 * d.pad) * sizeof(float), &keep));
        TRY(conv_tall_run(ctx, &d, 0, io->in[0], d.cin, d.h, d.w, d.pad, wt, packed, bias,
                          l->spec.bias, io->out, d.cout, d.hout, d.wout, 0.0f, keep, ep));
        if (keep) ((conv_priv *)l->priv)->n = d.n;
        return GRAFT_OK;
    }

    int nc = conv_chunk_images(ctx, &d);
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
        size_t lws = CONV_DW_WG, gws = (size_t)d->cout * d->kh * d->kw * lws;
        TRY(LAUNCH(ctx, "conv_dw_backward_weight", 1, &gws, &lws, KA_MEM(io->dout),
                   KA_MEM(io->in[0]), KA_MEM(pw->grad), KA_INT(d->n), KA_INT(d->cin),
                   KA_INT(d->h), KA_INT(d->w), KA_INT(d->cout), KA_INT(d->hout),
                   KA_INT(d->wout), KA_INT(d->kh), KA_INT(d->kw), KA_INT(d->stride),
                   KA_INT(d->pt), KA_INT(d->pl), KA_INT(d->dil)));
    }
    if (!io->din[0]) return GRAFT_OK;
    size_t nin = (size_t)d->n * d->cin * d->h * d->w;
    return LAUNCH1D(ctx, "conv_dw_backward_data", nin, KA_MEM(io->dout), KA_MEM(pw->data),
                    KA_MEM(io->din[0]), KA_INT(d->n), KA_INT(d->cin), KA_INT(d->h),
                    KA_INT(d->w), KA_INT(d->cout), KA_INT(d->hout), KA_INT(d->wout),
                    KA_INT(d->kh), KA_INT(d->kw), KA_INT(d->stride), KA_INT(d->pt),
                    KA_INT(d->pl), KA_INT(d->dil), KA_FLT(io->din_beta[0]));
}

static graft_status conv_backward(graft_ctx *ctx, layer *l, const bwd_io *io, int implicit)
{
    conv_dims d = conv_dims_of(l, io->n);
    param *pw = &l->params[0];
    /* A fused activation's derivative, from the stored output, into dy (the
     * activation node's gradient, which only this conv reads), with the
     * bias gradient in the same pass when there is one. */
    int bias_grad = io->param_grads && l->spec.bias;
    if (l->fused_act && bias_grad) {
        TRY(LAUNCH1D(ctx, "act_grad_bias_from_output", (size_t)d.cout, KA_MEM(io->out),
                     KA_MEM(io->dout), KA_INT(d.n), KA_INT(d.cout), KA_INT(d.P),
                     KA_INT(l->fused_act - 1), KA_FLT(l->fused_slope),
                     KA_MEM(l->params[1].grad)));
        bias_grad = 0;
    } else if (l->fused_act) {
        TRY(LAUNCH1D(ctx, "act_grad_from_output", (size_t)d.n * d.cout * d.P, KA_MEM(io->out),
                     KA_MEM(io->dout), KA_INT(d.n * d.cout * d.P), KA_INT(l->fused_act - 1),
                     KA_FLT(l->fused_slope)));
    }
    if (bias_grad)
        TRY(reduce_bias_grad(ctx, io->dout, d.n, d.cout, d.P, l->params[1].grad, 0.0f));
    if (conv_is_direct(&d) && implicit && d.square) {
        dw_shape s = conv_dw_shape(&d);
        return conv_depthwise_backward_cpu(ctx, &s, io->dout, io->in[0], pw->data,
                                           io->param_grads ? pw->grad : NULL, io->din[0],
                                           io->din_beta[0]);
    }
    if (conv_is_direct(&d)) return conv_backward_direct(ctx, l, io, &d);
    if (!io->param_grads && !io->din[0]) return GRAFT_OK;

    /* The input gradient of a stride-1 conv is a stride-1 conv of dy with
     * transposed, flipped weights and pads k-1-pad: the implicit kernel
     * computes it straight from dy (no dcol matrix, no col2im). */
    cl_mem din = io->din[0];
    if (din && implicit && conv_pointwise_ok(ctx, &d)) {
        pw_shape s = conv_pw_shape(&d);
        TRY(conv_pointwise_backward_data_cpu(ctx, &s, io->dout, pw->data, din, io->din_beta[0]));
        din = NULL;
    }
    if (din && implicit && conv_winograd_ok(ctx, &d, 1, 0)) {
        wino_shape s = {d.n, d.cout, d.cin, d.h, d.w};
        TRY(conv_winograd_run(ctx, &s, 1, io->dout, pw->data, NULL, pw->data, 0, din,
                              io->din_beta[0], NULL));
        din = NULL;
    }
    if (din && implicit && conv_implicit_ok(ctx, &d, IMPLICIT_DX)) {
        TRY(conv_tall_run(ctx, &d, 1, io->dout, d.cout, d.hout, d.wout, d.k - 1 - d.pad,
                          pw->data, NULL, pw->data, 0, din, d.cin, d.h, d.w, io->din_beta[0],
                          NULL, NULL));
        din = NULL;
    }
    int pgrads = io->param_grads;
    if (pgrads && implicit && conv_implicit_ok(ctx, &d, IMPLICIT_DW)) {
        const conv_priv *cp = l->priv;
        TRY(conv_implicit_dw_run(ctx, &d, io->in[0], cp && cp->n == d.n ? cp->xpad : NULL,
                                 io->dout, pw->grad));
        pgrads = 0;
    }
    if (!pgrads && !din) return GRAFT_OK;

    int nc = conv_chunk_images(ctx, &d);
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
                   KA_INT(d.hout), KA_INT(d.wout), KA_INT(d.kh), KA_INT(d.kw),
                   KA_INT(d.stride), KA_INT(d.pt), KA_INT(d.pl), KA_INT(d.dil),
                   KA_FLT(io->din_beta[0])));
    }
    return GRAFT_OK;
}

static double conv_flops(const layer *l)
{
    int kh, kw;
    graft_layer_window(&l->spec, &kh, &kw, NULL);
    return 2.0 * l->out.c * (double)(l->in[0].c / l->spec.groups) * kh * kw * l->out.h *
           l->out.w;
}

static graft_status conv_forward_cpu(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    if (!l->fused_act) return conv_forward(ctx, l, io, 1, NULL);
    /* An activation the model fused into this conv (model_plan_fusion,
     * where conv_fold_supported): applied by the store epilogue. */
    conv_epilogue ep = {NULL, NULL, NULL, NULL, 0.0f, l->fused_act - 1, l->fused_slope, NULL};
    if (conv_fold_supported(ctx, l, io->n, 0)) return conv_forward(ctx, l, io, 1, &ep);
    size_t nout = (size_t)io->n * shape_numel(l->out);
    TRY(conv_forward(ctx, l, io, 1, NULL));
    return LAUNCH1D(ctx, "act_fwd", nout, KA_MEM(io->out), KA_MEM(io->out), KA_INT(nout),
                    KA_INT(ep.act), KA_FLT(ep.slope));
}
static graft_status conv_forward_gpu(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    return conv_forward(ctx, l, io, 0, NULL);
}

int conv_fold_supported(graft_ctx *ctx, const layer *l, int n, int residual)
{
    if (!ctx_is_cpu(ctx) || l->spec.kind != GRAFT_LAYER_CONV2D) return 0;
    conv_dims d = conv_dims_of(l, n);
    if (conv_is_direct(&d)) return !residual && d.square;
    return conv_pointwise_ok(ctx, &d) || conv_implicit_ok(ctx, &d, IMPLICIT_FWD) ||
           conv_winograd_ok(ctx, &d, 0, 1);
}

graft_status conv_forward_epilogue(graft_ctx *ctx, layer *l, const fwd_io *io,
                                   const conv_epilogue *ep)
{
    if (!conv_fold_supported(ctx, l, io->n, ep->res != NULL) || io->training)
        return ctx_fail(ctx, GRAFT_ERR_INTERNAL, "conv2d '%s': no folded kernel for this conv",
                        l->name);
    return conv_forward(ctx, l, io, 1, ep);
}
static graft_status conv_backward_cpu(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    return conv_backward(ctx, l, io, 1);
}
static graft_status conv_backward_gpu(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    return conv_backward(ctx, l, io, 0);
}

static const layer_ops conv_cpu_ops = {conv_setup, conv_init, conv_forward_cpu, conv_backward_cpu,
                                       conv_destroy, conv_flops};
static const layer_ops conv_gpu_ops = {conv_setup, conv_init, conv_forward_gpu, conv_backward_gpu,
                                       conv_destroy, conv_flops};

/* Conv: 2-D kernels (1x7 too), per-side pads (plus a preceding Pad's), the
 * weight and optional bias as constants. */
static graft_status conv_import(onnx_importer *im)
{
    onnx_value x;
    onnx_const w = {0}, b = {0};
    graft_status s = im->api->input(im, 0, 1, &x);
    int stride, dil, pads[4], k[2];
    if (s == GRAFT_OK) s = im->api->constant(im, 1, &w);
    if (s == GRAFT_OK) s = im->api->attr_square(im, "strides", 1, &stride);
    if (s == GRAFT_OK) s = im->api->attr_square(im, "dilations", 1, &dil);
    if (s == GRAFT_OK) s = im->api->attr_pads4(im, pads);
    if (s != GRAFT_OK) goto done;
    int64_t group = im->api->attr_int(im, "group", 1);
    if (x.rank != 4 || w.ndims != 4 || w.dims[2] < 1 || w.dims[3] < 1 || w.dims[2] > 4096 ||
        w.dims[3] > 4096 || group < 1 || group > x.c || w.dims[1] * group != x.c ||
        w.dims[0] < 1) {
        s = onnx_fail(im, GRAFT_ERR_SHAPE, "weight of shape [%lld, %lld, %lld, %lld] with group "
                      "%lld does not fit a %dx%dx%d input (graft needs 2-D kernels)",
                      (long long)w.dims[0], (long long)w.dims[1], (long long)w.dims[2],
                      (long long)w.dims[3], (long long)group, x.c, x.h, x.w);
        goto done;
    }
    if ((s = im->api->attr_pair(im, "kernel_shape", 0, k)) != GRAFT_OK) goto done;
    if (k[0] && (k[0] != w.dims[2] || k[1] != w.dims[3])) {
        s = onnx_fail(im, GRAFT_ERR_SHAPE, "kernel_shape %dx%d does not match the weight's "
                      "%lldx%lld", k[0], k[1], (long long)w.dims[2], (long long)w.dims[3]);
        goto done;
    }
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_CONV2D);
    sp.channels = (int)w.dims[0];
    for (int i = 0; i < 4; i++) pads[i] += x.pad;
    layer_spec_set_window(&sp, (int)w.dims[2], (int)w.dims[3], pads);
    sp.stride = stride;
    sp.dilation = dil;
    sp.groups = (int)group;
    sp.bias = im->api->has_input(im, 2);
    if (sp.bias) {
        if ((s = im->api->constant(im, 2, &b)) != GRAFT_OK) goto done;
        if (b.n != (size_t)sp.channels) {
            s = onnx_fail(im, GRAFT_ERR_SHAPE, "bias has %zu values for %d channels", b.n,
                          sp.channels);
            goto done;
        }
    }
    int p0;
    if ((s = im->api->emit(im, &sp, 1, &x.node, 4, &p0)) != GRAFT_OK) goto done;
    s = im->api->set_param(im, p0, w.data, w.n);
    if (s == GRAFT_OK && sp.bias) s = im->api->set_param(im, p0 + 1, b.data, b.n);
done:
    free(w.data);
    free(b.data);
    return s;
}

/* A conv the exporter did not fold a BatchNorm into (that path is the
 * exporter's own graph rewrite, src/io/onnx_export.c). */
static graft_status conv_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                                int nin)
{
    (void)nin;
    if (ex->api->input_rank(ex, 0) != 4) return ex->api->rank2(ex);
    char wn[LAYER_NAME_LEN + 16], bn[LAYER_NAME_LEN + 16];
    TRY(ex->api->param(ex, 0, "weight", wn, sizeof wn));
    if (s->bias) TRY(ex->api->param(ex, 1, "bias", bn, sizeof bn));
    ex->api->node(ex, "Conv", name, name);
    ex->api->in(ex, ex->api->input_name(ex, 0));
    ex->api->in(ex, wn);
    if (s->bias) ex->api->in(ex, bn);
    ex->api->attr_window(ex, s);
    ex->api->attr_ints(ex, "strides", s->stride, 2);
    ex->api->attr_ints(ex, "dilations", s->dilation, 2);
    ex->api->attr_int(ex, "group", s->groups);
    return GRAFT_OK;
}

static const char *const conv_onnx_ops[] = {"Conv", NULL};

const layer_kind conv2d_kind = {
    .kind = GRAFT_LAYER_CONV2D, .name = "conv2d", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &conv_cpu_ops, .ops_gpu = &conv_gpu_ops, .counts_flops = 1,
    .onnx_ops = conv_onnx_ops, .onnx_import = conv_import, .onnx_export = conv_export,
};
