/* Gathering rows computed by each rank (a share of a dataset's feature
 * vectors, say) so that every rank holds all of them: the collective's
 * allgatherv when it offers one, else sums of zeros around each rank's
 * rows (exact: x + 0 == x). */
#ifndef GRAFT_TRANSFER_RANK_GATHER_H
#define GRAFT_TRANSFER_RANK_GATHER_H
#include <stddef.h>

#include "graft.h"
#include "graft_train.h"

/* The contiguous share [*lo, *hi) of n items that rank `rank` of `size`
 * takes (the same split as the per-epoch evaluation's). */
void rank_share(int n, int rank, int size, int *lo, int *hi);

/* all holds n rows of row_floats floats, this rank's share (rank_share)
 * at its place; on return every rank's share is there on every rank.
 * Every rank must call it with the same n and row_floats. On an error of
 * the collective err says so (prefixed with the rank); the caller reports
 * it in its next status round. */
graft_status rank_gather_rows(const graft_collective *c, float *all, int n, size_t row_floats,
                              char *err, size_t errlen);
#endif
