/* graft evaluation and prediction: metrics of a model on labelled data,
 * class scores for image files.
 *
 * Conventions (those of graft.h): functions that take a model report
 * failures through graft_last_error(ctx) of its context; the library never
 * prints; callbacks run on the calling thread.
 */
#ifndef GRAFT_EVAL_H
#define GRAFT_EVAL_H

#include "graft.h"
#include "graft_data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ evaluation */

typedef struct graft_eval_result {
    int n, classes;      /* images; the model's outputs */
    double loss;         /* mean cross-entropy */
    double top1, top5;   /* in [0, 1] */
    int *confusion;      /* classes x classes, [true * classes + predicted]; owned */
    float *probs;        /* n x classes softmax, in dataset order, when asked; owned */
} graft_eval_result;

/* Releases what r owns and zeroes it; a zeroed result is fine. */
void graft_eval_result_free(graft_eval_result *r);

/* Runs every image of d through m in inference mode, in order, normalised
 * with mean/std (borrowed, c floats each; NULL = none), batch images at a
 * time. d's images must have m's input shape and at most m's classes
 * (GRAFT_ERR_SHAPE naming both otherwise). want_probs keeps the softmax
 * outputs. On success the caller owns *out; on failure it is zeroed. */
graft_status graft_evaluate(graft_model *m, const graft_dataset *d, const float *mean,
                            const float *std, int batch, int want_probs, graft_eval_result *out);

/* Precision, recall and F1 of a class from the confusion matrix. A class
 * without predictions (or without samples) has precision (recall) 0, as
 * scikit-learn reports it. */
typedef struct graft_class_metrics {
    double precision, recall, f1;
    long support;   /* images of the class */
    long predicted; /* images predicted as the class */
} graft_class_metrics;

/* per_class[r->classes] (caller's array); macro = unweighted mean over the
 * classes that occur in the data, weighted = weighted by support; their
 * support is the total. Any output may be NULL. */
void graft_eval_class_metrics(const graft_eval_result *r, graft_class_metrics *per_class,
                              graft_class_metrics *macro, graft_class_metrics *weighted);

/* ------------------------------------------------------------ prediction */

/* The result for one input file. Everything is borrowed for the call. */
typedef struct graft_prediction {
    int index;           /* position in the paths list */
    const char *path;
    const char *error;   /* NULL, or why the file could not be used (names the file) */
    int top;             /* entries in classes/probs; 0 when error is set */
    const int *classes;  /* most likely first; ties: lower class first */
    const float *probs;  /* softmax probabilities of those classes */
} graft_prediction;

/* Called once per file in list order (files of a batch with errors first,
 * then that batch's predictions). Non-GRAFT_OK stops the run and is
 * returned (the callback sets its own message if it wants one). */
typedef graft_status (*graft_prediction_fn)(void *user, const graft_prediction *p);

typedef struct graft_predict_config {
    int batch;               /* images per forward pass (>= 1) */
    int top;                 /* classes per image, clamped to the model's classes */
    int skip_bad;            /* report unreadable files and go on */
    const float *mean, *std; /* normalisation (borrowed); NULL = none */
} graft_predict_config;

/* Classifies the image files paths[0..n-1] (PNG or JPEG by content): each
 * is decoded to m's input
 * channels (1 or 3, else GRAFT_ERR_UNSUPPORTED), resized and centre-cropped
 * to its input size (graft_image_load) and normalised; the next batch is
 * decoded on a helper thread while one runs on the device. Every file is
 * passed to fn. A file that cannot be read is passed with error set; then,
 * unless skip_bad, the run stops after that batch's errors with
 * GRAFT_ERR_FORMAT ("stopping at a bad file"), before its predictions.
 * *nbad (may be NULL) counts the unreadable files. */
graft_status graft_predict_files(graft_model *m, const char *const *paths, int n,
                                 const graft_predict_config *cfg, graft_prediction_fn fn,
                                 void *user, int *nbad);

#ifdef __cplusplus
}
#endif
#endif
