/* Layer lifetime, parameter allocation and the kind -> ops registry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"

/* Each kind's ops live in the file named for the layer. */
extern const layer_ops flatten_ops, conv2d_ops, linear_ops;
extern const layer_ops batchnorm_ops;
extern const layer_ops activation_ops;
extern const layer_ops pool_ops;
extern const layer_ops global_avgpool_ops;
extern const layer_ops dropout_ops;
extern const layer_ops add_ops;
extern const layer_ops concat_ops;

const layer_ops *layer_ops_for(graft_layer_kind kind)
{
    switch (kind) {
    case GRAFT_LAYER_CONV2D: return &conv2d_ops;
    case GRAFT_LAYER_LINEAR: return &linear_ops;
    case GRAFT_LAYER_FLATTEN: return &flatten_ops;
    case GRAFT_LAYER_BATCHNORM2D: return &batchnorm_ops;
    case GRAFT_LAYER_RELU:
    case GRAFT_LAYER_RELU6:
    case GRAFT_LAYER_LEAKY_RELU: return &activation_ops;
    case GRAFT_LAYER_MAXPOOL2D:
    case GRAFT_LAYER_AVGPOOL2D: return &pool_ops;
    case GRAFT_LAYER_GLOBAL_AVGPOOL: return &global_avgpool_ops;
    case GRAFT_LAYER_DROPOUT: return &dropout_ops;
    case GRAFT_LAYER_ADD: return &add_ops;
    case GRAFT_LAYER_CONCAT: return &concat_ops;
    default: return NULL;
    }
}

const char *graft_layer_kind_name(graft_layer_kind k)
{
    static const char *names[GRAFT_LAYER_KIND_COUNT] = {
        "input", "conv2d", "batchnorm2d", "relu", "relu6", "leaky_relu", "maxpool2d",
        "avgpool2d", "global_avgpool", "linear", "dropout", "add", "concat", "flatten"};
    if ((int)k < 0 || k >= GRAFT_LAYER_KIND_COUNT) return NULL;
    return names[k];
}

graft_layer_spec graft_layer_default(graft_layer_kind kind)
{
    graft_layer_spec s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    s.kernel = kind == GRAFT_LAYER_CONV2D ? 3 : 2;
    s.stride = kind == GRAFT_LAYER_CONV2D ? 1 : 2;
    s.pad = kind == GRAFT_LAYER_CONV2D ? 1 : 0;
    s.dilation = 1;
    s.groups = 1;
    s.bias = kind == GRAFT_LAYER_LINEAR;
    s.eps = 1e-5f;
    s.momentum = 0.1f;
    s.slope = 0.01f;
    s.p = 0.5f;
    return s;
}

graft_status layer_add_param(graft_ctx *ctx, layer *l, const char *suffix, int ndim,
                             const int *shape, int learnable)
{
    if (l->nparams >= LAYER_MAX_PARAMS || ndim < 1 || ndim > GRAFT_MAX_DIMS)
        return ctx_fail(ctx, GRAFT_ERR_INTERNAL, "layer '%s': bad parameter declaration", l->name);
    param *p = &l->params[l->nparams];
    memset(p, 0, sizeof *p);
    char full[sizeof p->name];
    snprintf(full, sizeof full, "%s.%s", l->name, suffix);
    memcpy(p->name, full, sizeof full);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return ctx_fail(ctx, GRAFT_ERR_SHAPE, "layer '%s': parameter %s has dimension %d",
                            l->name, suffix, shape[i]);
        p->shape[i] = shape[i];
        p->numel *= (size_t)shape[i];
    }
    p->learnable = learnable;
    TRY(ctx_alloc(ctx, p->numel * sizeof(float), &p->data, p->name));
    if (learnable) {
        graft_status s = ctx_alloc(ctx, p->numel * sizeof(float), &p->grad, p->name);
        if (s != GRAFT_OK) {
            clReleaseMemObject(p->data);
            p->data = NULL;
            return s;
        }
        TRY(ctx_fill(ctx, p->grad, 0, p->numel, 0.0f));
    }
    l->nparams++;
    return GRAFT_OK;
}

graft_status layer_create(graft_ctx *ctx, const char *name, const graft_layer_spec *spec, int nin,
                          const layer_shape *in, layer **out)
{
    *out = NULL;
    const layer_ops *ops = layer_ops_for(spec->kind);
    if (!ops)
        return ctx_fail(ctx, GRAFT_ERR_UNSUPPORTED, "layer '%s': kind %d (%s) is not implemented",
                        name, (int)spec->kind,
                        graft_layer_kind_name(spec->kind) ? graft_layer_kind_name(spec->kind) : "?");
    if (nin < 0 || nin > LAYER_MAX_INPUTS)
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "layer '%s': %d inputs, at most %d", name, nin,
                        LAYER_MAX_INPUTS);
    if (strlen(name) >= LAYER_NAME_LEN)
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "layer name '%s' longer than %d characters",
                        name, LAYER_NAME_LEN - 1);
    layer *l = calloc(1, sizeof *l);
    if (!l) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    snprintf(l->name, sizeof l->name, "%s", name);
    l->spec = *spec;
    l->ops = ops;
    l->nin = nin;
    for (int i = 0; i < nin; i++) l->in[i] = in[i];
    graft_status s = ops->setup(ctx, l);
    if (s != GRAFT_OK) {
        layer_free(l);
        return s;
    }
    *out = l;
    return GRAFT_OK;
}

void layer_free(layer *l)
{
    if (!l) return;
    if (l->ops && l->ops->destroy) l->ops->destroy(l);
    for (int i = 0; i < l->nparams; i++) {
        if (l->params[i].data) clReleaseMemObject(l->params[i].data);
        if (l->params[i].grad) clReleaseMemObject(l->params[i].grad);
    }
    free(l);
}

graft_status reduce_bias_grad(graft_ctx *ctx, cl_mem dy, int n, int c, int spatial, cl_mem db,
                              float beta)
{
    return LAUNCH1D(ctx, "reduce_nc_s", (size_t)c, KA_MEM(dy), KA_INT(n), KA_INT(c),
                    KA_INT(spatial), KA_MEM(db), KA_FLT(beta));
}

graft_status param_init_normal(graft_ctx *ctx, param *p, rng *r, double std)
{
    float *h = malloc(p->numel * sizeof *h);
    if (!h) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < p->numel; i++) h[i] = (float)(std * rng_normal(r));
    graft_status s = ctx_write(ctx, p->data, 0, h, p->numel);
    free(h);
    return s;
}

graft_status param_init_const(graft_ctx *ctx, param *p, float v)
{
    return ctx_fill(ctx, p->data, 0, p->numel, v);
}

/* ---- flatten: a per-sample reshape to C*H*W x 1 x 1; data is a copy. */

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

const layer_ops flatten_ops = {flatten_setup, NULL, flatten_forward, flatten_backward, NULL, NULL};
