/* The training loop and evaluation shared by train, finetune, cv and
 * compare: epochs over a prefetching loader, per-epoch evaluation, logs,
 * checkpoints, best-model keeping and early stopping. */
#ifndef GRAFT_TRAIN_H
#define GRAFT_TRAIN_H
#include <stdint.h>

#include "dataset.h"
#include "graft.h"

typedef struct eval_result {
    int n, classes;
    double loss, top1, top5;
    int *confusion;  /* classes x classes (row = true, col = predicted); owned */
    float *probs;    /* n x classes softmax, only when asked; owned */
} eval_result;
void eval_result_free(eval_result *r);

/* Called after each inference batch of infer_dataset: the batch holds
 * samples [offset, offset + n) of the dataset, y their labels; the model's
 * node outputs are those of this batch. Non-GRAFT_OK stops the pass. */
typedef graft_status (*infer_batch_fn)(void *user, graft_model *m, const int *y, int n, int offset);

/* Runs every image of d through m in order (inference mode, normalised
 * with mean/std, batches of `batch`) and calls fn after each batch. */
graft_status infer_dataset(graft_model *m, const dataset *d, const float *mean, const float *std,
                           int batch, infer_batch_fn fn, void *user, char *err, size_t errlen);

/* Inference over a whole dataset (in order), normalised with mean/std.
 * want_probs keeps the softmax outputs. */
graft_status evaluate(graft_model *m, const dataset *d, const float *mean, const float *std,
                      int batch, int want_probs, eval_result *out, char *err, size_t errlen);

typedef struct epoch_stats {
    int epoch;            /* 1-based */
    double train_loss, train_acc;
    double eval_loss, eval_acc; /* -1 without an evaluation set */
    double train_seconds; /* this epoch's training time (no evaluation) */
    double total_train_seconds;
    double images_per_s;
    float lr;
} epoch_stats;

typedef struct train_config {
    int epochs;
    int start_epoch;      /* epochs already done (resume) */
    int batch;
    float label_smoothing;
    uint64_t seed;
    int augment;
    augment_opts aug;
    const float *mean, *std;
    int quiet;
    const char *eval_name;     /* "val" or "test": how the evaluation set is named */
    const char *log_path;      /* per-epoch log: .csv or JSON lines; NULL = none */
    const char *ckpt_path;     /* checkpoint written every ckpt_every epochs */
    int ckpt_every;
    const char *best_path;     /* best model by evaluation accuracy; NULL = none */
    int patience;              /* stop after this many epochs without improvement; 0 = off */
    int restore_best;
    int stop_after;            /* stop once this many epochs are done; 0 = run all */          /* end with the weights of the best evaluation epoch */
    const graft_model_meta *meta; /* saved into checkpoints and best model */
    /* Called after every epoch (may be NULL); non-zero stops training. */
    int (*on_epoch)(void *user, const epoch_stats *st);
    void *user;
    void *owned;               /* storage for the paths above, if the caller needs it */
} train_config;

typedef struct train_result {
    epoch_stats *hist;   /* owned */
    int nepochs;
    int best_epoch;      /* 0 when there is no evaluation set */
    double best_eval_acc;
    int stopped_early;
} train_result;
void train_result_free(train_result *r);

/* Trains m with o on train, evaluating on eval (may be NULL) after every
 * epoch. hist covers the epochs run in this call. */
graft_status train_model(graft_model *m, graft_optimizer *o, const dataset *train,
                         const dataset *eval, const train_config *cfg, train_result *res,
                         char *err, size_t errlen);

/* Checkpoint = model file + optimizer state + epoch (see model_io.h). */
graft_status checkpoint_save(graft_model *m, graft_optimizer *o, const graft_model_meta *meta,
                             int epoch, const char *path, char *err, size_t errlen);
/* Restores weights, optimizer state and the epoch count into an existing
 * model/optimizer of the same architecture. */
graft_status checkpoint_load(graft_model *m, graft_optimizer *o, const char *path, int *epoch,
                             char *err, size_t errlen);
#endif
