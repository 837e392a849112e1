#include "divergence.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "model.h"

static int all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* 1 when buf's first n floats hold a non-finite value (read errors: 0). */
static int buffer_bad(graft_model *m, cl_mem buf, size_t n, float **tmp, size_t *cap)
{
    if (!buf || n == 0) return 0;
    if (n > *cap) {
        float *t = realloc(*tmp, n * sizeof *t);
        if (!t) return 0;
        *tmp = t;
        *cap = n;
    }
    if (ctx_read(m->ctx, buf, 0, *tmp, n) != GRAFT_OK) return 0;
    return !all_finite(*tmp, n);
}

int divergence_scan_params(graft_model *m, char *where, size_t len)
{
    float *tmp = NULL;
    size_t cap = 0;
    int bad = 0;
    for (int i = 0; !bad && i < m->nparams; i++) {
        param *p = model_param(m, i);
        if ((bad = buffer_bad(m, p->data, p->numel, &tmp, &cap)))
            snprintf(where, len, "%s %s", p->learnable ? "weights" : "running statistics", p->name);
    }
    free(tmp);
    return bad;
}

void divergence_locate(graft_model *m, char *where, size_t len)
{
    float *tmp = NULL;
    size_t cap = 0;
    snprintf(where, len, "no single layer");
    int found = 0;
    if (model_grads_zeroed(m) != GRAFT_OK) found = 1; /* cannot read them */
    for (int i = 1; !found && i < m->nnodes && m->last_n > 0; i++) {
        const node *nd = &m->nodes[i];
        /* Folded into a conv by an inference forward (not written), or its
         * shared buffer reused by a later node. */
        if (nd->stale || nd->reused) continue;
        size_t n = (size_t)m->last_n * (size_t)nd->shape.c * nd->shape.h * nd->shape.w;
        if (buffer_bad(m, nd->out, n, &tmp, &cap)) {
            snprintf(where, len, "output of layer '%s' (node %d)", nd->name, i);
            found = 1;
        }
    }
    for (int i = 0; !found && i < m->nparams; i++) {
        param *p = model_param(m, i);
        if (p->learnable && buffer_bad(m, p->grad, p->numel, &tmp, &cap)) {
            snprintf(where, len, "gradient of %s", p->name);
            found = 1;
        } else if (buffer_bad(m, p->data, p->numel, &tmp, &cap)) {
            snprintf(where, len, "weights of %s", p->name);
            found = 1;
        }
    }
    free(tmp);
}

graft_status divergence_repair_running_stats(graft_model *m)
{
    graft_status s = GRAFT_OK;
    float *tmp = NULL;
    size_t cap = 0;
    for (int i = 0; s == GRAFT_OK && i < m->nparams; i++) {
        param *p = model_param(m, i);
        if (p->learnable || !buffer_bad(m, p->data, p->numel, &tmp, &cap)) continue;
        size_t L = strlen(p->name);
        float fill = L >= 3 && !strcmp(p->name + L - 3, "var") ? 1.0f : 0.0f;
        for (size_t k = 0; k < p->numel; k++)
            if (!isfinite(tmp[k])) tmp[k] = fill;
        param_written(p);
        s = ctx_write(m->ctx, p->data, 0, tmp, p->numel);
    }
    free(tmp);
    return s;
}
