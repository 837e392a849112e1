/* In-memory dataset: create/append/free, subsets, class selection, seeded
 * per-class sampling, stratified split and k-fold assignment. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "dataset.h"
#include "rng.h"

char *data_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

uint64_t data_mix(uint64_t seed, uint64_t a, uint64_t b)
{
    rng r = {seed ^ 0x6a09e667f3bcc909ULL};
    r.s ^= rng_next(&r) + a * 0x9e3779b97f4a7c15ULL;
    r.s ^= rng_next(&r) + b * 0xc2b2ae3d27d4eb4fULL;
    return rng_next(&r);
}

graft_status dataset_create(int c, int h, int w, int nclasses, const char *const *names,
                            dataset **out, char *err, size_t errlen)
{
    *out = NULL;
    if (c < 1 || h < 1 || w < 1 || nclasses < 1 || (size_t)c * h * w > ((size_t)1 << 28))
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                         "dataset: bad shape %dx%dx%d or class count %d", c, h, w, nclasses);
    dataset *d = calloc(1, sizeof *d);
    if (!d) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: out of memory");
    d->c = c;
    d->h = h;
    d->w = w;
    d->nclasses = nclasses;
    d->class_names = calloc((size_t)nclasses, sizeof *d->class_names);
    if (!d->class_names) goto oom;
    for (int i = 0; i < nclasses; i++) {
        char buf[32];
        const char *nm = names ? names[i] : NULL;
        if (!nm) {
            snprintf(buf, sizeof buf, "%d", i);
            nm = buf;
        }
        d->class_names[i] = data_strdup(nm);
        if (!d->class_names[i]) goto oom;
    }
    *out = d;
    return GRAFT_OK;
oom:
    dataset_free(d);
    return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: out of memory");
}

void dataset_free(dataset *d)
{
    if (!d) return;
    if (d->class_names)
        for (int i = 0; i < d->nclasses; i++) free(d->class_names[i]);
    free(d->class_names);
    if (d->paths)
        for (int i = 0; i < d->n; i++) free(d->paths[i]);
    free(d->paths);
    dataset_lazy_free(d);
    free(d->x);
    free(d->y);
    free(d);
}

size_t dataset_image_size(const dataset *d) { return (size_t)d->c * d->h * d->w; }

const float *dataset_image(const dataset *d, int i)
{
    if (!d->lazy) return d->x + (size_t)i * dataset_image_size(d);
    /* one lock and, for a pending image, its decode */
    const float *img;
    return dataset_fetch(d, i, &img, NULL, 0) == GRAFT_OK ? img : NULL;
}

void dataset_class_counts(const dataset *d, int *counts)
{
    memset(counts, 0, (size_t)d->nclasses * sizeof *counts);
    for (int i = 0; i < d->n; i++) counts[d->y[i]]++;
}

static graft_status reserve(dataset *d, int need, char *err, size_t errlen)
{
    if (need <= d->cap) return GRAFT_OK;
    int cap = d->cap ? d->cap : 16;
    while (cap < need) {
        if (cap > (1 << 29))
            return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: too many images");
        cap *= 2;
    }
    size_t isz = dataset_image_size(d);
    if (!d->lazy) { /* a lazy dataset keeps one buffer per decoded image */
        float *x = realloc(d->x, (size_t)cap * isz * sizeof *x);
        if (!x)
            return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY,
                             "dataset: out of memory for %d images", cap);
        d->x = x;
    }
    int *y = realloc(d->y, (size_t)cap * sizeof *y);
    if (!y) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: out of memory");
    d->y = y;
    if (d->paths) {
        char **p = realloc(d->paths, (size_t)cap * sizeof *p);
        if (!p) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: out of memory");
        for (int i = d->cap; i < cap; i++) p[i] = NULL;
        d->paths = p;
    }
    graft_status s = dataset_lazy_reserve(d, cap, err, errlen);
    if (s != GRAFT_OK) return s;
    d->cap = cap;
    return GRAFT_OK;
}

graft_status dataset_append(dataset *d, const float *img, int label, const char *path, char *err,
                            size_t errlen)
{
    if (!img) return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "dataset: no image to append");
    return data_append_slot(d, img, label, path, err, errlen);
}

graft_status data_append_slot(dataset *d, const float *img, int label, const char *path,
                              char *err, size_t errlen)
{
    if (label < 0 || label >= d->nclasses)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "dataset: label %d outside 0..%d%s%s",
                         label, d->nclasses - 1, path ? " for " : "", path ? path : "");
    graft_status s = reserve(d, d->n + 1, err, errlen);
    if (s) return s;
    if (path && !d->paths) {
        d->paths = calloc((size_t)d->cap, sizeof *d->paths);
        if (!d->paths)
            return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: out of memory");
    }
    if (path) {
        d->paths[d->n] = data_strdup(path);
        if (!d->paths[d->n])
            return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: out of memory");
    }
    if (d->lazy) {
        s = dataset_lazy_store(d, d->n, img, err, errlen);
        if (s) return s;
    } else {
        size_t isz = dataset_image_size(d);
        memcpy(d->x + (size_t)d->n * isz, img, isz * sizeof *img);
    }
    d->y[d->n] = label;
    d->n++;
    return GRAFT_OK;
}

/* Copies images idx[] with labels remapped by map[] (NULL = identity). */
graft_status dataset_subset_mapped(const dataset *d, const int *idx, int n, const int *map, int nclasses,
                                  const char *const *names, dataset **out, char *err, size_t errlen)
{
    graft_status s = dataset_create(d->c, d->h, d->w, nclasses, names, out, err, errlen);
    if (s) return s;
    dataset *o = *out;
    if (n > 0 && (s = reserve(o, n, err, errlen))) goto fail;
    for (int i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= d->n) {
            s = error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "dataset: index %d outside 0..%d",
                          idx[i], d->n - 1);
            goto fail;
        }
        int lab = map ? map[d->y[idx[i]]] : d->y[idx[i]];
        /* A pending image stays pending in the copy (decoded on first use there). */
        if (dataset_is_pending(d, idx[i]))
            s = dataset_append_pending(o, lab, d->paths[idx[i]], err, errlen);
        else
            s = dataset_append(o, dataset_image(d, idx[i]), lab, d->paths ? d->paths[idx[i]] : NULL, err, errlen);
        if (s) goto fail;
    }
    return GRAFT_OK;
fail:
    dataset_free(o);
    *out = NULL;
    return s;
}

graft_status dataset_subset(const dataset *d, const int *idx, int n, dataset **out, char *err,
                            size_t errlen)
{
    return dataset_subset_mapped(d, idx, n, NULL, d->nclasses, (const char *const *)d->class_names, out, err, errlen);
}

graft_status dataset_select_classes(const dataset *d, const int *classes, int k, dataset **out,
                                    char *err, size_t errlen)
{
    *out = NULL;
    if (k < 1)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "select classes: empty class list");
    int *map = malloc((size_t)d->nclasses * sizeof *map);
    const char **names = malloc((size_t)k * sizeof *names);
    int *idx = malloc(((size_t)d->n + 1) * sizeof *idx);
    graft_status s = GRAFT_OK;
    if (!map || !names || !idx) {
        s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "select classes: out of memory");
        goto done;
    }
    for (int i = 0; i < d->nclasses; i++) map[i] = -1;
    for (int j = 0; j < k; j++) {
        if (classes[j] < 0 || classes[j] >= d->nclasses || map[classes[j]] >= 0) {
            s = error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                          "select classes: class %d is out of range 0..%d or repeated", classes[j],
                          d->nclasses - 1);
            goto done;
        }
        map[classes[j]] = j;
        names[j] = d->class_names[classes[j]];
    }
    int m = 0;
    for (int i = 0; i < d->n; i++)
        if (map[d->y[i]] >= 0) idx[m++] = i;
    s = dataset_subset_mapped(d, idx, m, map, k, names, out, err, errlen);
done:
    free(map);
    free(names);
    free(idx);
    return s;
}

void shuffle_ints(int *idx, int n, uint64_t seed)
{
    rng r = {seed};
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(&r, (uint64_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* Per-class index lists: members[start[c] .. start[c+1]) in dataset order. */
static graft_status class_lists(const dataset *d, int **members, int **start, char *err, size_t errlen)
{
    *members = malloc(((size_t)d->n + 1) * sizeof **members);
    *start = calloc((size_t)d->nclasses + 1, sizeof **start);
    if (!*members || !*start) {
        free(*members);
        free(*start);
        *members = *start = NULL;
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: out of memory");
    }
    int *st = *start;
    for (int i = 0; i < d->n; i++) st[d->y[i] + 1]++;
    for (int c = 0; c < d->nclasses; c++) st[c + 1] += st[c];
    int *pos = calloc((size_t)d->nclasses, sizeof *pos);
    if (!pos) {
        free(*members);
        free(*start);
        *members = *start = NULL;
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: out of memory");
    }
    for (int i = 0; i < d->n; i++) (*members)[st[d->y[i]] + pos[d->y[i]]++] = i;
    free(pos);
    return GRAFT_OK;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

graft_status dataset_per_class(const dataset *d, int per_class, uint64_t seed, dataset **out,
                               char *err, size_t errlen)
{
    *out = NULL;
    if (per_class < 1)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "per-class sample: count %d < 1",
                         per_class);
    int *mem, *st;
    graft_status s = class_lists(d, &mem, &st, err, errlen);
    if (s) return s;
    int *idx = malloc(((size_t)d->n + 1) * sizeof *idx);
    if (!idx) {
        s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "per-class sample: out of memory");
        goto done;
    }
    int m = 0;
    for (int c = 0; c < d->nclasses; c++) {
        int cnt = st[c + 1] - st[c];
        shuffle_ints(mem + st[c], cnt, data_mix(seed, 1, (uint64_t)c));
        int take = cnt < per_class ? cnt : per_class;
        for (int j = 0; j < take; j++) idx[m++] = mem[st[c] + j];
    }
    qsort(idx, (size_t)m, sizeof *idx, cmp_int);
    s = dataset_subset(d, idx, m, out, err, errlen);
done:
    free(idx);
    free(mem);
    free(st);
    return s;
}

graft_status dataset_split_stratified(const dataset *d, double val_frac, uint64_t seed,
                                      unsigned char *is_val, char *err, size_t errlen)
{
    if (!(val_frac >= 0 && val_frac < 1))
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                         "split: validation fraction %g outside [0, 1)", val_frac);
    int *mem, *st;
    graft_status s = class_lists(d, &mem, &st, err, errlen);
    if (s) return s;
    memset(is_val, 0, (size_t)d->n);
    for (int c = 0; c < d->nclasses; c++) {
        int cnt = st[c + 1] - st[c];
        shuffle_ints(mem + st[c], cnt, data_mix(seed, 2, (uint64_t)c));
        int nv = (int)floor(cnt * val_frac + 0.5);
        if (val_frac > 0 && cnt >= 2) {
            if (nv < 1) nv = 1;
            if (nv > cnt - 1) nv = cnt - 1;
        }
        for (int j = 0; j < nv; j++) is_val[mem[st[c] + j]] = 1;
    }
    free(mem);
    free(st);
    return GRAFT_OK;
}

graft_status dataset_split(const dataset *d, double val_frac, uint64_t seed, dataset **train,
                           dataset **val, char *err, size_t errlen)
{
    *train = *val = NULL;
    unsigned char *f = malloc((size_t)d->n + 1);
    int *a = malloc(((size_t)d->n + 1) * sizeof *a), *b = malloc(((size_t)d->n + 1) * sizeof *b);
    graft_status s;
    if (!f || !a || !b) {
        s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "split: out of memory");
        goto done;
    }
    if ((s = dataset_split_stratified(d, val_frac, seed, f, err, errlen))) goto done;
    int na = 0, nb = 0;
    for (int i = 0; i < d->n; i++) {
        if (f[i]) b[nb++] = i;
        else a[na++] = i;
    }
    if ((s = dataset_subset(d, a, na, train, err, errlen))) goto done;
    if ((s = dataset_subset(d, b, nb, val, err, errlen))) {
        dataset_free(*train);
        *train = NULL;
    }
done:
    free(f);
    free(a);
    free(b);
    return s;
}

graft_status dataset_kfold(const dataset *d, int k, uint64_t seed, int *fold, char *err,
                           size_t errlen)
{
    if (k < 2) return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "k-fold: k = %d < 2", k);
    int *mem, *st;
    graft_status s = class_lists(d, &mem, &st, err, errlen);
    if (s) return s;
    int offset = 0; /* rotates so that the remainders spread over the folds */
    for (int c = 0; c < d->nclasses; c++) {
        int cnt = st[c + 1] - st[c];
        shuffle_ints(mem + st[c], cnt, data_mix(seed, 3, (uint64_t)c));
        for (int j = 0; j < cnt; j++) fold[mem[st[c] + j]] = (offset + j) % k;
        offset = (offset + cnt) % k;
    }
    free(mem);
    free(st);
    return GRAFT_OK;
}

void data_progress(const data_load_opts *o, long done, long total, double t0)
{
    if (!o->progress) return;
    double el = now_seconds() - t0;
    graft_progress p = {"load", 0, 0, done, total, done, -1, -1, el > 0 ? (double)done / el : 0, el};
    o->progress(o->progress_user, &p);
}
