/* Pseudo-label selection: see pseudolabel.h. */
#include "pseudolabel.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

typedef struct cand {
    int index, label;
    float conf;
} cand;

/* Total order: class, then confidence descending, then index ascending, so
 * qsort's instability cannot change the result. */
static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->label != y->label) return x->label < y->label ? -1 : 1;
    if (x->conf != y->conf) return x->conf > y->conf ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

static int index_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}


void pseudolabel_result_free(pseudolabel_result *r)
{
    if (!r) return;
    free(r->indices);
    free(r->labels);
    free(r->confidence);
    free(r->per_class);
    memset(r, 0, sizeof *r);
}

graft_status pseudolabel_select(const float *P, int n, int nclasses, float threshold,
                                int per_class_cap, pseudolabel_result *out, char *err,
                                size_t errlen)
{
    if (!out) return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "pseudolabel: NULL result");
    memset(out, 0, sizeof *out);
    if (n < 0 || nclasses < 1 || (n > 0 && !P))
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                    "pseudolabel: bad pool (n=%d, nclasses=%d)", n, nclasses);
    if (!(threshold >= 0.0f && threshold <= 1.0f))
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                    "pseudolabel: threshold %g outside [0, 1]", (double)threshold);
    if (per_class_cap < 0)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                    "pseudolabel: per-class cap %d is negative (0 = no cap)", per_class_cap);

    size_t nn = n > 0 ? (size_t)n : 1; /* malloc(0) may return NULL */
    cand *c = malloc(nn * sizeof *c);
    out->indices = malloc(nn * sizeof *out->indices);
    out->labels = malloc(nn * sizeof *out->labels);
    out->confidence = malloc(nn * sizeof *out->confidence);
    out->per_class = calloc((size_t)nclasses, sizeof *out->per_class);
    if (!c || !out->indices || !out->labels || !out->confidence || !out->per_class) {
        free(c);
        pseudolabel_result_free(out);
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "pseudolabel: out of memory (n=%d)", n);
    }
    out->nclasses = nclasses;

    int nc = 0;
    for (int i = 0; i < n; i++) {
        const float *p = P + (size_t)i * nclasses;
        int best = 0;
        for (int k = 0; k < nclasses; k++) {
            if (!isfinite(p[k])) {
                free(c);
                pseudolabel_result_free(out);
                return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                            "pseudolabel: probability of sample %d, class %d is not finite", i,
                            k);
            }
            if (p[k] > p[best]) best = k;
        }
        if (p[best] >= threshold) c[nc++] = (cand){i, best, p[best]};
    }
    qsort(c, (size_t)nc, sizeof *c, cand_cmp);
    /* keep the first cap of every class run, compacting in place */
    int kept = 0;
    for (int i = 0; i < nc; i++) {
        int *cnt = &out->per_class[c[i].label];
        if (per_class_cap && *cnt >= per_class_cap) continue;
        (*cnt)++;
        c[kept++] = c[i];
    }
    qsort(c, (size_t)kept, sizeof *c, index_cmp);
    for (int i = 0; i < kept; i++) {
        out->indices[i] = c[i].index;
        out->labels[i] = c[i].label;
        out->confidence[i] = c[i].conf;
    }
    out->n = kept;
    free(c);
    return GRAFT_OK;
}
