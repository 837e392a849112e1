/* Matching a dataset's classes to a model's (graft_data.h): by name where
 * both sides name their classes, by index only where one side does not, so
 * a test folder holding some of a model's classes is scored against the
 * right outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graft_data.h"
#include "internal.h"

/* 1 when names is NULL or reads "0", "1", ... (what IDX data and
 * integer-labelled lists get): no real names. */
static int nameless(const char *const *names, int n)
{
    if (!names) return 1;
    char buf[16];
    for (int k = 0; k < n; k++) {
        snprintf(buf, sizeof buf, "%d", k);
        if (!names[k] || strcmp(names[k], buf)) return 0;
    }
    return 1;
}

/* 1 when every name is a decimal integer (nameless lists included). */
static int numeric(const char *const *names, int n)
{
    if (!names) return 1;
    for (int k = 0; k < n; k++) {
        const char *s = names[k];
        if (!s || !*s) return 0;
        for (; *s; s++)
            if (*s < '0' || *s > '9') return 0;
    }
    return 1;
}

void graft_class_match_free(graft_class_match *m)
{
    if (!m) return;
    free(m->to_model);
    free(m->unknown);
    free(m->absent);
    memset(m, 0, sizeof *m);
}

graft_status graft_class_match_names(const char *const *model_names, int model_classes,
                                     const graft_dataset *d, graft_class_match *out, char *err,
                                     size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!d || model_classes < 1)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                         "class match: need a dataset and at least one model class");
    int D = d->nclasses, K = model_classes;
    const char *const *dn = (const char *const *)d->class_names;
    int mless = nameless(model_names, K), dless = nameless(dn, D);
    /* Numbers on both sides are labels of one numbering ("5","6","7" of a
     * selection against "0".."9"); otherwise one nameless side forces
     * matching by position. */
    out->by_name = mless == dless || (numeric(model_names, K) && numeric(dn, D));
    out->data_named = !dless;
    out->model_named = !mless;
    out->data_classes = D;
    out->model_classes = K;
    out->to_model = malloc((size_t)D * sizeof *out->to_model);
    out->unknown = malloc((size_t)D * sizeof *out->unknown);
    out->absent = malloc((size_t)K * sizeof *out->absent);
    char *hit = calloc((size_t)K, 1);
    if (!out->to_model || !out->unknown || !out->absent || !hit) {
        free(hit);
        graft_class_match_free(out);
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "class match: out of memory");
    }
    char buf[16];
    for (int k = 0; k < D; k++) {
        int t = -1;
        if (!out->by_name) {
            t = k < K ? k : -1;
        } else {
            const char *name = dn ? dn[k] : NULL;
            if (!name) {
                snprintf(buf, sizeof buf, "%d", k);
                name = buf;
            }
            for (int j = 0; j < K && t < 0; j++) {
                const char *mj = model_names ? model_names[j] : NULL;
                char mb[16];
                if (!mj) {
                    snprintf(mb, sizeof mb, "%d", j);
                    mj = mb;
                }
                if (!strcmp(name, mj) && !hit[j]) t = j;
            }
        }
        out->to_model[k] = t;
        if (t < 0) out->unknown[out->nunknown++] = k;
        else hit[t] = 1;
    }
    for (int j = 0; j < K; j++)
        if (!hit[j]) out->absent[out->nabsent++] = j;
    free(hit);
    return GRAFT_OK;
}

graft_status graft_dataset_relabel(const graft_dataset *d, const graft_class_match *m,
                                   const char *const *model_names, graft_dataset **out,
                                   int *dropped, char *err, size_t errlen)
{
    *out = NULL;
    if (dropped) *dropped = 0;
    if (!d || !m || m->data_classes != d->nclasses || !m->to_model)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                         "relabel: the class match was not made for this dataset");
    int *idx = malloc(((size_t)d->n + 1) * sizeof *idx), n = 0;
    if (!idx) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "relabel: out of memory");
    for (int i = 0; i < d->n; i++)
        if (m->to_model[d->y[i]] >= 0) idx[n++] = i;
    if (dropped) *dropped = d->n - n;
    graft_status s = dataset_subset_mapped(d, idx, n, m->to_model, m->model_classes, model_names,
                                           out, err, errlen);
    free(idx);
    return s;
}
