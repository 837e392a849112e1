/* ReLU, ReLU6 and leaky ReLU; backward reads the forward input. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "layer_kind.h"

/* Kind codes of cl/shared/activation.cl. */
static int act_code(graft_layer_kind k)
{
    return k == GRAFT_LAYER_RELU ? 0 : k == GRAFT_LAYER_RELU6 ? 1 : 2;
}

static graft_status act_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "%s '%s': needs 1 input, got %d",
                        graft_layer_kind_name(l->spec.kind), l->name, l->nin);
    l->out = l->in[0];
    return GRAFT_OK;
}

static graft_status act_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "act_fwd", n, KA_MEM(io->in[0]), KA_MEM(io->out), KA_INT(n),
                    KA_INT(act_code(l->spec.kind)), KA_FLT(l->spec.slope));
}

static graft_status act_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "act_bwd", n, KA_MEM(io->in[0]), KA_MEM(io->dout), KA_MEM(io->din[0]),
                    KA_INT(n), KA_INT(act_code(l->spec.kind)), KA_FLT(l->spec.slope),
                    KA_FLT(io->din_beta[0]));
}

static const layer_ops activation_ops = {act_setup, NULL, act_forward, act_backward, NULL, NULL};

/* Fused into a preceding BatchNorm: ReLU, ReLU6, and leaky ReLU with slope
 * >= 0 (its sign test on the output then matches the input's). */
static int act_bn_fusible(const graft_layer_spec *s)
{
    if (s->kind == GRAFT_LAYER_LEAKY_RELU && !(s->slope >= 0.0f)) return 0;
    return 1 + act_code(s->kind);
}

/* Relu, LeakyRelu, and Clip to [0, 6] (ReLU6) or [0, inf) (ReLU). */
static graft_status clip_bound(onnx_importer *im, int k, double *out)
{
    if (!im->api->has_input(im, k)) return GRAFT_OK;
    onnx_const t;
    graft_status s = im->api->constant(im, k, &t);
    if (s != GRAFT_OK) return s;
    if (t.n != 1) s = onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "bound %d is not a scalar", k);
    else *out = t.data[0];
    free(t.data);
    return s;
}

static graft_status act_import(onnx_importer *im)
{
    onnx_value x;
    graft_status s = im->api->input(im, 0, 0, &x);
    if (s != GRAFT_OK) return s;
    const char *op = im->api->op(im);
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_RELU);
    if (!strcmp(op, "LeakyRelu")) {
        sp = graft_layer_default(GRAFT_LAYER_LEAKY_RELU);
        sp.slope = im->api->attr_float(im, "alpha", 0.01f);
    } else if (!strcmp(op, "Clip")) {
        double lo = -INFINITY, hi = INFINITY;
        if (im->api->opset(im) < 11) {
            lo = im->api->attr_float(im, "min", -FLT_MAX);
            hi = im->api->attr_float(im, "max", FLT_MAX);
        } else {
            if ((s = clip_bound(im, 1, &lo)) != GRAFT_OK) return s;
            if ((s = clip_bound(im, 2, &hi)) != GRAFT_OK) return s;
        }
        if (lo == 0 && hi == 6) sp = graft_layer_default(GRAFT_LAYER_RELU6);
        else if (!(lo == 0 && hi >= FLT_MAX))
            return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "Clip to [%g, %g]; graft maps only [0, 6] "
                             "(ReLU6) and [0, inf) (ReLU)", lo, hi);
    }
    return im->api->emit(im, &sp, 1, &x.node, x.rank, NULL);
}

static graft_status relu_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                                int nin)
{
    (void)s, (void)nin;
    ex->api->node(ex, "Relu", name, name);
    ex->api->in(ex, ex->api->input_name(ex, 0));
    return GRAFT_OK;
}

static graft_status relu6_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                                 int nin)
{
    (void)s, (void)nin;
    ex->api->scalar(ex, "graft.clip_min", 0.0f);
    ex->api->scalar(ex, "graft.clip_max", 6.0f);
    ex->api->node(ex, "Clip", name, name);
    ex->api->in(ex, ex->api->input_name(ex, 0));
    ex->api->in(ex, "graft.clip_min");
    ex->api->in(ex, "graft.clip_max");
    return GRAFT_OK;
}

static graft_status leaky_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                                 int nin)
{
    (void)nin;
    ex->api->node(ex, "LeakyRelu", name, name);
    ex->api->in(ex, ex->api->input_name(ex, 0));
    ex->api->attr_float(ex, "alpha", s->slope);
    return GRAFT_OK;
}

/* The importer maps all three ONNX ops through relu_kind's list. */
static const char *const act_onnx_ops[] = {"Relu", "LeakyRelu", "Clip", NULL};

const layer_kind relu_kind = {
    .kind = GRAFT_LAYER_RELU, .name = "relu", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &activation_ops, .ops_gpu = &activation_ops, .bn_fusible = act_bn_fusible,
    .onnx_ops = act_onnx_ops, .onnx_import = act_import, .onnx_export = relu_export,
};
const layer_kind relu6_kind = {
    .kind = GRAFT_LAYER_RELU6, .name = "relu6", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &activation_ops, .ops_gpu = &activation_ops, .bn_fusible = act_bn_fusible,
    .onnx_export = relu6_export,
};
const layer_kind leaky_relu_kind = {
    .kind = GRAFT_LAYER_LEAKY_RELU, .name = "leaky_relu", .min_inputs = 1, .max_inputs = 1,
    .ops_cpu = &activation_ops, .ops_gpu = &activation_ops, .bn_fusible = act_bn_fusible,
    .onnx_export = leaky_export,
};
