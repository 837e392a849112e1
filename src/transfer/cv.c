/* k-fold cross-validation of fine-tuning (graft_cv): stratified folds, one
 * fine-tuning run per fold, optionally with folds run concurrently on
 * several devices (job_sched: one thread, context and copy of the source
 * per device). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ctx.h"
#include "dataset.h"
#include "error.h"
#include "job_sched.h"
#include "graft_transfer.h"
#include "model.h"

/* Read-only inputs shared by the scheduler's slots, and the results. */
typedef struct cv_job {
    const graft_cv_config *cfg;
    const dataset *data;
    const int *fold;
    graft_model *src;      /* the caller's source (one slot) */
    int multi;             /* several slots: each opens its own context and source */
    graft_cv_fold *res;
    int *done;             /* per fold */
    int next_report;       /* next fold to report */
} cv_job;

/* A slot's own context and copy of the source (several devices). */
typedef struct cv_slot {
    graft_ctx *ctx;
    graft_model *src;
} cv_slot;

/* Fine-tunes on every fold but f and evaluates on f. */
static graft_status run_fold(cv_job *j, graft_model *src, int f, graft_cv_fold *r, char *ferr,
                             size_t ferrlen)
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
    if (s != GRAFT_OK) snprintf(ferr, ferrlen, "%s", err);
    graft_eval_result_free(&er);
    graft_train_result_free(&tres);
    graft_model_free(m);
    dataset_free(train);
    dataset_free(held);
    free(tr);
    free(ho);
    return s;
}

static graft_status slot_open(void *user, int slot, void **state, char *err, size_t errlen)
{
    cv_job *j = user;
    const graft_cv_config *cfg = j->cfg;
    *state = NULL;
    if (!j->multi) return GRAFT_OK;
    cv_slot *cs = calloc(1, sizeof *cs);
    if (!cs) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of memory");
    graft_ctx_params p = cfg->ctx_params ? *cfg->ctx_params : graft_ctx_default_params();
    p.device = cfg->devices[slot];
    graft_status s = graft_ctx_create(&p, &cs->ctx, err, errlen);
    if (s == GRAFT_OK) {
        graft_model_meta meta = {0};
        if ((s = graft_model_load(cs->ctx, cfg->source_path, &cs->src, &meta)) != GRAFT_OK)
            snprintf(err, errlen, "%s", graft_last_error(cs->ctx));
        graft_model_meta_free(&meta);
    }
    if (s != GRAFT_OK) {
        graft_ctx_destroy(cs->ctx);
        free(cs);
        return s;
    }
    *state = cs;
    return GRAFT_OK;
}

static void slot_close(void *user, int slot, void *state)
{
    (void)user;
    (void)slot;
    cv_slot *cs = state;
    if (!cs) return;
    graft_model_free(cs->src);
    graft_ctx_destroy(cs->ctx);
    free(cs);
}

static graft_status slot_run(void *user, int slot, void *state, int f, char *err, size_t errlen)
{
    (void)slot;
    cv_job *j = user;
    cv_slot *cs = state;
    return run_fold(j, cs ? cs->src : j->src, f, &j->res[f], err, errlen);
}

/* In fold order, each as soon as all earlier ones are done. */
static void fold_done(void *user, int f, graft_status s, const char *err)
{
    (void)err;
    cv_job *j = user;
    const graft_cv_config *cfg = j->cfg;
    if (s != GRAFT_OK) return;
    j->done[f] = 1;
    while (j->next_report < cfg->k && j->done[j->next_report]) {
        if (cfg->on_fold) cfg->on_fold(cfg->user, j->next_report, &j->res[j->next_report]);
        j->next_report++;
    }
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
    /* The folds on the scheduler: a failing fold stops the others after
     * their current fold; so does a device that cannot be opened. */
    j.src = src;
    j.multi = nthreads > 1;
    job_sched_config sc = {k, nthreads, 0, NULL};
    job_sched_ops ops = {slot_open, slot_close, slot_run, fold_done};
    job_sched_result jr;
    s = job_sched_run(&sc, &ops, &j, &jr);
    if (s != GRAFT_OK || jr.slots_failed > 0) {
        s = ctx_fail(ctx, s != GRAFT_OK ? s : jr.first_status, "%s", jr.first_err);
        goto done;
    }
    if (jr.failed) {
        s = ctx_fail(ctx, jr.first_status, "fold %d: %s", jr.first_failed + 1, jr.first_err);
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
