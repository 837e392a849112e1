/* One fine-tuning run, shared by finetune, cv and selftrain. */
#include "finetune_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "model.h"

void finetune_cli_defaults(finetune_cli *f)
{
    memset(f, 0, sizeof *f);
    f->strategy = "finetune";
    f->unfreeze_every = 2;
    f->lr_backbone = 1.0f;
    f->lr_decay = 1.0f;
}

int finetune_cli_check(const char *cmd, const finetune_cli *f, train_opts *to, finetune_opts *fo)
{
    int strat = transfer_strategy_parse(f->strategy);
    if (strat < 0) {
        fprintf(stderr, "%s: --strategy '%s': expected linear-probe, finetune or gradual\n", cmd,
                f->strategy);
        return EXIT_USAGE;
    }
    if (f->bn && strcasecmp(f->bn, "frozen") && strcasecmp(f->bn, "train")) {
        fprintf(stderr, "%s: --bn '%s': expected frozen or train\n", cmd, f->bn);
        return EXIT_USAGE;
    }
    if (trainopts_check(cmd, to)) return EXIT_USAGE;
    if (to->lr < 0)
        to->lr = strat == STRATEGY_LINEAR_PROBE ? 0.1f : (strcasecmp(to->opt, "adamw") ? 0.01f : 3e-4f);
    finetune_opts o = {(transfer_strategy)strat, -1, f->lr_backbone, f->lr_decay,
                       f->unfreeze_every, f->bn && !strcasecmp(f->bn, "frozen"), !f->no_cache};
    *fo = o;
    return 0;
}

/* Node index from a name or a number; -2 when unknown. */
static int node_ref(graft_model *m, const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s && !*end) return (v >= 0 && v < graft_model_num_nodes(m)) ? (int)v : -2;
    int i = graft_model_find(m, s);
    return i >= 0 ? i : -2;
}

int finetune_cli_freeze(const char *cmd, const finetune_cli *f, graft_model *src,
                        const char *from, finetune_opts *fo)
{
    if (!f->freeze) return 0;
    /* The target has the source's nodes (only the head is replaced). */
    fo->freeze_until = node_ref(src, f->freeze);
    if (fo->freeze_until == -2) {
        fprintf(stderr, "%s: --freeze-until '%s': no such layer (see graft info --model %s)\n",
                cmd, f->freeze, from);
        return 1;
    }
    return 0;
}

int finetune_meta(const char *cmd, const train_opts *to, const dataset *train,
                  const graft_model_meta *smeta, graft_model_meta *meta)
{
    if (trainopts_meta(cmd, to, train, meta)) return 1;
    snprintf(meta->arch, sizeof meta->arch, "%s", smeta->arch);
    memcpy(meta->mean, smeta->mean, sizeof meta->mean);
    memcpy(meta->std, smeta->std, sizeof meta->std);
    return 0;
}

int finetune_cache_cut(const char *cmd, const finetune_opts *fo, const graft_model *m,
                       const train_opts *to, const train_config *cfg, int quiet)
{
    if (fo->strategy != STRATEGY_FINETUNE || fo->freeze_until <= 0 || !fo->cache) return -1;
    const char *name = graft_model_node_name(m, fo->freeze_until);
    char why[1024] = "";
    if (cfg->augment)
        snprintf(why, sizeof why, "not caching the output of '%s': augmentation is on (the "
                 "frozen layers must see every epoch's augmented images)", name);
    else if (to->keep_best || to->ckpt_every)
        snprintf(why, sizeof why, "not caching the output of '%s': --keep-best and "
                 "--checkpoint-every save the whole model during training", name);
    else
        transfer_check_cut(m, fo->freeze_until, why, sizeof why);
    if (why[0]) {
        if (!quiet) printf("%s: note: %s; the frozen layers run at every step\n", cmd, why);
        return -1;
    }
    if (!quiet)
        printf("%s: caching the output of '%s' once: layers 1-%d are frozen and run once per "
               "image, only the %d above train (--no-cache: run them at every step)\n", cmd, name,
               fo->freeze_until, graft_model_num_nodes(m) - 1 - fo->freeze_until);
    return fo->freeze_until;
}

typedef struct gradual_state {
    graft_model *m;
    const finetune_opts *fo;
    int quiet;
} gradual_state;

static int gradual_cb(void *user, const epoch_stats *st)
{
    gradual_state *g = user;
    if (transfer_gradual_step(g->m, g->fo, st->epoch) && !g->quiet) {
        printf("gradual: unfroze another stage after epoch %d\n", st->epoch);
    }
    return 0;
}

int finetune_run(const char *cmd, graft_model *src, const dataset *train, const dataset *eval,
                 const char *eval_name, const graft_model_meta *meta, const finetune_opts *fo,
                 int keep_head, const train_opts *to, const common_opts *co, uint64_t seed,
                 const char *out_path, graft_model **out, train_result *res)
{
    *out = NULL;
    memset(res, 0, sizeof *res);
    graft_ctx *ctx = src->ctx;
    graft_model *m = NULL;
    graft_optimizer *o = NULL;
    train_config cfg;
    memset(&cfg, 0, sizeof cfg);
    char err[2048] = "";
    int status = 1;
    common_opts c = *co;
    c.seed = (int)seed;

    if (transfer_build_target(src, train->nclasses, keep_head, seed, &m) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, graft_last_error(ctx));
        goto done;
    }
    transfer_apply(m, fo);
    trainopts_config(to, &c, train, meta, eval_name, out_path, &cfg);
    cfg.seed = seed;
    if (!out_path) cfg.log_path = cfg.ckpt_path = cfg.best_path = NULL;
    cfg.restore_best = eval_name && !strcmp(eval_name, "val");
    int cut = finetune_cache_cut(cmd, fo, m, to, &cfg, co->quiet);
    if (cut > 0) {
        graft_opt_params op = trainopts_opt_params(to, train);
        if (transfer_cached_finetune(m, train, eval, &cfg, &op, cut, res, err, sizeof err) != GRAFT_OK) {
            fprintf(stderr, "%s: %s\n", cmd, err);
            goto done;
        }
    } else if (fo->strategy == STRATEGY_LINEAR_PROBE) {
        graft_opt_params op =
            graft_opt_default_params(strcasecmp(to->opt, "adamw") ? GRAFT_OPT_SGD : GRAFT_OPT_ADAMW);
        op.lr = to->lr;
        if (to->wd >= 0) op.weight_decay = to->wd;
        op.momentum = to->momentum;
        op.schedule = GRAFT_SCHED_COSINE;
        if (transfer_linear_probe(m, train, eval, &cfg, &op, res, err, sizeof err) != GRAFT_OK) {
            fprintf(stderr, "%s: %s\n", cmd, err);
            goto done;
        }
    } else {
        if (trainopts_optimizer(to, m, train, &o) != GRAFT_OK) {
            fprintf(stderr, "%s: %s\n", cmd, graft_last_error(ctx));
            goto done;
        }
        gradual_state gs = {m, fo, co->quiet};
        if (fo->strategy == STRATEGY_GRADUAL) {
            cfg.on_epoch = gradual_cb;
            cfg.user = &gs;
        }
        if (train_model(m, o, train, eval, &cfg, res, err, sizeof err) != GRAFT_OK) {
            fprintf(stderr, "%s: %s\n", cmd, err);
            goto done;
        }
    }
    *out = m;
    m = NULL;
    status = 0;
done:
    if (status) train_result_free(res);
    trainopts_config_free(&cfg);
    graft_optimizer_free(o);
    graft_model_free(m);
    return status;
}
