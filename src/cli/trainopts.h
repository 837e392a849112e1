/* Options shared by every command that trains (train, finetune, cv,
 * compare, selftrain): data selection, optimisation, logging. */
#ifndef GRAFT_TRAINOPTS_H
#define GRAFT_TRAINOPTS_H
#include "args.h"
#include "common.h"
#include "device_list.h"
#include "graft_train.h"

typedef struct train_opts {
    const char *data, *eval_data, *classes, *eval_classes;
    int per_class, skip_bad;
    float val_split;
    int epochs, batch;
    float lr, momentum, wd, label_smoothing, warmup;
    int nesterov;
    const char *opt, *schedule, *augment, *log, *nan;
    int ckpt_every, keep_best, patience, stop_after;
    int auto_batch_ok; /* set by commands that resolve --batch auto (batch 0) */
    /* Set by SIGINT/SIGTERM (interrupt.h) to stop after the current step;
     * NULL: the run cannot be interrupted that way. */
    volatile sig_atomic_t *stop;
    /* Data parallel (train, finetune): --devices as given, then parsed by
     * trainopts_parallel; comm is set when running under MPI (mpi_comm.h). */
    const char *devices;
    int sync_bn;
    int no_overlap; /* --no-overlap: sum the gradients over the ranks after backward */
    device_list dl;
    const graft_collective *comm;
} train_opts;

void trainopts_defaults(train_opts *t);

#define TRAINOPTS_DATA(t)                                                                      \
    {"data", OPT_STRING, &(t).data, "SPEC", "training data: fashion-mnist, an IDX file or "     \
     "folder, a class folder root/<class>/<images>, or a path,label .csv (default {})", 0, 0}, \
    {"eval-data", OPT_STRING, &(t).eval_data, "SPEC", "evaluation data (default: the test "     \
     "split of an IDX source, else none)", 0, 0},                                               \
    {"classes", OPT_STRING, &(t).classes, "LIST", "use only these classes, by name or index: "  \
     "cat,rocket, 5,6,7 or 5-9 (relabelled 0..k-1, names kept)", 0, 0},                                                  \
    {"eval-classes", OPT_STRING, &(t).eval_classes, "LIST", "classes of the evaluation data "   \
     "(default: same as --classes)", 0, 0},                                                     \
    {"per-class", OPT_INT, &(t).per_class, "N", "seeded sample of N images per class (few-shot)", 1, 100000000}, \
    {"val-split", OPT_FLOAT, &(t).val_split, "F", "stratified validation fraction taken from "  \
     "the training data; evaluates on it instead of --eval-data", 0, 0.9},                     \
    {"skip-bad", OPT_FLAG, &(t).skip_bad, NULL, "skip unreadable image files (reported) "      \
     "instead of stopping", 0, 0}

#define TRAINOPTS_TRAIN(t)                                                                     \
    {"epochs", OPT_INT, &(t).epochs, "N", "epochs (default {})", 1, 100000},                      \
    {"batch", OPT_BATCH, &(t).batch, "N", "batch size, or auto: the largest that fits the "     \
     "device's memory, at most 512 (default {})", 1, 65536},                                    \
    {"lr", OPT_FLOAT, &(t).lr, "F", "learning rate (default: 0.05 sgd, 0.001 adamw; finetune: "   \
     "0.1 linear-probe, else 0.01 sgd, 3e-4 adamw)", 0, 100},    \
    {"opt", OPT_STRING, &(t).opt, "NAME", "sgd or adamw (default sgd)", 0, 0},                   \
    {"momentum", OPT_FLOAT, &(t).momentum, "F", "SGD momentum (default 0.9)", 0, 0.999},         \
    {"nesterov", OPT_FLAG, &(t).nesterov, NULL, "Nesterov momentum", 0, 0},                      \
    {"wd", OPT_FLOAT, &(t).wd, "F", "weight decay on weights (default: 5e-4 sgd, 0.01 adamw)", 0, 1}, \
    {"schedule", OPT_STRING, &(t).schedule, "NAME", "constant, step, cosine or onecycle "        \
     "(default cosine)", 0, 0},                                                                 \
    {"warmup", OPT_FLOAT, &(t).warmup, "EPOCHS", "linear learning-rate warm-up (default 0)", 0, 1000}, \
    {"label-smoothing", OPT_FLOAT, &(t).label_smoothing, "F", "label smoothing (default 0)", 0, 0.99}, \
    {"augment", OPT_STRING, &(t).augment, "LIST", "none, or any of crop,flip,rrc (default: "      \
     "none for grey images up to 28x28, crop,flip otherwise)", 0, 0},                           \
    {"log", OPT_STRING, &(t).log, "PATH", "per-epoch log, .csv or .jsonl (default: OUT-log.csv)", 0, 0}, \
    {"checkpoint-every", OPT_INT, &(t).ckpt_every, "N", "write OUT-ckpt.graft every N epochs "    \
     "(resume with --resume)", 0, 100000},                                                      \
    {"keep-best", OPT_FLAG, &(t).keep_best, NULL, "also write OUT-best.graft at the best "       \
     "evaluation accuracy", 0, 0},                                                              \
    {"patience", OPT_INT, &(t).patience, "N", "early stopping: stop after N epochs without "     \
     "improvement (default off)", 0, 100000},                                                   \
    {"nan", OPT_STRING, &(t).nan, "POLICY", "a step with a non-finite loss: stop (default; "     \
     "names the step and layer) or skip (the step makes no update; counted)", 0, 0},            \
    {"stop-after", OPT_INT, &(t).stop_after, "N", "stop after N epochs as if interrupted (the "  \
     "schedule still spans --epochs; continue with --resume)", 1, 100000}

#define TRAINOPTS_PARALLEL(t)                                                                  \
    {"devices", OPT_STRING, &(t).devices, "LIST", "data parallel: one replica and a slice of "  \
     "every batch per device, gradients summed before each step, e.g. 0,1 or all (default: "   \
     "--device alone)", 0, 0},                                                                  \
    {"sync-bn", OPT_FLAG, &(t).sync_bn, NULL, "with --devices or mpirun: BatchNorm statistics "  \
     "over the whole batch, not per device", 0, 0},                                             \
    {"no-overlap", OPT_FLAG, &(t).no_overlap, NULL, "under mpirun: sum the gradients over the "  \
     "ranks after the backward pass instead of bucket by bucket during it", 0, 0}
/* Parses --devices (when given) into t->dl; the first device becomes
 * co->device (the model's own). 0, or the exit status after printing. */
int trainopts_parallel(const char *cmd, train_opts *t, common_opts *co);
/* Checks values that the table cannot; prints and returns non-zero on error. */
int trainopts_check(const char *cmd, const train_opts *t);
/* Loads training and evaluation data at c x h x w (h = 0: as stored).
 * *eval may be NULL (no evaluation set); *eval_name is "val", "test" or
 * "eval". Returns 0, or the exit status after printing why. */
int trainopts_load(const char *cmd, const train_opts *t, const common_opts *co, int c, int h,
                   int w, graft_dataset **train, graft_dataset **eval, const char **eval_name);
/* Class names and normalisation statistics of the training data. */
int trainopts_meta(const char *cmd, const train_opts *t, const graft_dataset *train,
                   graft_model_meta *meta);
/* Optimizer parameters with the schedule sized to the run. */
graft_opt_params trainopts_opt_params(const train_opts *t, const graft_dataset *train);
/* Optimizer with the schedule sized to the run. */
graft_status trainopts_optimizer(const train_opts *t, graft_model *m, const graft_dataset *train,
                                 graft_optimizer **o);
/* Fills a graft_train_config whose callbacks print as the commands do
 * (nothing but chained hooks when co->quiet); out names the model file
 * from which the log, checkpoint and best-model paths derive (NULL: no
 * files). Storage for both lives in cfg->cb.user until
 * trainopts_config_free. Returns non-zero (after printing) when out of
 * memory. */
int trainopts_config(const train_opts *t, const common_opts *co, const graft_dataset *train,
                     const graft_model_meta *meta, const char *eval_name, const char *out,
                     graft_train_config *cfg);
/* Calls fn(user, st) after each epoch line (e.g. gradual unfreezing). */
void trainopts_chain_epoch(graft_train_config *cfg, graft_epoch_fn fn, void *user);
/* Releases what trainopts_config allocated. */
void trainopts_config_free(graft_train_config *cfg);
/* --resume: loads the checkpoint into m and o, sets cfg->start_epoch and
 * says where the run goes on. 0, or the exit status (1 unreadable, 2 when
 * the checkpoint has done more than --epochs). */
int trainopts_resume(const char *cmd, const char *resume, graft_model *m, graft_optimizer *o,
                     const train_opts *to, int ntrain, int quiet, graft_train_config *cfg);
/* The --nan skip count of a finished run, when there is one. */
void trainopts_report_skips(const char *cmd, const graft_train_result *res);

#endif
