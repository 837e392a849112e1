/* Softmax cross-entropy loss on device logits (not a layer: the model calls
 * it between forward and backward). */
#ifndef GRAFT_LOSS_H
#define GRAFT_LOSS_H
#include "ctx.h"

/* logits: n x classes. labels: host array of n values in [0, classes).
 * Target distribution (1-s)*onehot + s/classes. Writes dlogits (n x classes,
 * gradient of the MEAN loss), *loss_mean and *correct (arg-max hits; ties go
 * to the lowest index). Uses scratch slot 5. Blocks until the per-sample
 * results are read back. A bad label returns GRAFT_ERR_INVALID_ARG. */
graft_status loss_softmax_ce(graft_ctx *ctx, cl_mem logits, const int *labels, int n, int classes,
                             float smoothing, cl_mem dlogits, float *loss_mean, int *correct);
#endif
