/* k-fold cross-validation of fine-tuning (graft_cv): stratified folds, one
 * fine-tuning run per fold, optionally with folds run concurrently on
 * several devices (one thread, context and copy of the source per device). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ctx.h"
#include "dataset.h"
#include "graft_transfer.h"
#include "model.h"

/* Read-only inputs shared by every worker, plus the mutex-guarded queue. */
typedef struct cv_job {
    const graft_cv_config *cfg;
    const dataset *data;
    const int *fold;
    graft_cv_fold *res;
    int *done;             /* per fold */
    pthread_mutex_t mu;
    int next, next_report; /* next fold to hand out, to report */
    int failed;
    graft_status status;   /* of the first failure */
    char err[GRAFT_ERRLEN];
} cv_job;

typedef struct cv_worker {
    cv_job *job;
    const char *device;
    graft_model *src;      /* NULL: the worker opens its own context and source */
} cv_worker;

/* Records the first failure (the others stop after their current fold). */
static void job_fail(cv_job *j, graft_status s, int fold, const char *msg)
{
    pthread_mutex_lock(&j->mu);
    if (!j->failed) {
        j->failed = 1;
        j->status = s;
        if (fold >= 0) snprintf(j->err, sizeof j->err, "fold %d: %s", fold + 1, msg);
        else snprintf(j->err, sizeof j->err, "%s", msg);
    }
    pthread_mutex_unlock(&j->mu);
}

/* Fine-tunes on every fold but f and evaluates on f. */
static graft_status run_fold(cv_job *j, graft_model *src, int f, graft_cv_fold *r)
{
    const graft_cv_config *cfg = j->cfg;
    const dataset *d = j->data;
    double t0 = now_seconds();
    int *tr = malloc(sizeof(int) * (size_t)d->n), *ho = malloc(sizeof(int) * (size_t)d->n);
    dataset *train = NULL, *held = NULL;
    graft_model *m = NULL;
    graft_train_result tres = {0};
    graft_eval_result er = {0};
    char err[GRAFT_ERRLEN] = "";
    graft_status s = GRAFT_ERR_HOST_MEMORY;
    if (!tr || !ho) {
        snprintf(err, sizeof err, "out of memory");
        goto done;
    }
    int ntr = 0, nho = 0;
    for (int i = 0; i < d->n; i++) {
        if (j->fold[i] == f) ho[nho++] = i;
        else tr[ntr++] = i;
    }
    if ((s = dataset_subset(d, tr, ntr, &train, err, sizeof err)) != GRAFT_OK ||
        (s = dataset_subset(d, ho, nho, &held, err, sizeof err)) != GRAFT_OK)
        goto done;
    /* The fold's run: its own seed, no files, no callbacks. */
    graft_train_config tc = cfg->train;
    tc.seed = cfg->seed + (uint64_t)f;
    tc.log_path = tc.ckpt_path = tc.best_path = NULL;
    tc.restore_best = 0;
    memset(&tc.cb, 0, sizeof tc.cb);
    s = graft_finetune(src, train, NULL, &cfg->finetune, &cfg->opt, &tc, &m, &tres);
    if (s == GRAFT_OK)
        s = graft_evaluate(m, held, tc.mean, tc.std, cfg->eval_batch > 0 ? cfg->eval_batch : tc.batch,
                           0, &er);
    if (s != GRAFT_OK) {
        snprintf(err, sizeof err, "%s", graft_last_error(src->ctx));
        goto done;
    }
    r->ntrain = ntr;
    r->nheld = nho;
    r->accuracy = er.top1;
    r->loss = er.loss;
    r->seconds = now_seconds() - t0;
done:
    if (s != GRAFT_OK) job_fail(j, s, f, err);
    graft_eval_result_free(&er);
    graft_train_result_free(&tres);
    graft_model_free(m);
    dataset_free(train);
    dataset_free(held);
    free(tr);
    free(ho);
    return s;
}

static void *worker_main(void *arg)
{
    cv_worker *w = arg;
    cv_job *j = w->job;
    const graft_cv_config *cfg = j->cfg;
    graft_ctx *ctx = NULL;
    graft_model *src = w->src;
    if (!src) {
        graft_ctx_params p = cfg->ctx_params ? *cfg->ctx_params : graft_ctx_default_params();
        p.device = w->device;
        char err[GRAFT_ERRLEN];
        graft_status s = graft_ctx_create(&p, &ctx, err, sizeof err);
        if (s != GRAFT_OK) {
            job_fail(j, s, -1, err);
            return NULL;
        }
        graft_model_meta meta = {0};
        if ((s = graft_model_load(ctx, cfg->source_path, &src, &meta)) != GRAFT_OK) {
            job_fail(j, s, -1, graft_last_error(ctx));
            graft_ctx_destroy(ctx);
            return NULL;
        }
        graft_model_meta_free(&meta);
    }
    for (;;) {
        pthread_mutex_lock(&j->mu);
        int f = j->failed ? cfg->k : j->next++;
        pthread_mutex_unlock(&j->mu);
        if (f >= cfg->k) break;
        graft_cv_fold r = {0};
        if (run_fold(j, src, f, &r) != GRAFT_OK) break;
        pthread_mutex_lock(&j->mu);
        j->res[f] = r;
        j->done[f] = 1;
        /* In fold order, each as soon as all earlier ones are done. */
        while (j->next_report < cfg->k && j->done[j->next_report]) {
            if (cfg->on_fold) cfg->on_fold(cfg->user, j->next_report, &j->res[j->next_report]);
            j->next_report++;
        }
        pthread_mutex_unlock(&j->mu);
    }
    if (src != w->src) graft_model_free(src);
    graft_ctx_destroy(ctx);
    return NULL;
}

/* Runs the folds on nthreads workers (the calling thread alone when 1). */
static void run_workers(cv_job *j, graft_model *src, int nthreads)
{
    const graft_cv_config *cfg = j->cfg;
    if (nthreads == 1) {
        cv_worker w = {j, NULL, src};
        worker_main(&w);
        return;
    }
    cv_worker *w = calloc((size_t)nthreads, sizeof *w);
    pthread_t *th = calloc((size_t)nthreads, sizeof *th);
    int started = 0;
    if (!w || !th) job_fail(j, GRAFT_ERR_HOST_MEMORY, -1, "out of memory");
    for (int t = 0; w && th && t < nthreads; t++) {
        w[t] = (cv_worker){j, cfg->devices[t], NULL};
        if (pthread_create(&th[t], NULL, worker_main, &w[t])) {
            job_fail(j, GRAFT_ERR_INTERNAL, -1, "cannot start a thread");
            break;
        }
        started++;
    }
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    free(w);
    free(th);
}

graft_status graft_cv(graft_model *src, const graft_dataset *data, const graft_cv_config *cfg,
                      graft_cv_result *res)
{
    memset(res, 0, sizeof *res);
    graft_ctx *ctx = src->ctx;
    int k = cfg->k, n = data->n;
    if (k < 2) return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "k=%d: need at least 2 folds", k);
    int nthreads = cfg->ndevices > 1 ? (cfg->ndevices < k ? cfg->ndevices : k) : 1;
    if (nthreads > 1 && !cfg->source_path)
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "several devices need the source's file path");
    int *fold = malloc(sizeof(int) * (size_t)(n ? n : 1));
    cv_job j = {0};
    j.cfg = cfg;
    j.data = data;
    j.fold = fold;
    j.res = calloc((size_t)k, sizeof *j.res);
    j.done = calloc((size_t)k, sizeof *j.done);
    char err[GRAFT_ERRLEN] = "";
    graft_status s = GRAFT_OK;
    if (!fold || !j.res || !j.done) {
        s = ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "cv: out of memory");
        goto done;
    }
    if ((s = dataset_kfold(data, k, cfg->seed + 31, fold, err, sizeof err)) != GRAFT_OK) {
        s = ctx_fail(ctx, s, "k=%d: %s", k, err);
        goto done;
    }
    for (int f = 0; f < k; f++) {
        int nh = 0;
        for (int i = 0; i < n; i++) nh += fold[i] == f;
        if (nh == 0 || nh == n) {
            s = ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "k=%d: fold %d would be empty (only %d images)",
                         k, f + 1, n);
            goto done;
        }
    }
    if (pthread_mutex_init(&j.mu, NULL)) {
        s = ctx_fail(ctx, GRAFT_ERR_INTERNAL, "cv: cannot create a mutex");
        goto done;
    }
    run_workers(&j, src, nthreads);
    pthread_mutex_destroy(&j.mu);
    if (j.failed) {
        s = ctx_fail(ctx, j.status, "%s", j.err);
        goto done;
    }
    double mean = 0, var = 0;
    for (int f = 0; f < k; f++) mean += j.res[f].accuracy;
    mean /= k;
    for (int f = 0; f < k; f++) var += (j.res[f].accuracy - mean) * (j.res[f].accuracy - mean);
    res->k = k;
    res->folds = j.res;
    j.res = NULL;
    res->mean_accuracy = mean;
    res->std_accuracy = sqrt(var / (k - 1));
    res->threads = nthreads;
done:
    free(fold);
    free(j.res);
    free(j.done);
    return s;
}

void graft_cv_result_free(graft_cv_result *r)
{
    if (!r) return;
    free(r->folds);
    memset(r, 0, sizeof *r);
}
