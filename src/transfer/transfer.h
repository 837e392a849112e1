/* Transfer-learning building blocks shared by finetune, cv, selftrain,
 * score and compare: a target model from a source model, freezing
 * strategies, feature extraction and linear probing on cached features. */
#ifndef GRAFT_TRANSFER_TRANSFER_H
#define GRAFT_TRANSFER_TRANSFER_H
#include "dataset.h"
#include "graft.h"
#include "graft_transfer.h"
#include "train.h"

typedef enum transfer_strategy {
    STRATEGY_LINEAR_PROBE = 0,
    STRATEGY_FINETUNE,
    STRATEGY_GRADUAL
} transfer_strategy;

/* Parses "linear-probe", "finetune", "gradual"; -1 when unknown. */
int transfer_strategy_parse(const char *s);
const char *transfer_strategy_name(transfer_strategy s);

/* A copy of src's graph and weights on the same context with the last
 * (classifier) node replaced by a freshly initialised linear layer of
 * nclasses outputs, unless keep_head (then nclasses must match). Caller
 * owns *out. */
graft_status transfer_build_target(graft_model *src, int nclasses, int keep_head, uint64_t seed,
                                   graft_model **out);


/* The node whose output feeds the classifier (the features). */
int transfer_feature_node(const graft_model *m);

/* "Stages" for freezing: the indices of conv/linear nodes, in order; a
 * stage runs from one such node up to the next. Returns the count. */
int transfer_stages(const graft_model *m, int *starts, int max);

typedef struct finetune_opts {
    transfer_strategy strategy;
    int freeze_until;    /* node index; nodes 1..freeze_until frozen; -1 = none */
    float lr_backbone;   /* multiplier for every node below the head (1 = same) */
    float lr_decay;      /* extra factor per stage below the head (1 = none) */
    int unfreeze_every;  /* gradual: epochs between unfreezing stages */
    int bn_frozen;       /* BatchNorm of trainable layers keeps running statistics */
    int cache;           /* FINETUNE with freeze_until: callers may train the layers above
                          * a cached prefix (transfer_cached_finetune) when it applies */
} finetune_opts;

/* Applies trainable flags, learning-rate multipliers and BN policy for
 * the strategy at the start of training. Frozen layers always keep their
 * BatchNorm statistics (freezing weights but not statistics is the usual
 * pitfall). For GRADUAL only the head starts trainable. */
graft_status transfer_apply(graft_model *m, const finetune_opts *o);
/* GRADUAL: unfreezes one more stage (from the head downwards) after
 * `epochs_done` epochs when that is a multiple of unfreeze_every; returns
 * 1 when something changed. */
int transfer_gradual_step(graft_model *m, const finetune_opts *o, int epochs_done);

/* Batch size of the one-off feature passes of transfer_linear_probe and
 * transfer_cached_finetune. */
#define TRANSFER_EXTRACT_BATCH 64

/* Features of every image of d (inference mode, normalised), n x dim,
 * from node `node`; spatial outputs are averaged to one value per channel.
 * Caller owns *feats (free). */
graft_status transfer_features(graft_model *m, const dataset *d, const float *mean,
                               const float *std, int batch, int node, float **feats, int *dim,
                               char *err, size_t errlen);

/* Linear probe: trains only the classifier of m on features computed once
 * (train and, when given, eval), then writes the head back into m. Epoch
 * statistics go to res; the training images' feature extraction time is
 * counted in the first epoch's training seconds so time-to-accuracy stays honest.
 * It is transfer_cached_finetune cut at the feature node, with the
 * features averaged over space and only the classifier above the cut. */
graft_status transfer_linear_probe(graft_model *m, const dataset *train, const dataset *eval,
                                   const train_config *cfg, const graft_opt_params *op,
                                   train_result *res, char *err, size_t errlen);

/* GRAFT_OK when node `cut` (not the input, not the last node) is a cut of
 * m's graph: no node after it reads a node before it, so its output alone
 * determines every later node. Otherwise GRAFT_ERR_INVALID_ARG and a
 * message naming the layers. In a chain (refnet) every node is a cut; in
 * resnet18 only block outputs are. */
graft_status transfer_check_cut(const graft_model *m, int cut, char *err, size_t errlen);

/* The default cut of a frozen, cached prefix (graft compare's "partial"
 * arm): the first half of the conv stages frozen, i.e. the input of stage
 * S/2 of the S conv stages (or the first graph cut after it): pool1 in
 * refnet. -1 when m has none. */
int transfer_default_cut(const graft_model *m);

/* Fine-tunes the layers above a frozen, cached prefix: nodes 1..cut are
 * frozen (m's flags are set so; BatchNorm keeps its running statistics)
 * and their output, node cut's full C x H x W, is computed once for every
 * training image and, when given, every eval image, in inference mode
 * (dropout off). Nodes cut+1..last then train as a model of their own on
 * those cached outputs with train_model (their trainable flags, learning-
 * rate multipliers and BN policy as set on m, e.g. by transfer_apply),
 * and every parameter is written back, so m ends as the whole fine-tuned
 * model. The same weights as training m with nodes 1..cut frozen, without
 * running them at every step. op is sized to the run (total_steps), cfg's
 * normalisation applies to the images; cfg->augment must be 0 (the cache
 * would be wrong), best_path and ckpt_path are ignored. Time accounting as
 * the linear probe's: the training images' pass counts as training time
 * of the first epoch, the eval images' does not. Refuses a cut that is
 * not a graph cut (transfer_check_cut). A cut at a BatchNorm whose only
 * consumer is an activation caches the activation's output (the two may
 * run fused, and then the BatchNorm's output reads as the activation's). */
graft_status transfer_cached_finetune(graft_model *m, const dataset *train, const dataset *eval,
                                      const train_config *cfg, const graft_opt_params *op, int cut,
                                      train_result *res, char *err, size_t errlen);
/* compare.c: sets r->target_accuracy (given > 0, else scratch's lowest best,
 * else the best run) and every run's seconds_to_target; also for the
 * per-target reports of plans. */
void compare_time_to_target(graft_compare_result *r, double given);
#endif
