/* Flatten: a per-sample reshape to C*H*W x 1 x 1; data is a copy. */
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "layer_kind.h"

static graft_status flatten_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin != 1) return ctx_fail(ctx, GRAFT_ERR_SHAPE, "flatten '%s': needs 1 input", l->name);
    l->out = (layer_shape){(int)shape_numel(l->in[0]), 1, 1};
    return GRAFT_OK;
}

static graft_status flatten_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    size_t n = (size_t)io->n * shape_numel(l->out);
    CL_TRY(ctx, clEnqueueCopyBuffer(ctx->queue, io->in[0], io->out, 0, 0, n * sizeof(float), 0,
                                    NULL, NULL), "flatten forward copy");
    return GRAFT_OK;
}

static graft_status flatten_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "axpby_f32", n, KA_MEM(io->dout), KA_MEM(io->din[0]), KA_INT(n),
                    KA_FLT(1.0f), KA_FLT(io->din_beta[0]));
}

static const layer_ops flatten_ops = {flatten_setup, NULL, flatten_forward, flatten_backward,
                                      NULL, NULL};

/* Flatten (axis 1) and Reshape to [N, C*H*W] (0 or -1 for N): a flatten
 * layer, or nothing when the tensor already is C x 1 x 1. */
static graft_status flatten_import(onnx_importer *im)
{
    onnx_value x;
    graft_status s = im->api->input(im, 0, 0, &x);
    if (s != GRAFT_OK) return s;
    if (!strcmp(im->api->op(im), "Reshape")) {
        onnx_const t;
        if ((s = im->api->constant(im, 1, &t)) != GRAFT_OK) return s;
        double f = (double)x.c * x.h * x.w;
        int ok = t.n == 2 && (t.data[1] == -1 || t.data[1] == f) &&
                 (t.data[0] == 0 || t.data[0] == -1 || (t.data[0] >= 1 && t.data[1] == f));
        double d0 = t.n > 0 ? t.data[0] : 0, d1 = t.n > 1 ? t.data[1] : 0;
        size_t n = t.n;
        free(t.data);
        if (!ok)
            return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "reshape of %dx%dx%d to a %zu-D shape "
                             "(%g, %g, ..); graft supports only flattening to [N, %g]", x.c, x.h,
                             x.w, n, d0, d1, f);
    } else {
        int64_t axis = im->api->attr_int(im, "axis", 1);
        if (!(axis == 1 || axis == 1 - x.rank))
            return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "axis %lld; graft flattens at axis 1",
                             (long long)axis);
    }
    if (x.h == 1 && x.w == 1) {
        x.rank = 2;
        return im->api->alias(im, &x);
    }
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_FLATTEN);
    return im->api->emit(im, &sp, 1, &x.node, 2, NULL);
}

static graft_status flatten_export(onnx_exporter *ex, const char *name,
                                   const graft_layer_spec *s, int nin)
{
    (void)s, (void)nin;
    ex->api->node(ex, "Flatten", name, name);
    ex->api->in(ex, ex->api->input_name(ex, 0));
    ex->api->attr_int(ex, "axis", 1);
    ex->api->set_rank(ex, 2);
    return GRAFT_OK;
}

static const char *const flatten_onnx_ops[] = {"Flatten", "Reshape", NULL};

const layer_kind flatten_kind = {
    .kind = GRAFT_LAYER_FLATTEN, .name = "flatten", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &flatten_ops, .ops_gpu = &flatten_ops,
    .onnx_ops = flatten_onnx_ops, .onnx_import = flatten_import, .onnx_export = flatten_export,
};
