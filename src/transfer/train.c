#define _POSIX_C_SOURCE 200809L
#include "train.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ctx.h"
#include "data_parallel.h"
#include "divergence.h"
#include "epoch_log.h"
#include "memory_check.h"
#include "optimizer.h"
#include "error.h"
#include "log.h"
#include "model_io.h"
#include "pass_progress.h"
#include "rank_status.h"

void eval_result_free(eval_result *r)
{
    if (!r) return;
    free(r->confusion);
    free(r->probs);
    memset(r, 0, sizeof *r);
}

void train_result_free(train_result *r)
{
    if (!r) return;
    free(r->hist);
    memset(r, 0, sizeof *r);
}

static int model_classes(graft_model *m)
{
    int c;
    graft_model_node_shape(m, graft_model_num_nodes(m) - 1, &c, NULL, NULL);
    return c;
}

static graft_status check_shape(graft_model *m, const dataset *d, char *err, size_t errlen)
{
    int c, h, w;
    graft_model_node_shape(m, 0, &c, &h, &w);
    if (d->c != c || d->h != h || d->w != w) {
        if (err)
            snprintf(err, errlen, "the data has images of %dx%dx%d, the model expects %dx%dx%d", d->c,
                     d->h, d->w, c, h, w);
        return GRAFT_ERR_SHAPE;
    }
    if (d->nclasses > model_classes(m)) {
        if (err)
            snprintf(err, errlen, "the data has %d classes, the model only %d", d->nclasses,
                     model_classes(m));
        return GRAFT_ERR_SHAPE;
    }
    if (d->n == 0) {
        error_set(err, errlen, GRAFT_OK, "the dataset is empty");
        return GRAFT_ERR_INVALID_ARG;
    }
    return GRAFT_OK;
}

/* infer_dataset over the images idx[0..nidx) of d (idx NULL: all, in order). */
static graft_status infer_indices(graft_model *m, const dataset *d, const int *idx, int nidx,
                                  const float *mean, const float *std, int batch, infer_batch_fn fn,
                                  void *user, const char *label, graft_progress_fn pfn, void *puser,
                                  char *err, size_t errlen)
{
    int total = idx ? nidx : d->n;
    TRY(memory_check(m, batch < total ? batch : total, 0, GRAFT_OPT_SGD, NULL, err, errlen));
    loader_opts lo = {0};
    lo.batch = batch;
    lo.mean = mean;
    lo.std = std;
    lo.indices = idx;
    lo.nindices = idx ? nidx : 0;
    loader *ld;
    TRY(loader_create(d, &lo, &ld, err, errlen));
    loader_start_epoch(ld, 0);
    const float *x;
    const int *y;
    int n, done = 0, got;
    long b = 0;
    pass_progress pp;
    pass_progress_begin(&pp, m->ctx, pfn, puser, label, loader_num_batches(ld));
    graft_status s = GRAFT_OK;
    while (s == GRAFT_OK && (got = loader_next(ld, &x, &y, &n)) != 0) {
        if (got < 0) {
            s = error_set(err, errlen, GRAFT_ERR_FORMAT, "%s", loader_error(ld));
            break;
        }
        s = graft_model_forward(m, x, n, 0, NULL);
        if (s == GRAFT_OK) s = fn(user, m, y, n, done);
        if (s != GRAFT_OK) error_set(err, errlen, GRAFT_OK, "%s", graft_last_error(m->ctx));
        done += n;
        pass_progress_report(&pp, ++b, done);
    }
    loader_free(ld);
    return s;
}

graft_status infer_dataset(graft_model *m, const dataset *d, const float *mean, const float *std,
                           int batch, infer_batch_fn fn, void *user, const char *label,
                           graft_progress_fn pfn, void *puser, char *err, size_t errlen)
{
    return infer_indices(m, d, NULL, 0, mean, std, batch, fn, user, label, pfn, puser, err, errlen);
}

graft_status infer_dataset_indices(graft_model *m, const dataset *d, const int *idx, int nidx,
                                   const float *mean, const float *std, int batch,
                                   infer_batch_fn fn, void *user, const char *label,
                                   graft_progress_fn pfn, void *puser, char *err, size_t errlen)
{
    return infer_indices(m, d, idx, nidx, mean, std, batch, fn, user, label, pfn, puser, err,
                         errlen);
}

typedef struct eval_acc {
    eval_result *out;
    float *logits; /* batch x classes */
    int want_probs;
    double loss;
    long top1, top5;
} eval_acc;

static graft_status eval_batch(void *user, graft_model *m, const int *y, int n, int offset)
{
    eval_acc *a = user;
    int C = a->out->classes;
    TRY(graft_model_node_output(m, graft_model_num_nodes(m) - 1, a->logits, (size_t)n * C));
    for (int i = 0; i < n; i++) {
        const float *l = a->logits + (size_t)i * C;
        float mx = l[0];
        int arg = 0;
        for (int c = 1; c < C; c++)
            if (l[c] > mx) {
                mx = l[c];
                arg = c;
            }
        double z = 0;
        for (int c = 0; c < C; c++) z += exp((double)l[c] - mx);
        int yi = y[i];
        a->loss += -((double)l[yi] - mx - log(z));
        int rank = 0;
        for (int c = 0; c < C; c++) rank += l[c] > l[yi];
        a->top1 += rank == 0;
        a->top5 += rank < 5;
        a->out->confusion[(size_t)yi * C + arg]++;
        if (a->want_probs)
            for (int c = 0; c < C; c++)
                a->out->probs[(size_t)(offset + i) * C + c] = (float)(exp((double)l[c] - mx) / z);
    }
    return GRAFT_OK;
}

/* evaluate over the images idx[0..nidx) of d (idx NULL: all); out->n is
 * the count evaluated, the means are over them. */
static graft_status evaluate_indices(graft_model *m, const dataset *d, const int *idx, int nidx,
                                     const float *mean, const float *std, int batch,
                                     int want_probs, eval_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    TRY(check_shape(m, d, err, errlen));
    int C = model_classes(m), total = idx ? nidx : d->n;
    out->n = total;
    out->classes = C;
    out->confusion = calloc((size_t)C * C, sizeof *out->confusion);
    eval_acc a = {out, malloc((size_t)batch * C * sizeof(float)), want_probs, 0, 0, 0};
    if (want_probs) out->probs = malloc(((size_t)total + 1) * C * sizeof *out->probs);
    if (!out->confusion || !a.logits || (want_probs && !out->probs)) {
        free(a.logits);
        eval_result_free(out);
        error_set(err, errlen, GRAFT_OK, "out of host memory");
        return GRAFT_ERR_HOST_MEMORY;
    }
    graft_status s = total > 0 ? infer_indices(m, d, idx, nidx, mean, std, batch, eval_batch, &a,
                                               "eval", NULL, NULL, err, errlen)
                               : GRAFT_OK;
    free(a.logits);
    if (s != GRAFT_OK) {
        eval_result_free(out);
        return s;
    }
    out->loss = total ? a.loss / total : 0;
    out->top1 = total ? (double)a.top1 / total : 0;
    out->top5 = total ? (double)a.top5 / total : 0;
    return GRAFT_OK;
}

graft_status evaluate(graft_model *m, const dataset *d, const float *mean, const float *std,
                      int batch, int want_probs, eval_result *out, char *err, size_t errlen)
{
    return evaluate_indices(m, d, NULL, 0, mean, std, batch, want_probs, out, err, errlen);
}

/* The per-epoch evaluation of a run over several ranks: each rank
 * evaluates its contiguous share of eval, and one status round sums the
 * losses and hits, so every rank gets the numbers of the whole set (the
 * hits exactly, the loss within float rounding) and makes the same
 * best-epoch and early-stopping decisions. */
static graft_status evaluate_ranks(graft_model *m, const dataset *eval, const train_config *cfg,
                                   rank_status *rs, double *loss, double *acc, char *err,
                                   size_t errlen)
{
    const graft_collective *c = rs->comm;
    int lo = (int)((long)eval->n * c->rank / c->size), hi = (int)((long)eval->n * (c->rank + 1) / c->size);
    int *idx = malloc(sizeof(int) * (size_t)(hi - lo + 1));
    graft_status s = idx ? GRAFT_OK : error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    for (int i = lo; idx && i < hi; i++) idx[i - lo] = i;
    eval_result er = {0};
    if (s == GRAFT_OK)
        s = evaluate_indices(m, eval, idx, hi - lo, cfg->mean, cfg->std,
                             cfg->batch > 256 ? cfg->batch : 256, 0, &er, err, errlen);
    free(idx);
    float v[RANK_STATUS_VALUES] = {(float)(er.loss * er.n), (float)floor(er.top1 * er.n + 0.5), 0};
    eval_result_free(&er);
    s = rank_status_round(rs, s, v, RANK_STATUS_VALUES, err, errlen);
    if (s != GRAFT_OK) return s;
    *loss = v[0] / eval->n;
    *acc = (double)v[1] / eval->n;
    return GRAFT_OK;
}

graft_status checkpoint_save(graft_model *m, graft_optimizer *o, const graft_model_meta *meta,
                             int epoch, const char *path, char *err, size_t errlen)
{
    mf_model f;
    memset(&f, 0, sizeof f);
    graft_status s = model_to_mf(m, meta, &f);
    if (s == GRAFT_OK && o) s = optimizer_to_mf(o, &f);
    if (s != GRAFT_OK) {
        error_set(err, errlen, GRAFT_OK, "%s", graft_last_error(m->ctx));
    } else {
        f.has_state = 1;
        f.epoch = epoch;
        s = mf_write(&f, path, err, errlen);
    }
    mf_model_free(&f);
    return s;
}

graft_status checkpoint_load(graft_model *m, graft_optimizer *o, const char *path, int *epoch,
                             char *err, size_t errlen)
{
    mf_model f;
    memset(&f, 0, sizeof f);
    graft_status s = mf_read(path, &f, err, errlen);
    if (s != GRAFT_OK) return s;
    if (!f.has_state) {
        if (err) snprintf(err, errlen, "%s: a model file, not a checkpoint (no optimizer state)", path);
        mf_model_free(&f);
        return GRAFT_ERR_FORMAT;
    }
    /* Compare against the live model's own description. */
    mf_model live;
    memset(&live, 0, sizeof live);
    s = model_to_mf(m, NULL, &live);
    if (s == GRAFT_OK) {
        snprintf(live.arch, sizeof live.arch, "%s", f.arch);
        char why[512];
        if (mf_check_compatible(&f, &live, why, sizeof why) != GRAFT_OK) {
            if (err) snprintf(err, errlen, "%s: does not match the model being trained: %s", path, why);
            s = GRAFT_ERR_FORMAT;
        }
    }
    mf_model_free(&live);
    for (int i = 0; s == GRAFT_OK && i < m->nparams; i++) {
        param *p = model_param(m, i);
        param_written(p);
        s = ctx_write(m->ctx, p->data, 0, f.tensors[i].data, p->numel);
    }
    if (s == GRAFT_OK && o) s = optimizer_from_mf(o, &f, path);
    if (s != GRAFT_OK && err && !err[0]) error_set(err, errlen, GRAFT_OK, "%s", graft_last_error(m->ctx));
    if (s == GRAFT_OK) {
        *epoch = (int)f.epoch;
        /* Dropout masks are a function of the number of training passes. */
        for (int i = 1; i < m->nnodes; i++) m->nodes[i].l->calls = (uint64_t)f.step;
    }
    mf_model_free(&f);
    return s;
}

/* An event line for the log callback. */
__attribute__((format(printf, 2, 3))) static void note(const graft_callbacks *cb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vemit(cb->log, cb->user, GRAFT_LOG_INFO, fmt, ap);
    va_end(ap);
}

/* One step's loss and gradients: on m alone, or over the replicas and
 * ranks of dp. Failures leave their message in err. *stop: see
 * data_parallel_backward. */
static graft_status step_gradients(graft_model *m, data_parallel *dp, const float *x, const int *y,
                                   int n, float smoothing, float *loss, int *correct, int *stop,
                                   char *err, size_t errlen)
{
    if (dp) return data_parallel_backward(dp, x, y, n, smoothing, loss, correct, stop, err, errlen);
    graft_status s = graft_model_forward(m, x, n, 1, NULL);
    if (s == GRAFT_OK) s = graft_model_backward(m, y, smoothing, loss, correct);
    if (s != GRAFT_OK) error_set(err, errlen, GRAFT_OK, "%s", graft_last_error(m->ctx));
    return s;
}

/* train_model's body; rs holds the ranks' collective (or none). */
static graft_status train_loop(graft_model *m, graft_optimizer *o, const dataset *train,
                               const dataset *eval, const train_config *ucfg, rank_status *rs,
                               train_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    /* Under a collective only rank 0 writes files. */
    train_config fcfg = *ucfg;
    if (!data_parallel_writes_files(ucfg)) fcfg.log_path = fcfg.ckpt_path = fcfg.best_path = NULL;
    const train_config *cfg = &fcfg;
    TRY(check_shape(m, train, err, errlen));
    if (eval) TRY(check_shape(m, eval, err, errlen));
    TRY(graft_dataset_check_classes(train, "the training data", err, errlen));
    TRY(memory_check(m, cfg->batch < train->n ? cfg->batch : train->n, 1, o->p.kind, NULL, err, errlen));
    const char *ename = cfg->eval_name ? cfg->eval_name : "val";
    res->hist = calloc((size_t)(cfg->epochs > 0 ? cfg->epochs : 1), sizeof *res->hist);
    if (!res->hist) {
        error_set(err, errlen, GRAFT_OK, "out of host memory");
        return GRAFT_ERR_HOST_MEMORY;
    }
    loader_opts lo = {0};
    lo.batch = cfg->batch;
    lo.seed = cfg->seed;
    lo.shuffle = 1;
    lo.mean = cfg->mean;
    lo.std = cfg->std;
    lo.augment = cfg->augment;
    lo.aug = cfg->aug;
    if (rank_status_active(rs)) {
        /* Every rank prepares the same global batches but reads (decodes)
         * only its slice of each: data_parallel_backward computes that
         * slice alone. */
        lo.shard = rs->comm->rank;
        lo.nshards = rs->comm->size;
    }
    loader *ld;
    TRY(loader_create(train, &lo, &ld, err, errlen));
    data_parallel *dp = NULL;
    if (data_parallel_wanted(cfg)) {
        graft_status ds = data_parallel_create(m, cfg, rs, &dp, err, errlen);
        if (ds != GRAFT_OK) {
            loader_free(ld);
            return ds;
        }
    }

    epoch_log *logf = NULL;
    graft_status ls = epoch_log_open(cfg->log_path, ename, cfg->start_epoch, &logf, err, errlen);
    if (ls != GRAFT_OK) {
        data_parallel_free(dp);
        loader_free(ld);
        return ls;
    }
    graft_status s = GRAFT_OK;
    /* Host copy of the best epoch's parameters (restore_best). */
    float **best = NULL;
    if (cfg->restore_best && eval) {
        best = calloc((size_t)m->nparams + 1, sizeof *best);
        for (int i = 0; best && i < m->nparams; i++) {
            best[i] = malloc(model_param(m, i)->numel * sizeof(float));
            if (!best[i]) s = GRAFT_ERR_HOST_MEMORY;
        }
        if (!best) s = GRAFT_ERR_HOST_MEMORY;
        if (s != GRAFT_OK) error_set(err, errlen, GRAFT_OK, "out of host memory keeping the best weights");
    }
    int nb = loader_num_batches(ld);
    double total_train = 0;
    int since_best = 0;
    const graft_callbacks *cb = &cfg->cb;
    /* Without a progress callback of its own the run reports to the
     * context's sink (the runs inside cv and selftrain). */
    graft_progress_fn progress = cb->progress ? cb->progress : m->ctx->progress;
    void *progress_user = cb->progress ? cb->user : m->ctx->progress_user;
    /* A checkpoint written mid-epoch (a stop request) holds the optimizer
     * steps of the batches of its epoch already done: skip them so that
     * the resumed run sees the same batches in the same order. */
    long skip = graft_optimizer_steps(o) - (long)cfg->start_epoch * nb;
    if (skip < 0 || skip >= nb) skip = 0;
    for (int e = cfg->start_epoch; e < cfg->epochs && s == GRAFT_OK; e++) {
        loader_start_epoch(ld, (uint64_t)e);
        const float *x;
        const int *y;
        int n, b = 0;
        long seen = 0, hits = 0;
        double lsum = 0, t0 = now_seconds();
        char label[32];
        snprintf(label, sizeof label, "epoch %d/%d", e + 1, cfg->epochs);
        int stopping = 0;
        /* The epoch callback (gradual unfreezing) may have changed m. */
        if (dp && (s = data_parallel_sync(dp, err, errlen)) != GRAFT_OK) break;
        int got;
        while (!stopping && (got = loader_next(ld, &x, &y, &n)) != 0) {
            if (got < 0) {
                s = error_set(err, errlen, GRAFT_ERR_FORMAT, "%s", loader_error(ld));
                break;
            }
            if (skip > 0) {
                skip--;
                b++;
                continue;
            }
            float loss;
            int correct;
            stopping = cfg->stop && *cfg->stop;
            s = step_gradients(m, dp, x, y, n, cfg->label_smoothing, &loss, &correct, &stopping,
                               err, errlen);
            if (s != GRAFT_OK) break;
            if (!isfinite(loss)) {
                if (cfg->on_nan == GRAFT_NAN_SKIP) {
                    /* No update: weights and optimizer state stay those
                     * before this step. */
                    res->skipped_steps++;
                    s = divergence_repair_running_stats(m);
                    if (s != GRAFT_OK) {
                        error_set(err, errlen, GRAFT_OK, "%s", graft_last_error(m->ctx));
                        break;
                    }
                    if (dp) data_parallel_stepped(dp);
                    b++;
                    if (!dp || !data_parallel_has_ranks(dp)) stopping = cfg->stop && *cfg->stop;
                    continue;
                }
                char where[192];
                divergence_locate(m, where, sizeof where);
                s = error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                              "training diverged at epoch %d batch %d (step %ld): the loss is %g; "
                              "first non-finite: %s. Try a lower --lr (now %g), or --nan skip to "
                              "skip such steps", e + 1, b + 1, graft_optimizer_steps(o) + 1,
                              (double)loss, where, (double)graft_optimizer_current_lr(o));
                break;
            }
            s = graft_optimizer_step(o);
            if (s != GRAFT_OK) {
                error_set(err, errlen, GRAFT_OK, "%s", graft_last_error(m->ctx));
                break;
            }
            if (dp) data_parallel_stepped(dp);
            b++;
            seen += n;
            hits += correct;
            lsum += (double)loss * n;
            if (progress) {
                double el = now_seconds() - t0;
                graft_progress p = {label, e + 1, cfg->epochs, b, nb, seen, lsum / seen,
                                    (double)hits / seen, seen / (el > 0 ? el : 1e-9), el};
                progress(progress_user, &p);
            }
            /* Under a collective every rank stops after the step in which
             * any asked (data_parallel_backward agreed on it). */
            if (!dp || !data_parallel_has_ranks(dp)) stopping = cfg->stop && *cfg->stop;
        }
        if (s == GRAFT_OK && stopping && b < nb) {
            /* Stopped inside the epoch: a checkpoint of the epochs
             * completed plus this epoch's steps (resumes exactly). */
            res->interrupted = 1;
            res->interrupted_epoch = e + 1;
            res->interrupted_batch = b;
            if (cfg->ckpt_path) s = checkpoint_save(m, o, cfg->meta, e, cfg->ckpt_path, err, errlen);
            break;
        }
        if (s != GRAFT_OK) break;
        /* The loss read-back above synchronises every step, so wall time
         * here is device time too; the parameter scan below is not
         * training and stays out of the epoch's seconds. */
        double tt = now_seconds() - t0;
        char where[192];
        int bad = divergence_scan_params(m, where, sizeof where);
        if (bad && cfg->on_nan == GRAFT_NAN_SKIP) {
            res->stats_resets++; /* the running statistics of some step overflowed */
            s = divergence_repair_running_stats(m);
            if (s != GRAFT_OK) {
                error_set(err, errlen, GRAFT_OK, "%s", graft_last_error(m->ctx));
                break;
            }
            bad = divergence_scan_params(m, where, sizeof where);
        }
        if (bad) {
            s = error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                          "training diverged in epoch %d (by step %ld) with finite losses: %s went "
                          "non-finite (an overflowing gradient or variance). Try a lower --lr (now %g)",
                          e + 1, graft_optimizer_steps(o), where, (double)graft_optimizer_current_lr(o));
            break;
        }
        total_train += tt;
        epoch_stats st = {0};
        st.epoch = e + 1;
        st.train_loss = lsum / (seen ? seen : 1);
        st.train_acc = (double)hits / (seen ? seen : 1);
        st.train_seconds = tt;
        st.total_train_seconds = total_train;
        st.images_per_s = seen / (tt > 0 ? tt : 1e-9);
        st.lr = graft_optimizer_current_lr(o);
        st.eval_loss = st.eval_acc = -1;
        if (eval && rank_status_active(rs)) {
            s = evaluate_ranks(m, eval, cfg, rs, &st.eval_loss, &st.eval_acc, err, errlen);
            if (s != GRAFT_OK) break;
        } else if (eval) {
            eval_result er;
            s = evaluate(m, eval, cfg->mean, cfg->std, cfg->batch > 256 ? cfg->batch : 256, 0, &er,
                         err, errlen);
            if (s != GRAFT_OK) break;
            st.eval_loss = er.loss;
            st.eval_acc = er.top1;
            eval_result_free(&er);
        }
        res->hist[res->nepochs++] = st;
        s = epoch_log_append(logf, &st, err, errlen);
        if (s != GRAFT_OK) break;
        int improved = eval && st.eval_acc > res->best_eval_acc;
        if (improved) {
            res->best_eval_acc = st.eval_acc;
            res->best_epoch = st.epoch;
            since_best = 0;
            for (int i = 0; best && s == GRAFT_OK && i < m->nparams; i++)
                s = graft_model_param_get(m, i, best[i], model_param(m, i)->numel);
            if (cfg->best_path) {
                s = graft_model_save(m, cfg->meta, cfg->best_path);
                if (s != GRAFT_OK) {
                    error_set(err, errlen, GRAFT_OK, "%s", graft_last_error(m->ctx));
                    break;
                }
            }
        } else {
            since_best++;
        }
        int stop_now = cfg->stop && *cfg->stop && st.epoch < cfg->epochs;
        if (cfg->ckpt_path && ((cfg->ckpt_every > 0 && st.epoch % cfg->ckpt_every == 0) || stop_now)) {
            s = checkpoint_save(m, o, cfg->meta, st.epoch, cfg->ckpt_path, err, errlen);
            if (s != GRAFT_OK) break;
        }
        if (stop_now) {
            res->interrupted = 1;
            res->interrupted_epoch = st.epoch;
            res->interrupted_batch = nb;
            break;
        }
        if (cb->epoch && cb->epoch(cb->user, &st)) break;
        if (cfg->stop_after > 0 && st.epoch >= cfg->stop_after) break;
        if (eval && cfg->patience > 0 && since_best >= cfg->patience) {
            res->stopped_early = 1;
            note(cb, "early stop: no %s improvement for %d epochs (best %.2f%% at epoch %d)",
                 ename, cfg->patience, 100 * res->best_eval_acc, res->best_epoch);
            break;
        }
    }
    if (best) {
        if (s == GRAFT_OK && res->best_epoch > 0 && res->best_epoch != res->hist[res->nepochs - 1].epoch) {
            for (int i = 0; s == GRAFT_OK && i < m->nparams; i++)
                s = graft_model_param_set(m, i, best[i], model_param(m, i)->numel);
            if (s == GRAFT_OK) {
                res->restored_epoch = res->best_epoch;
                note(cb, "restored the weights of epoch %d (%s accuracy %.2f%%)", res->best_epoch,
                     ename, 100 * res->best_eval_acc);
            }
        }
        for (int i = 0; i < m->nparams; i++) free(best[i]);
        free(best);
    }
    epoch_log_free(logf);
    data_parallel_free(dp);
    loader_free(ld);
    return s;
}

graft_status train_model(graft_model *m, graft_optimizer *o, const dataset *train,
                         const dataset *eval, const train_config *cfg, train_result *res,
                         char *err, size_t errlen)
{
    rank_status rs;
    graft_status s = rank_status_init(&rs, cfg->comm, err, errlen);
    if (s != GRAFT_OK) {
        memset(res, 0, sizeof *res);
        return s;
    }
    s = train_loop(m, o, train, eval, cfg, &rs, res, err, errlen);
    /* A rank that failed tells the others in its next round; one that
     * finished makes a closing round, so that a failure of another rank
     * after the last step (rank 0 writing the last checkpoint) still
     * reaches it. */
    s = rank_status_finish(&rs, s, err, errlen);
    rank_status_free(&rs);
    return s;
}

/* ------------------------------------------------------- public API */

graft_train_config graft_train_default_config(void)
{
    graft_train_config c;
    memset(&c, 0, sizeof c);
    c.epochs = 5;
    c.batch = 64;
    c.seed = 1;
    c.aug = augment_defaults();
    return c;
}

void graft_train_result_free(graft_train_result *r) { train_result_free(r); }

/* A failure whose message sits in err, recorded on m's context. */
static graft_status on_ctx(graft_model *m, graft_status s, const char *err)
{
    return s == GRAFT_OK ? s : ctx_fail(m->ctx, s, "%s", err[0] ? err : graft_status_name(s));
}

graft_status graft_train(graft_model *m, graft_optimizer *o, const graft_dataset *train,
                         const graft_dataset *eval, const graft_train_config *cfg,
                         graft_train_result *res)
{
    char err[2048] = "";
    graft_status s = train_model(m, o, train, eval, cfg, res, err, sizeof err);
    if (s != GRAFT_OK) train_result_free(res);
    return on_ctx(m, s, err);
}

void graft_opt_fit_run(graft_opt_params *p, int nimages, int batch, int epochs,
                       float warmup_epochs)
{
    long per_epoch = (nimages + batch - 1) / batch;
    p->total_steps = per_epoch * epochs;
    p->step_size = per_epoch * (epochs >= 3 ? epochs / 3 : 1);
    p->warmup_steps = (long)(warmup_epochs * (float)per_epoch);
}

graft_status graft_checkpoint_save(graft_model *m, graft_optimizer *o,
                                   const graft_model_meta *meta, int epoch, const char *path)
{
    char err[2048] = "";
    return on_ctx(m, checkpoint_save(m, o, meta, epoch, path, err, sizeof err), err);
}

graft_status graft_checkpoint_load(graft_model *m, graft_optimizer *o, const char *path,
                                   int *epoch)
{
    char err[2048] = "";
    return on_ctx(m, checkpoint_load(m, o, path, epoch, err, sizeof err), err);
}

/* The normalisation of d: over all of it, or with several ranks each
 * rank's contiguous share summed and the sums combined (floats on the
 * wire: within float rounding of one process's numbers). */
static graft_status dataset_stats(const graft_dataset *d, const graft_collective *comm, float *mean,
                                  float *std, char *err, size_t errlen)
{
    if (!comm || comm->size <= 1) {
        dataset_channel_stats(d, mean, std);
        return GRAFT_OK;
    }
    int c = d->c;
    double *v = malloc(sizeof(double) * 3 * (size_t)c);
    float *f = malloc(sizeof(float) * 3 * (size_t)c);
    graft_status s = v && f ? GRAFT_OK : error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    if (s == GRAFT_OK) {
        int lo = (int)((long)d->n * comm->rank / comm->size), hi = (int)((long)d->n * (comm->rank + 1) / comm->size);
        dataset_channel_sums(d, lo, hi, v, v + c, v + 2 * c);
        for (int k = 0; k < 3 * c; k++) f[k] = (float)v[k];
        char msg[512] = "";
        s = comm->allreduce_sum(comm->user, f, 3 * (size_t)c, msg, sizeof msg);
        if (s != GRAFT_OK)
            error_set(err, errlen, s, "rank %d: summing the normalisation statistics: %s", comm->rank, msg);
    }
    if (s == GRAFT_OK) {
        for (int k = 0; k < 3 * c; k++) v[k] = f[k];
        dataset_stats_from_sums(c, v, v + c, v + 2 * c, mean, std);
    }
    free(v);
    free(f);
    return s;
}

graft_status graft_model_meta_from_dataset(const graft_dataset *d, const char *arch,
                                           graft_model_meta *meta, char *err, size_t errlen)
{
    return graft_model_meta_from_dataset_ranks(d, arch, NULL, meta, err, errlen);
}

graft_status graft_model_meta_from_dataset_ranks(const graft_dataset *d, const char *arch,
                                                 const graft_collective *comm,
                                                 graft_model_meta *meta, char *err, size_t errlen)
{
    memset(meta, 0, sizeof *meta);
    snprintf(meta->arch, sizeof meta->arch, "%s", arch ? arch : "custom");
    meta->nclasses = d->nclasses;
    meta->class_names = calloc((size_t)d->nclasses, sizeof *meta->class_names);
    for (int i = 0; meta->class_names && i < d->nclasses; i++) {
        size_t L = strlen(d->class_names[i]) + 1;
        if (!(meta->class_names[i] = malloc(L))) break;
        memcpy(meta->class_names[i], d->class_names[i], L);
    }
    if (!meta->class_names || (d->nclasses > 0 && !meta->class_names[d->nclasses - 1])) {
        graft_model_meta_free(meta);
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of memory copying class names");
    }
    float mean[4] = {0}, std[4] = {1, 1, 1, 1};
    if (d->c > 4) {
        graft_model_meta_free(meta);
        return error_set(err, errlen, GRAFT_ERR_SHAPE, "%d channels: a model file keeps the "
                         "normalisation of at most 4", d->c);
    }
    graft_status ss = dataset_stats(d, comm, mean, std, err, errlen);
    if (ss != GRAFT_OK) {
        graft_model_meta_free(meta);
        return ss;
    }
    for (int c = 0; c < 4; c++) {
        meta->mean[c] = c < d->c ? mean[c] : 0.0f;
        meta->std[c] = c < d->c ? std[c] : 1.0f;
    }
    return GRAFT_OK;
}
