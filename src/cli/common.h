/* Pieces every sub-command shares: opening the device, loading data from a
 * spec, loading a model, and printing errors. */
#ifndef GRAFT_CLI_COMMON_H
#define GRAFT_CLI_COMMON_H
#include "graft.h"
#include "graft_data.h"

/* Options common to all commands that touch a device. */
typedef struct common_opts {
    const char *device;
    int quiet;
    int seed;
} common_opts;

#define COMMON_OPTS(co)                                                                      \
    {"device", OPT_STRING, &(co).device, "SEL", "OpenCL device: index or name substring "   \
     "(default: $GRAFT_DEVICE, else first GPU, else CPU)", 0, 0},                            \
    {"quiet", OPT_FLAG, &(co).quiet, NULL, "print only results and errors", 0, 0},            \
    {"seed", OPT_INT, &(co).seed, "N", "seed for initialisation, sampling, shuffling and "    \
     "augmentation (default 1)", 0, 2147483647}

/* Context settings from the GRAFT_* environment with device (NULL = as
 * there) as the selector: 0, or 1 after printing why. */
int cli_ctx_params(const char *cmd, const char *device, graft_ctx_params *p);
/* Creates a context or prints why not; NULL on failure. */
graft_ctx *cli_open_device(const char *cmd, const common_opts *co);

/* Which split of a source that has them (IDX: train / test). */
typedef enum data_split { SPLIT_TRAIN = GRAFT_SPLIT_TRAIN, SPLIT_TEST = GRAFT_SPLIT_TEST } data_split;

typedef struct data_request {
    const char *spec;   /* "fashion-mnist", IDX dir/file, class folder, .csv */
    data_split split;
    int c, h, w;        /* wanted image shape; 0 = as stored */
    int skip_bad;
    const char *classes;/* "5,6,7" subset (relabelled in that order), NULL = all */
    int per_class;      /* seeded few-shot sample, 0 = all */
    uint64_t seed;
    int quiet;
    int lazy;           /* decode on first use (an MPI rank reads only its shard) */
} data_request;

/* graft_dataset_open with notes on stderr (unless quiet) and errors
 * printed as "cmd: message". Returns 0, 2 for a bad request (source form,
 * class list) or 1. Caller owns *out. */
int cli_load_data(const char *cmd, const data_request *rq, graft_dataset **out);
/* True when spec names an IDX source that has a test split. */
int cli_has_test_split(const char *spec);
/* --batch auto: the largest batch at which m fits the device for training
 * (optimizer opt) or inference, at most cap and nimages; prints it unless
 * quiet. 0 after printing why when not even one image fits. */
int cli_auto_batch(const char *cmd, graft_model *m, int training, graft_opt_kind opt, int nimages,
                   int cap, int quiet);

/* Checks made before a device is opened (opening one compiles kernels):
 * path names an existing model file, and not an ONNX model (which wants
 * graft import first); what is the option ("--model") or "" for a
 * positional argument. Returns 0, or 1 after printing why. */
int cli_check_model_path(const char *cmd, const char *what, const char *path);
/* A data source spec names something that exists ("fashion-mnist" is taken
 * as it is; the loader says if it is not installed). 0, or 1 after printing. */
int cli_check_data_path(const char *cmd, const char *what, const char *spec);

/* Exit status for a failed library call: 2 for GRAFT_ERR_INVALID_ARG
 * (the request was wrong), else 1. */
int cli_exit_status(graft_status s);

/* Monotonic seconds, for the timings commands print. */
double cli_seconds(void);

/* "model.graft" -> "model" + suffix into buf. */
void path_with_suffix(const char *path, const char *suffix, char *buf, size_t n);
#endif
