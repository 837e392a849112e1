/* RECIPE (graft_finetune): phase 1 trains the new head alone on features
 * computed once (a linear probe: its epochs cost little more than one
 * forward pass), so that phase 2 starts from a head that already fits the
 * backbone instead of a random one whose large gradients would wreck the
 * pretrained layers; phase 2 trains every layer, the backbone at rates
 * well below the head's (lower stages less), after a warm-up. */
#define _POSIX_C_SOURCE 200809L
#include "recipe.h"

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

graft_opt_params recipe_head_opt(const graft_finetune_params *fp, const graft_opt_params *op)
{
    /* The linear probe's: cosine over phase 1, no warm-up. */
    graft_opt_params lp = graft_opt_default_params(op->kind);
    lp.lr = fp->head_lr > 0 ? fp->head_lr : graft_recipe_head_lr(op->kind);
    lp.weight_decay = op->weight_decay;
    lp.momentum = op->momentum;
    lp.beta1 = op->beta1;
    lp.beta2 = op->beta2;
    lp.eps = op->eps;
    lp.schedule = GRAFT_SCHED_COSINE;
    return lp;
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
    if (s != GRAFT_OK || (cfg->stop_after > 0 && head >= cfg->stop_after)) return s;

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
    graft_opt_params p2 = *op;
    graft_opt_fit_run(&p2, train->n, cfg->batch, cfg->epochs, warm);
    graft_optimizer *o = NULL;
    if ((s = graft_optimizer_create(m, &p2, &o)) != GRAFT_OK) {
        snprintf(err, errlen, "%s", graft_last_error(m->ctx));
        return s;
    }
    train_config c2 = *cfg;
    c2.start_epoch = head; /* numbering goes on; the log file is appended to */
    c2.epochs = head + cfg->epochs;
    train_result r2;
    s = train_model(m, o, train, eval, &c2, &r2, err, errlen);
    graft_optimizer_free(o);
    if (s == GRAFT_OK && join(res, &r2) != GRAFT_OK) {
        snprintf(err, errlen, "out of host memory");
        s = GRAFT_ERR_HOST_MEMORY;
    }
    train_result_free(&r2);
    return s;
}
