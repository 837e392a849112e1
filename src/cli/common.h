/* Pieces every sub-command shares: opening the device, loading data from a
 * spec, class selection lists, and printing errors. */
#ifndef GRAFT_CLI_COMMON_H
#define GRAFT_CLI_COMMON_H
#include "dataset.h"
#include "graft.h"

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

/* Creates a context or prints why not; NULL on failure. */
graft_ctx *cli_open_device(const char *cmd, const common_opts *co);

/* Which split of a source that has them (IDX: train / test). */
typedef enum data_split { SPLIT_TRAIN, SPLIT_TEST } data_split;

typedef struct data_request {
    const char *spec;   /* "fashion-mnist", IDX dir/file, class folder, .csv */
    data_split split;
    int c, h, w;        /* wanted image shape; 0 = as stored */
    int skip_bad;
    const char *classes;/* "5,6,7" subset (relabelled in that order), NULL = all */
    int per_class;      /* seeded few-shot sample, 0 = all */
    uint64_t seed;
    int quiet;
} data_request;

/* Loads, converts to the wanted shape, selects classes and samples.
 * Caller owns *out. Messages go to stderr prefixed with cmd. */
int cli_load_data(const char *cmd, const data_request *rq, dataset **out);
/* True when spec names an IDX source that has a test split. */
int cli_has_test_split(const char *spec);

/* Parses "5,6,7" or "5-9" into classes[]; returns count or -1. */
int parse_class_list(const char *s, int *classes, int max);

/* "model.graft" -> "model" + suffix into buf. */
void path_with_suffix(const char *path, const char *suffix, char *buf, size_t n);
#endif
