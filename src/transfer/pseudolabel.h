/* Pseudo-label selection for self-training on an unlabelled pool: keep the
 * confident predictions, at most a fixed number per class. */
#ifndef GRAFT_PSEUDOLABEL_H
#define GRAFT_PSEUDOLABEL_H
#include <stddef.h>

#include "graft.h"

typedef struct pseudolabel_result {
    int n;              /* selected samples */
    int *indices;       /* n pool indices, ascending */
    int *labels;        /* n labels (arg-max class; lowest class on ties) */
    float *confidence;  /* n max probabilities */
    int nclasses;
    int *per_class;     /* nclasses counts of selected samples */
} pseudolabel_result;

/* P: n x nclasses probabilities, row-major (borrowed, all finite). Sample i
 * is a candidate when max_c P[i,c] >= threshold (threshold in [0, 1];
 * 1.0 keeps only rows with a probability of exactly 1). Per class at most
 * per_class_cap candidates are kept: the most confident, and among equal
 * confidences the lowest index. per_class_cap == 0 means no cap; a negative
 * cap is an error. The result is deterministic and may be empty (n == 0,
 * arrays still allocated). n == 0 pools are allowed (P may then be NULL).
 * On success the caller owns *out (pseudolabel_result_free); on failure
 * *out is zeroed and err (may be NULL) says why. */
graft_status pseudolabel_select(const float *P, int n, int nclasses, float threshold,
                                int per_class_cap, pseudolabel_result *out, char *err,
                                size_t errlen);

/* Releases what r owns and zeroes it; NULL and zeroed results are fine. */
void pseudolabel_result_free(pseudolabel_result *r);
#endif
