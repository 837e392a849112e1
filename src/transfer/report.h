/* Transfer report: compares training "arms" (scratch, linear probe,
 * fine-tuning...) by accuracy over training time and by the time each needs
 * to reach the best accuracy of the scratch arm. Writes a self-contained
 * HTML page (inline CSS and SVG), CSV files, and a terminal summary.
 * Everything in the input is borrowed; nothing is kept after a call. */
#ifndef GRAFT_REPORT_H
#define GRAFT_REPORT_H
#include <stddef.h>
#include <stdio.h>

#include "graft.h"

typedef struct report_point {
    int epoch;
    double seconds;   /* cumulative training seconds at the end of the epoch */
    double accuracy;  /* in [0, 1] */
} report_point;

typedef struct report_rep {      /* one repetition (seed) of an arm */
    const report_point *points;  /* npoints, in training order */
    int npoints;
    double final_accuracy;
    double seconds_to_target;    /* < 0: never reached the target */
} report_rep;

typedef struct report_arm {
    const char *name;
    const report_rep *reps;
    int nreps;                   /* >= 1 */
} report_arm;

typedef struct report_kv {
    const char *key, *value;
} report_kv;

typedef struct report_input {
    const char *title;
    const report_kv *meta;       /* datasets, devices, seeds...; shown in order */
    int nmeta;
    const report_arm *arms;
    int narms;                   /* >= 1 */
    int scratch_arm;             /* index of the from-scratch arm; -1 = none */
    double target_accuracy;      /* best accuracy the scratch arm reaches (or target_given) */
    /* Confusion matrix of the best arm: confusion[true * nclasses + pred].
     * nclasses == 0 leaves it out. */
    const char *confusion_arm;
    int nclasses;
    const char *const *class_names;
    const int *confusion;
    int target_given;            /* 1: target_accuracy was set by the caller */
} report_input;

/* Per-arm aggregates. Standard deviations are sample ones (n - 1), 0 for a
 * single repetition. Times average only the repetitions that reached the
 * target; an arm "reaches" it when all of its repetitions do. */
typedef struct report_arm_summary {
    int nreps;
    double acc_mean, acc_std;
    int nreached;                /* repetitions with seconds_to_target >= 0 */
    double t_mean, t_std;        /* over those; 0 when nreached == 0 */
    int has_saved;               /* arm and scratch arm reach the target in every rep */
    double saved_pct;            /* 100 * (1 - t_mean / scratch t_mean) */
} report_arm_summary;

/* Checks the input (names, counts, finite numbers, scratch index, confusion
 * counts >= 0). GRAFT_ERR_INVALID_ARG with a message naming the field. */
graft_status report_validate(const report_input *in, char *err, size_t errlen);

/* Aggregates of arm `arm` (validates the input first). */
graft_status report_summarize(const report_input *in, int arm, report_arm_summary *out,
                              char *err, size_t errlen);

/* HTML page at path, written atomically. Every string is HTML-escaped.
 * The chart plots, per arm, the mean over repetitions of the i-th point
 * (seconds and accuracy; repetitions with fewer points drop out). */
graft_status report_write_html(const report_input *in, const char *path, char *err,
                               size_t errlen);

/* PREFIX.csv: arm,rep,epoch,seconds,accuracy (one row per point) and
 * PREFIX-summary.csv: one row per arm with the report_arm_summary fields
 * (empty where undefined). Both written atomically; fields are quoted as
 * RFC 4180 requires. */
graft_status report_write_csv(const report_input *in, const char *prefix, char *err,
                              size_t errlen);

/* Summary table on f, then one line per arm containing "time saved", e.g.
 * "linear-probe: reaches scratch's best 0.8730 in 3.1 s vs 41.0 s: 92.4% time saved"
 * ("reaches the target 0.9500" when target_given). */
graft_status report_print_summary(const report_input *in, FILE *f, char *err, size_t errlen);
#endif
