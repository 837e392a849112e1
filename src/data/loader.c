/* Prefetching batch loader: a background thread fills a ring of batch
 * buffers (shuffled per epoch, augmented and normalised) while the caller
 * consumes the previous one. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "dataset.h"

#define LOADER_ERRLEN 1024

typedef struct slot {
    float *x;
    int *y;
    int n;
    long batch; /* batch index held, -1 = none */
    unsigned long gen;
    graft_status s; /* an image could not be read */
    char err[LOADER_ERRLEN];
} slot;

struct loader {
    const dataset *d;
    loader_opts o;
    float *mean, *std;
    int *base;   /* sample indices (subset or 0..n-1) */
    int nbase;
    int *perm;   /* this epoch's order */
    int nbatches;
    uint64_t epoch;
    slot *slots;
    int nbuf;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_ready;
    int quit;
    unsigned long gen; /* bumped at every epoch start */
    long next_fill;    /* next batch the worker produces */
    long release;      /* lowest batch still held by the caller */
    long consumed;     /* batches handed out this epoch */
    int filling;       /* worker is outside the lock filling a slot */
    char err[LOADER_ERRLEN]; /* why the last loader_next returned -1 */
};

static void fill(loader *l, slot *s, long b)
{
    const dataset *d = l->d;
    size_t isz = dataset_image_size(d);
    int hw = d->h * d->w;
    long start = b * l->o.batch;
    int n = l->nbase - start < l->o.batch ? (int)(l->nbase - start) : l->o.batch;
    /* This shard's part of the batch (data_parallel.c slices the same way). */
    int ns = l->o.nshards > 1 ? l->o.nshards : 1, sh = ns > 1 ? l->o.shard : 0;
    int lo = (int)((long)n * sh / ns), hi = (int)((long)n * (sh + 1) / ns);
    s->s = GRAFT_OK;
    s->err[0] = '\0';
    for (int i = 0; i < n; i++) {
        int idx = l->perm[start + i];
        s->y[i] = d->y[idx];
        if (i < lo || i >= hi || s->s != GRAFT_OK) continue;
        const float *img;
        s->s = dataset_fetch(d, idx, &img, s->err, sizeof s->err);
        if (s->s != GRAFT_OK) continue;
        float *dst = s->x + (size_t)i * isz;
        if (l->o.augment)
            augment_image(img, d->c, d->h, d->w, dst, &l->o.aug, l->o.seed, l->epoch, (uint64_t)idx);
        else
            memcpy(dst, img, isz * sizeof *dst);
        if (l->mean) preprocess_normalize(dst, d->c, hw, l->mean, l->std);
    }
    s->n = n;
}

static void *worker(void *arg)
{
    loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->quit && (l->next_fill >= l->nbatches || l->next_fill >= l->release + l->nbuf))
            pthread_cond_wait(&l->cv_work, &l->mu);
        if (l->quit) break;
        long b = l->next_fill++;
        unsigned long g = l->gen;
        slot *s = &l->slots[b % l->nbuf];
        l->filling = 1;
        pthread_mutex_unlock(&l->mu);
        fill(l, s, b);
        pthread_mutex_lock(&l->mu);
        l->filling = 0;
        if (g == l->gen) {
            s->batch = b;
            s->gen = g;
        }
        pthread_cond_broadcast(&l->cv_ready);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void destroy(loader *l)
{
    if (l->slots)
        for (int i = 0; i < l->nbuf; i++) {
            free(l->slots[i].x);
            free(l->slots[i].y);
        }
    free(l->slots);
    free(l->mean);
    free(l->std);
    free(l->base);
    free(l->perm);
    free(l);
}

graft_status loader_create(const dataset *d, const loader_opts *o, loader **out, char *err,
                           size_t errlen)
{
    *out = NULL;
    if (!d || !o || o->batch < 1 || (!o->mean) != (!o->std) || o->nbuf < 0 || o->nindices < 0 ||
        (o->nindices > 0 && !o->indices) || o->nshards < 0 ||
        (o->nshards > 1 && (o->shard < 0 || o->shard >= o->nshards)))
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                         "loader: bad options (batch %d, nbuf %d)", o ? o->batch : 0,
                         o ? o->nbuf : 0);
    loader *l = calloc(1, sizeof *l);
    if (!l) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "loader: out of memory");
    l->d = d;
    l->o = *o;
    l->nbuf = o->nbuf ? (o->nbuf < 2 ? 2 : o->nbuf) : 3;
    l->nbase = o->indices ? o->nindices : d->n;
    l->o.indices = NULL;
    l->o.mean = l->o.std = NULL;
    l->base = malloc(((size_t)l->nbase + 1) * sizeof *l->base);
    l->perm = malloc(((size_t)l->nbase + 1) * sizeof *l->perm);
    l->slots = calloc((size_t)l->nbuf, sizeof *l->slots);
    if (!l->base || !l->perm || !l->slots) goto oom;
    for (int i = 0; i < l->nbase; i++) {
        l->base[i] = o->indices ? o->indices[i] : i;
        if (l->base[i] < 0 || l->base[i] >= d->n) {
            destroy(l);
            return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "loader: index %d outside 0..%d",
                             o->indices[i], d->n - 1);
        }
    }
    if (o->mean) {
        l->mean = malloc((size_t)d->c * sizeof *l->mean);
        l->std = malloc((size_t)d->c * sizeof *l->std);
        if (!l->mean || !l->std) goto oom;
        for (int k = 0; k < d->c; k++) {
            if (!(o->std[k] > 0)) {
                destroy(l);
                return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                                 "loader: std[%d] = %g is not positive", k, o->std[k]);
            }
            l->mean[k] = o->mean[k];
            l->std[k] = o->std[k];
        }
    }
    size_t isz = dataset_image_size(d);
    for (int i = 0; i < l->nbuf; i++) {
        l->slots[i].x = malloc((size_t)o->batch * isz * sizeof(float));
        l->slots[i].y = malloc((size_t)o->batch * sizeof(int));
        l->slots[i].batch = -1;
        if (!l->slots[i].x || !l->slots[i].y) goto oom;
    }
    l->nbatches = 0; /* nothing until the first loader_start_epoch */
    if (pthread_mutex_init(&l->mu, NULL) != 0) goto oom;
    if (pthread_cond_init(&l->cv_work, NULL) != 0) {
        pthread_mutex_destroy(&l->mu);
        goto oom;
    }
    if (pthread_cond_init(&l->cv_ready, NULL) != 0) {
        pthread_cond_destroy(&l->cv_work);
        pthread_mutex_destroy(&l->mu);
        goto oom;
    }
    if (pthread_create(&l->thread, NULL, worker, l) != 0) {
        pthread_cond_destroy(&l->cv_ready);
        pthread_cond_destroy(&l->cv_work);
        pthread_mutex_destroy(&l->mu);
        destroy(l);
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY,
                         "loader: cannot start the prefetch thread");
    }
    *out = l;
    return GRAFT_OK;
oom:
    destroy(l);
    return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "loader: out of memory");
}

int loader_num_batches(const loader *l)
{
    return l->o.drop_last ? l->nbase / l->o.batch : (l->nbase + l->o.batch - 1) / l->o.batch;
}

void loader_start_epoch(loader *l, uint64_t epoch)
{
    pthread_mutex_lock(&l->mu);
    l->gen++;
    while (l->filling) pthread_cond_wait(&l->cv_ready, &l->mu);
    /* the worker is idle and sees the new generation from here on */
    l->epoch = epoch;
    memcpy(l->perm, l->base, (size_t)l->nbase * sizeof *l->perm);
    if (l->o.shuffle) shuffle_ints(l->perm, l->nbase, data_mix(l->o.seed, 0x5f, epoch));
    for (int i = 0; i < l->nbuf; i++) l->slots[i].batch = -1;
    l->nbatches = loader_num_batches(l);
    l->next_fill = 0;
    l->release = 0;
    l->consumed = 0;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
}

int loader_next(loader *l, const float **x, const int **y, int *n)
{
    pthread_mutex_lock(&l->mu);
    long b = l->consumed;
    if (b >= l->nbatches) {
        l->release = b; /* let go of the last batch */
        pthread_mutex_unlock(&l->mu);
        *x = NULL;
        *y = NULL;
        *n = 0;
        return 0;
    }
    l->release = b; /* the previously returned batch is released */
    pthread_cond_broadcast(&l->cv_work);
    slot *s = &l->slots[b % l->nbuf];
    while (!(s->batch == b && s->gen == l->gen)) pthread_cond_wait(&l->cv_ready, &l->mu);
    if (s->s != GRAFT_OK) {
        /* The epoch ends here: later batches are not handed out. */
        snprintf(l->err, sizeof l->err, "%s", s->err);
        l->consumed = l->nbatches;
        pthread_mutex_unlock(&l->mu);
        *x = NULL;
        *y = NULL;
        *n = 0;
        return -1;
    }
    l->consumed = b + 1;
    *x = s->x;
    *y = s->y;
    *n = s->n;
    pthread_mutex_unlock(&l->mu);
    return 1;
}

const char *loader_error(const loader *l) { return l->err; }

void loader_free(loader *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->quit = 1;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_cond_destroy(&l->cv_ready);
    pthread_cond_destroy(&l->cv_work);
    pthread_mutex_destroy(&l->mu);
    destroy(l);
}
