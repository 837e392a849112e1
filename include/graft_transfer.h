/* graft transfer learning: a target model from a pretrained source,
 * fine-tuning strategies in one call, and the workflows built on them:
 * k-fold cross-validation, self-training on an unlabelled pool, LogME
 * scoring of candidate backbones, and the transfer-vs-scratch comparison
 * with its report.
 *
 * Conventions (those of graft.h, graft_train.h):
 *  - Functions that take a context or a model report failures through
 *    graft_last_error(ctx) (for a workflow: the context of its source
 *    model or the one it is given); the rest take an error buffer.
 *  - The source model of every call is only read: its weights, flags and
 *    multipliers are left as they were.
 *  - The library never prints: workflows report through the callbacks of
 *    their configs (per fold, per round, per score, per run) and through
 *    graft_callbacks for training progress and log lines. Unless a config
 *    says otherwise, callbacks run on the calling thread.
 *  - Results are owned by the caller and released with their _free
 *    function; a zeroed result may be freed. On failure a result is zeroed.
 */
#ifndef GRAFT_TRANSFER_H
#define GRAFT_TRANSFER_H

#include "graft.h"
#include "graft_data.h"
#include "graft_eval.h"
#include "graft_train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --------------------------------------------------------- target models */

/* A copy of src's graph and weights on src's context with the last
 * (classifier) node replaced by a freshly initialised linear layer of
 * nclasses outputs (seeded by seed), or kept when keep_head (nclasses must
 * then equal src's outputs, else GRAFT_ERR_SHAPE). Caller owns *out. */
graft_status graft_transfer_target(graft_model *src, int nclasses, int keep_head, uint64_t seed,
                                   graft_model **out);

/* Node index from a reference: a decimal index in [0, num_nodes) or a node
 * name. -1 when there is no such node. */
int graft_model_node_ref(const graft_model *m, const char *ref);

/* The node whose output feeds the classifier (the features). */
int graft_transfer_feature_node(const graft_model *m);

/* GRAFT_OK when node cut (not the input, not the last node) is a cut of
 * m's graph: no node after it reads a node before it, so its output alone
 * determines every later node. Otherwise GRAFT_ERR_INVALID_ARG and a
 * message naming the layers (err may be NULL; m is not changed). */
graft_status graft_transfer_check_cut(const graft_model *m, int cut, char *err, size_t errlen);

/* The default frozen prefix of a partial fine-tune: the input of conv
 * stage S/2 of the S conv stages (or the first graph cut after it), e.g.
 * pool1 in refnet. -1 when m has none. */
int graft_transfer_default_cut(const graft_model *m);

/* ------------------------------------------------------------ strategies */

typedef enum graft_strategy {
    GRAFT_STRATEGY_LINEAR_PROBE = 0, /* new head on features computed once */
    GRAFT_STRATEGY_FINETUNE,         /* every layer (optionally a frozen prefix) */
    GRAFT_STRATEGY_GRADUAL,          /* head first, one more stage every unfreeze_every epochs */
    GRAFT_STRATEGY_RECIPE            /* head on cached features, then every layer with
                                      * discriminative rates (graft_finetune) */
} graft_strategy;

/* "linear-probe", "finetune", "gradual", "recipe"; NULL for an unknown value. */
const char *graft_strategy_name(graft_strategy s);
/* The inverse, case-insensitive; -1 when s names none. */
int graft_strategy_parse(const char *s);

typedef struct graft_finetune_params {
    graft_strategy strategy;
    int keep_head;        /* keep the source classifier (same classes) */
    int freeze_until;     /* FINETUNE: nodes 1..freeze_until frozen; -1 = none */
    float lr_backbone;    /* learning-rate multiplier of every node below the head */
    float lr_decay;       /* further factor per stage below the head (1 = none) */
    int unfreeze_every;   /* GRADUAL: epochs between unfreezing stages (>= 1) */
    int bn_frozen;        /* BatchNorm of trainable layers keeps its running statistics
                           * (frozen layers always keep theirs) */
    int cache;            /* FINETUNE with freeze_until: compute the frozen prefix's
                           * output once and train only the layers above, when the run
                           * allows it (graft_finetune_cache_plan) */
    float warmup_epochs;  /* linear learning-rate warm-up, in epochs (RECIPE: of phase 2;
                           * 0 = one epoch) */
    /* RECIPE only: */
    int head_epochs;      /* phase 1 epochs (the head alone on cached features, cheap);
                           * 0 = as many as phase 2's (the run's epochs) */
    float head_lr;        /* phase 1 learning rate; 0 = graft_recipe_head_lr(op->kind) */
    float lr_floor;       /* multiplier of the lowest backbone stage; lr_backbone is the
                           * top stage's, geometric in between (lr_decay unused) */
    int bn_frozen_below;  /* BatchNorm keeps the source's running statistics when train
                           * has fewer images per class than this (or bn_frozen is set) */
} graft_finetune_params;

/* FINETUNE, no frozen prefix, multipliers 1, unfreeze_every 2, BN trained,
 * cache on, no warm-up; the RECIPE-only fields at graft_finetune_recipe_params'
 * values. */
graft_finetune_params graft_finetune_default_params(void);

/* The recipe that works on pretrained backbones (docs/transfer.md): RECIPE,
 * head_epochs 0 (as many as phase 2's), head_lr 0 (the default),
 * lr_backbone 0.1, lr_floor 0.01 (so the backbone learns at lr/10 at the
 * top down to lr/100 at the input), one epoch of warm-up, BatchNorm
 * statistics frozen below GRAFT_RECIPE_BN_FROZEN_BELOW images per class,
 * no frozen prefix. */
graft_finetune_params graft_finetune_recipe_params(void);
#define GRAFT_RECIPE_BN_FROZEN_BELOW 250

/* Epochs of RECIPE's phase 1 before a phase 2 of `epochs` (0 for any other
 * strategy): a recipe run numbers head + epochs epochs. */
int graft_recipe_head_epochs(const graft_finetune_params *fp, int epochs);

/* RECIPE's default phase-1 (head alone) learning rate: 0.1 for SGD (the
 * linear probe's), 3e-3 for AdamW. */
float graft_recipe_head_lr(graft_opt_kind kind);

/* The learning-rate multiplier per stage that RECIPE's lr_backbone and
 * lr_floor give: the lr_decay of graft_transfer_apply for m's stages. */
float graft_recipe_lr_decay(const graft_model *m, const graft_finetune_params *fp);

/* Applies trainable flags, learning-rate multipliers and the BatchNorm
 * policy of fp's strategy to m at the start of training. GRADUAL starts
 * with only the head trainable. */
graft_status graft_transfer_apply(graft_model *m, const graft_finetune_params *fp);
/* GRADUAL: unfreezes one more stage (from the head downwards) when
 * epochs_done is a multiple of unfreeze_every; returns 1 when something
 * changed, else 0. */
int graft_transfer_gradual_step(graft_model *m, const graft_finetune_params *fp, int epochs_done);

/* Whether graft_finetune will cache the frozen prefix for this run: the
 * node index of the cut, or -1. why (may be NULL) receives, when -1 is
 * returned although FINETUNE with freeze_until and cache asked for it,
 * the reason, e.g. "not caching the output of 'pool1': augmentation is on
 * (the frozen layers must see every epoch's augmented images)"; it is
 * empty otherwise. Reasons: augmentation, several ranks (cfg->comm: each
 * reads only its share of every batch), a best-model or checkpoint file
 * (they save the whole model during training), freeze_until not a graph
 * cut. m is the source or the target (they have the same nodes). */
int graft_finetune_cache_plan(const graft_model *m, const graft_finetune_params *fp,
                              const graft_train_config *cfg, char *why, size_t whylen);

/* One fine-tuning run from src (unchanged) to a new target model:
 * graft_transfer_target (keep_head, seeded by cfg->seed), the strategy
 * applied, then trained on train, evaluated on eval (may be NULL) after
 * every epoch, normalised with cfg->mean/std:
 *  - LINEAR_PROBE trains only the head on features computed once (their
 *    extraction time counts as training time of the first epoch) with
 *    op's kind, lr, momentum, weight decay and betas on a cosine schedule
 *    over the run, no warm-up, no Nesterov; with cfg->comm of several
 *    ranks each rank extracts the features of its contiguous share of
 *    train and eval only, and they are gathered (comm->allgatherv, or
 *    sums), so every rank trains on all of them (docs/parallel.md);
 *  - FINETUNE with a cached cut (graft_finetune_cache_plan) trains the
 *    layers above the frozen prefix on its outputs computed once, with op;
 *  - RECIPE runs two phases: (1) head_epochs of the linear probe above at
 *    head_lr; (2) from that head, cfg->epochs epochs of graft_train over
 *    every layer (or above freeze_until) with op, lr_backbone at the top
 *    backbone stage down to lr_floor at the lowest (multipliers of
 *    op->lr), warm-up warmup_epochs (0 = one epoch) and BatchNorm
 *    statistics frozen when train has fewer than bn_frozen_below images
 *    per class or bn_frozen is set. Epochs are numbered across both
 *    phases (res->hist holds head_epochs + cfg->epochs entries, see
 *    graft_recipe_head_epochs); restore_best and patience act within
 *    phase 2; stop_after counts both. A phase-2 epoch whose training loss
 *    exceeds both ln(classes) and 3x phase 1's last has diverged: phase 2
 *    starts again from phase 1's weights at a tenth of the rate (up to 3
 *    times, then phase 1's model is kept); res->hist holds the last
 *    attempt. Log lines "recipe: phase 1 ...", "recipe: phase 2 ...",
 *    "recipe: phase 2 diverged at lr ..." say what happens;
 *  - otherwise graft_train with op (GRADUAL: after cfg->cb.epoch of an
 *    epoch, one more stage is unfrozen when its turn has come).
 * op's total_steps, step_size and warmup_steps are ignored: the schedule
 * is fitted to the run (graft_opt_fit_run with train's size, cfg->batch,
 * cfg->epochs and fp->warmup_epochs). Log lines: "gradual: unfroze another
 * stage after epoch E", and those of graft_train. On success the caller
 * owns *out (the trained target; save it with its meta) and *res. */
graft_status graft_finetune(graft_model *src, const graft_dataset *train,
                            const graft_dataset *eval, const graft_finetune_params *fp,
                            const graft_opt_params *op, const graft_train_config *cfg,
                            graft_model **out, graft_train_result *res);

/* ------------------------------------------------------- LR range test */

typedef struct graft_lr_find_config {
    float lr_min, lr_max;  /* the range, swept exponentially (0 < lr_min < lr_max) */
    int steps;             /* training steps (batches) of the sweep, >= 5 */
    float smoothing;       /* loss smoothing: s = b * s + (1 - b) * loss, bias-corrected */
    float stop_factor;     /* stop once the smoothed loss exceeds this times its minimum */
    /* batch, seed, augmentation, normalisation, label smoothing; the
     * epochs, files, evaluation and epoch callbacks are unused; progress
     * goes to train.cb.progress (label "lr-find"), else the context's sink. */
    graft_train_config train;
} graft_lr_find_config;

/* lr 1e-6 .. 10, 100 steps, smoothing 0.9, stop factor 4, and
 * graft_train_default_config() with batch 32. */
graft_lr_find_config graft_lr_find_default_config(void);

typedef struct graft_lr_find_point {
    float lr;
    double loss;      /* of this step's batch */
    double smoothed;
} graft_lr_find_point;

typedef struct graft_lr_find_result {
    graft_lr_find_point *points; /* npoints, in step order; owned */
    int npoints;
    int stopped;          /* the loss blew up (or went non-finite) before the last step */
    float lr_steepest;    /* where the smoothed loss falls fastest per log-lr */
    float lr_min_loss;    /* where the smoothed loss is lowest (both after the first
                           * tenth of the steps) */
    float lr_edge;        /* the highest rate from lr_min_loss on before the smoothed
                           * loss first exceeds 1.5 x its minimum */
    float suggested;      /* lr_edge / 10, at least lr_min (the steepest point and
                           * the minimum of a flat, noisy curve are noise) */
} graft_lr_find_result;

/* The LR range test (Smith 2017) for a fine-tuning run from src (left
 * unchanged): a target model as graft_finetune builds it (fp's strategy
 * applied; RECIPE: its phase 1 first, the head on cached features for
 * head_epochs (0 = cfg->train.epochs) at head_lr, then the sweep with the flags and
 * multipliers of its phase 2, so the suggestion is phase 2's lr;
 * LINEAR_PROBE and GRADUAL: only the head trains), trained for cfg->steps batches of
 * train with op (its kind, momentum, betas, weight decay; schedule
 * ignored) while the learning rate grows from lr_min to lr_max
 * exponentially; the model is then discarded. The suggestion is finite
 * whenever at least 5 steps ran. Errors: GRAFT_ERR_INVALID_ARG (range,
 * steps), those of training. On success the caller owns *res. */
graft_status graft_lr_find(graft_model *src, const graft_dataset *train,
                           const graft_finetune_params *fp, const graft_opt_params *op,
                           const graft_lr_find_config *cfg, graft_lr_find_result *res);
void graft_lr_find_result_free(graft_lr_find_result *r);

/* Writes PREFIX.csv (step,lr,loss,smoothed) and PREFIX.html (the
 * smoothed loss over log lr as inline SVG, the suggestion marked), each
 * atomically. */
graft_status graft_lr_find_write(const graft_lr_find_result *r, const char *prefix, char *err,
                                 size_t errlen);

/* The curve as a text table of at most rows rows (evenly spaced points, the
 * suggestion's row marked "<- suggested") and the suggestion line.
 * *text is caller-owned (graft_free). */
graft_status graft_lr_find_table(const graft_lr_find_result *r, int rows, char **text,
                                 char *err, size_t errlen);

/* ------------------------------------------------- features and LogME */

/* Features of every image of d (inference mode, normalised with mean/std,
 * batch at a time) at node `node`, spatial maps averaged to one value per
 * channel: *feats is n x *dim floats, caller owns it (graft_free). */
graft_status graft_features(graft_model *m, const graft_dataset *d, const float *mean,
                            const float *std, int batch, int node, float **feats, int *dim);

/* LogME (You et al., ICML 2021) of features F (n x d, row-major, finite)
 * for labels y[n] in [0, nclasses): mean over present classes of the
 * per-sample log evidence of a Bayesian linear model; higher is better,
 * comparable across feature extractors on the same labels. Needs n >= 2,
 * d >= 1. Errors: GRAFT_ERR_INVALID_ARG (sizes, labels, non-finite
 * values), GRAFT_ERR_HOST_MEMORY, GRAFT_ERR_INTERNAL (LAPACK). */
graft_status graft_logme(const float *F, int n, int d, const int *y, int nclasses,
                         double *score, char *err, size_t errlen);

/* ------------------------------------------------------------ k-fold cv */

typedef struct graft_cv_fold {
    int ntrain, nheld;       /* images trained on, held out */
    double accuracy, loss;   /* of the fold's model on its held-out images */
    double seconds;          /* wall time of the fold: split, fine-tune, evaluate */
} graft_cv_fold;

/* Called once per fold, in fold order, each as soon as it and all earlier
 * folds are done; with several devices from a worker thread, but never
 * from two at once. */
typedef void (*graft_cv_fold_fn)(void *user, int fold, const graft_cv_fold *r);

typedef struct graft_cv_config {
    int k;                               /* folds, >= 2 */
    uint64_t seed;                       /* folds drawn with seed + 31; fold f (0-based)
                                          * trains with seed + f, whatever device runs it */
    graft_finetune_params finetune;
    graft_opt_params opt;                /* fitted per fold (see graft_finetune) */
    graft_train_config train;            /* epochs, batch, augmentation, normalisation;
                                          * seed ignored; no eval set, so log, checkpoint,
                                          * best-model, patience and restore_best unused;
                                          * callbacks are not called for fold runs */
    int eval_batch;                      /* held-out evaluation batch; 0 = train.batch */
    /* Several devices: folds run concurrently, one thread, context and
     * copy of the source per listed selector (graft_ctx_params.device
     * syntax), the source loaded from source_path with ctx_params (NULL =
     * defaults) and the selector. ndevices <= 1 runs every fold in turn on
     * src's context. At most min(ndevices, k) threads. */
    const char *const *devices;
    int ndevices;
    const char *source_path;
    const graft_ctx_params *ctx_params;
    graft_cv_fold_fn on_fold;            /* may be NULL */
    void *user;
} graft_cv_config;

typedef struct graft_cv_result {
    int k;
    graft_cv_fold *folds;    /* k entries; owned */
    double mean_accuracy;
    double std_accuracy;     /* sample standard deviation (k - 1) */
    int threads;             /* folds run concurrently on this many devices */
} graft_cv_result;

/* Stratified k-fold cross-validation of fine-tuning from src on data: for
 * every fold a fresh target model is fine-tuned (graft_finetune, no eval
 * set) on the other k-1 folds and evaluated on the held-out one. A fold
 * that would be empty is GRAFT_ERR_INVALID_ARG ("k=5: fold 5 would be
 * empty (only 4 images)"). A failing fold stops the others after their
 * current fold; the first error is reported on src's context, prefixed
 * "fold F: ". */
graft_status graft_cv(graft_model *src, const graft_dataset *data, const graft_cv_config *cfg,
                      graft_cv_result *res);
void graft_cv_result_free(graft_cv_result *r);

/* ---------------------------------------------------------- self-training */

typedef struct graft_selftrain_round {
    int round;          /* 0 = the labelled data alone */
    int kept;           /* pseudo-labels used this round */
    int *per_class;     /* nclasses: pseudo-labels kept per class; owned by the result */
    int *candidates;    /* nclasses: pool predictions at or above the threshold */
    int checked;        /* kept pseudo-labels whose pool image has a label of one of
                         * the labelled classes (matched by class name) */
    int correct;        /* of those, how many agree with it */
    int ntrain;         /* labelled + pseudo-labelled images trained on */
    int retrained;      /* 0 when nothing was kept: the previous model is kept */
    double eval_accuracy;
    double seconds;
} graft_selftrain_round;

/* Called after every round (round 0 included), on the calling thread. */
typedef void (*graft_selftrain_round_fn)(void *user, const graft_selftrain_round *r);

typedef struct graft_selftrain_config {
    int rounds;                 /* pseudo-labelling rounds after round 0 */
    float threshold;            /* keep predictions with top probability >= threshold;
                                 * above 1 keeps none */
    int per_class_cap;          /* at most this many per class, the most confident
                                 * (ties: lower pool index); 0 = no cap */
    graft_finetune_params finetune;
    graft_opt_params opt;       /* fitted per round (see graft_finetune) */
    graft_train_config train;   /* as for cv: no eval set during training, no files,
                                 * callbacks not called for the round runs */
    int eval_batch;             /* pool prediction and evaluation batch; 0 = train.batch */
    graft_selftrain_round_fn on_round; /* may be NULL */
    void *user;
} graft_selftrain_config;

typedef struct graft_selftrain_result {
    int nclasses;
    int nrounds;                    /* rounds + 1 on success */
    graft_selftrain_round *rounds;  /* owned, with their arrays */
    graft_model *model;             /* the last round's model; owned (may be taken:
                                     * set to NULL before graft_selftrain_result_free) */
} graft_selftrain_result;

/* Self-training: round 0 fine-tunes from src on labelled; every further
 * round predicts the pool with the current model, keeps the confident
 * predictions (threshold, cap) as pseudo-labels and fine-tunes again from
 * src (not from the previous round's model, so a round's mistakes are not
 * baked into the next start) on labelled plus the pseudo-labelled pool
 * images, with the same seed (train.seed). Every round's model is evaluated
 * on eval (required; GRAFT_ERR_INVALID_ARG when NULL). The pool's own
 * labels, if any, are used only for checked/correct. pool must have
 * labelled's image shape. */
graft_status graft_selftrain(graft_model *src, const graft_dataset *labelled,
                             const graft_dataset *pool, const graft_dataset *eval,
                             const graft_selftrain_config *cfg, graft_selftrain_result *res);
void graft_selftrain_result_free(graft_selftrain_result *r);

/* ------------------------------------------------------------ LogME score */

typedef struct graft_score_row {
    const char *model;   /* the candidate's path as given, or "random-init"; borrowed
                          * from the config / a literal */
    int random_init;     /* the baseline row */
    char layer[64];      /* node name the features came from */
    int dim;             /* feature dimension */
    double logme;
    double seconds;      /* feature extraction and scoring */
} graft_score_row;

/* Called as each score is computed, on the calling thread. */
typedef void (*graft_score_row_fn)(void *user, const graft_score_row *row);

typedef struct graft_score_config {
    /* The target data; its channels/height/width are replaced by each
     * candidate's input shape, and the data is reopened (same seed, so the
     * same images) whenever that shape changes. */
    graft_data_spec data;
    const char *const *layers; /* node names or indices to score; NULL/0 = the
                                * classifier's input (graft_transfer_feature_node) */
    int nlayers;
    int batch;                 /* feature extraction batch (>= 1) */
    uint64_t seed;             /* of the random-init baseline */
    graft_log_fn log;          /* "N target images of K classes at CxHxW" (INFO) and
                                * class-count warnings (WARN); may be NULL. The data's
                                * notes go to data.log */
    graft_score_row_fn on_row; /* may be NULL */
    void *user;                /* for log and on_row */
} graft_score_config;

typedef struct graft_score_result {
    graft_score_row *rows;   /* nrows, sorted by LogME, highest first; owned */
    int nrows;               /* (nmodels + 1) * max(nlayers, 1) */
    int images, classes;     /* of the target data (the last shape opened) */
    int negative_transfer;   /* no candidate row beats the best random-init row */
} graft_score_result;
/* On failure the result is zeroed except images and classes, which keep
 * the data opened so far: images 0 means the data itself failed to open. */

/* Ranks candidate source models (model files paths[0..nmodels-1], loaded
 * on ctx one at a time) for the target data by the LogME of their
 * features, normalised with each model's statistics, without training.
 * After the first candidate, a randomly initialised copy of it (same
 * graph and normalisation, graft_model_reinit with seed) is scored as the
 * "no transfer" baseline. The data needs at least 2 images. An unknown
 * layer is GRAFT_ERR_INVALID_ARG ("M.graft: no layer 'x' to take features
 * from"); data errors keep their status (graft_dataset_open). */
graft_status graft_score(graft_ctx *ctx, const char *const *paths, int nmodels,
                         const graft_score_config *cfg, graft_score_result *res);
void graft_score_result_free(graft_score_result *r);

/* --------------------------------------------------------------- compare */

typedef enum graft_arm {
    GRAFT_ARM_SCRATCH = 0,  /* src's architecture freshly initialised, all layers */
    GRAFT_ARM_LINEAR_PROBE, /* a new head on features computed once */
    GRAFT_ARM_FINETUNE,     /* every layer from the pretrained weights, new head */
    GRAFT_ARM_PARTIAL,      /* FINETUNE above a frozen, cached prefix */
    GRAFT_ARM_GRADUAL,      /* unfreezing from the head down */
    GRAFT_ARM_RECIPE,       /* graft_finetune_recipe_params: the head alone, then every
                             * layer with lower rates below; head epochs + epochs */
    GRAFT_ARM_COUNT
} graft_arm;

/* "scratch", "linear-probe", "finetune", "partial", "gradual", "recipe";
 * NULL when unknown. */
const char *graft_arm_name(graft_arm a);
/* The inverse, case-insensitive; -1 when s names none. */
int graft_arm_parse(const char *s);

/* One point of a run: after epoch `epoch`, cumulative training seconds
 * (one-off feature passes over the training images included, evaluation
 * not) and evaluation accuracy in [0, 1]. */
typedef struct graft_compare_point {
    int epoch;
    double seconds;
    double accuracy;
} graft_compare_point;

/* One arm x seed run. */
typedef struct graft_compare_run {
    graft_arm arm;
    int arm_index;              /* position in the config's arms */
    uint64_t seed;
    graft_compare_point *points; /* npoints; owned by the result */
    int npoints;
    double final_accuracy, best_accuracy;
    double seconds_to_target;   /* first point at or above the target; < 0 = never
                                 * (filled once every run is done) */
} graft_compare_run;

/* Called before each run (run is 1-based of nruns) and after it, on the
 * calling thread. */
typedef void (*graft_compare_begin_fn)(void *user, graft_arm arm, uint64_t seed, int run,
                                       int nruns);
typedef void (*graft_compare_end_fn)(void *user, const graft_compare_run *r);

typedef struct graft_compare_config {
    const graft_arm *arms;      /* each at most once (GRAFT_ERR_INVALID_ARG otherwise) */
    int narms;                  /* >= 1 */
    int nseeds;                 /* repetitions per arm with seeds seed .. seed+nseeds-1 */
    uint64_t seed;
    int freeze_until;           /* PARTIAL: end of the frozen prefix, a graph cut;
                                 * -1 = graft_transfer_default_cut(src) */
    int unfreeze_every;         /* GRADUAL */
    /* Optimizer: kind, momentum, Nesterov, weight decay, schedule of every
     * arm, fitted to each run; opt.lr is the scratch arm's rate. */
    graft_opt_params opt;
    float lr_transfer;          /* FINETUNE, PARTIAL, GRADUAL */
    float lr_probe;             /* LINEAR_PROBE (cosine, as graft_finetune's probe) */
    float warmup_epochs;
    /* epochs, batch, augmentation (PARTIAL refuses it), normalisation,
     * label smoothing, patience, stop_after apply to every run; seed and
     * the log/checkpoint/best paths are ignored. cb.epoch/progress/log
     * apply to every run (and "gradual: unfroze ..." lines go to cb.log). */
    graft_train_config train;
    int warmup;                 /* first one untimed training epoch and inference pass,
                                 * so kernel compilation lands in no arm's time
                                 * (logged as "warm-up: one untimed training epoch and
                                 * an inference pass") */
    graft_compare_begin_fn on_begin; /* may be NULL */
    graft_compare_end_fn on_end;     /* may be NULL */
    void *user;
    /* The accuracy every run's time to target is measured to, in (0, 1];
     * 0 = derived from the runs (graft_compare_result.target_accuracy). */
    double target;
} graft_compare_config;

typedef struct graft_compare_result {
    int narms, nseeds;
    graft_compare_run *runs;    /* narms * nseeds, arm-major (run a * nseeds + s); owned */
    int freeze_until;           /* the PARTIAL arm's cut; -1 without that arm */
    int scratch_arm;            /* index into the arms of SCRATCH; -1 = none */
    /* The target: cfg->target when set (target_given = 1), else the lowest
     * over seeds of the scratch arm's best accuracy (so every scratch run
     * reaches it), or without a scratch arm the best accuracy of any run. */
    double target_accuracy;
    int target_given;
    int best_arm;               /* arm index of the best final accuracy */
    int nclasses;
    int *confusion;             /* nclasses^2 of the best final model on eval; owned */
} graft_compare_result;

/* Compares the arms on the same data with the same budget: for each arm and
 * seed a target model from src (scratch: re-initialised with the seed) is
 * trained on train and evaluated on eval (required, same number of classes
 * as train; GRAFT_ERR_INVALID_ARG otherwise) after every epoch. */
graft_status graft_compare(graft_model *src, const graft_dataset *train,
                           const graft_dataset *eval, const graft_compare_config *cfg,
                           graft_compare_result *res);
void graft_compare_result_free(graft_compare_result *r);

/* A key/value shown in the report's header (datasets, device, seeds...). */
typedef struct graft_report_kv {
    const char *key, *value;
} graft_report_kv;

/* Per-arm aggregates over seeds; standard deviations are sample ones (0
 * for one seed). Times average the runs that reached the target; an arm
 * reaches it when every run does. */
typedef struct graft_compare_summary {
    int nreps;
    double acc_mean, acc_std;   /* of final accuracy */
    int nreached;
    double t_mean, t_std;       /* seconds to target over the runs that reached it */
    int has_saved;              /* arm and scratch arm reach the target in every run */
    double saved_pct;           /* 100 * (1 - t_mean / scratch's t_mean) */
} graft_compare_summary;

/* Aggregates of arm index `arm` of r. */
graft_status graft_compare_summarize(const graft_compare_result *r, int arm,
                                     graft_compare_summary *out, char *err, size_t errlen);

/* Writes the report of r: PREFIX.html (self-contained: inline CSS and SVG,
 * accuracy over training seconds per arm, the target line, the summary
 * table, the best arm's confusion matrix with class_names[r->nclasses]
 * (borrowed; NULL = indices), meta[0..nmeta-1] in order under title) and
 * PREFIX.csv (arm,rep,epoch,seconds,accuracy per point) and
 * PREFIX-summary.csv (one row per arm, graft_compare_summary's fields),
 * each atomically. */
graft_status graft_compare_write_report(const graft_compare_result *r, const char *title,
                                        const graft_report_kv *meta, int nmeta,
                                        const char *const *class_names, const char *prefix,
                                        char *err, size_t errlen);

/* The terminal summary: a table of the arms, then one line per arm that
 * reaches the target, e.g. "linear-probe: reaches scratch's best 0.8730 in
 * 3.1 s vs 41.0 s: 92.4% time saved" ("reaches the target 0.9500" when
 * the target was given). *text is caller-owned (graft_free). */
graft_status graft_compare_summary_text(const graft_compare_result *r, char **text, char *err,
                                        size_t errlen);

/* ------------------------------------------------------------------ plans */

/* A plan (docs/parallel.md "Plan files"): one source model, strategies
 * (compare's arms), seeds and training settings, and targets; every
 * target x strategy x seed is one job, a graft_compare run of one arm and
 * one seed evaluated after every epoch. */
typedef struct graft_plan_target {
    char *name;     /* unique; letters, digits, '-', '_', '.' (names the job files) */
    char *data;     /* data source (graft_data_spec.source), resolved against the plan's folder */
    char *classes;  /* NULL = all */
    int per_class;  /* 0 = all */
    double split;   /* stratified validation fraction the job evaluates on */
} graft_plan_target;

typedef struct graft_plan {
    char *source;                  /* .graft model, resolved against the plan's folder */
    graft_arm arms[GRAFT_ARM_COUNT];
    int narms;
    int nseeds;                    /* seeds seed .. seed + nseeds - 1 */
    uint64_t seed;
    int epochs, batch;
    float lr_scratch, lr_transfer, lr_probe;
    graft_plan_target *targets;
    int ntargets;
} graft_plan;

/* Reads a plan file. Lines "key value" ('#' starts a comment): source PATH,
 * strategies LIST (default scratch,linear-probe,finetune), seeds N (1),
 * seed N (1), epochs N (5), batch N (32), lr F (0.05, scratch), lr-transfer
 * F (0.01), lr-probe F (0.1), and one line per target: "target NAME
 * data=SPEC [classes=LIST] [per-class=N] [split=F]" (split default 0.25).
 * Errors name the file and line (GRAFT_ERR_FORMAT; GRAFT_ERR_IO when
 * unreadable). Caller owns *out (graft_plan_free). */
graft_status graft_plan_load(const char *path, graft_plan **out, char *err, size_t errlen);
/* The values a plan file starts from (no source, no targets): the defaults
 * listed above. */
graft_plan graft_plan_defaults(void);
void graft_plan_free(graft_plan *p);
/* ntargets * narms * nseeds; job j is target j / (narms * nseeds), arm
 * (j / nseeds) % narms, seed seed + j % nseeds. */
int graft_plan_num_jobs(const graft_plan *p);

/* A job as the callbacks see it (strings borrowed for the call). */
typedef struct graft_plan_job {
    int index, njobs;
    const char *target;
    graft_arm arm;
    uint64_t seed;
    int skipped;              /* finished by an earlier run (resume) */
    graft_status status;      /* GRAFT_OK, or why it failed */
    const char *error;        /* "" when it did not fail */
    double final_accuracy;
    double seconds;           /* training seconds (evaluation not counted) */
    const char *device;       /* the device it ran on; NULL when skipped */
} graft_plan_job;

/* Called after each job (and at once for each skipped one) under a lock:
 * from the slot threads, never two at once. */
typedef void (*graft_plan_job_fn)(void *user, const graft_plan_job *j);

typedef struct graft_plan_run_config {
    /* Folder of the job files (created when missing): one file per
     * finished job, written atomically, so that a rerun skips it. */
    const char *state_dir;
    /* One slot (thread, context, copy of the source) per listed device,
     * one job per slot at a time; NULL/0 = ctx_params' device alone. */
    const char *const *devices;
    int ndevices;
    const graft_ctx_params *ctx_params; /* NULL = defaults */
    /* Several processes sharing state_dir: this one runs the jobs with
     * index % nranks == rank (0 and 1 = all). */
    int rank, nranks;
    graft_plan_job_fn on_job;           /* may be NULL */
    void *user;
} graft_plan_run_config;

typedef struct graft_plan_run_result {
    int njobs;     /* this process's */
    int skipped;   /* finished before (job file present) */
    int ran, failed;
} graft_plan_run_result;

/* Runs every unfinished job of p (of this rank). A job that fails (a
 * broken dataset, a diverging run) is reported through on_job and written
 * as failed; the others go on. Returns GRAFT_OK when the jobs could be
 * scheduled (res->failed counts the failures), else the failure to start
 * (no device opened, the source unreadable, state_dir not writable) with
 * its message in err. */
graft_status graft_plan_run(const graft_plan *p, const graft_plan_run_config *cfg,
                            graft_plan_run_result *res, char *err, size_t errlen);

/* Reads the job files in state_dir and writes STATE_DIR/summary.csv (one
 * row per target x strategy: jobs done and failed, mean and std of the
 * final accuracy, seconds to the target, time saved against scratch),
 * STATE_DIR/jobs.csv (one row per job, failures with their message),
 * STATE_DIR/summary.html (both tables) and, per target whose jobs all
 * finished, STATE_DIR/TARGET.html/.csv/-summary.csv (graft_compare's
 * report). The target accuracy is compare's: scratch's lowest best, else
 * the best run. *text (may be NULL; caller-owned, graft_free) gets the
 * summary table as text. */
graft_status graft_plan_write_summary(const graft_plan *p, const char *state_dir, char **text,
                                      char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
