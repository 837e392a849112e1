/* graft training: the epoch loop over a dataset with an optional
 * evaluation set, callbacks for progress and per-epoch metrics, logs,
 * checkpoints, best-model keeping and early stopping.
 *
 * Conventions (those of graft.h, plus):
 *  - Functions that take a model report failures through
 *    graft_last_error(ctx) of the model's context.
 *  - The library never prints. A long call reports through the callbacks
 *    of graft_callbacks: progress within an epoch, one record per epoch,
 *    and log lines for events ("early stop: ...", "restored the weights
 *    of epoch 3 ..."). All callbacks are optional and run on the calling
 *    thread, synchronously; they must not call back into the same model.
 *  - Files named in a config (log, checkpoint, best model) are written by
 *    the library; model files atomically.
 */
#ifndef GRAFT_TRAIN_H
#define GRAFT_TRAIN_H

#include <signal.h>

#include "graft.h"
#include "graft_data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- callbacks */

/* graft_progress and graft_progress_fn are in graft.h (contexts have a
 * progress sink too). */

/* One completed epoch. Accuracies in [0, 1]. */
typedef struct graft_epoch_stats {
    int epoch;                  /* 1-based, counting resumed epochs */
    double train_loss, train_acc;
    double eval_loss, eval_acc; /* -1 without an evaluation set */
    double train_seconds;       /* this epoch's training time (evaluation not counted) */
    double total_train_seconds; /* cumulative over the epochs of this call */
    double images_per_s;
    float lr;                   /* learning rate at the end of the epoch */
} graft_epoch_stats;

/* Returns non-zero to stop training after this epoch (not an error). */
typedef int (*graft_epoch_fn)(void *user, const graft_epoch_stats *st);

/* Every callback may be NULL; all share user. With none set a call is
 * silent. Progress is reported after every batch (the receiver throttles). */
typedef struct graft_callbacks {
    graft_progress_fn progress;
    graft_epoch_fn epoch;
    graft_log_fn log;
    void *user;
} graft_callbacks;

/* ---------------------------------------------------------------- config */

/* What a training step with a non-finite loss does. Stopping names the
 * step and the first layer whose output (or gradient, or weights) went
 * non-finite; skipping leaves the weights and optimizer state as they were
 * before the step and counts it in graft_train_result.skipped_steps. */
typedef enum graft_nan_policy { GRAFT_NAN_STOP = 0, GRAFT_NAN_SKIP = 1 } graft_nan_policy;

/* Several processes training one model (MPI ranks, say; docs/parallel.md).
 * The library does not link any message-passing library: the caller wraps
 * its own. Every rank calls graft_train with the same data, seed, batch and
 * model; each computes the gradients of its share of every global batch. */
typedef struct graft_collective {
    int rank, size;            /* this process and their number (0 <= rank < size) */
    /* Sums buf[0..n) element-wise over every rank, in place; every rank
     * must get bit-identical sums (MPI_Allreduce does). Non-GRAFT_OK stops
     * the run on this rank with msg (NUL-terminated, msglen bytes) as the
     * error. */
    graft_status (*allreduce_sum)(void *user, float *buf, size_t n, char *msg, size_t msglen);
    void *user;
    /* Optional (NULL = none): called on this rank once the ranks have
     * agreed, in a status round, that some rank failed. Every rank then
     * returns an error from the run without any further collective call,
     * so the caller need not end the job (MPI_Abort) for that error. */
    void (*on_stop)(void *user);
    /* Optional, all three or none (NULL = the blocking sum only): the sum
     * of allreduce_sum started without waiting, so that the gradients of
     * the last layers travel while the backward pass computes the earlier
     * ones (graft_train_config.overlap_allreduce). start begins summing
     * buf[0..n) in place and sets *req; buf is not touched until wait has
     * returned. test returns 1 once the sum is complete (it also drives
     * the transfer: MPI progresses inside its calls) and 0 while not;
     * wait blocks until complete and releases req. Sums started on every
     * rank in the same order must give the bits allreduce_sum would. */
    graft_status (*iallreduce_start)(void *user, float *buf, size_t n, void **req, char *msg,
                                     size_t msglen);
    int (*iallreduce_test)(void *user, void *req);
    graft_status (*iallreduce_wait)(void *user, void *req, char *msg, size_t msglen);
    /* Optional (NULL = emulated with allreduce_sum: zeros around this
     * rank's rows, size times the bytes on the wire): gathers, in place,
     * rows of row_floats floats from every rank, on every rank. all holds
     * the rows of every rank in rank order, rank r's rows[r] of them
     * (rows[0..size) the same on every rank; a count may be 0); on entry
     * this rank's rows are at their place, on return every rank's are
     * (MPI_Allgatherv with MPI_IN_PLACE). The linear probe uses it: each
     * rank extracts the features of its share of the images, then every
     * rank holds all of them. */
    graft_status (*allgatherv)(void *user, float *all, const int *rows, size_t row_floats,
                               char *msg, size_t msglen);
} graft_collective;

typedef struct graft_train_config {
    int epochs;               /* total epochs of the run (the schedule spans them) */
    int start_epoch;          /* epochs already done (resume from a checkpoint) */
    int batch;                /* >= 1 */
    float label_smoothing;    /* in [0, 1) */
    uint64_t seed;            /* shuffling and augmentation */
    int augment;              /* apply aug to training images */
    graft_augment aug;
    const float *mean, *std;  /* per-channel normalisation (borrowed); NULL = none */
    const char *eval_name;    /* how the evaluation set is named in logs: "val", "test"; NULL = "val" */
    const char *log_path;     /* per-epoch log: .csv, else JSON lines; NULL = none */
    const char *ckpt_path;    /* checkpoint written every ckpt_every epochs; NULL = none */
    int ckpt_every;
    const char *best_path;    /* model file rewritten at every new best evaluation accuracy */
    int patience;             /* stop after this many epochs without improvement; 0 = off */
    int restore_best;         /* end with the weights of the best evaluation epoch */
    int stop_after;           /* stop once this many epochs are done (as if interrupted); 0 = off */
    const graft_model_meta *meta; /* saved into checkpoints and the best model (borrowed) */
    graft_nan_policy on_nan;  /* default GRAFT_NAN_STOP */
    /* Checked after every step; once it reads non-zero (a signal handler
     * of the caller sets it: the library installs none) the step is
     * finished, a checkpoint is written to ckpt_path (when set, whatever
     * ckpt_every says) and the call returns GRAFT_OK with
     * graft_train_result.interrupted set. NULL = never. */
    volatile sig_atomic_t *stop;
    graft_callbacks cb;
    /* Synchronous data parallel over devices (docs/parallel.md). With
     * ndevices >= 2, devices[1..ndevices-1] are opened (one context and
     * thread each, settings copied from m's context) for replicas of m;
     * devices[0] names m's own device and is not opened again. Every
     * global batch is split into ndevices slices of near-equal size; the
     * gradients of the slices are summed on the host (weighted by slice
     * size) into m's before one optimizer step, so the result equals
     * training m alone on the same batches within float tolerance, except
     * that BatchNorm normalises each slice by its own statistics (unless
     * sync_bn) and the running statistics are m's (those of slice 0).
     * Evaluation runs on m alone. Borrowed for the call. 0 or 1 = m's
     * device only. */
    const char *const *devices;
    int ndevices;
    /* With several replicas (devices or ranks): BatchNorm layers normalise
     * by the statistics of the whole global batch (their per-channel sums
     * combined over every replica in forward and backward, as PyTorch's
     * SyncBatchNorm), so that a BatchNorm network too trains as on one
     * device; the running statistics follow the global batch. A batch
     * smaller than the number of replicas (an epoch's short last batch)
     * uses per-replica statistics. 0 = per replica. */
    int sync_bn;
    /* Several processes (NULL = this one alone): each rank takes its share
     * of every global batch (then split over devices) and reads only that
     * share of the training images (decoding them, for a dataset opened
     * with graft_data_spec.lazy), gradients and the loss are summed with
     * comm->allreduce_sum in buckets, and every rank makes the same step.
     * The evaluation set is split over the ranks and its sums combined.
     * Only rank 0 writes log_path, ckpt_path and best_path. A rank that
     * fails tells the others in the next status round (a small sum that
     * opens every collective phase), and every rank returns an error, the
     * others' naming it. */
    const graft_collective *comm;
    /* With comm offering iallreduce_start/test/wait, one device per rank
     * and no sync_bn: the gradient buckets (4 MiB, whole layers, from the
     * last layer back) are summed while the backward pass goes on, each
     * started as soon as its layers' gradients exist, and waited for
     * before the optimizer step. Same sums, same bits as without. 0 = the
     * sum after the whole backward pass. */
    int overlap_allreduce;
    /* Floats per gradient bucket (whole parameters up to this many; a
     * larger parameter alone, summed in calls of this many). 0 = 2^20
     * (4 MiB); at most 2^28. */
    size_t bucket_floats;
} graft_train_config;

/* epochs 5, batch 64, seed 1, everything else off. */
graft_train_config graft_train_default_config(void);

/* What a training call did; hist covers the epochs run in this call. */
typedef struct graft_train_result {
    graft_epoch_stats *hist; /* nepochs entries; owned */
    int nepochs;
    int best_epoch;          /* 0 without an evaluation set */
    double best_eval_acc;
    int stopped_early;       /* patience ran out */
    int restored_epoch;      /* restore_best put back this epoch's weights; 0 = none */
    long skipped_steps;      /* steps skipped for a non-finite loss (GRAFT_NAN_SKIP) */
    int stats_resets;        /* epochs after which non-finite running statistics were
                              * reset to mean 0, variance 1 (GRAFT_NAN_SKIP) */
    int interrupted;         /* *cfg->stop ended the call (a checkpoint was written when
                              * cfg->ckpt_path is set) */
    int interrupted_epoch;   /* 1-based epoch the stop came in */
    long interrupted_batch;  /* batches of that epoch done */
} graft_train_result;

/* Releases what r owns and zeroes it; a zeroed result is fine. */
void graft_train_result_free(graft_train_result *r);

/* ------------------------------------------------------------- training */

/* Trains m with o on train for cfg->epochs - cfg->start_epoch epochs
 * (shuffled every epoch, augmented when asked, normalised with mean/std),
 * evaluating on eval (may be NULL) after every epoch. Shapes must match
 * m's input; the data may have fewer classes than m's outputs. On success
 * the caller owns *res (graft_train_result_free), also after an early stop
 * or a stop requested by the epoch callback; on failure *res is zeroed and
 * graft_last_error names the cause (a diverging loss names the epoch, the
 * batch and the first non-finite layer; see graft_nan_policy). A
 * checkpoint written mid-epoch (a stop request) resumes exactly: with
 * start_epoch from graft_checkpoint_load and the restored optimizer, the
 * batches of that epoch already done (from the optimizer's step count) are
 * skipped, and the log keeps the lines of epochs 1..start_epoch. The log
 * is rewritten atomically after every epoch. Log lines: "early stop: no val improvement for N epochs (best
 * A% at epoch E)", "restored the weights of epoch E (val accuracy A%)". */
graft_status graft_train(graft_model *m, graft_optimizer *o, const graft_dataset *train,
                         const graft_dataset *eval, const graft_train_config *cfg,
                         graft_train_result *res);

/* Sizes p's schedule to a run of epochs over nimages in batches of batch:
 * total_steps = ceil(nimages / batch) * epochs, step_size = the steps of
 * max(1, epochs / 3) epochs, warmup_steps = warmup_epochs worth of steps. */
void graft_opt_fit_run(graft_opt_params *p, int nimages, int batch, int epochs,
                       float warmup_epochs);

/* Checkpoint = model file + optimizer state + epoch count. Written
 * atomically to path; meta is borrowed (may be NULL). */
graft_status graft_checkpoint_save(graft_model *m, graft_optimizer *o,
                                   const graft_model_meta *meta, int epoch, const char *path);
/* Restores weights, optimizer state (o may be NULL) and the epoch count
 * into an existing model of the same architecture. A model file without
 * optimizer state or of another architecture is GRAFT_ERR_FORMAT. */
graft_status graft_checkpoint_load(graft_model *m, graft_optimizer *o, const char *path,
                                   int *epoch);

/* Device memory a model needs at a batch size, in bytes (an estimate from
 * shapes: every node's output, gradients alive at once during backward,
 * parameters and optimizer state, im2col scratch of the largest conv;
 * inference parameters include the packed copies of conv weights that
 * CPU-style devices keep, as an upper bound). */
typedef struct graft_memory_estimate {
    double train_activations;  /* outputs and their gradients */
    double train_parameters;   /* every stored tensor, gradients and optimizer
                                * state of the trainable ones */
    double train_scratch;
    double infer_activations, infer_parameters, infer_scratch;
} graft_memory_estimate;

/* The estimate for training with an optimizer of kind opt, and for
 * inference, at batch images. Pure function of m's graph. */
graft_memory_estimate graft_model_memory_estimate(const graft_model *m, int batch,
                                                  graft_opt_kind opt);

/* Checks, before anything is allocated, that m runs at batch images on
 * its context's device: for training (training != 0, optimizer kind opt)
 * or inference. Compared are the estimate above, with a 10% margin,
 * against the device's global memory, and the largest single buffer (a
 * node's output at this batch, or a parameter) against its max
 * allocation. *largest (may be NULL) gets the largest batch that fits, at
 * most 65536 (0: not even one image). GRAFT_OK, or GRAFT_ERR_DEVICE_MEMORY
 * with a message naming the layer of the largest buffer, the bytes
 * needed, the device's limits and that largest batch. graft_train,
 * graft_evaluate, graft_predict_* and graft_features run this check
 * themselves at their batch (at most the data's size). */
graft_status graft_model_check_memory(graft_model *m, int batch, int training, graft_opt_kind opt,
                                      int *largest);

/* Metadata of a model trained on d: its class names (copied) and its
 * per-channel statistics as normalisation (channels beyond d's: mean 0,
 * std 1); arch copied from arch (NULL = "custom"). The caller owns *meta
 * (graft_model_meta_free); on failure it is zeroed. */
graft_status graft_model_meta_from_dataset(const graft_dataset *d, const char *arch,
                                           graft_model_meta *meta, char *err, size_t errlen);
/* The same when every rank of comm holds d (NULL or one rank: the call
 * above): each rank reads (decodes, for a dataset opened with
 * graft_data_spec.lazy) only its contiguous share of d for the
 * statistics, and the sums are combined with comm->allreduce_sum, so the
 * normalisation equals one process's within float rounding. Every rank
 * must call it. More than 4 channels -> GRAFT_ERR_SHAPE (a model file
 * keeps 4). */
graft_status graft_model_meta_from_dataset_ranks(const graft_dataset *d, const char *arch,
                                                 const graft_collective *comm,
                                                 graft_model_meta *meta, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
