/* Synchronised BatchNorm (data parallel --sync-bn): the per-channel
 * statistics of a training forward and the sums of its backward, combined
 * over every replica through layer.sync, so that each replica normalises
 * by the statistics of the whole global batch. */
#ifndef GRAFT_BATCHNORM_SYNC_H
#define GRAFT_BATCHNORM_SYNC_H
#include "layer.h"

/* Whether l synchronises in this step. */
int bn_sync_now(const layer *l);
/* After the local statistics kernel (run without updating the running
 * statistics) on n samples: mean and invstd become those of the global
 * batch, and the running statistics are updated with them. */
graft_status bn_sync_stats(graft_ctx *ctx, layer *l, int n, cl_mem mean, cl_mem invstd);
/* After the backward reduction: sums (2C: sum dy, sum dy*xhat) become the
 * global batch's, each replica's weighted by its share, so that the local
 * dx kernel (which divides by the local count) gives this replica's part
 * of the global gradient in its own loss scale. */
graft_status bn_sync_sums(graft_ctx *ctx, layer *l, cl_mem sums);
#endif
