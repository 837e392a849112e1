/* Max/average pooling and global average pooling. Max pooling keeps the
 * arg-max of each output (an index within the input plane) for backward. */
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "layer_kind.h"

typedef struct pool_priv {
    cl_mem arg;   /* int per output element of the last forward */
    size_t bytes;
} pool_priv;

static graft_status pool_setup(graft_ctx *ctx, layer *l)
{
    const char *kn = graft_layer_kind_name(l->spec.kind);
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "%s '%s': needs 1 input, got %d", kn, l->name,
                        l->nin);
    int k = l->spec.kernel, s = l->spec.stride, p = l->spec.pad;
    layer_shape in = l->in[0];
    /* pad <= k/2 (as PyTorch) keeps every window on at least one real pixel. */
    if (k < 1 || s < 1 || p < 0 || p > k / 2)
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG,
                        "%s '%s': kernel %d, stride %d, pad %d (need k >= 1, s >= 1, "
                        "0 <= pad <= k/2)", kn, l->name, k, s, p);
    int oh = in.h + 2 * p - k, ow = in.w + 2 * p - k;
    if (oh < 0 || ow < 0)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "%s '%s': kernel %d larger than padded input %dx%d",
                        kn, l->name, k, in.h + 2 * p, in.w + 2 * p);
    l->out = (layer_shape){in.c, oh / s + 1, ow / s + 1};
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

static graft_status avgpool_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    layer_shape in = l->in[0], o = l->out;
    int planes = io->n * in.c;
    size_t nout = (size_t)planes * o.h * o.w;
    return LAUNCH1D(ctx, "pool_avg_fwd", nout, KA_MEM(io->in[0]), KA_MEM(io->out),
                    KA_INT(planes), KA_INT(in.h), KA_INT(in.w), KA_INT(o.h), KA_INT(o.w),
                    KA_INT(l->spec.kernel), KA_INT(l->spec.stride), KA_INT(l->spec.pad));
}

static graft_status avgpool_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    layer_shape in = l->in[0], o = l->out;
    int planes = io->n * in.c;
    size_t nin = (size_t)planes * in.h * in.w;
    return LAUNCH1D(ctx, "pool_avg_bwd", nin, KA_MEM(io->dout), KA_MEM(io->din[0]),
                    KA_INT(planes), KA_INT(in.h), KA_INT(in.w), KA_INT(o.h), KA_INT(o.w),
                    KA_INT(l->spec.kernel), KA_INT(l->spec.stride), KA_INT(l->spec.pad),
                    KA_FLT(io->din_beta[0]));
}

/* The arg-max buffer for n samples (grows with the batch size). */
static graft_status maxpool_arg(graft_ctx *ctx, layer *l, size_t nout, pool_priv **out)
{
    if (!l->priv) {
        l->priv = calloc(1, sizeof(pool_priv));
        if (!l->priv) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    }
    pool_priv *p = l->priv;
    if (p->bytes < nout * sizeof(cl_int)) {
        if (p->arg) clReleaseMemObject(p->arg);
        p->arg = NULL;
        p->bytes = 0;
        TRY(ctx_alloc(ctx, nout * sizeof(cl_int), &p->arg, "maxpool arg-max"));
        p->bytes = nout * sizeof(cl_int);
    }
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
    size_t g = (size_t)planes, lw = 1;
    return LAUNCH(ctx, "pool_max_fwd_cpu", 1, &g, &lw, KA_MEM(io->in[0]), KA_MEM(io->out),
                  KA_MEM(p->arg), KA_INT(planes), KA_INT(in.h), KA_INT(in.w), KA_INT(o.h),
                  KA_INT(o.w), KA_INT(l->spec.kernel), KA_INT(l->spec.stride),
                  KA_INT(l->spec.pad));
}

/* GPU style: one work-item per output. */
static graft_status maxpool_forward_gpu(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    layer_shape in = l->in[0], o = l->out;
    int planes = io->n * in.c;
    size_t nout = (size_t)planes * o.h * o.w;
    pool_priv *p = NULL;
    TRY(maxpool_arg(ctx, l, nout, &p));
    return LAUNCH1D(ctx, "pool_max_fwd_gpu", nout, KA_MEM(io->in[0]), KA_MEM(io->out),
                    KA_MEM(p->arg), KA_INT(planes), KA_INT(in.h), KA_INT(in.w), KA_INT(o.h),
                    KA_INT(o.w), KA_INT(l->spec.kernel), KA_INT(l->spec.stride),
                    KA_INT(l->spec.pad));
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
    return LAUNCH1D(ctx, "pool_max_bwd_gpu", nin, KA_MEM(io->dout), KA_MEM(p->arg),
                    KA_MEM(io->din[0]), KA_INT(planes), KA_INT(in.h), KA_INT(in.w), KA_INT(o.h),
                    KA_INT(o.w), KA_INT(l->spec.kernel), KA_INT(l->spec.stride),
                    KA_INT(l->spec.pad), KA_FLT(io->din_beta[0]));
}

static double pool_flops(const layer *l)
{
    return (double)shape_numel(l->out) * l->spec.kernel * l->spec.kernel;
}

static const layer_ops avgpool_ops = {pool_setup, NULL, avgpool_forward, avgpool_backward,
                                      NULL, pool_flops};
static const layer_ops maxpool_cpu_ops = {pool_setup, NULL, maxpool_forward_cpu,
                                          maxpool_backward_cpu, pool_destroy, pool_flops};
static const layer_ops maxpool_gpu_ops = {pool_setup, NULL, maxpool_forward_gpu,
                                          maxpool_backward_gpu, pool_destroy, pool_flops};

/* MaxPool / AveragePool: square 2-D windows, floor output sizes; a Pad
 * before an AveragePool folds into its padding. */
static graft_status pool_import(onnx_importer *im)
{
    int is_max = !strcmp(im->api->op(im), "MaxPool");
    onnx_value x;
    int k, stride, pad, dil;
    graft_status s = im->api->input(im, 0, !is_max, &x);
    if (s == GRAFT_OK) s = im->api->attr_square(im, "kernel_shape", 0, &k);
    if (s == GRAFT_OK) s = im->api->attr_square(im, "strides", 1, &stride);
    if (s == GRAFT_OK) s = im->api->attr_square(im, "dilations", 1, &dil);
    if (s == GRAFT_OK) s = im->api->attr_pads(im, &pad);
    if (s != GRAFT_OK) return s;
    if (x.rank != 4 || k < 1) return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "needs a 4-D input and kernel_shape");
    if (dil != 1) return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "dilated pooling is not supported");
    if (im->api->output_uses(im, 1))
        return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "the Indices output is used");
    if (im->api->attr_int(im, "ceil_mode", 0)) {
        /* Fine when ceil and floor give the same size. */
        for (int d = 0; d < 2; d++) {
            int span = (d ? x.w : x.h) + 2 * pad - k;
            if (span >= 0 && span % stride)
                return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "ceil_mode=1 changes the output size "
                                 "here; graft pools with floor");
        }
    }
    if (!is_max && pad > 0 && !im->api->attr_int(im, "count_include_pad", 0))
        return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "count_include_pad=0 with padding; graft's "
                         "average pooling counts the padding");
    pad += x.pad; /* a preceding Pad's zeros count, as graft's padding does */
    graft_layer_spec sp = graft_layer_default(is_max ? GRAFT_LAYER_MAXPOOL2D : GRAFT_LAYER_AVGPOOL2D);
    sp.kernel = k;
    sp.stride = stride;
    sp.pad = pad;
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
    ex->api->attr_ints(ex, "kernel_shape", s->kernel, 2);
    ex->api->attr_ints(ex, "strides", s->stride, 2);
    ex->api->attr_ints(ex, "pads", s->pad, 4);
    if (!is_max) ex->api->attr_int(ex, "count_include_pad", 1);
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
