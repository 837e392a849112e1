/* Max/average pooling and global average pooling. Max pooling keeps the
 * arg-max of each output (an index within the input plane) for backward. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "layer_kind.h"

typedef struct pool_priv {
    cl_mem arg;   /* int per output element of the last forward */
    size_t bytes;
} pool_priv;

/* Output size along one axis: floor, or with ceil_mode rounded up, except
 * that the last window must start inside the image or the leading pad (as
 * PyTorch and ONNX Runtime). -1 when the window does not fit. */
static int pool_out(int in, int k, int s, int lead, int trail, int ceil_mode)
{
    long span = (long)in + lead + trail - k; /* long: a hostile file's sizes do not overflow */
    if (span < 0 || s < 1) return -1;
    long o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= (long)in + lead) o--;
    return o > INT_MAX ? -1 : (int)o;
}

/* The window of l with its defaults applied. */
typedef struct pool_win {
    int kh, kw, s, pt, pl, pb, pr;
} pool_win;

static pool_win pool_win_of(const layer *l)
{
    pool_win w;
    int p[4];
    graft_layer_window(&l->spec, &w.kh, &w.kw, p);
    w.s = l->spec.stride;
    w.pt = p[0], w.pl = p[1], w.pb = p[2], w.pr = p[3];
    return w;
}

static graft_status pool_setup(graft_ctx *ctx, layer *l)
{
    const char *kn = graft_layer_kind_name(l->spec.kind);
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "%s '%s': needs 1 input, got %d", kn, l->name,
                        l->nin);
    pool_win w = pool_win_of(l);
    layer_shape in = l->in[0];
    /* pads <= k/2 (as PyTorch) keep every window on at least one real pixel. */
    if (w.kh < 1 || w.kw < 1 || w.s < 1 || w.pt < 0 || w.pl < 0 || w.pb < 0 || w.pr < 0 ||
        w.pt > w.kh / 2 || w.pb > w.kh / 2 || w.pl > w.kw / 2 || w.pr > w.kw / 2)
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG,
                        "%s '%s': kernel %dx%d, stride %d, pads %d,%d,%d,%d (need k >= 1, "
                        "s >= 1, 0 <= pad <= k/2)", kn, l->name, w.kh, w.kw, w.s, w.pt, w.pl,
                        w.pb, w.pr);
    int oh = pool_out(in.h, w.kh, w.s, w.pt, w.pb, l->spec.ceil_mode);
    int ow = pool_out(in.w, w.kw, w.s, w.pl, w.pr, l->spec.ceil_mode);
    if (oh < 1 || ow < 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE,
                        "%s '%s': kernel %dx%d larger than padded input %dx%d", kn, l->name,
                        w.kh, w.kw, in.h + w.pt + w.pb, in.w + w.pl + w.pr);
    l->out = (layer_shape){in.c, oh, ow};
    return GRAFT_OK;
}

static void pool_destroy(layer *l)
{
    pool_priv *p = l->priv;
    if (!p) return;
    if (p->arg) clReleaseMemObject(p->arg);
    free(p);
    l->priv = NULL;
}

/* Where average windows stop counting (pool_avg_div in cl/shared/pool.cl):
 * the padded image, or with exclude_pad the image itself. */
static int avg_hlim(const layer *l, const pool_win *w)
{
    return l->spec.exclude_pad ? l->in[0].h : l->in[0].h + w->pb;
}
static int avg_wlim(const layer *l, const pool_win *w)
{
    return l->spec.exclude_pad ? l->in[0].w : l->in[0].w + w->pr;
}

static graft_status avgpool_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    layer_shape in = l->in[0], o = l->out;
    pool_win w = pool_win_of(l);
    int planes = io->n * in.c;
    size_t nout = (size_t)planes * o.h * o.w;
    return LAUNCH1D(ctx, "pool_avg_fwd", nout, KA_MEM(io->in[0]), KA_MEM(io->out),
                    KA_INT(planes), KA_INT(in.h), KA_INT(in.w), KA_INT(o.h), KA_INT(o.w),
                    KA_INT(w.kh), KA_INT(w.kw), KA_INT(w.s), KA_INT(w.pt), KA_INT(w.pl),
                    KA_INT(avg_hlim(l, &w)), KA_INT(avg_wlim(l, &w)),
                    KA_INT(l->spec.exclude_pad != 0));
}

static graft_status avgpool_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    layer_shape in = l->in[0], o = l->out;
    pool_win w = pool_win_of(l);
    int planes = io->n * in.c;
    size_t nin = (size_t)planes * in.h * in.w;
    return LAUNCH1D(ctx, "pool_avg_bwd", nin, KA_MEM(io->dout), KA_MEM(io->din[0]),
                    KA_INT(planes), KA_INT(in.h), KA_INT(in.w), KA_INT(o.h), KA_INT(o.w),
                    KA_INT(w.kh), KA_INT(w.kw), KA_INT(w.s), KA_INT(w.pt), KA_INT(w.pl),
                    KA_INT(avg_hlim(l, &w)), KA_INT(avg_wlim(l, &w)),
                    KA_INT(l->spec.exclude_pad != 0), KA_FLT(io->din_beta[0]));
}

/* The arg-max buffer for n samples (grows with the batch size). */
static graft_status maxpool_arg(graft_ctx *ctx, layer *l, size_t nout, pool_priv **out)
{
    if (!l->priv) {
        l->priv = calloc(1, sizeof(pool_priv));
        if (!l->priv) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    }
    pool_priv *p = l->priv;
    TRY(ctx_grow(ctx, &p->arg, &p->bytes, nout * sizeof(cl_int), "maxpool arg-max"));
    *out = p;
    return GRAFT_OK;
}

/* CPU style: one work-item per (sample, channel) plane. */
static graft_status maxpool_forward_cpu(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    layer_shape in = l->in[0], o = l->out;
    int planes = io->n * in.c;
    pool_priv *p = NULL;
    TRY(maxpool_arg(ctx, l, (size_t)planes * o.h * o.w, &p));
    pool_win w = pool_win_of(l);
    size_t g = (size_t)planes, lw = 1;
    return LAUNCH(ctx, "pool_max_fwd_cpu", 1, &g, &lw, KA_MEM(io->in[0]), KA_MEM(io->out),
                  KA_MEM(p->arg), KA_INT(planes), KA_INT(in.h), KA_INT(in.w), KA_INT(o.h),
                  KA_INT(o.w), KA_INT(w.kh), KA_INT(w.kw), KA_INT(w.s), KA_INT(w.pt),
                  KA_INT(w.pl));
}

/* GPU style: one work-item per output. */
static graft_status maxpool_forward_gpu(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    layer_shape in = l->in[0], o = l->out;
    int planes = io->n * in.c;
    size_t nout = (size_t)planes * o.h * o.w;
    pool_priv *p = NULL;
    TRY(maxpool_arg(ctx, l, nout, &p));
    pool_win w = pool_win_of(l);
    return LAUNCH1D(ctx, "pool_max_fwd_gpu", nout, KA_MEM(io->in[0]), KA_MEM(io->out),
                    KA_MEM(p->arg), KA_INT(planes), KA_INT(in.h), KA_INT(in.w), KA_INT(o.h),
                    KA_INT(o.w), KA_INT(w.kh), KA_INT(w.kw), KA_INT(w.s), KA_INT(w.pt),
                    KA_INT(w.pl));
}

static graft_status maxpool_backward_check(graft_ctx *ctx, layer *l, int planes)
{
    const pool_priv *p = l->priv;
    if (!p || p->bytes < (size_t)planes * l->out.h * l->out.w * sizeof(cl_int))
        return ctx_fail(ctx, GRAFT_ERR_INTERNAL, "maxpool2d '%s': backward before forward",
                        l->name);
    return GRAFT_OK;
}

static graft_status maxpool_backward_cpu(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    layer_shape in = l->in[0], o = l->out;
    int planes = io->n * in.c;
    TRY(maxpool_backward_check(ctx, l, planes));
    const pool_priv *p = l->priv;
    size_t g = (size_t)planes, lw = 1;
    return LAUNCH(ctx, "pool_max_bwd_cpu", 1, &g, &lw, KA_MEM(io->dout), KA_MEM(p->arg),
                  KA_MEM(io->din[0]), KA_INT(planes), KA_INT(in.h), KA_INT(in.w), KA_INT(o.h),
                  KA_INT(o.w), KA_FLT(io->din_beta[0]));
}

static graft_status maxpool_backward_gpu(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    layer_shape in = l->in[0], o = l->out;
    int planes = io->n * in.c;
    TRY(maxpool_backward_check(ctx, l, planes));
    const pool_priv *p = l->priv;
    size_t nin = (size_t)planes * in.h * in.w;
    pool_win w = pool_win_of(l);
    return LAUNCH1D(ctx, "pool_max_bwd_gpu", nin, KA_MEM(io->dout), KA_MEM(p->arg),
                    KA_MEM(io->din[0]), KA_INT(planes), KA_INT(in.h), KA_INT(in.w), KA_INT(o.h),
                    KA_INT(o.w), KA_INT(w.kh), KA_INT(w.kw), KA_INT(w.s), KA_INT(w.pt),
                    KA_INT(w.pl), KA_FLT(io->din_beta[0]));
}

static double pool_flops(const layer *l)
{
    pool_win w = pool_win_of(l);
    return (double)shape_numel(l->out) * w.kh * w.kw;
}

static const layer_ops avgpool_ops = {pool_setup, NULL, avgpool_forward, avgpool_backward,
                                      NULL, pool_flops};
static const layer_ops maxpool_cpu_ops = {pool_setup, NULL, maxpool_forward_cpu,
                                          maxpool_backward_cpu, pool_destroy, pool_flops};
static const layer_ops maxpool_gpu_ops = {pool_setup, NULL, maxpool_forward_gpu,
                                          maxpool_backward_gpu, pool_destroy, pool_flops};

/* MaxPool / AveragePool: 2-D windows, per-side pads, ceil_mode,
 * count_include_pad; a Pad before an AveragePool folds into its padding. */
static graft_status pool_import(onnx_importer *im)
{
    int is_max = !strcmp(im->api->op(im), "MaxPool");
    onnx_value x;
    int k[2], stride, pads[4], dil;
    graft_status s = im->api->input(im, 0, !is_max, &x);
    if (s == GRAFT_OK) s = im->api->attr_pair(im, "kernel_shape", 0, k);
    if (s == GRAFT_OK) s = im->api->attr_square(im, "strides", 1, &stride);
    if (s == GRAFT_OK) s = im->api->attr_square(im, "dilations", 1, &dil);
    if (s == GRAFT_OK) s = im->api->attr_pads4(im, pads);
    if (s != GRAFT_OK) return s;
    if (x.rank != 4 || k[0] < 1) return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "needs a 4-D input and kernel_shape");
    if (dil != 1) return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "dilated pooling is not supported");
    if (im->api->output_uses(im, 1))
        return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "the Indices output is used");
    /* Whether the node's own pads exist (a preceding Pad's zeros are real). */
    int own_pads = pads[0] || pads[1] || pads[2] || pads[3];
    for (int i = 0; i < 4; i++) pads[i] += x.pad;
    graft_layer_spec sp = graft_layer_default(is_max ? GRAFT_LAYER_MAXPOOL2D : GRAFT_LAYER_AVGPOOL2D);
    layer_spec_set_window(&sp, k[0], k[1], pads);
    sp.stride = stride;
    /* Kept only where they change something, so plain pools stay plain. */
    int ceil_mode = im->api->attr_int(im, "ceil_mode", 0) != 0;
    if (ceil_mode && (pool_out(x.h, k[0], stride, pads[0], pads[2], 1) !=
                          pool_out(x.h, k[0], stride, pads[0], pads[2], 0) ||
                      pool_out(x.w, k[1], stride, pads[1], pads[3], 1) !=
                          pool_out(x.w, k[1], stride, pads[1], pads[3], 0)))
        sp.ceil_mode = 1;
    int exclude = !is_max && !im->api->attr_int(im, "count_include_pad", 0);
    sp.exclude_pad = exclude && (own_pads || sp.ceil_mode);
    /* A preceding Pad's zeros count in the divisor, the node's own pads not. */
    if (sp.exclude_pad && x.pad)
        return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "count_include_pad=0 after a Pad");
    return im->api->emit(im, &sp, 1, &x.node, 4, NULL);
}

static graft_status pool_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                                int nin)
{
    (void)nin;
    if (ex->api->input_rank(ex, 0) != 4) return ex->api->rank2(ex);
    int is_max = s->kind == GRAFT_LAYER_MAXPOOL2D;
    ex->api->node(ex, is_max ? "MaxPool" : "AveragePool", name, name);
    ex->api->in(ex, ex->api->input_name(ex, 0));
    ex->api->attr_window(ex, s);
    ex->api->attr_ints(ex, "strides", s->stride, 2);
    if (s->ceil_mode) ex->api->attr_int(ex, "ceil_mode", 1);
    if (!is_max) ex->api->attr_int(ex, "count_include_pad", !s->exclude_pad);
    return GRAFT_OK;
}

static const char *const maxpool_onnx_ops[] = {"MaxPool", NULL};
static const char *const avgpool_onnx_ops[] = {"AveragePool", NULL};

const layer_kind maxpool2d_kind = {
    .kind = GRAFT_LAYER_MAXPOOL2D, .name = "maxpool2d", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &maxpool_cpu_ops, .ops_gpu = &maxpool_gpu_ops,
    .onnx_ops = maxpool_onnx_ops, .onnx_import = pool_import, .onnx_export = pool_export,
};
const layer_kind avgpool2d_kind = {
    .kind = GRAFT_LAYER_AVGPOOL2D, .name = "avgpool2d", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &avgpool_ops, .ops_gpu = &avgpool_ops,
    .onnx_ops = avgpool_onnx_ops, .onnx_import = pool_import, .onnx_export = pool_export,
};

/* ---- global average pooling: C x H x W -> C x 1 x 1. */

static graft_status gap_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "global_avgpool '%s': needs 1 input, got %d",
                        l->name, l->nin);
    l->out = (layer_shape){l->in[0].c, 1, 1};
    return GRAFT_OK;
}

static graft_status gap_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    int planes = io->n * l->in[0].c, S = l->in[0].h * l->in[0].w;
    return LAUNCH1D(ctx, "gap_fwd", (size_t)planes, KA_MEM(io->in[0]), KA_MEM(io->out),
                    KA_INT(planes), KA_INT(S));
}

static graft_status gap_backward_cpu(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    int planes = io->n * l->in[0].c, S = l->in[0].h * l->in[0].w;
    size_t g = (size_t)planes, lw = 1;
    return LAUNCH(ctx, "gap_bwd_cpu", 1, &g, &lw, KA_MEM(io->dout), KA_MEM(io->din[0]),
                  KA_INT(planes), KA_INT(S), KA_FLT(io->din_beta[0]));
}

static graft_status gap_backward_gpu(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    int planes = io->n * l->in[0].c, S = l->in[0].h * l->in[0].w;
    return LAUNCH1D(ctx, "gap_bwd_gpu", (size_t)planes * S, KA_MEM(io->dout), KA_MEM(io->din[0]),
                    KA_INT(planes), KA_INT(S), KA_FLT(io->din_beta[0]));
}

static double gap_flops(const layer *l) { return (double)shape_numel(l->in[0]); }

static const layer_ops gap_cpu_ops = {gap_setup, NULL, gap_forward, gap_backward_cpu, NULL,
                                      gap_flops};
static const layer_ops gap_gpu_ops = {gap_setup, NULL, gap_forward, gap_backward_gpu, NULL,
                                      gap_flops};

static graft_status gap_import(onnx_importer *im)
{
    onnx_value x;
    graft_status s = im->api->input(im, 0, 0, &x);
    if (s != GRAFT_OK) return s;
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_GLOBAL_AVGPOOL);
    return im->api->emit(im, &sp, 1, &x.node, 4, NULL);
}

static graft_status gap_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                               int nin)
{
    (void)s, (void)nin;
    if (ex->api->input_rank(ex, 0) != 4) return ex->api->rank2(ex);
    ex->api->node(ex, "GlobalAveragePool", name, name);
    ex->api->in(ex, ex->api->input_name(ex, 0));
    return GRAFT_OK;
}

static const char *const gap_onnx_ops[] = {"GlobalAveragePool", NULL};

const layer_kind global_avgpool_kind = {
    .kind = GRAFT_LAYER_GLOBAL_AVGPOOL, .name = "global_avgpool", .min_inputs = 1,
    .max_inputs = 1, .ops_cpu = &gap_cpu_ops, .ops_gpu = &gap_gpu_ops,
    .onnx_ops = gap_onnx_ops, .onnx_import = gap_import, .onnx_export = gap_export,
};
