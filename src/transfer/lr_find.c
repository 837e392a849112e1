/* The LR range test (graft_lr_find): a throw-away copy of the target
 * model trains for a few hundred batches while the learning rate grows
 * exponentially; the loss curve says which rates learn and where training
 * blows up. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "graft_transfer.h"
#include "model.h"
#include "optimizer.h"
#include "pass_progress.h"
#include "recipe.h"
#include "train.h"
#include "transfer.h"

/* How far above its minimum the smoothed loss may go and still count as
 * "not blown up yet". */
#define LR_FIND_BAND 1.5

graft_lr_find_config graft_lr_find_default_config(void)
{
    graft_lr_find_config c;
    memset(&c, 0, sizeof c);
    c.lr_min = 1e-6f;
    c.lr_max = 10.0f;
    c.steps = 100;
    c.smoothing = 0.9f;
    c.stop_factor = 4.0f;
    c.train = graft_train_default_config();
    c.train.batch = 32;
    return c;
}

void graft_lr_find_result_free(graft_lr_find_result *r)
{
    if (!r) return;
    free(r->points);
    memset(r, 0, sizeof *r);
}

/* Steepest descent of the smoothed loss per log-lr (central differences)
 * and the lowest smoothed loss, both after the noisy first tenth (where
 * the smoothing has seen few batches). */
static void suggest(graft_lr_find_result *r)
{
    int n = r->npoints, lo = n / 10 > 1 ? n / 10 : 1;
    const graft_lr_find_point *p = r->points;
    int imin = lo, isteep = lo;
    double best_slope = INFINITY;
    for (int i = lo; i < n; i++)
        if (p[i].smoothed < p[imin].smoothed) imin = i;
    for (int i = lo; i + 1 < n && i + 1 <= imin + 1; i++) {
        double slope = (p[i + 1].smoothed - p[i - 1].smoothed) /
                       (log((double)p[i + 1].lr) - log((double)p[i - 1].lr));
        if (slope < best_slope) {
            best_slope = slope;
            isteep = i;
        }
    }
    r->lr_min_loss = p[imin].lr;
    r->lr_steepest = p[isteep < n ? isteep : n - 1].lr;
    /* The steepest point and the minimum of a flat, noisy curve (a head
     * already trained) are noise; where the loss leaves the band around its
     * minimum is not: the rate just before it blows up. A tenth of it. */
    int edge = imin;
    while (edge + 1 < n && p[edge + 1].smoothed <= LR_FIND_BAND * p[imin].smoothed) edge++;
    r->lr_edge = p[edge].lr;
    r->suggested = r->lr_edge / 10.0f;
    if (r->suggested < p[0].lr) r->suggested = p[0].lr;
}

graft_status graft_lr_find(graft_model *src, const graft_dataset *train,
                           const graft_finetune_params *fp, const graft_opt_params *op,
                           const graft_lr_find_config *cfg, graft_lr_find_result *res)
{
    memset(res, 0, sizeof *res);
    graft_ctx *ctx = src->ctx;
    if (!(cfg->lr_min > 0) || !(cfg->lr_max > cfg->lr_min) || !isfinite(cfg->lr_max))
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "lr-find: the range %g .. %g must have "
                        "0 < lr_min < lr_max", (double)cfg->lr_min, (double)cfg->lr_max);
    if (cfg->steps < 5 || cfg->train.batch < 1 || !(cfg->smoothing >= 0 && cfg->smoothing < 1))
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "lr-find: %d steps of batch %d (need >= 5 "
                        "and >= 1), smoothing %g (need [0, 1))", cfg->steps, cfg->train.batch,
                        (double)cfg->smoothing);
    graft_finetune_params f = *fp;
    if (f.strategy == GRAFT_STRATEGY_RECIPE) f.bn_frozen = recipe_bn_frozen(fp, train);
    graft_model *m = NULL;
    graft_optimizer *o = NULL;
    loader *ld = NULL;
    char err[1024] = "";
    TRY(transfer_build_target(src, train->nclasses, fp->keep_head, cfg->train.seed, &m));
    graft_status s = graft_transfer_apply(m, &f);
    if (s == GRAFT_OK && f.strategy == GRAFT_STRATEGY_RECIPE) {
        /* Phase 1 first: the sweep is then about phase 2's rate, not about
         * how fast a random head learns. */
        graft_train_config c1 = cfg->train;
        c1.epochs = recipe_head_epochs(fp, cfg->train.epochs);
        c1.cb.epoch = NULL; /* its epochs are no part of the sweep */
        c1.cb.log = NULL;
        graft_opt_params lp = recipe_head_opt(fp, op);
        train_result r1;
        s = transfer_linear_probe(m, train, NULL, &c1, &lp, &r1, err, sizeof err);
        train_result_free(&r1);
        if (s != GRAFT_OK) ctx_fail(ctx, s, "%s", err);
    }
    graft_opt_params p = *op;
    p.schedule = GRAFT_SCHED_CONSTANT;
    p.warmup_steps = 0;
    p.lr = cfg->lr_min;
    if (s == GRAFT_OK) s = graft_optimizer_create(m, &p, &o);
    res->points = calloc((size_t)cfg->steps, sizeof *res->points);
    if (s == GRAFT_OK && !res->points) s = ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of memory");
    loader_opts lo = {0};
    lo.batch = cfg->train.batch;
    lo.seed = cfg->train.seed;
    lo.shuffle = 1;
    lo.mean = cfg->train.mean;
    lo.std = cfg->train.std;
    lo.augment = cfg->train.augment;
    lo.aug = cfg->train.aug;
    if (s == GRAFT_OK && (s = loader_create(train, &lo, &ld, err, sizeof err)) != GRAFT_OK)
        ctx_fail(ctx, s, "%s", err);
    pass_progress pp;
    pass_progress_begin(&pp, ctx, cfg->train.cb.progress, cfg->train.cb.user, "lr-find",
                        cfg->steps);
    double ratio = log((double)cfg->lr_max / cfg->lr_min) / (cfg->steps - 1);
    double avg = 0, best = INFINITY;
    uint64_t epoch = 0;
    int have = 0;
    for (int i = 0; s == GRAFT_OK && i < cfg->steps; i++) {
        const float *x;
        const int *y;
        int n, correct;
        if (!have) loader_start_epoch(ld, epoch++);
        have = loader_next(ld, &x, &y, &n);
        if (!have) { /* the end of an epoch: go on with the next one */
            loader_start_epoch(ld, epoch++);
            have = loader_next(ld, &x, &y, &n);
            if (!have) break;
        }
        if (have < 0) { /* an image decoded on first use did not decode */
            s = ctx_fail(ctx, GRAFT_ERR_FORMAT, "%s", loader_error(ld));
            break;
        }
        float lr = (float)(cfg->lr_min * exp(ratio * i)), loss;
        o->p.lr = lr;
        s = graft_model_forward(m, x, n, 1, NULL);
        if (s == GRAFT_OK) s = graft_model_backward(m, y, cfg->train.label_smoothing, &loss, &correct);
        if (s == GRAFT_OK && isfinite(loss)) s = graft_optimizer_step(o);
        if (s != GRAFT_OK) break;
        if (!isfinite(loss)) {
            res->stopped = 1;
            break;
        }
        double b = cfg->smoothing;
        avg = b * avg + (1 - b) * loss;
        double sm = avg / (1 - pow(b, i + 1));
        res->points[res->npoints++] = (graft_lr_find_point){lr, loss, sm};
        pass_progress_report(&pp, i + 1, (long)(i + 1) * cfg->train.batch);
        if (sm < best) best = sm;
        if (i >= 5 && sm > cfg->stop_factor * best) {
            res->stopped = 1;
            break;
        }
    }
    loader_free(ld);
    graft_optimizer_free(o);
    graft_model_free(m);
    if (s == GRAFT_OK && res->npoints < 5)
        s = ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "lr-find: the loss diverged after %d steps, "
                     "before a curve could be drawn (lower lr_min)", res->npoints);
    if (s != GRAFT_OK) {
        graft_lr_find_result_free(res);
        return s;
    }
    suggest(res);
    return GRAFT_OK;
}
