/* Layer lifetime and parameter allocation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer.h"
#include "layer_kind.h"

/* The ops of kind k for the context's kernel style, chosen here once per
 * layer so that forward and backward never test the style. */
const layer_ops *layer_ops_for(graft_ctx *ctx, graft_layer_kind kind)
{
    const layer_kind *d = layer_kind_of(kind);
    if (!d) return NULL;
    return ctx_is_cpu(ctx) ? d->ops_cpu : d->ops_gpu;
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
    /* Leaky ReLU's negative slope; PyTorch's hard-sigmoid ramp. */
    s.slope = kind == GRAFT_LAYER_HARD_SIGMOID || kind == GRAFT_LAYER_HARD_SWISH ? 1.0f / 6 : 0.01f;
    s.p = 0.5f;
    return s;
}

void layer_spec_set_window(graft_layer_spec *s, int kh, int kw, const int pads[4])
{
    s->kernel = kh;
    s->kernel_h = s->kernel_w = 0;
    if (kw != kh) s->kernel_h = kh, s->kernel_w = kw;
    int same = pads[0] == pads[1] && pads[0] == pads[2] && pads[0] == pads[3];
    s->pad = same ? pads[0] : 0;
    s->pad_top = same ? 0 : pads[0];
    s->pad_left = same ? 0 : pads[1];
    s->pad_bottom = same ? 0 : pads[2];
    s->pad_right = same ? 0 : pads[3];
}

void graft_layer_window(const graft_layer_spec *s, int *kh, int *kw, int pads[4])
{
    if (kh) *kh = s->kernel_h ? s->kernel_h : s->kernel;
    if (kw) *kw = s->kernel_w ? s->kernel_w : s->kernel;
    if (pads) {
        const int side[4] = {s->pad_top, s->pad_left, s->pad_bottom, s->pad_right};
        for (int i = 0; i < 4; i++) pads[i] = side[i] ? side[i] : s->pad;
    }
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
        /* Not written here: the model zeroes its gradients before they are
         * first used (model_grads_zeroed), so an inference-only model never
         * touches these pages (ResNet-18: 45 MiB of resident memory). */
    }
    l->nparams++;
    return GRAFT_OK;
}

graft_status layer_create(graft_ctx *ctx, const char *name, const graft_layer_spec *spec, int nin,
                          const layer_shape *in, layer **out)
{
    *out = NULL;
    const layer_ops *ops = layer_ops_for(ctx, spec->kind);
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
    param_written(p);
    free(h);
    return s;
}

graft_status param_init_const(graft_ctx *ctx, param *p, float v)
{
    param_written(p);
    return ctx_fill(ctx, p->data, 0, p->numel, v);
}
