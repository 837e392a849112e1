/* What graft eval prints and writes from an evaluation: the terminal
 * report, JSON, per-class CSV and per-image predictions. */
#ifndef GRAFT_CLI_EVAL_REPORT_H
#define GRAFT_CLI_EVAL_REPORT_H
#include "graft_eval.h"

/* Everything one report needs; borrowed. */
typedef struct eval_report {
    const char *model, *data, *split; /* split: "train", "test" or NULL */
    const graft_eval_result *r;
    const graft_model_meta *meta;
    const graft_class_metrics *per_class, *macro, *weighted;
} eval_report;

/* Accuracy, loss, the per-class table and the confusion matrix on stdout. */
void eval_report_print(const eval_report *e);
/* Each returns 0 or 1 after printing why. */
int eval_report_json(const eval_report *e, const char *path);
int eval_report_csv(const eval_report *e, const char *path);
/* One row per image of d: index, path, true and predicted class, its
 * probability (needs r->probs). */
int eval_report_predictions(const eval_report *e, const graft_dataset *d, const char *path);
#endif
