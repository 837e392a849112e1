/* Images decoded on first use (graft_data_spec.lazy): opening a class
 * folder or CSV list then only lists the files; an image is decoded the
 * first time it is read, so a data parallel rank that reads only its
 * shard of every batch decodes only its shard (docs/parallel.md). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "image.h"
#include "internal.h"

struct dataset_lazy {
    pthread_mutex_t mu;    /* one decode at a time: the slot and flags stay consistent */
    unsigned char *pending; /* cap entries: 1 = not decoded yet */
    int npending;
    long decoded;          /* images decoded on first use */
};

graft_status dataset_lazy_reserve(dataset *d, int cap, char *err, size_t errlen)
{
    if (!d->lazy) return GRAFT_OK;
    unsigned char *p = realloc(d->lazy->pending, (size_t)cap + 1);
    if (!p) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: out of memory");
    for (int i = d->cap; i < cap; i++) p[i] = 0;
    d->lazy->pending = p;
    return GRAFT_OK;
}

void dataset_lazy_free(dataset *d)
{
    if (!d->lazy) return;
    pthread_mutex_destroy(&d->lazy->mu);
    free(d->lazy->pending);
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

graft_status dataset_append_pending(dataset *d, int label, const char *path, char *err,
                                    size_t errlen)
{
    if (!path) return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "dataset: a pending image needs a path");
    if (!d->lazy) {
        struct dataset_lazy *z = calloc(1, sizeof *z);
        if (!z) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: out of memory");
        z->pending = calloc((size_t)d->cap + 1, 1);
        if (!z->pending || pthread_mutex_init(&z->mu, NULL) != 0) {
            free(z->pending);
            free(z);
            return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: out of memory");
        }
        d->lazy = z;
    }
    /* The pixels are written by the first dataset_fetch; until then the
     * slot holds zeros (dataset_append copies them). */
    float *zero = calloc(dataset_image_size(d), sizeof *zero);
    if (!zero) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "dataset: out of memory");
    graft_status s = dataset_append(d, zero, label, path, err, errlen);
    free(zero);
    if (s != GRAFT_OK) return s;
    d->lazy->pending[d->n - 1] = 1;
    d->lazy->npending++;
    return GRAFT_OK;
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
    float *slot = d->x + (size_t)i * dataset_image_size(d);
    if (!d->lazy) {
        *img = slot;
        return GRAFT_OK;
    }
    struct dataset_lazy *z = d->lazy; /* the pixel cache: filled under its lock */
    graft_status s = GRAFT_OK;
    pthread_mutex_lock(&z->mu);
    if (z->pending[i]) {
        s = data_decode_image(d->paths[i], d->c, d->h, d->w, slot, err, errlen);
        if (s == GRAFT_OK) {
            z->pending[i] = 0;
            z->npending--;
            z->decoded++;
        }
    }
    pthread_mutex_unlock(&z->mu);
    if (s == GRAFT_OK) *img = slot;
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
