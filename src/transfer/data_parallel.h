/* Synchronous data parallel training step (docs/parallel.md): replicas of a
 * model on other devices of this process and, through graft_collective,
 * other processes. Each computes the gradients of its slice of the global
 * batch; the slices' gradients are summed on the host, weighted by slice
 * size, into the primary model's gradient buffers, so that one optimizer
 * step on the primary equals a step on the whole batch. */
#ifndef GRAFT_TRANSFER_DATA_PARALLEL_H
#define GRAFT_TRANSFER_DATA_PARALLEL_H
#include <stddef.h>

#include "graft.h"
#include "graft_train.h"
#include "rank_status.h"

typedef struct data_parallel data_parallel;

/* Whether cfg asks for more than the plain single-device loop. */
int data_parallel_wanted(const graft_train_config *cfg);

/* Opens cfg->devices[1..] and copies m (graph, weights, trainable flags,
 * BatchNorm policy) onto each. status (borrowed, outlives dp) holds the
 * collective of the ranks when there are several: each step's gradient
 * sum and each synchronised BatchNorm sum open with one of its rounds.
 * Caller owns *out (data_parallel_free), which must be freed before m. */
graft_status data_parallel_create(graft_model *m, const graft_train_config *cfg,
                                  rank_status *status, data_parallel **out, char *err,
                                  size_t errlen);
void data_parallel_free(data_parallel *dp);

/* Copies the primary's parameters, running statistics, trainable flags
 * and BatchNorm policy to the replicas (at the start of every epoch, as an
 * epoch callback may have changed any of them). */
graft_status data_parallel_sync(data_parallel *dp, char *err, size_t errlen);

/* One step's forward and backward over the global batch x[n], y[n]: this
 * process's share (rank slice) is split over the replicas, run
 * concurrently, and the summed gradients land in the primary's gradient
 * buffers. *loss is the global batch's mean loss, *correct its hits (summed
 * over every rank). A failure on this rank or (through the status rounds)
 * on another ends the step on every rank with an error; the failing rank
 * keeps its own message, the others name it. *stop is this process's stop request on entry and on
 * return whether any rank asked, so that all stop after the same step.
 * The caller then steps the primary's optimizer and calls
 * data_parallel_stepped. */
graft_status data_parallel_backward(data_parallel *dp, const float *x, const int *y, int n,
                                    float label_smoothing, float *loss, int *correct, int *stop,
                                    char *err, size_t errlen);

/* After the optimizer step: the replicas take the new weights before their
 * next forward pass. */
void data_parallel_stepped(data_parallel *dp);

/* Whether dp spans processes (stop requests are then agreed in the sum). */
int data_parallel_has_ranks(const data_parallel *dp);

/* Whether this process writes files (rank 0, or no collective). */
int data_parallel_writes_files(const graft_train_config *cfg);
#endif
