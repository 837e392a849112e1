/* Data parallel training step: replicas on other devices (one context and
 * one thread each) and other processes (graft_collective). See
 * data_parallel.h for the contract and docs/parallel.md for the design. */
#define _POSIX_C_SOURCE 200809L
#include "data_parallel.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "error.h"
#include "model.h"
#include "model_io.h"
#include "modelfile.h"
#include "rank_status.h"

/* Floats per collective call: big enough that the per-call latency does
 * not matter, small enough that the host buffers stay cache-friendly. */
#define BUCKET_FLOATS ((size_t)1 << 20)
#define BUCKET_FLOATS_MAX ((size_t)1 << 28) /* a call's count is an int */
#define DP_MAX_REPLICAS 64

/* A replica's handle in the synchronised-BatchNorm sums. */
typedef struct sync_member {
    data_parallel *dp;
    int r;
} sync_member;

/* The rendezvous of synchronised BatchNorm: every replica deposits its
 * vector, the last one sums them in replica order (the same bits whatever
 * the arrival order), replica 0 (the calling thread: MPI is called from
 * there only) adds the other ranks', and everybody copies the result. */
typedef struct sync_group {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int active;          /* this step synchronises */
    int arrived, left, summed, reduced, departing, broken;
    int peer_failed;     /* broken because another rank said so in a status round */
    char why[GRAFT_ERRLEN]; /* broken because this rank's sum over the ranks failed */
    double **slot;       /* per replica */
    size_t *slotcap;
    double *acc;
    float *fbuf;
    size_t acccap;
    int n;
} sync_group;

/* A bucket of the gradient sum over the ranks: whole parameters
 * grad_params[first..last], the flat range [off, off + len), summed in
 * calls of at most bucket_floats floats (BUCKET_FLOATS by default).
 * Buckets are cut from the last parameter back, in the order backward
 * produces the gradients; the sum after backward and the overlapped one
 * send the same calls in the same order. */
typedef struct bucket {
    size_t off, len;
    int first, last;
    int low_node; /* node of grad_params[first]: ready once its backward ran */
} bucket;

typedef struct replica {
    graft_ctx *ctx;     /* owned; NULL for the primary (replica 0) */
    graft_model *m;     /* owned; the primary's model for replica 0 */
    float *grad;        /* host copy of this replica's weighted gradients (flat) */
    const float *x;     /* this step's slice */
    const int *y;
    int n;
    float loss;         /* mean over the slice */
    int correct;
    int pull_weights;   /* take the primary's weights (host wbuf) before forward */
    float weight;       /* share of the global batch */
    graft_status s;
    char err[GRAFT_ERRLEN];
    sync_member member;
    bn_sync sync;
} replica;

struct data_parallel {
    graft_model *m;
    const graft_collective *comm;
    rank_status *status; /* borrowed from the training loop; rounds only with comm */
    float label_smoothing;
    int nrep;
    replica *rep;
    int *grad_params;   /* indices of trainable parameters, flat order */
    int ngrad;
    size_t grad_floats; /* sum of their sizes */
    int *step_params;   /* what an optimizer step can change: trainable + running stats */
    int nstep;
    size_t step_floats;
    float *wbuf;        /* host copy of step_params after the last step */
    bucket *buckets;    /* of grad_params, last parameters first */
    int nbuckets;
    size_t bucket_floats; /* largest bucket (whole parameters) and call */
    int overlap;        /* sum the buckets while backward runs (see overlap_done) */
    int ov_next;        /* the next bucket to start this step */
    void **reqs;        /* started calls, in order */
    int nreq, capreq;
    int ov_tested;      /* calls before this one are complete */
    float ov_weight;    /* this rank's share of the batch */
    graft_status ov_s;  /* a call that could not start */
    char ov_err[GRAFT_ERRLEN];
    int dirty;          /* the primary stepped since the replicas last pulled */
    int sync_bn;
    int group_ready;    /* group's mutex and condition exist */
    sync_group group;
};

static int sync_active(void *user)
{
    sync_member *me = user;
    return me->dp->group.active;
}

static void group_break(data_parallel *dp)
{
    if (!dp->group_ready) return;
    pthread_mutex_lock(&dp->group.mu);
    dp->group.broken = 1;
    pthread_cond_broadcast(&dp->group.cv);
    pthread_mutex_unlock(&dp->group.mu);
}

static int grow(double **p, size_t *cap, size_t n)
{
    if (*cap >= n) return 1;
    double *q = realloc(*p, sizeof(double) * n);
    if (!q) return 0;
    *p = q;
    *cap = n;
    return 1;
}

/* bn_sync.sum: see sync_group. */
static graft_status sync_sum(void *user, double *v, int n, int weighted)
{
    sync_member *me = user;
    data_parallel *dp = me->dp;
    sync_group *g = &dp->group;
    int r = me->r, size = dp->nrep;
    pthread_mutex_lock(&g->mu);
    while (g->departing && !g->broken) pthread_cond_wait(&g->cv, &g->mu);
    if (g->broken || !grow(&g->slot[r], &g->slotcap[r], (size_t)n)) {
        g->broken = 1;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
        return GRAFT_ERR_INTERNAL;
    }
    double w = weighted ? dp->rep[r].weight : 1.0;
    for (int k = 0; k < n; k++) g->slot[r][k] = v[k] * w;
    g->n = n;
    if (++g->arrived == size) {
        if (!grow(&g->acc, &g->acccap, (size_t)n)) {
            g->broken = 1;
        } else {
            for (int k = 0; k < n; k++) {
                double t = 0;
                for (int q = 0; q < size; q++) t += g->slot[q][k];
                g->acc[k] = t;
            }
            g->summed = 1;
        }
        pthread_cond_broadcast(&g->cv);
    }
    while (!g->summed && !g->broken) pthread_cond_wait(&g->cv, &g->mu);
    if (dp->comm && r == 0 && !g->broken) {
        /* A status round first (a failed rank may be anywhere; it raises
         * its flag in whatever round comes next), then the other ranks'
         * sums: floats on the wire. */
        float *f = realloc(g->fbuf, sizeof(float) * (size_t)n);
        if (f) g->fbuf = f;
        pthread_mutex_unlock(&g->mu);
        char msg[512] = "";
        graft_status cs = f ? GRAFT_OK : GRAFT_ERR_HOST_MEMORY;
        graft_status rs = rank_status_round(dp->status, cs, NULL, 0, msg, sizeof msg);
        int peer = cs == GRAFT_OK && rs != GRAFT_OK;
        for (int k = 0; rs == GRAFT_OK && k < n; k++) f[k] = (float)g->acc[k];
        if (rs == GRAFT_OK) cs = dp->comm->allreduce_sum(dp->comm->user, f, (size_t)n, msg, sizeof msg);
        pthread_mutex_lock(&g->mu);
        if (rs == GRAFT_OK && cs == GRAFT_OK)
            for (int k = 0; k < n; k++) g->acc[k] = f[k];
        else
            g->broken = 1;
        g->peer_failed = peer;
        if (!peer && (rs != GRAFT_OK || cs != GRAFT_OK))
            snprintf(g->why, sizeof g->why, "rank %d: synchronising BatchNorm over %d ranks: %s",
                     dp->comm->rank, dp->comm->size, msg[0] ? msg : "out of host memory");
        g->reduced = 1;
        pthread_cond_broadcast(&g->cv);
    }
    while (dp->comm && !g->reduced && !g->broken) pthread_cond_wait(&g->cv, &g->mu);
    graft_status s = g->broken ? GRAFT_ERR_INTERNAL : GRAFT_OK;
    if (s == GRAFT_OK)
        for (int k = 0; k < n; k++) v[k] = g->acc[k];
    /* The next sum starts once everybody has copied this one. */
    g->departing = 1;
    if (++g->left == size) {
        g->arrived = g->left = g->summed = g->reduced = g->departing = 0;
        pthread_cond_broadcast(&g->cv);
    }
    pthread_mutex_unlock(&g->mu);
    return s;
}

/* Points every BatchNorm layer of m at its replica's handle (NULL: off). */
static void attach_sync(graft_model *m, const bn_sync *sync)
{
    for (int i = 1; i < m->nnodes; i++)
        if (m->nodes[i].spec.kind == GRAFT_LAYER_BATCHNORM2D) m->nodes[i].l->sync = sync;
}

int data_parallel_wanted(const graft_train_config *cfg)
{
    return cfg->ndevices > 1 || (cfg->comm && cfg->comm->size > 1);
}

int data_parallel_writes_files(const graft_train_config *cfg)
{
    return !cfg->comm || cfg->comm->rank == 0;
}

/* Context settings of the replicas: those m's context was made with, on
 * another device. */
static graft_ctx_params params_like(const graft_ctx *c, const char *device)
{
    graft_ctx_params p = graft_ctx_default_params();
    p.device = device;
    p.gemm = c->gemm;
    p.cache_dir = c->cache_dir;
    p.kernel_style = c->cpu_kernels ? GRAFT_KERNELS_CPU : GRAFT_KERNELS_GPU;
    p.fuse = c->fuse;
    p.conv_path = c->conv_path;
    p.conv_pointwise = c->conv_pointwise;
    p.conv_chunk_bytes = c->conv_chunk_bytes;
    p.conv_winograd = c->conv_winograd;
    p.gemm_tuning = c->tune;
    return p;
}

/* A copy of m on ctx: same graph and parameters (through the model file's
 * in-memory form), then the training flags the file does not carry. */
static graft_status clone_model(graft_model *m, graft_ctx *ctx, graft_model **out, char *err,
                                size_t errlen)
{
    mf_model f;
    memset(&f, 0, sizeof f);
    graft_status s = model_to_mf(m, NULL, &f);
    if (s == GRAFT_OK) s = model_from_mf(ctx, &f, "replica", out);
    mf_model_free(&f);
    if (s != GRAFT_OK)
        return error_set(err, errlen, s, "copying the model to device %s: %s", ctx->info.name,
                         graft_last_error(s == GRAFT_OK ? m->ctx : ctx));
    graft_model_set_seed(*out, m->seed);
    return GRAFT_OK;
}

/* Writes the flat host vector buf (the parameters idx[0..n)) into m. */
static graft_status put_params(graft_model *m, const int *idx, int n, const float *buf, int grads)
{
    size_t off = 0;
    for (int k = 0; k < n; k++) {
        param *p = model_param(m, idx[k]);
        if (!grads) param_written(p);
        graft_status s = ctx_write(m->ctx, grads ? p->grad : p->data, 0, buf + off, p->numel);
        if (s != GRAFT_OK) return s;
        off += p->numel;
    }
    return GRAFT_OK;
}

static graft_status get_params(graft_model *m, const int *idx, int n, float *buf, int grads)
{
    size_t off = 0;
    for (int k = 0; k < n; k++) {
        param *p = model_param(m, idx[k]);
        graft_status s = ctx_read(m->ctx, grads ? p->grad : p->data, 0, buf + off, p->numel);
        if (s != GRAFT_OK) return s;
        off += p->numel;
    }
    return GRAFT_OK;
}

static void copy_flags(graft_model *dst, const graft_model *src)
{
    for (int i = 1; i < src->nnodes; i++) {
        dst->nodes[i].trainable = src->nodes[i].trainable;
        dst->nodes[i].lr_mult = src->nodes[i].lr_mult;
        dst->nodes[i].l->bn_frozen = src->nodes[i].l->bn_frozen;
    }
}

/* Cuts grad_params into buckets from the last parameter back: whole
 * parameters up to bucket_floats floats, a larger parameter alone. */
static graft_status make_buckets(data_parallel *dp, char *err, size_t errlen)
{
    graft_model *m = dp->m;
    free(dp->buckets);
    dp->nbuckets = 0;
    dp->buckets = malloc(sizeof(bucket) * (size_t)(dp->ngrad + 1));
    if (!dp->buckets) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    size_t end = dp->grad_floats;
    int k = dp->ngrad - 1;
    while (k >= 0) {
        bucket *b = &dp->buckets[dp->nbuckets++];
        b->last = k;
        b->len = 0;
        while (k >= 0 && (b->len == 0 || b->len + model_param(m, dp->grad_params[k])->numel <= dp->bucket_floats))
            b->len += model_param(m, dp->grad_params[k--])->numel;
        b->first = k + 1;
        b->off = end - b->len;
        end = b->off;
        b->low_node = m->params[dp->grad_params[b->first]].node;
    }
    return GRAFT_OK;
}

/* Parameter index lists: trainable ones (gradients) and those a step or a
 * training forward changes (weights and running statistics). */
static graft_status index_params(data_parallel *dp, char *err, size_t errlen)
{
    graft_model *m = dp->m;
    free(dp->grad_params);
    free(dp->step_params);
    dp->grad_params = malloc(sizeof(int) * (size_t)(m->nparams + 1));
    dp->step_params = malloc(sizeof(int) * (size_t)(m->nparams + 1));
    if (!dp->grad_params || !dp->step_params)
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    dp->ngrad = dp->nstep = 0;
    dp->grad_floats = dp->step_floats = 0;
    for (int i = 0; i < m->nparams; i++) {
        param *p = model_param(m, i);
        if (graft_model_param_is_trainable(m, i)) {
            dp->grad_params[dp->ngrad++] = i;
            dp->grad_floats += p->numel;
        }
        if (graft_model_param_is_trainable(m, i) || !p->learnable) {
            dp->step_params[dp->nstep++] = i;
            dp->step_floats += p->numel;
        }
    }
    for (int r = 0; r < dp->nrep; r++) {
        free(dp->rep[r].grad);
        dp->rep[r].grad = malloc(sizeof(float) * (dp->grad_floats + 1));
        if (!dp->rep[r].grad) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    }
    free(dp->wbuf);
    dp->wbuf = malloc(sizeof(float) * (dp->step_floats + 1));
    if (!dp->wbuf) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    return make_buckets(dp, err, errlen);
}

graft_status data_parallel_create(graft_model *m, const graft_train_config *cfg,
                                  rank_status *status, data_parallel **out, char *err,
                                  size_t errlen)
{
    *out = NULL;
    data_parallel *dp = calloc(1, sizeof *dp);
    int nrep = cfg->ndevices > 1 ? cfg->ndevices : 1;
    if (nrep > DP_MAX_REPLICAS)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "%d devices: at most %d in one process",
                         nrep, DP_MAX_REPLICAS);
    if (nrep > 1 && !cfg->devices)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "ndevices is %d but devices is NULL", nrep);
    if (dp) dp->rep = calloc((size_t)nrep, sizeof *dp->rep);
    if (!dp || !dp->rep) {
        free(dp);
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    }
    dp->m = m;
    dp->comm = rank_status_active(status) ? status->comm : NULL;
    dp->status = status;
    dp->nrep = nrep;
    dp->bucket_floats = cfg->bucket_floats > 0 && cfg->bucket_floats <= BUCKET_FLOATS_MAX
                            ? cfg->bucket_floats : BUCKET_FLOATS;
    /* Overlap needs the split-phase sum, and only one replica: with
     * several, a bucket is ready only once every replica has it. Not with
     * synchronised BatchNorm, whose sums would interleave with the
     * buckets'. */
    dp->overlap = dp->comm && cfg->overlap_allreduce && nrep == 1 && !cfg->sync_bn &&
                  dp->comm->iallreduce_start && dp->comm->iallreduce_test && dp->comm->iallreduce_wait;
    dp->rep[0].m = m;
    graft_status s = GRAFT_OK;
    for (int r = 1; s == GRAFT_OK && r < nrep; r++) {
        graft_ctx_params p = params_like(m->ctx, cfg->devices[r]);
        char cerr[GRAFT_ERRLEN];
        s = graft_ctx_create(&p, &dp->rep[r].ctx, cerr, sizeof cerr);
        if (s != GRAFT_OK) {
            error_set(err, errlen, s, "device %d ('%s') of the data parallel run: %s", r,
                      cfg->devices[r], cerr);
            break;
        }
        s = clone_model(m, dp->rep[r].ctx, &dp->rep[r].m, err, errlen);
    }
    if (s == GRAFT_OK && cfg->sync_bn) {
        dp->group.slot = calloc((size_t)nrep, sizeof *dp->group.slot);
        dp->group.slotcap = calloc((size_t)nrep, sizeof *dp->group.slotcap);
        if (!dp->group.slot || !dp->group.slotcap)
            s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
        else if (pthread_mutex_init(&dp->group.mu, NULL))
            s = error_set(err, errlen, GRAFT_ERR_INTERNAL, "cannot create a mutex");
        else if (pthread_cond_init(&dp->group.cv, NULL)) {
            pthread_mutex_destroy(&dp->group.mu);
            s = error_set(err, errlen, GRAFT_ERR_INTERNAL, "cannot create a condition variable");
        } else {
            dp->group_ready = 1;
            dp->sync_bn = 1;
            for (int r = 0; r < nrep; r++) {
                replica *rp = &dp->rep[r];
                rp->member = (sync_member){dp, r};
                rp->sync = (bn_sync){sync_active, sync_sum, &rp->member};
                attach_sync(rp->m, &rp->sync);
            }
        }
    }
    if (s == GRAFT_OK) s = data_parallel_sync(dp, err, errlen);
    if (s != GRAFT_OK) {
        data_parallel_free(dp);
        return s;
    }
    *out = dp;
    return GRAFT_OK;
}

void data_parallel_free(data_parallel *dp)
{
    if (!dp) return;
    /* The primary outlives dp: its BatchNorm layers go back to local statistics. */
    if (dp->sync_bn) attach_sync(dp->m, NULL);
    if (dp->group_ready) {
        pthread_cond_destroy(&dp->group.cv);
        pthread_mutex_destroy(&dp->group.mu);
    }
    for (int r = 0; dp->group.slot && r < dp->nrep; r++) free(dp->group.slot[r]);
    free(dp->group.slot);
    free(dp->group.slotcap);
    free(dp->group.acc);
    free(dp->group.fbuf);
    for (int r = 0; r < dp->nrep; r++) {
        if (r > 0) {
            graft_model_free(dp->rep[r].m);
            graft_ctx_destroy(dp->rep[r].ctx);
        }
        free(dp->rep[r].grad);
    }
    free(dp->rep);
    free(dp->grad_params);
    free(dp->step_params);
    free(dp->wbuf);
    free(dp->buckets);
    free(dp->reqs);
    free(dp);
}

graft_status data_parallel_sync(data_parallel *dp, char *err, size_t errlen)
{
    TRY(index_params(dp, err, errlen));
    graft_model *m = dp->m;
    if (dp->nrep == 1) return GRAFT_OK;
    /* Every parameter, frozen ones included (a callback may have reset
     * any), through one host buffer of the largest. */
    size_t big = 1;
    for (int i = 0; i < m->nparams; i++)
        if (model_param(m, i)->numel > big) big = model_param(m, i)->numel;
    float *buf = malloc(sizeof(float) * big);
    if (!buf) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    graft_status s = GRAFT_OK;
    for (int i = 0; s == GRAFT_OK && i < m->nparams; i++) {
        param *p = model_param(m, i);
        s = ctx_read(m->ctx, p->data, 0, buf, p->numel);
        if (s != GRAFT_OK) error_set(err, errlen, s, "%s", graft_last_error(m->ctx));
        for (int r = 1; s == GRAFT_OK && r < dp->nrep; r++) {
            graft_model *rm = dp->rep[r].m;
            param_written(model_param(rm, i));
            s = ctx_write(rm->ctx, model_param(rm, i)->data, 0, buf, p->numel);
            if (s != GRAFT_OK) error_set(err, errlen, s, "%s", graft_last_error(rm->ctx));
        }
    }
    free(buf);
    for (int r = 1; r < dp->nrep; r++) copy_flags(dp->rep[r].m, m);
    dp->dirty = 0;
    return s;
}

/* One replica's share of a step: pull the new weights, forward, backward,
 * read the gradients scaled by the slice's share of the global batch. */
static void replica_run(data_parallel *dp, replica *rp, float weight)
{
    graft_model *m = rp->m;
    rp->s = GRAFT_OK;
    rp->loss = 0;
    rp->correct = 0;
    if (rp->pull_weights) rp->s = put_params(m, dp->step_params, dp->nstep, dp->wbuf, 0);
    if (rp->s == GRAFT_OK && rp->n == 0) { /* a short last batch: nothing for this one */
        memset(rp->grad, 0, sizeof(float) * dp->grad_floats);
        return;
    }
    if (rp->s == GRAFT_OK) rp->s = graft_model_forward(m, rp->x, rp->n, 1, NULL);
    if (rp->s == GRAFT_OK)
        rp->s = graft_model_backward(m, rp->y, dp->label_smoothing, &rp->loss, &rp->correct);
    /* Overlapped, the gradients were read bucket by bucket during backward. */
    if (rp->s == GRAFT_OK && !dp->overlap) rp->s = get_params(m, dp->grad_params, dp->ngrad, rp->grad, 1);
    if (rp->s != GRAFT_OK) {
        snprintf(rp->err, sizeof rp->err, "device %s: %s", m->ctx->info.name, graft_last_error(m->ctx));
        group_break(dp); /* nobody waits for this replica's statistics */
        return;
    }
    if (!dp->overlap)
        for (size_t k = 0; k < dp->grad_floats; k++) rp->grad[k] *= weight;
}

typedef struct replica_arg {
    data_parallel *dp;
    replica *rp;
    float weight;
} replica_arg;

static void *replica_thread(void *arg)
{
    replica_arg *a = arg;
    replica_run(a->dp, a->rp, a->weight);
    return NULL;
}

/* Sums buf (the flat gradients) over the ranks: the buckets in order, at
 * most bucket_floats floats per call. */
static graft_status allreduce(data_parallel *dp, float *buf, char *err, size_t errlen)
{
    const graft_collective *c = dp->comm;
    for (int q = 0; q < dp->nbuckets; q++) {
        const bucket *b = &dp->buckets[q];
        for (size_t off = 0; off < b->len; off += dp->bucket_floats) {
            size_t len = b->len - off < dp->bucket_floats ? b->len - off : dp->bucket_floats;
            char msg[512] = "";
            graft_status s = c->allreduce_sum(c->user, buf + b->off + off, len, msg, sizeof msg);
            if (s != GRAFT_OK)
                return error_set(err, errlen, s, "rank %d: summing gradients over %d ranks: %s",
                                 c->rank, c->size, msg[0] ? msg : graft_status_name(s));
        }
    }
    return GRAFT_OK;
}

/* Starts bucket q's calls; read: first take its gradients from the
 * primary's device, scaled by this rank's share (else buf holds them). */
static void start_bucket(data_parallel *dp, int q, int read)
{
    const graft_collective *c = dp->comm;
    const bucket *b = &dp->buckets[q];
    float *g = dp->rep[0].grad + b->off;
    if (read && dp->ov_s == GRAFT_OK) {
        graft_status s = get_params(dp->m, dp->grad_params + b->first, b->last - b->first + 1, g, 1);
        if (s != GRAFT_OK) {
            dp->ov_s = s;
            snprintf(dp->ov_err, sizeof dp->ov_err, "%s", graft_last_error(dp->m->ctx));
        }
        for (size_t k = 0; k < b->len; k++) g[k] *= dp->ov_weight;
    }
    for (size_t off = 0; off < b->len; off += dp->bucket_floats) {
        size_t len = b->len - off < dp->bucket_floats ? b->len - off : dp->bucket_floats;
        if (dp->nreq == dp->capreq) {
            int cap = dp->capreq ? 2 * dp->capreq : 16;
            void **r = realloc(dp->reqs, sizeof *r * (size_t)cap);
            if (!r) { /* cannot track it: sum it now (same call, same bits) */
                char msg[512] = "";
                if (c->allreduce_sum(c->user, g + off, len, msg, sizeof msg) != GRAFT_OK && dp->ov_s == GRAFT_OK) {
                    dp->ov_s = GRAFT_ERR_INTERNAL;
                    snprintf(dp->ov_err, sizeof dp->ov_err, "rank %d: summing gradients: %s", c->rank, msg);
                }
                continue;
            }
            dp->reqs = r;
            dp->capreq = cap;
        }
        char msg[512] = "";
        void *req = NULL;
        graft_status s = c->iallreduce_start(c->user, g + off, len, &req, msg, sizeof msg);
        if (s != GRAFT_OK) {
            if (dp->ov_s == GRAFT_OK) {
                dp->ov_s = s;
                snprintf(dp->ov_err, sizeof dp->ov_err, "rank %d: summing gradients over %d ranks: %s",
                         c->rank, c->size, msg[0] ? msg : graft_status_name(s));
            }
            continue;
        }
        dp->reqs[dp->nreq++] = req;
    }
}

/* graft_model.bwd_done of the primary while overlapping: nodes k.. are
 * done, so every bucket whose lowest node is among them can go; then a
 * test of the oldest pending calls, which is what moves MPI's transfers
 * along between the layers. */
static graft_status overlap_done(void *user, int k)
{
    data_parallel *dp = user;
    while (dp->ov_next < dp->nbuckets && dp->buckets[dp->ov_next].low_node >= k)
        start_bucket(dp, dp->ov_next++, 1);
    const graft_collective *c = dp->comm;
    while (dp->ov_tested < dp->nreq && c->iallreduce_test(c->user, dp->reqs[dp->ov_tested])) dp->ov_tested++;
    if (dp->ov_s != GRAFT_OK) return ctx_fail(dp->m->ctx, dp->ov_s, "%s", dp->ov_err);
    return GRAFT_OK;
}

/* The overlapped step of a rank with one replica: an opening status round
 * (a rank that failed before this step raises its flag there), forward and
 * backward with the buckets started as their gradients appear, the rest
 * started (zeros after a failure: the others expect every call), all
 * waited for, then the closing round with the loss, hits, stop requests
 * and failure flags. */
static graft_status overlapped_step(data_parallel *dp, float weight, int n, float *loss,
                                    int *correct, int *stop, char *err, size_t errlen)
{
    const graft_collective *c = dp->comm;
    replica *rp = &dp->rep[0];
    TRY(rank_status_round(dp->status, GRAFT_OK, NULL, 0, err, errlen));
    dp->ov_next = dp->nreq = dp->ov_tested = 0;
    dp->ov_weight = weight;
    dp->ov_s = GRAFT_OK;
    dp->ov_err[0] = '\0';
    dp->m->bwd_done = overlap_done;
    dp->m->bwd_done_user = dp;
    replica_run(dp, rp, weight);
    dp->m->bwd_done = NULL;
    dp->m->bwd_done_user = NULL;
    graft_status s = rp->s;
    if (s != GRAFT_OK) error_set(err, errlen, s, "%s", dp->ov_s != GRAFT_OK ? dp->ov_err : rp->err);
    int read = s == GRAFT_OK && rp->n > 0;
    for (int q = dp->ov_next; q < dp->nbuckets; q++) {
        if (!read) memset(rp->grad + dp->buckets[q].off, 0, sizeof(float) * dp->buckets[q].len);
        start_bucket(dp, q, read);
    }
    for (int q = 0; q < dp->nreq; q++) {
        char msg[512] = "";
        graft_status ws = c->iallreduce_wait(c->user, dp->reqs[q], msg, sizeof msg);
        if (ws != GRAFT_OK && dp->ov_s == GRAFT_OK) {
            dp->ov_s = ws;
            snprintf(dp->ov_err, sizeof dp->ov_err, "rank %d: summing gradients over %d ranks: %s",
                     c->rank, c->size, msg[0] ? msg : graft_status_name(ws));
        }
    }
    dp->nreq = 0;
    if (s == GRAFT_OK && dp->ov_s != GRAFT_OK) s = error_set(err, errlen, dp->ov_s, "%s", dp->ov_err);
    /* The same expressions as the step without overlap: the same bits. */
    double lsum = (double)rp->loss * rp->n;
    float v[RANK_STATUS_VALUES] = {(float)lsum, (float)rp->correct, *stop ? 1.0f : 0.0f};
    TRY(rank_status_round(dp->status, s, v, RANK_STATUS_VALUES, err, errlen));
    *stop = v[2] != 0;
    lsum = v[0];
    s = put_params(dp->m, dp->grad_params, dp->ngrad, rp->grad, 1);
    if (s != GRAFT_OK) return error_set(err, errlen, s, "%s", graft_last_error(dp->m->ctx));
    *loss = (float)(lsum / n);
    *correct = (int)(long)v[1];
    return GRAFT_OK;
}

graft_status data_parallel_backward(data_parallel *dp, const float *x, const int *y, int n,
                                    float label_smoothing, float *loss, int *correct, int *stop,
                                    char *err, size_t errlen)
{
    graft_model *m = dp->m;
    size_t sample = 1;
    {
        int c, h, w;
        graft_model_node_shape(m, 0, &c, &h, &w);
        sample = (size_t)c * h * w;
    }
    dp->label_smoothing = label_smoothing;
    /* This rank's slice of the global batch, then one slice per replica;
     * the weights n_r / n turn slice means into the global mean. */
    int ranks = dp->comm ? dp->comm->size : 1, rank = dp->comm ? dp->comm->rank : 0;
    int lo = (int)((long)n * rank / ranks), hi = (int)((long)n * (rank + 1) / ranks);
    if (dp->dirty && dp->nrep > 1) {
        graft_status s = get_params(m, dp->step_params, dp->nstep, dp->wbuf, 0);
        if (s != GRAFT_OK) return error_set(err, errlen, s, "%s", graft_last_error(m->ctx));
    }
    pthread_t th[DP_MAX_REPLICAS];
    int running[DP_MAX_REPLICAS] = {0};
    replica_arg args[DP_MAX_REPLICAS];
    int nrep = dp->nrep;
    for (int r = 0; r < nrep; r++) {
        replica *rp = &dp->rep[r];
        int a = lo + (int)((long)(hi - lo) * r / nrep), b = lo + (int)((long)(hi - lo) * (r + 1) / nrep);
        rp->x = x + (size_t)a * sample;
        rp->y = y + a;
        rp->n = b - a;
        rp->pull_weights = r > 0 && dp->dirty;
        rp->err[0] = '\0';
        rp->weight = (float)rp->n / (float)n;
        args[r] = (replica_arg){dp, rp, rp->weight};
    }
    if (dp->overlap) {
        dp->dirty = 0; /* one replica: the primary itself */
        return overlapped_step(dp, args[0].weight, n, loss, correct, stop, err, errlen);
    }
    /* Synchronised BatchNorm when every replica of every rank has images
     * (decided from n alone, so all ranks agree). */
    dp->group.active = dp->sync_bn && n >= nrep * ranks;
    /* A fresh rendezvous (no thread is in it between steps). */
    dp->group.broken = dp->group.arrived = dp->group.left = dp->group.peer_failed = 0;
    dp->group.why[0] = '\0';
    dp->group.summed = dp->group.reduced = dp->group.departing = 0;
    for (int r = 1; r < nrep; r++) {
        running[r] = !pthread_create(&th[r], NULL, replica_thread, &args[r]);
        /* No thread: run it here (slower, same result). */
        if (!running[r]) replica_run(dp, args[r].rp, args[r].weight);
    }
    replica_run(dp, &dp->rep[0], args[0].weight);
    for (int r = 1; r < nrep; r++)
        if (running[r]) pthread_join(th[r], NULL);
    dp->dirty = 0;
    /* Sum into replica 0's vector; the first failure wins. */
    graft_status s = GRAFT_OK;
    double lsum = 0;
    long hits = 0;
    for (int r = 0; r < nrep; r++) {
        replica *rp = &dp->rep[r];
        if (rp->s != GRAFT_OK && s == GRAFT_OK) {
            s = error_set(err, errlen, rp->s, "%s", rp->err);
        }
        lsum += (double)rp->loss * rp->n;
        hits += rp->correct;
        if (r > 0)
            for (size_t k = 0; k < dp->grad_floats; k++) dp->rep[0].grad[k] += rp->grad[k];
    }
    float *g = dp->rep[0].grad;
    /* A BatchNorm sum that learnt of another rank's failure: say that,
     * not what it did to this rank's replicas. */
    if (s != GRAFT_OK && dp->group.peer_failed) return error_set(err, errlen, s, "%s", dp->status->msg);
    if (s != GRAFT_OK && dp->group.why[0]) error_set(err, errlen, s, "%s", dp->group.why);
    if (dp->comm) {
        /* The status round (loss, hits, stop requests, failure flags)
         * before the gradients: a rank that failed anywhere in this step
         * raises its flag here or in an earlier round, and nobody goes on
         * to a sum the failed rank will not join. */
        float v[RANK_STATUS_VALUES] = {(float)lsum, (float)hits, *stop ? 1.0f : 0.0f};
        graft_status rs = rank_status_round(dp->status, s, v, RANK_STATUS_VALUES, err, errlen);
        if (rs != GRAFT_OK) return rs;
        lsum = v[0];
        hits = (long)v[1];
        *stop = v[2] != 0;
        char cerr[GRAFT_ERRLEN] = "";
        graft_status cs = allreduce(dp, g, cerr, sizeof cerr);
        /* The others finished this sum (or MPI ends the job): this rank
         * raises its flag in the next round, the closing one at worst. */
        if (cs != GRAFT_OK) return error_set(err, errlen, cs, "%s", cerr);
    }
    if (s != GRAFT_OK) return s;
    s = put_params(m, dp->grad_params, dp->ngrad, g, 1);
    if (s != GRAFT_OK) return error_set(err, errlen, s, "%s", graft_last_error(m->ctx));
    *loss = (float)(lsum / n);
    *correct = (int)hits;
    return GRAFT_OK;
}

void data_parallel_stepped(data_parallel *dp) { dp->dirty = 1; }

int data_parallel_has_ranks(const data_parallel *dp) { return dp->comm != NULL; }
