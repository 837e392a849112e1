/* Does transfer pay off? (graft_compare) Trains "arms" (scratch, linear
 * probe, fine-tuning, fine-tuning above a frozen cached prefix, gradual
 * unfreezing) on the same target data with the same budget and records
 * accuracy over training time; the report is compare_report.c. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctx.h"
#include "dataset.h"
#include "graft_transfer.h"
#include "job_sched.h"
#include "model.h"
#include "transfer.h"

static const char *const arm_names[GRAFT_ARM_COUNT] = {"scratch", "linear-probe", "finetune",
                                                       "partial", "gradual", "recipe"};

const char *graft_arm_name(graft_arm a)
{
    return (unsigned)a < GRAFT_ARM_COUNT ? arm_names[a] : NULL;
}

int graft_arm_parse(const char *s)
{
    for (int a = 0; s && a < GRAFT_ARM_COUNT; a++)
        if (!strcasecmp(s, arm_names[a])) return a;
    return -1;
}

/* The config checked against the data; resolves the partial arm's cut. */
static graft_status check_config(graft_model *src, const dataset *train, const dataset *eval,
                                 const graft_compare_config *cfg, int *cut)
{
    graft_ctx *ctx = src->ctx;
    int seen[GRAFT_ARM_COUNT] = {0}, partial = 0;
    if (cfg->narms < 1 || !cfg->arms || cfg->nseeds < 1)
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "compare: %d arms, %d seeds: need at least one "
                        "of each", cfg->narms, cfg->nseeds);
    for (int a = 0; a < cfg->narms; a++) {
        if ((unsigned)cfg->arms[a] >= GRAFT_ARM_COUNT)
            return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "compare: unknown arm %d", (int)cfg->arms[a]);
        if (seen[cfg->arms[a]]++)
            return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "compare: arm '%s' given twice",
                            arm_names[cfg->arms[a]]);
        partial |= cfg->arms[a] == GRAFT_ARM_PARTIAL;
    }
    if (!(cfg->target >= 0 && cfg->target <= 1)) /* NaN too */
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "compare: target accuracy %g outside (0, 1]",
                        cfg->target);
    if (!eval) return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "compare: no evaluation data");
    if (eval->nclasses != train->nclasses)
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "the evaluation data has %d classes, the "
                        "training data %d", eval->nclasses, train->nclasses);
    *cut = -1;
    if (!partial) return GRAFT_OK;
    *cut = cfg->freeze_until >= 0 ? cfg->freeze_until : graft_transfer_default_cut(src);
    char err[GRAFT_ERRLEN] = "";
    if (*cut < 0)
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "the partial arm needs a frozen prefix for "
                        "this model (no default cut found)");
    if (graft_transfer_check_cut(src, *cut, err, sizeof err) != GRAFT_OK)
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "partial arm: %s", err);
    if (cfg->train.augment)
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "the partial arm caches the frozen layers' "
                        "outputs, which augmentation would change every epoch");
    return GRAFT_OK;
}

/* One untimed epoch and the inference passes the arms will use, so that
 * kernel compilation (PoCL builds per launch shape on first use) lands in
 * no arm's time. */
static graft_status warm_up(graft_model *src, const dataset *train,
                            const graft_compare_config *cfg, const graft_train_config *tc)
{
    const graft_callbacks *cb = &cfg->train.cb;
    if (cb->log) cb->log(cb->user, GRAFT_LOG_INFO, "warm-up: one untimed training epoch and an "
                         "inference pass");
    graft_train_config wc = *tc;
    wc.epochs = 1;
    wc.seed = cfg->seed;
    memset(&wc.cb, 0, sizeof wc.cb);
    graft_opt_params op = cfg->opt;
    graft_opt_fit_run(&op, train->n, tc->batch, tc->epochs, cfg->warmup_epochs);
    graft_model *m = NULL;
    graft_optimizer *o = NULL;
    graft_train_result res = {0};
    graft_eval_result er = {0};
    graft_status s = graft_transfer_target(src, train->nclasses, 0, cfg->seed, &m);
    if (s == GRAFT_OK) s = graft_optimizer_create(m, &op, &o);
    if (s == GRAFT_OK) s = graft_train(m, o, train, NULL, &wc, &res);
    if (s == GRAFT_OK) s = graft_evaluate(m, train, tc->mean, tc->std, 256, 0, &er);
    graft_eval_result_free(&er);
    /* The linear probe's and partial arm's timed feature passes. */
    if (s == GRAFT_OK) s = graft_evaluate(m, train, tc->mean, tc->std, TRANSFER_EXTRACT_BATCH, 0, &er);
    graft_eval_result_free(&er);
    graft_train_result_free(&res);
    graft_optimizer_free(o);
    graft_model_free(m);
    if (s != GRAFT_OK) {
        char e[GRAFT_ERRLEN];
        snprintf(e, sizeof e, "%s", graft_last_error(src->ctx));
        ctx_fail(src->ctx, s, "warm-up: %s", e);
    }
    return s;
}

/* The scratch arm: src's graph freshly initialised, every layer trained. */
static graft_status train_scratch(graft_model *src, const dataset *train, const dataset *eval,
                                  const graft_finetune_params *fp, const graft_opt_params *op,
                                  const graft_train_config *tc, graft_model **out,
                                  graft_train_result *res)
{
    graft_model *m = NULL;
    graft_optimizer *o = NULL;
    graft_opt_params p = *op;
    graft_opt_fit_run(&p, train->n, tc->batch, tc->epochs, fp->warmup_epochs);
    graft_status s = graft_transfer_target(src, train->nclasses, 0, tc->seed, &m);
    if (s == GRAFT_OK) s = graft_model_reinit(m, tc->seed);
    if (s == GRAFT_OK) s = graft_transfer_apply(m, fp);
    if (s == GRAFT_OK) s = graft_optimizer_create(m, &p, &o);
    if (s == GRAFT_OK) s = graft_train(m, o, train, eval, tc, res);
    graft_optimizer_free(o);
    if (s != GRAFT_OK) graft_model_free(m);
    else *out = m;
    return s;
}

/* One arm x seed: the trained model and its training history. */
static graft_status run_arm(graft_model *src, const dataset *train, const dataset *eval,
                            const graft_compare_config *cfg, graft_arm arm, int cut,
                            const graft_train_config *tc, graft_model **m, graft_train_result *res)
{
    graft_finetune_params fp = graft_finetune_default_params();
    fp.unfreeze_every = cfg->unfreeze_every;
    fp.cache = 0;
    fp.warmup_epochs = cfg->warmup_epochs;
    graft_opt_params op = cfg->opt;
    op.lr = cfg->lr_transfer;
    switch (arm) {
    case GRAFT_ARM_SCRATCH:
        return train_scratch(src, train, eval, &fp, &cfg->opt, tc, m, res);
    case GRAFT_ARM_LINEAR_PROBE:
        fp.strategy = GRAFT_STRATEGY_LINEAR_PROBE;
        op.lr = cfg->lr_probe;
        break;
    case GRAFT_ARM_PARTIAL:
        fp.freeze_until = cut;
        fp.cache = 1;
        if (graft_finetune_cache_plan(src, &fp, tc, NULL, 0) != cut)
            return ctx_fail(src->ctx, GRAFT_ERR_INVALID_ARG, "the partial arm cannot cache "
                            "node %d in this run", cut);
        break;
    case GRAFT_ARM_GRADUAL:
        fp.strategy = GRAFT_STRATEGY_GRADUAL;
        break;
    case GRAFT_ARM_RECIPE:
        /* finetune's default: its own head phase, rates and BatchNorm
         * policy; the compare's transfer rate and warm-up. Its head
         * epochs come on top of the budget (the history says so). */
        fp = graft_finetune_recipe_params();
        fp.cache = 0;
        fp.warmup_epochs = cfg->warmup_epochs;
        break;
    default:
        break;
    }
    return graft_finetune(src, train, eval, &fp, &op, tc, m, res);
}

/* Copies a run's history into r; keeps the confusion matrix of the best
 * final model so far. */
static graft_status record_run(graft_model *m, const dataset *eval, const graft_train_config *tc,
                               const graft_train_result *tr, graft_compare_run *r,
                               graft_compare_result *res, double *best_final)
{
    r->points = calloc((size_t)(tr->nepochs > 0 ? tr->nepochs : 1), sizeof *r->points);
    if (!r->points) return ctx_fail(m->ctx, GRAFT_ERR_HOST_MEMORY, "compare: out of memory");
    for (int e = 0; e < tr->nepochs; e++) {
        r->points[e] = (graft_compare_point){tr->hist[e].epoch, tr->hist[e].total_train_seconds,
                                             tr->hist[e].eval_acc};
        if (tr->hist[e].eval_acc > r->best_accuracy) r->best_accuracy = tr->hist[e].eval_acc;
    }
    r->npoints = tr->nepochs;
    r->final_accuracy = tr->nepochs ? tr->hist[tr->nepochs - 1].eval_acc : 0;
    r->seconds_to_target = -1;
    if (r->final_accuracy <= *best_final) return GRAFT_OK;
    graft_eval_result er = {0};
    graft_status s = graft_evaluate(m, eval, tc->mean, tc->std, 256, 0, &er);
    if (s != GRAFT_OK) return s;
    size_t nc = (size_t)res->nclasses * (size_t)res->nclasses;
    if (!res->confusion) res->confusion = malloc(nc * sizeof *res->confusion);
    if (!res->confusion) s = ctx_fail(m->ctx, GRAFT_ERR_HOST_MEMORY, "compare: out of memory");
    else memcpy(res->confusion, er.confusion, nc * sizeof *res->confusion);
    graft_eval_result_free(&er);
    if (s == GRAFT_OK) {
        *best_final = r->final_accuracy;
        res->best_arm = r->arm_index;
    }
    return s;
}

/* What every compare run shares (job_sched's user). */
typedef struct compare_job {
    graft_model *src;
    const dataset *train, *eval;
    const graft_compare_config *cfg;
    int cut;
    const graft_train_config *tc;
    graft_compare_result *res;
    double best_final;
} compare_job;

/* Run j = arm j / nseeds, seed j % nseeds. */
static graft_status compare_run_job(void *user, int slot, void *state, int j, char *err,
                                    size_t errlen)
{
    (void)slot;
    (void)state;
    compare_job *cj = user;
    const graft_compare_config *cfg = cj->cfg;
    int a = j / cfg->nseeds, si = j % cfg->nseeds;
    graft_compare_run *r = &cj->res->runs[j];
    r->arm = cfg->arms[a];
    r->arm_index = a;
    r->seed = cfg->seed + (uint64_t)si;
    if (cfg->on_begin) cfg->on_begin(cfg->user, r->arm, r->seed, j + 1, cfg->narms * cfg->nseeds);
    graft_train_config tc = *cj->tc;
    tc.seed = r->seed;
    graft_model *m = NULL;
    graft_train_result tr = {0};
    graft_status s = run_arm(cj->src, cj->train, cj->eval, cfg, r->arm, cj->cut, &tc, &m, &tr);
    if (s == GRAFT_OK) s = record_run(m, cj->eval, &tc, &tr, r, cj->res, &cj->best_final);
    if (s != GRAFT_OK) snprintf(err, errlen, "%s", graft_last_error(cj->src->ctx));
    graft_train_result_free(&tr);
    graft_model_free(m);
    if (s == GRAFT_OK && cfg->on_end) cfg->on_end(cfg->user, r);
    return s;
}

/* The target accuracy and every run's time to reach it. */
void compare_time_to_target(graft_compare_result *res, double given)
{
    int ns = res->nseeds, nruns = res->narms * ns;
    double target = 0;
    res->target_given = given > 0;
    if (given > 0) {
        target = given;
    } else if (res->scratch_arm >= 0) {
        /* The lowest of scratch's per-seed bests: every scratch run reaches it. */
        target = 2;
        for (int si = 0; si < ns; si++)
            if (res->runs[res->scratch_arm * ns + si].best_accuracy < target)
                target = res->runs[res->scratch_arm * ns + si].best_accuracy;
    } else {
        for (int i = 0; i < nruns; i++)
            if (res->runs[i].best_accuracy > target) target = res->runs[i].best_accuracy;
    }
    res->target_accuracy = target;
    for (int i = 0; i < nruns; i++) {
        graft_compare_run *r = &res->runs[i];
        for (int e = 0; e < r->npoints; e++)
            if (r->points[e].accuracy >= target) {
                r->seconds_to_target = r->points[e].seconds;
                break;
            }
    }
}

graft_status graft_compare(graft_model *src, const graft_dataset *train,
                           const graft_dataset *eval, const graft_compare_config *cfg,
                           graft_compare_result *res)
{
    memset(res, 0, sizeof *res);
    graft_ctx *ctx = src->ctx;
    int cut = -1, nseeds = cfg->nseeds;
    graft_status s = check_config(src, train, eval, cfg, &cut);
    if (s != GRAFT_OK) return s;
    res->narms = cfg->narms;
    res->nseeds = nseeds;
    res->freeze_until = cut;
    res->scratch_arm = -1;
    res->nclasses = train->nclasses;
    res->runs = calloc((size_t)cfg->narms * (size_t)nseeds, sizeof *res->runs);
    if (!res->runs) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "compare: out of memory");
    /* Every run: the config's training settings, its own seed, no files. */
    graft_train_config tc = cfg->train;
    tc.seed = cfg->seed;
    tc.log_path = tc.ckpt_path = tc.best_path = NULL;
    if (cfg->warmup) s = warm_up(src, train, cfg, &tc);
    for (int a = 0; a < cfg->narms; a++)
        if (cfg->arms[a] == GRAFT_ARM_SCRATCH) res->scratch_arm = a;
    /* The runs on the scheduler, one at a time on src's device (their
     * times are compared, so they must not share it), in arm-major order;
     * the first failure stops the rest. */
    compare_job job = {src, train, eval, cfg, cut, &tc, res, -1};
    if (s == GRAFT_OK) {
        job_sched_config sc = {cfg->narms * nseeds, 1, 0, NULL};
        job_sched_ops ops = {NULL, NULL, compare_run_job, NULL};
        job_sched_result jr;
        s = job_sched_run(&sc, &ops, &job, &jr);
        if (s == GRAFT_OK && jr.failed) {
            const graft_compare_run *r = &res->runs[jr.first_failed];
            s = ctx_fail(ctx, jr.first_status, "arm %s seed %llu: %s", arm_names[r->arm],
                         (unsigned long long)r->seed, jr.first_err);
        }
    }
    if (s != GRAFT_OK) {
        graft_compare_result_free(res);
        return s;
    }
    compare_time_to_target(res, cfg->target);
    return GRAFT_OK;
}

void graft_compare_result_free(graft_compare_result *r)
{
    if (!r) return;
    for (int i = 0; r->runs && i < r->narms * r->nseeds; i++) free(r->runs[i].points);
    free(r->runs);
    free(r->confusion);
    memset(r, 0, sizeof *r);
}
