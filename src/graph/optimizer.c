/* SGD (momentum, Nesterov, L2 weight decay) and AdamW with on-device update
 * kernels (cl/shared/optim.cl). Weight decay applies to weights only (tensors of
 * two or more dimensions), not to biases or BatchNorm affine parameters. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "optimizer.h"

graft_status graft_optimizer_create(graft_model *m, const graft_opt_params *p, graft_optimizer **out)
{
    if (!m || !p || !out) return GRAFT_ERR_INVALID_ARG;
    *out = NULL;
    graft_ctx *ctx = m->ctx;
    if (!(p->lr >= 0) || !(p->momentum >= 0 && p->momentum < 1) || !(p->weight_decay >= 0))
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG,
                        "optimizer: lr=%g momentum=%g weight_decay=%g (need lr >= 0, "
                        "0 <= momentum < 1, weight_decay >= 0)",
                        (double)p->lr, (double)p->momentum, (double)p->weight_decay);
    if (p->kind == GRAFT_OPT_ADAMW &&
        !(p->beta1 >= 0 && p->beta1 < 1 && p->beta2 >= 0 && p->beta2 < 1 && p->eps > 0))
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "adamw: beta1=%g beta2=%g eps=%g out of range",
                        (double)p->beta1, (double)p->beta2, (double)p->eps);
    /* Before anything (data-parallel gradient sums) writes gradients. */
    TRY(model_grads_zeroed(m));
    graft_optimizer *o = calloc(1, sizeof *o);
    if (!o) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    o->m = m;
    o->p = *p;
    o->slots = calloc((size_t)m->nparams + 1, sizeof *o->slots);
    if (!o->slots) {
        free(o);
        return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    }
    /* State for every learnable parameter, frozen or not, so that gradual
     * unfreezing needs no allocation later. */
    for (int i = 0; i < m->nparams; i++) {
        param *pr = model_param(m, i);
        if (!pr->learnable) continue;
        opt_slot *s = &o->slots[o->nslots++];
        s->param = i;
        size_t bytes = pr->numel * sizeof(float);
        graft_status st = ctx_alloc(ctx, bytes, &s->m, "optimizer state");
        if (st == GRAFT_OK) st = ctx_fill(ctx, s->m, 0, pr->numel, 0.0f);
        if (st == GRAFT_OK && p->kind == GRAFT_OPT_ADAMW) {
            st = ctx_alloc(ctx, bytes, &s->v, "optimizer state");
            if (st == GRAFT_OK) st = ctx_fill(ctx, s->v, 0, pr->numel, 0.0f);
        }
        if (st != GRAFT_OK) {
            graft_optimizer_free(o);
            return st;
        }
    }
    o->last_lr = graft_schedule_lr(p, 0);
    *out = o;
    return GRAFT_OK;
}

void graft_optimizer_free(graft_optimizer *o)
{
    if (!o) return;
    for (int i = 0; i < o->nslots; i++) {
        if (o->slots[i].m) clReleaseMemObject(o->slots[i].m);
        if (o->slots[i].v) clReleaseMemObject(o->slots[i].v);
    }
    free(o->slots);
    free(o);
}

graft_status graft_optimizer_step(graft_optimizer *o)
{
    if (!o) return GRAFT_ERR_INVALID_ARG;
    graft_model *m = o->m;
    graft_ctx *ctx = m->ctx;
    const graft_opt_params *p = &o->p;
    float lr = graft_schedule_lr(p, o->steps);
    long t = o->steps + 1;
    float bc1 = (float)(1.0 - pow(p->beta1, (double)t));
    float bc2 = (float)(1.0 - pow(p->beta2, (double)t));
    for (int i = 0; i < o->nslots; i++) {
        opt_slot *s = &o->slots[i];
        param *pr = model_param(m, s->param);
        const node *nd = &m->nodes[m->params[s->param].node];
        if (!nd->trainable || nd->lr_mult == 0.0f) continue;
        float plr = lr * nd->lr_mult;
        float wd = pr->ndim >= 2 ? p->weight_decay : 0.0f;
        graft_status st;
        param_written(pr);
        if (p->kind == GRAFT_OPT_ADAMW)
            st = LAUNCH1D(ctx, "optim_adamw", pr->numel, KA_MEM(pr->data), KA_MEM(pr->grad),
                          KA_MEM(s->m), KA_MEM(s->v), KA_INT(pr->numel), KA_FLT(plr),
                          KA_FLT(p->beta1), KA_FLT(p->beta2), KA_FLT(p->eps), KA_FLT(wd),
                          KA_FLT(bc1), KA_FLT(bc2));
        else
            st = LAUNCH1D(ctx, "optim_sgd", pr->numel, KA_MEM(pr->data), KA_MEM(pr->grad),
                          KA_MEM(s->m), KA_INT(pr->numel), KA_FLT(plr), KA_FLT(p->momentum),
                          KA_FLT(wd), KA_INT(p->nesterov));
        TRY(st);
    }
    o->steps++;
    o->last_lr = lr;
    return GRAFT_OK;
}

long graft_optimizer_steps(const graft_optimizer *o) { return o->steps; }
float graft_optimizer_current_lr(const graft_optimizer *o) { return o->last_lr; }
