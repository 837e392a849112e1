/* RECIPE (graft_finetune): phase 1 trains the new head alone on features
 * computed once (a linear probe: its epochs cost little more than one
 * forward pass), so that phase 2 starts from a head that already fits the
 * backbone instead of a random one whose large gradients would wreck the
 * pretrained layers; phase 2 trains every layer, the backbone at rates
 * well below the head's (lower stages less), after a warm-up. */
#define _POSIX_C_SOURCE 200809L
#include "recipe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

int recipe_bn_frozen(const graft_finetune_params *fp, const dataset *train)
{
    if (fp->bn_frozen) return 1;
    int k = train->nclasses > 0 ? train->nclasses : 1;
    return (long)train->n < (long)fp->bn_frozen_below * k;
}

float graft_recipe_head_lr(graft_opt_kind kind) { return kind == GRAFT_OPT_ADAMW ? 3e-3f : 0.1f; }

int recipe_head_epochs(const graft_finetune_params *fp, int epochs)
{
    int h = fp->head_epochs > 0 ? fp->head_epochs : epochs;
    return h < 1 ? 1 : h;
}

int graft_recipe_head_epochs(const graft_finetune_params *fp, int epochs)
{
    return fp->strategy == GRAFT_STRATEGY_RECIPE ? recipe_head_epochs(fp, epochs) : 0;
}

graft_opt_params transfer_head_opt(const graft_opt_params *op, float lr)
{
    /* op's optimizer and regularisation; cosine over the run, no warm-up. */
    graft_opt_params lp = graft_opt_default_params(op->kind);
    lp.lr = lr;
    lp.weight_decay = op->weight_decay;
    lp.momentum = op->momentum;
    lp.beta1 = op->beta1;
    lp.beta2 = op->beta2;
    lp.eps = op->eps;
    lp.schedule = GRAFT_SCHED_COSINE;
    return lp;
}

graft_opt_params recipe_head_opt(const graft_finetune_params *fp, const graft_opt_params *op)
{
    return transfer_head_opt(op, fp->head_lr > 0 ? fp->head_lr : graft_recipe_head_lr(op->kind));
}

/* Phase 2 attempts after the first, each at a tenth of the previous rate. */
#define RECIPE_RETRIES 3

/* Host copies of every parameter and running statistic of m. */
static float **snapshot(graft_model *m)
{
    float **s = calloc((size_t)m->nparams + 1, sizeof *s);
    for (int i = 0; s && i < m->nparams; i++) {
        size_t n = graft_model_param_numel(m, i);
        if (!(s[i] = malloc(n * sizeof(float))) || graft_model_param_get(m, i, s[i], n) != GRAFT_OK) {
            for (int j = 0; j <= i; j++) free(s[j]);
            free(s);
            return NULL;
        }
    }
    return s;
}

static graft_status restore(graft_model *m, float **s)
{
    for (int i = 0; i < m->nparams; i++)
        TRY(graft_model_param_set(m, i, s[i], graft_model_param_numel(m, i)));
    return GRAFT_OK;
}

static void free_snapshot(graft_model *m, float **s)
{
    for (int i = 0; i < m->nparams; i++) free(s[i]);
    free(s);
}

/* Phase 2's callbacks: the caller's, plus the divergence check. */
typedef struct guard {
    graft_callbacks cb; /* the caller's */
    double limit;       /* an epoch's training loss above this has diverged */
    int diverged;
} guard;

static int guard_epoch(void *user, const graft_epoch_stats *st)
{
    guard *g = user;
    int stop = g->cb.epoch ? g->cb.epoch(g->cb.user, st) : 0;
    if (!(st->train_loss <= g->limit)) g->diverged = 1;
    return stop || g->diverged;
}

static void guard_progress(void *user, const graft_progress *p)
{
    guard *g = user;
    g->cb.progress(g->cb.user, p);
}

static void guard_log(void *user, graft_log_level level, const char *msg)
{
    guard *g = user;
    g->cb.log(g->cb.user, level, msg);
}

static void say(const train_config *cfg, const char *msg)
{
    if (cfg->cb.log) cfg->cb.log(cfg->cb.user, GRAFT_LOG_INFO, msg);
}

/* hist of b appended to a's (epochs already numbered across both). */
static graft_status join(train_result *a, train_result *b)
{
    if (b->nepochs == 0) return GRAFT_OK;
    epoch_stats *h = realloc(a->hist, (size_t)(a->nepochs + b->nepochs) * sizeof *h);
    if (!h) return GRAFT_ERR_HOST_MEMORY;
    double base = a->nepochs ? h[a->nepochs - 1].total_train_seconds : 0;
    for (int e = 0; e < b->nepochs; e++) {
        h[a->nepochs + e] = b->hist[e];
        h[a->nepochs + e].total_train_seconds += base;
    }
    a->hist = h;
    a->nepochs += b->nepochs;
    if (b->best_epoch > 0 && (a->best_epoch == 0 || b->best_eval_acc >= a->best_eval_acc)) {
        a->best_epoch = b->best_epoch;
        a->best_eval_acc = b->best_eval_acc;
    }
    a->stopped_early = b->stopped_early;
    a->restored_epoch = b->restored_epoch;
    if (b->interrupted) {
        a->interrupted = 1;
        a->interrupted_epoch = b->interrupted_epoch; /* phase 2 numbers its epochs on */
        a->interrupted_batch = b->interrupted_batch;
    }
    return GRAFT_OK;
}

graft_status transfer_recipe(graft_model *m, const dataset *train, const dataset *eval,
                             const graft_finetune_params *fp, const finetune_opts *fo,
                             const graft_opt_params *op, const train_config *cfg,
                             train_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    int head = recipe_head_epochs(fp, cfg->epochs);
    int bn = recipe_bn_frozen(fp, train);
    char msg[512];

    train_config c1 = *cfg;
    c1.epochs = head;
    c1.start_epoch = 0;
    c1.patience = 0;
    c1.restore_best = 0;
    graft_opt_params lp = recipe_head_opt(fp, op);
    snprintf(msg, sizeof msg, "recipe: phase 1, the new head alone on cached features for %d "
             "epoch%s (lr %g)", head, head == 1 ? "" : "s", (double)lp.lr);
    say(cfg, msg);
    graft_status s = transfer_linear_probe(m, train, eval, &c1, &lp, res, err, errlen);
    if (s != GRAFT_OK || res->interrupted || (cfg->stop_after > 0 && head >= cfg->stop_after))
        return s;

    /* Phase 2: every layer (above freeze_until), discriminative rates. */
    finetune_opts o2 = *fo;
    o2.bn_frozen = bn;
    TRY(transfer_apply(m, &o2));
    int starts[4096];
    int ns = transfer_stages(m, starts, 4096);
    float low = ns >= 2 ? m->nodes[starts[0]].lr_mult : 1.0f;
    float warm = fp->warmup_epochs > 0 ? fp->warmup_epochs : 1.0f;
    int k = train->nclasses > 0 ? train->nclasses : 1;
    snprintf(msg, sizeof msg, "recipe: phase 2, %s for %d epoch%s: backbone lr x%.3g (top) to "
             "x%.3g (input) of the head's %g, %g epoch%s of warm-up, BatchNorm statistics %s "
             "(%d images per class%s)",
             fo->freeze_until > 0 ? "the layers above the frozen prefix" : "every layer",
             cfg->epochs, cfg->epochs == 1 ? "" : "s", (double)fo->lr_backbone,
             (double)low, (double)op->lr, (double)warm, warm == 1.0f ? "" : "s",
             bn ? "frozen" : "trained", train->n / k,
             fp->bn_frozen ? ", frozen as asked" : bn ? ", below the rule's threshold" : "");
    say(cfg, msg);
    /* The guard: an epoch whose training loss is above both chance level
     * and three times phase 1's has diverged (a backbone whose rates are too high
     * for it, e.g. MobileNetV2 with frozen BatchNorm at 0.01); phase 2 then
     * starts again from phase 1's weights at a tenth of the rate. */
    float **snap = snapshot(m);
    if (!snap) {
        snprintf(err, errlen, "out of host memory keeping phase 1's weights");
        return GRAFT_ERR_HOST_MEMORY;
    }
    double head_loss = res->nepochs ? res->hist[res->nepochs - 1].train_loss : 0;
    guard g = {cfg->cb, fmax(log((double)k), 3.0 * head_loss), 0};
    graft_opt_params p2 = *op;
    train_result r2 = {0};
    for (int attempt = 0;; attempt++) {
        graft_opt_fit_run(&p2, train->n, cfg->batch, cfg->epochs, warm);
        graft_optimizer *o = NULL;
        if ((s = graft_optimizer_create(m, &p2, &o)) != GRAFT_OK) {
            snprintf(err, errlen, "%s", graft_last_error(m->ctx));
            break;
        }
        train_config c2 = *cfg;
        c2.start_epoch = head; /* numbering goes on; the log file is appended to */
        c2.epochs = head + cfg->epochs;
        c2.cb.epoch = guard_epoch;
        c2.cb.user = &g;
        c2.cb.progress = cfg->cb.progress ? guard_progress : NULL;
        c2.cb.log = cfg->cb.log ? guard_log : NULL;
        g.diverged = 0;
        s = train_model(m, o, train, eval, &c2, &r2, err, errlen);
        graft_optimizer_free(o);
        /* A non-finite loss is divergence too (train_model's error). */
        if (s == GRAFT_ERR_INVALID_ARG && strstr(err, "diverged")) {
            g.diverged = 1;
            s = GRAFT_OK;
            err[0] = '\0';
        }
        if (s != GRAFT_OK || !g.diverged) break;
        train_result_free(&r2);
        if ((s = restore(m, snap)) != GRAFT_OK) {
            snprintf(err, errlen, "%s", graft_last_error(m->ctx));
            break;
        }
        if (attempt == RECIPE_RETRIES) {
            snprintf(msg, sizeof msg, "recipe: phase 2 diverged down to lr %g; keeping phase "
                     "1's model (the head on the unchanged backbone)", (double)p2.lr);
            say(cfg, msg);
            break;
        }
        snprintf(msg, sizeof msg, "recipe: phase 2 diverged at lr %g (training loss above %.3g); "
                 "starting it again from phase 1's weights at lr %g", (double)p2.lr, g.limit,
                 (double)p2.lr / 10);
        say(cfg, msg);
        p2.lr /= 10;
    }
    free_snapshot(m, snap);
    if (s == GRAFT_OK && join(res, &r2) != GRAFT_OK) {
        snprintf(err, errlen, "out of host memory");
        s = GRAFT_ERR_HOST_MEMORY;
    }
    train_result_free(&r2);
    return s;
}
