/* Images decoded on first use (graft_data_spec.lazy): opening a class
 * folder or CSV list then only lists the files; an image is decoded the
 * first time it is read, so a data parallel rank that reads only its
 * shard of every batch decodes (and holds) only its shard
 * (docs/parallel.md). A lazy dataset keeps one buffer per decoded image
 * instead of the contiguous d->x. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "image.h"
#include "internal.h"

struct dataset_lazy {
    pthread_mutex_t mu;     /* decodes and buffer pointers change under it */
    unsigned char *pending; /* cap entries: 1 = not decoded yet */
    float **pix;            /* cap entries: image i's pixels; NULL while pending */
    int npending;
};

graft_status dataset_lazy_reserve(dataset *d, int cap, char *err, size_t errlen)
{
    if (!d->lazy) return GRAFT_OK;
    struct dataset_lazy *z = d->lazy;
    unsigned char *p = realloc(z->pending, (size_t)cap + 1);
    if (p) z->pending = p;
    float **x = p ? realloc(z->pix, sizeof *x * ((size_t)cap + 1)) : NULL;
    if (!x) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: out of memory");
    z->pix = x;
    for (int i = d->cap; i < cap; i++) {
        p[i] = 0;
        x[i] = NULL;
    }
    return GRAFT_OK;
}

graft_status dataset_lazy_store(dataset *d, int i, const float *img, char *err, size_t errlen)
{
    struct dataset_lazy *z = d->lazy;
    if (!img) {
        z->pending[i] = 1;
        z->npending++;
        return GRAFT_OK;
    }
    size_t isz = dataset_image_size(d);
    z->pix[i] = malloc(isz * sizeof(float));
    if (!z->pix[i]) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: out of memory");
    memcpy(z->pix[i], img, isz * sizeof(float));
    return GRAFT_OK;
}

void dataset_lazy_free(dataset *d)
{
    if (!d->lazy) return;
    for (int i = 0; i < d->n; i++) free(d->lazy->pix[i]);
    pthread_mutex_destroy(&d->lazy->mu);
    free(d->lazy->pending);
    free(d->lazy->pix);
    free(d->lazy);
    d->lazy = NULL;
}

int dataset_is_pending(const dataset *d, int i)
{
    if (!d->lazy || i < 0 || i >= d->n) return 0;
    pthread_mutex_lock(&d->lazy->mu);
    int p = d->lazy->pending[i];
    pthread_mutex_unlock(&d->lazy->mu);
    return p;
}

int dataset_num_pending(const dataset *d)
{
    if (!d->lazy) return 0;
    pthread_mutex_lock(&d->lazy->mu);
    int n = d->lazy->npending;
    pthread_mutex_unlock(&d->lazy->mu);
    return n;
}

/* Turns d lazy: the images it holds move from d->x to buffers of their own. */
static graft_status make_lazy(dataset *d, char *err, size_t errlen)
{
    struct dataset_lazy *z = calloc(1, sizeof *z);
    if (!z) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: out of memory");
    z->pending = calloc((size_t)d->cap + 1, 1);
    z->pix = calloc((size_t)d->cap + 1, sizeof *z->pix);
    if (!z->pending || !z->pix || pthread_mutex_init(&z->mu, NULL) != 0) {
        free(z->pending);
        free(z->pix);
        free(z);
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: out of memory");
    }
    d->lazy = z;
    for (int i = 0; i < d->n; i++) {
        graft_status s = dataset_lazy_store(d, i, d->x + (size_t)i * dataset_image_size(d), err, errlen);
        if (s != GRAFT_OK) {
            /* back to d->x: it is still whole */
            for (int k = 0; k < i; k++) free(z->pix[k]);
            free(z->pending);
            free(z->pix);
            pthread_mutex_destroy(&z->mu);
            free(z);
            d->lazy = NULL;
            return s;
        }
    }
    free(d->x);
    d->x = NULL;
    return GRAFT_OK;
}

graft_status dataset_append_pending(dataset *d, int label, const char *path, char *err,
                                    size_t errlen)
{
    if (!path) return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "dataset: a pending image needs a path");
    if (!d->lazy) {
        graft_status s = make_lazy(d, err, errlen);
        if (s != GRAFT_OK) return s;
    }
    return data_append_slot(d, NULL, label, path, err, errlen);
}

graft_status data_decode_image(const char *path, int c, int h, int w, float *dst, char *err,
                               size_t errlen)
{
    float *pix = NULL;
    int pw, ph;
    /* JPEGs decode at a reduced size that still covers the target */
    graft_status s = image_decode_file_fit(path, c, w, h, &pix, &pw, &ph, err, errlen);
    if (s != GRAFT_OK) return s;
    preprocess_resize_crop(pix, c, ph, pw, dst, h, w);
    free(pix);
    return GRAFT_OK;
}

graft_status dataset_fetch(const dataset *d, int i, const float **img, char *err, size_t errlen)
{
    *img = NULL;
    if (i < 0 || i >= d->n)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "dataset: index %d outside 0..%d", i,
                         d->n - 1);
    if (!d->lazy) {
        *img = d->x + (size_t)i * dataset_image_size(d);
        return GRAFT_OK;
    }
    struct dataset_lazy *z = d->lazy; /* the pixel cache: filled under its lock */
    graft_status s = GRAFT_OK;
    pthread_mutex_lock(&z->mu);
    if (z->pending[i]) {
        float *buf = malloc(dataset_image_size(d) * sizeof *buf);
        s = buf ? data_decode_image(d->paths[i], d->c, d->h, d->w, buf, err, errlen)
                : error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: out of memory");
        if (s == GRAFT_OK) {
            z->pix[i] = buf;
            z->pending[i] = 0;
            z->npending--;
        } else {
            free(buf);
        }
    }
    *img = z->pix[i];
    pthread_mutex_unlock(&z->mu);
    return s;
}

graft_status data_append_lazy(dataset **d, const data_load_opts *o, int nclasses,
                              const char *const *names, const char *path, int label,
                              data_report *r, char *err, size_t errlen)
{
    /* Skipping bad files changes which images there are: that needs the
     * decode now. Without a target size the first image sets it. */
    if (!o->lazy || o->skip_bad || (!*d && o->h == 0))
        return data_append_image(d, o, nclasses, names, path, label, r, err, errlen);
    if (!*d) {
        graft_status s = dataset_create(o->c, o->h, o->w, nclasses, names, d, err, errlen);
        if (s != GRAFT_OK) return s;
    }
    return dataset_append_pending(*d, label, path, err, errlen);
}
