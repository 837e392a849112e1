/* Where a training step went non-finite. Called only after the loss read
 * back each step came out NaN or infinite, so the per-layer scan costs
 * nothing on healthy steps. */
#ifndef GRAFT_TRANSFER_DIVERGENCE_H
#define GRAFT_TRANSFER_DIVERGENCE_H
#include <stddef.h>

#include "graft.h"

/* Writes "output of layer 'conv2' (node 3)", "gradient of conv2.weight"
 * or "weights of conv2.weight" for the first node, in graph order, whose
 * output of the last forward is non-finite, else the first parameter
 * whose gradient or value is; "no single layer" when none is found. */
void divergence_locate(graft_model *m, char *where, size_t len);
/* Once per epoch: 1 (and "weights conv1.weight" or "running statistics
 * conv2.bn.running_var" in where) when a stored tensor holds a non-finite
 * value although every loss was finite (an overflowing gradient or
 * variance), else 0. */
int divergence_scan_params(graft_model *m, char *where, size_t len);
/* A skipped step's forward pass still folded its non-finite batch into
 * the running statistics (BatchNorm): resets those non-finite entries to
 * the initial values (mean 0, variance 1). */
graft_status divergence_repair_running_stats(graft_model *m);
#endif
