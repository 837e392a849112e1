/* The reusable part of graft finetune, shared by finetune, cv and
 * selftrain: the finetune option table, the target model's metadata, and
 * one fine-tuning run (build target, apply strategy, train). */
#ifndef GRAFT_FINETUNE_RUN_H
#define GRAFT_FINETUNE_RUN_H
#include <stdint.h>

#include "args.h"
#include "common.h"
#include "graft_transfer.h"
#include "trainopts.h"

/* Finetune options as given on the command line. */
typedef struct finetune_cli {
    const char *strategy, *freeze, *bn;
    int keep_head, unfreeze_every, no_cache, head_epochs;
    float lr_backbone, lr_decay, lr_floor, head_lr; /* lr_backbone < 0: the strategy's default */
} finetune_cli;

/* Defaults with strategy `strategy` ("recipe" for finetune; cv and
 * selftrain keep "finetune"). FINETUNE_DEFAULT_STRATEGY_HELP is what the
 * option table says about it. */
void finetune_cli_defaults(finetune_cli *f);
#define FINETUNE_DEFAULT_STRATEGY_HELP "recipe for finetune and lr-find, finetune for cv and selftrain"

#define FINETUNE_OPTS(f)                                                                       \
    {"strategy", OPT_STRING, &(f).strategy, "NAME", "recipe, linear-probe, finetune or gradual " \
     "(default: " FINETUNE_DEFAULT_STRATEGY_HELP ")", 0, 0},                                    \
    {"keep-head", OPT_FLAG, &(f).keep_head, NULL, "keep the source classifier (same classes)", 0, 0}, \
    {"freeze-until", OPT_STRING, &(f).freeze, "LAYER", "finetune: keep layers up to this one "  \
     "(name or index, see graft info) frozen; without augmentation their output is computed "  \
     "once and cached, so only the layers above run in training", 0, 0},                      \
    {"no-cache", OPT_FLAG, &(f).no_cache, NULL, "with --freeze-until: run the frozen layers at " \
     "every step instead of caching their output", 0, 0},                                      \
    {"lr-backbone", OPT_FLOAT, &(f).lr_backbone, "F", "learning-rate multiplier below the head "  \
     "(default: 1; recipe: 0.1, of the top backbone stage)", 0, 100},                  \
    {"lr-decay", OPT_FLOAT, &(f).lr_decay, "F", "further multiplier per stage below the head (default 1)", 0, 1}, \
    {"lr-floor", OPT_FLOAT, &(f).lr_floor, "F", "recipe: multiplier of the lowest backbone "     \
     "stage, geometric from --lr-backbone (default 0.01)", 0, 100},                            \
    {"head-epochs", OPT_INT, &(f).head_epochs, "E", "recipe: epochs of phase 1, the new head "   \
     "alone on cached features (default: as --epochs)", 1, 100000},                                \
    {"head-lr", OPT_FLOAT, &(f).head_lr, "F", "recipe: learning rate of phase 1 (default: 0.1 " \
     "sgd, 0.003 adamw); --lr and --epochs are phase 2's", 0, 100},                            \
    {"unfreeze-every", OPT_INT, &(f).unfreeze_every, "E", "gradual: unfreeze one more stage every E epochs (default 2)", 1, 100000}, \
    {"bn", OPT_STRING, &(f).bn, "MODE", "frozen (keep source BatchNorm statistics) or train "   \
     "(default: train; recipe: frozen below 250 images per class; frozen layers always keep "   \
     "theirs)", 0, 0}

/* Checks --strategy and --bn, fills fp (freeze_until -1, keep_head,
 * warm-up; recipe: graft_finetune_recipe_params with the options given)
 * and sets the strategy's default learning rate when --lr was not given
 * (linear-probe 0.1; others 0.01 sgd, 3e-4 adamw: recipe's phase 2).
 * Prints and returns EXIT_USAGE on error, else 0. */
int finetune_cli_check(const char *cmd, const finetune_cli *f, train_opts *to,
                       graft_finetune_params *fp);
/* Resolves --freeze-until (a name or an index) on the source model into
 * fp->freeze_until; prints and returns 1 when there is no such layer. */
int finetune_cli_freeze(const char *cmd, const finetune_cli *f, graft_model *src,
                        const char *from, graft_finetune_params *fp);

/* Metadata of a target model: the target's class names, the source's
 * architecture name and normalisation (the backbone expects its own input
 * statistics). Caller frees with graft_model_meta_free. */
int finetune_meta(const char *cmd, const train_opts *to, const graft_dataset *train,
                  const graft_model_meta *smeta, graft_model_meta *meta);

/* What a transfer command has open before it trains. */
typedef struct transfer_open {
    graft_ctx *ctx;
    graft_model *src;
    graft_model_meta smeta;   /* the source's */
    graft_model_meta meta;    /* the target's (finetune_meta) */
    graft_dataset *train, *eval;
    const char *eval_name;    /* NULL without an evaluation set */
} transfer_open;

/* The opening shared by the transfer commands: --from and --data are
 * required, the finetune options are checked (when fc is not NULL, into
 * fp), the device opened, the source loaded, the data loaded at its input
 * shape (with_eval: training and evaluation data as trainopts_load; else
 * --data alone), the target's metadata made and --freeze-until resolved.
 * Returns 0, or the exit status after printing why (t is then closed). */
int transfer_open_all(const char *cmd, const char *from, train_opts *to, const common_opts *co,
                      const finetune_cli *fc, graft_finetune_params *fp, int with_eval,
                      transfer_open *t);
void transfer_close(transfer_open *t);

/* One fine-tuning run (graft_finetune): a fresh target model from src (left
 * unchanged), trained on train (evaluated on eval after every epoch when
 * eval is given; restore-best only when eval_name is "val"), printing as
 * graft finetune does unless co->quiet, and saying whether it caches a
 * frozen prefix. out_path names the model file the log, checkpoint and
 * best-model paths derive from; NULL writes no files. seed initialises the
 * new head and drives shuffling/augmentation. On success (0) the caller
 * owns *out and res; on failure (1) a message went to stderr and nothing
 * is owned. */
int finetune_run(const char *cmd, graft_model *src, const graft_dataset *train,
                 const graft_dataset *eval, const char *eval_name, const graft_model_meta *meta,
                 const graft_finetune_params *fp, const train_opts *to, const common_opts *co,
                 uint64_t seed, const char *out_path, graft_model **out, graft_train_result *res);
#endif
