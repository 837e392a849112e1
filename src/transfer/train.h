/* The training loop and evaluation shared by train, finetune, cv and
 * compare: epochs over a prefetching loader, per-epoch evaluation, logs,
 * checkpoints, best-model keeping and early stopping. */
#ifndef GRAFT_TRANSFER_TRAIN_H
#define GRAFT_TRANSFER_TRAIN_H
#include <stdint.h>

#include "dataset.h"
#include "graft.h"
#include "graft_eval.h"
#include "graft_train.h"

/* The public result types (graft_eval.h, graft_train.h) under the names
 * the library's own code uses. */
typedef graft_eval_result eval_result;
typedef graft_epoch_stats epoch_stats;
typedef graft_train_config train_config;
typedef graft_train_result train_result;

void eval_result_free(eval_result *r);

/* Called after each inference batch of infer_dataset: the batch holds
 * samples [offset, offset + n) of the dataset, y their labels; the model's
 * node outputs are those of this batch. Non-GRAFT_OK stops the pass. */
typedef graft_status (*infer_batch_fn)(void *user, graft_model *m, const int *y, int n, int offset);

/* Runs every image of d through m in order (inference mode, normalised
 * with mean/std, batches of `batch`) and calls fn after each batch.
 * Progress goes to pfn (label, per batch) or, when pfn is NULL, to the
 * context's sink. */
graft_status infer_dataset(graft_model *m, const dataset *d, const float *mean, const float *std,
                           int batch, infer_batch_fn fn, void *user, const char *label,
                           graft_progress_fn pfn, void *puser, char *err, size_t errlen);

/* infer_dataset over the images idx[0..nidx) of d only, in that order; fn's
 * offset counts positions in idx (only those images are decoded). */
graft_status infer_dataset_indices(graft_model *m, const dataset *d, const int *idx, int nidx,
                                   const float *mean, const float *std, int batch,
                                   infer_batch_fn fn, void *user, const char *label,
                                   graft_progress_fn pfn, void *puser, char *err, size_t errlen);

/* Inference over a whole dataset (in order), normalised with mean/std.
 * want_probs keeps the softmax outputs. */
graft_status evaluate(graft_model *m, const dataset *d, const float *mean, const float *std,
                      int batch, int want_probs, eval_result *out, char *err, size_t errlen);

void train_result_free(train_result *r);

/* Trains m with o on train, evaluating on eval (may be NULL) after every
 * epoch; graft_train with the message in err. hist covers the epochs run
 * in this call. */
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
