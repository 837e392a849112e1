/* graft finetune: adapt a pretrained model to a new (small) target set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "train.h"
#include "trainopts.h"
#include "transfer.h"

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

/* Node index from a name or a number; -2 when unknown. */
static int node_ref(graft_model *m, const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s && !*end) return (v >= 0 && v < graft_model_num_nodes(m)) ? (int)v : -2;
    int i = graft_model_find(m, s);
    return i >= 0 ? i : -2;
}

int cmd_finetune(int argc, char **argv)
{
    const char *cmd = "graft finetune";
    common_opts co = {NULL, 0, 1};
    train_opts to;
    trainopts_defaults(&to);
    to.data = NULL;
    to.epochs = 15;
    to.batch = 32;
    const char *from = NULL, *out = "finetuned.graft", *strategy = "finetune", *freeze = NULL;
    const char *bn = NULL;
    int keep_head = 0, unfreeze_every = 2;
    float lr_backbone = 1.0f, lr_decay = 1.0f;
    opt opts[] = {
        {"from", OPT_STRING, &from, "MODEL", "pretrained source model (.graft), required", 0, 0},
        {"strategy", OPT_STRING, &strategy, "NAME", "linear-probe, finetune or gradual (default finetune)", 0, 0},
        {"keep-head", OPT_FLAG, &keep_head, NULL, "keep the source classifier (same classes)", 0, 0},
        {"freeze-until", OPT_STRING, &freeze, "LAYER", "finetune: keep layers up to this one "
         "(name or index, see graft info) frozen", 0, 0},
        {"lr-backbone", OPT_FLOAT, &lr_backbone, "F", "learning-rate multiplier below the head (default 1)", 0, 100},
        {"lr-decay", OPT_FLOAT, &lr_decay, "F", "further multiplier per stage below the head (default 1)", 0, 1},
        {"unfreeze-every", OPT_INT, &unfreeze_every, "E", "gradual: unfreeze one more stage every E epochs (default 2)", 1, 100000},
        {"bn", OPT_STRING, &bn, "MODE", "frozen (keep source BatchNorm statistics) or train "
         "(default train; frozen layers always keep theirs)", 0, 0},
        TRAINOPTS_DATA(to),
        TRAINOPTS_TRAIN(to),
        {"out", OPT_STRING, &out, "PATH", "model file to write (default finetuned.graft)", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft finetune --from MODEL --data TARGET [OPTIONS]",
                     "Fine-tunes a pretrained model on a target dataset: the backbone is kept, the\n"
                     "classifier is replaced for the target's classes (unless --keep-head).\n"
                     "linear-probe trains the new head on features computed once; finetune trains\n"
                     "every layer (optionally with a frozen prefix and smaller backbone rates);\n"
                     "gradual unfreezes from the head downwards. Images are converted to the\n"
                     "source model's input shape and normalised with its statistics.",
                     opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int rc = args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if (!from || !to.data) {
        fprintf(stderr, "%s: --from and --data are required (see --help)\n", cmd);
        return EXIT_USAGE;
    }
    int strat = transfer_strategy_parse(strategy);
    if (strat < 0) {
        fprintf(stderr, "%s: --strategy '%s': expected linear-probe, finetune or gradual\n", cmd, strategy);
        return EXIT_USAGE;
    }
    if (bn && strcasecmp(bn, "frozen") && strcasecmp(bn, "train")) {
        fprintf(stderr, "%s: --bn '%s': expected frozen or train\n", cmd, bn);
        return EXIT_USAGE;
    }
    if (trainopts_check(cmd, &to)) return EXIT_USAGE;
    if (to.lr < 0) to.lr = strat == STRATEGY_LINEAR_PROBE ? 0.1f : (strcasecmp(to.opt, "adamw") ? 0.01f : 3e-4f);

    graft_ctx *ctx = cli_open_device(cmd, &co);
    if (!ctx) return 1;
    int status = 1;
    graft_model *src = NULL, *m = NULL;
    graft_optimizer *o = NULL;
    graft_model_meta smeta, meta;
    memset(&smeta, 0, sizeof smeta);
    memset(&meta, 0, sizeof meta);
    dataset *train = NULL, *eval = NULL;
    train_config cfg;
    memset(&cfg, 0, sizeof cfg);
    train_result res;
    memset(&res, 0, sizeof res);
    char err[2048] = "";
    const char *eval_name = NULL;

    if (graft_model_load(ctx, from, &src, &smeta) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, graft_last_error(ctx));
        goto done;
    }
    int c, h, w;
    graft_model_node_shape(src, 0, &c, &h, &w);
    if (trainopts_load(cmd, &to, &co, c, h, w, &train, &eval, &eval_name)) goto done;
    if (transfer_build_target(src, train->nclasses, keep_head, (uint64_t)co.seed, &m) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, graft_last_error(ctx));
        goto done;
    }
    graft_model_free(src);
    src = NULL;

    /* The backbone expects its own input statistics. */
    if (trainopts_meta(cmd, &to, train, &meta)) goto done;
    snprintf(meta.arch, sizeof meta.arch, "%s", smeta.arch);
    memcpy(meta.mean, smeta.mean, sizeof meta.mean);
    memcpy(meta.std, smeta.std, sizeof meta.std);

    finetune_opts fo = {(transfer_strategy)strat, -1, lr_backbone, lr_decay, unfreeze_every,
                        bn && !strcasecmp(bn, "frozen")};
    if (freeze) {
        fo.freeze_until = node_ref(m, freeze);
        if (fo.freeze_until == -2) {
            fprintf(stderr, "%s: --freeze-until '%s': no such layer (see graft info --model %s)\n",
                    cmd, freeze, from);
            goto done;
        }
    }
    transfer_apply(m, &fo);
    trainopts_config(&to, &co, train, &meta, eval_name, out, &cfg);
    cfg.restore_best = eval_name && !strcmp(eval_name, "val");
    if (!co.quiet)
        printf("%s: %s from %s on %d images of %d classes, %d epochs\n", cmd,
               transfer_strategy_name(fo.strategy), from, train->n, train->nclasses, to.epochs);
    if (fo.strategy == STRATEGY_LINEAR_PROBE) {
        graft_opt_params op = graft_opt_default_params(strcasecmp(to.opt, "adamw") ? GRAFT_OPT_SGD : GRAFT_OPT_ADAMW);
        op.lr = to.lr;
        if (to.wd >= 0) op.weight_decay = to.wd;
        op.momentum = to.momentum;
        op.schedule = GRAFT_SCHED_COSINE;
        if (transfer_linear_probe(m, train, eval, &cfg, &op, &res, err, sizeof err) != GRAFT_OK) {
            fprintf(stderr, "%s: %s\n", cmd, err);
            goto done;
        }
    } else {
        if (trainopts_optimizer(&to, m, train, &o) != GRAFT_OK) {
            fprintf(stderr, "%s: %s\n", cmd, graft_last_error(ctx));
            goto done;
        }
        gradual_state gs = {m, &fo, co.quiet};
        if (fo.strategy == STRATEGY_GRADUAL) {
            cfg.on_epoch = gradual_cb;
            cfg.user = &gs;
        }
        if (train_model(m, o, train, eval, &cfg, &res, err, sizeof err) != GRAFT_OK) {
            fprintf(stderr, "%s: %s\n", cmd, err);
            goto done;
        }
    }
    if (graft_model_save(m, &meta, out) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, graft_last_error(ctx));
        goto done;
    }
    if (res.nepochs > 0 && res.hist[res.nepochs - 1].eval_acc >= 0)
        printf("final %s accuracy %.2f%% (best %.2f%% at epoch %d); wrote %s\n", eval_name,
               100 * res.hist[res.nepochs - 1].eval_acc, 100 * res.best_eval_acc, res.best_epoch, out);
    else
        printf("wrote %s\n", out);
    status = 0;
done:
    train_result_free(&res);
    trainopts_config_free(&cfg);
    graft_optimizer_free(o);
    graft_model_free(m);
    graft_model_free(src);
    graft_model_meta_free(&meta);
    graft_model_meta_free(&smeta);
    dataset_free(train);
    dataset_free(eval);
    graft_ctx_destroy(ctx);
    return status;
}
