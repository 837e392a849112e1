/* The default fine-tuning recipe for pretrained backbones (RECIPE): the
 * new head first, on cached features, then every layer with
 * discriminative learning rates, warm-up and, on small data, BatchNorm
 * statistics kept from the source. */
#ifndef GRAFT_TRANSFER_RECIPE_H
#define GRAFT_TRANSFER_RECIPE_H
#include "graft_transfer.h"
#include "train.h"
#include "transfer.h"

/* Whether RECIPE keeps BatchNorm statistics frozen on train: fp->bn_frozen,
 * or fewer than fp->bn_frozen_below images per class. */
int recipe_bn_frozen(const graft_finetune_params *fp, const dataset *train);

/* Phase 1 epochs before a phase 2 of `epochs`: head_epochs, else epochs. */
int recipe_head_epochs(const graft_finetune_params *fp, int epochs);

/* Phase 1's optimizer: op's kind and settings at head_lr (0 = the
 * default), cosine, no warm-up. */
/* The optimizer of a head trained alone on cached features (the linear
 * probe, the recipe's phase 1): op's kind and regularisation at rate lr,
 * cosine over the run, no warm-up. */
graft_opt_params transfer_head_opt(const graft_opt_params *op, float lr);
graft_opt_params recipe_head_opt(const graft_finetune_params *fp, const graft_opt_params *op);

/* Runs both phases on the target m (built from the source, flags applied
 * with fo, RECIPE's phase-2 options): see graft_finetune. res holds the
 * epochs of both phases. */
graft_status transfer_recipe(graft_model *m, const dataset *train, const dataset *eval,
                             const graft_finetune_params *fp, const finetune_opts *fo,
                             const graft_opt_params *op, const train_config *cfg,
                             train_result *res, char *err, size_t errlen);
#endif
