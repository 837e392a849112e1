/* The public fine-tuning API (graft_transfer.h): target models, strategy
 * flags, the caching decision, and one fine-tuning run as one call. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctx.h"
#include "graft_transfer.h"
#include "logme.h"
#include "recipe.h"
#include "model.h"
#include "train.h"
#include "transfer.h"

const char *graft_strategy_name(graft_strategy s)
{
    if (s == GRAFT_STRATEGY_RECIPE) return "recipe";
    return (unsigned)s <= GRAFT_STRATEGY_GRADUAL ? transfer_strategy_name((transfer_strategy)s) : NULL;
}

int graft_strategy_parse(const char *s)
{
    if (s && !strcasecmp(s, "recipe")) return GRAFT_STRATEGY_RECIPE;
    return s ? transfer_strategy_parse(s) : -1;
}

graft_finetune_params graft_finetune_default_params(void)
{
    graft_finetune_params p;
    memset(&p, 0, sizeof p);
    p.strategy = GRAFT_STRATEGY_FINETUNE;
    p.freeze_until = -1;
    p.lr_backbone = 1.0f;
    p.lr_decay = 1.0f;
    p.unfreeze_every = 2;
    p.cache = 1;
    p.lr_floor = 0.01f;
    p.bn_frozen_below = GRAFT_RECIPE_BN_FROZEN_BELOW;
    return p;
}

graft_finetune_params graft_finetune_recipe_params(void)
{
    graft_finetune_params p = graft_finetune_default_params();
    p.strategy = GRAFT_STRATEGY_RECIPE;
    p.lr_backbone = 0.1f;
    p.warmup_epochs = 1.0f;
    return p;
}

float graft_recipe_lr_decay(const graft_model *m, const graft_finetune_params *fp)
{
    int starts[4096];
    int backbone = transfer_stages(m, starts, 4096) - 1; /* stages below the head */
    if (backbone < 2 || !(fp->lr_backbone > 0) || !(fp->lr_floor > 0)) return 1.0f;
    return powf(fp->lr_floor / fp->lr_backbone, 1.0f / (float)(backbone - 1));
}

/* The internal options of the public parameters: RECIPE's flags are those
 * of its phase 2, a FINETUNE over every layer with a per-stage decay. */
static finetune_opts opts_of(const graft_model *m, const graft_finetune_params *p)
{
    finetune_opts o = {(transfer_strategy)p->strategy, p->freeze_until, p->lr_backbone,
                       p->lr_decay, p->unfreeze_every, p->bn_frozen, p->cache};
    if (p->strategy == GRAFT_STRATEGY_RECIPE) {
        o.strategy = STRATEGY_FINETUNE;
        o.lr_decay = graft_recipe_lr_decay(m, p);
        o.cache = 0;
    }
    return o;
}

graft_status graft_transfer_target(graft_model *src, int nclasses, int keep_head, uint64_t seed,
                                   graft_model **out)
{
    return transfer_build_target(src, nclasses, keep_head, seed, out);
}

int graft_model_node_ref(const graft_model *m, const char *ref)
{
    char *end;
    long v = strtol(ref, &end, 10);
    if (*ref && !*end) return (v >= 0 && v < graft_model_num_nodes(m)) ? (int)v : -1;
    return graft_model_find(m, ref);
}

int graft_transfer_feature_node(const graft_model *m) { return transfer_feature_node(m); }

graft_status graft_transfer_check_cut(const graft_model *m, int cut, char *err, size_t errlen)
{
    return transfer_check_cut(m, cut, err, errlen);
}

int graft_transfer_default_cut(const graft_model *m) { return transfer_default_cut(m); }

graft_status graft_transfer_apply(graft_model *m, const graft_finetune_params *fp)
{
    finetune_opts o = opts_of(m, fp);
    return transfer_apply(m, &o);
}

int graft_transfer_gradual_step(graft_model *m, const graft_finetune_params *fp, int epochs_done)
{
    finetune_opts o = opts_of(m, fp);
    return transfer_gradual_step(m, &o, epochs_done);
}

int graft_finetune_cache_plan(const graft_model *m, const graft_finetune_params *fp,
                              const graft_train_config *cfg, char *why, size_t whylen)
{
    if (why && whylen) why[0] = '\0';
    if (fp->strategy != GRAFT_STRATEGY_FINETUNE || fp->freeze_until <= 0 || !fp->cache) return -1;
    const char *name = graft_model_node_name(m, fp->freeze_until);
    char cut[1024] = "";
    if (cfg->augment) {
        if (why) snprintf(why, whylen, "not caching the output of '%s': augmentation is on (the "
                          "frozen layers must see every epoch's augmented images)", name);
        return -1;
    }
    if (cfg->comm && cfg->comm->size > 1) {
        if (why) snprintf(why, whylen, "not caching the output of '%s': over %d ranks each rank "
                          "reads only its share of every batch, and the shares change every epoch",
                          name, cfg->comm->size);
        return -1;
    }
    if (cfg->best_path || (cfg->ckpt_path && cfg->ckpt_every > 0)) {
        if (why) snprintf(why, whylen, "not caching the output of '%s': the best-model and "
                          "checkpoint files save the whole model during training", name);
        return -1;
    }
    if (transfer_check_cut(m, fp->freeze_until, cut, sizeof cut) != GRAFT_OK) {
        if (why) snprintf(why, whylen, "%s", cut);
        return -1;
    }
    return fp->freeze_until;
}

/* GRADUAL: the caller's own epoch callback (its epoch line comes first),
 * then one more stage after every unfreeze_every epochs. */
typedef struct gradual_hook {
    graft_model *m;
    const finetune_opts *fo;
    graft_callbacks cb; /* the caller's */
} gradual_hook;

static int gradual_epoch(void *user, const graft_epoch_stats *st)
{
    gradual_hook *g = user;
    int stop = g->cb.epoch ? g->cb.epoch(g->cb.user, st) : 0;
    if (transfer_gradual_step(g->m, g->fo, st->epoch) && g->cb.log) {
        char msg[96];
        snprintf(msg, sizeof msg, "gradual: unfroze another stage after epoch %d", st->epoch);
        g->cb.log(g->cb.user, GRAFT_LOG_INFO, msg);
    }
    return stop;
}

static void relay_progress(void *user, const graft_progress *p)
{
    gradual_hook *g = user;
    if (g->cb.progress) g->cb.progress(g->cb.user, p);
}

static void relay_log(void *user, graft_log_level level, const char *msg)
{
    gradual_hook *g = user;
    if (g->cb.log) g->cb.log(g->cb.user, level, msg);
}

graft_status graft_finetune(graft_model *src, const graft_dataset *train,
                            const graft_dataset *eval, const graft_finetune_params *fp,
                            const graft_opt_params *op, const graft_train_config *cfg,
                            graft_model **out, graft_train_result *res)
{
    *out = NULL;
    memset(res, 0, sizeof *res);
    graft_ctx *ctx = src->ctx;
    finetune_opts fo = opts_of(src, fp);
    graft_model *m = NULL;
    graft_optimizer *o = NULL;
    char err[2048] = "";
    graft_opt_params p = *op;
    graft_opt_fit_run(&p, train->n, cfg->batch, cfg->epochs, fp->warmup_epochs);
    TRY(transfer_build_target(src, train->nclasses, fp->keep_head, cfg->seed, &m));
    graft_status s = transfer_apply(m, &fo);
    int cut = graft_finetune_cache_plan(m, fp, cfg, NULL, 0);
    if (s != GRAFT_OK) {
        /* the context holds the message */
    } else if (fp->strategy == GRAFT_STRATEGY_RECIPE) {
        s = transfer_recipe(m, train, eval, fp, &fo, op, cfg, res, err, sizeof err);
    } else if (cut > 0) {
        s = transfer_cached_finetune(m, train, eval, cfg, &p, cut, res, err, sizeof err);
    } else if (fp->strategy == GRAFT_STRATEGY_LINEAR_PROBE) {
        /* The head alone: a cosine schedule over the run, no warm-up. */
        graft_opt_params lp = transfer_head_opt(op, op->lr);
        s = transfer_linear_probe(m, train, eval, cfg, &lp, res, err, sizeof err);
    } else {
        s = graft_optimizer_create(m, &p, &o);
        gradual_hook g = {m, &fo, cfg->cb};
        train_config c = *cfg;
        if (fp->strategy == GRAFT_STRATEGY_GRADUAL)
            c.cb = (graft_callbacks){relay_progress, gradual_epoch, relay_log, &g};
        if (s == GRAFT_OK) s = train_model(m, o, train, eval, &c, res, err, sizeof err);
    }
    graft_optimizer_free(o);
    if (s != GRAFT_OK) {
        if (err[0]) ctx_fail(ctx, s, "%s", err);
        train_result_free(res);
        graft_model_free(m);
        return s;
    }
    *out = m;
    return GRAFT_OK;
}

graft_status graft_features(graft_model *m, const graft_dataset *d, const float *mean,
                            const float *std, int batch, int node, float **feats, int *dim)
{
    char err[2048] = "";
    graft_status s = transfer_features(m, d, mean, std, batch, node, feats, dim, err, sizeof err);
    return s == GRAFT_OK ? s : ctx_fail(m->ctx, s, "%s", err[0] ? err : graft_status_name(s));
}

graft_status graft_logme(const float *F, int n, int d, const int *y, int nclasses,
                         double *score, char *err, size_t errlen)
{
    return logme_score(F, n, d, y, nclasses, score, err, errlen);
}
