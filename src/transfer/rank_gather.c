/* Gathering each rank's rows onto every rank: see rank_gather.h. */
#include "rank_gather.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

void rank_share(int n, int rank, int size, int *lo, int *hi)
{
    *lo = (int)((long)n * rank / size);
    *hi = (int)((long)n * (rank + 1) / size);
}

/* Sums of at most this many floats per call (the size MPI's int counts and
 * the gradient buckets also keep to). */
#define GATHER_CHUNK ((size_t)1 << 20)

graft_status rank_gather_rows(const graft_collective *c, float *all, int n, size_t row_floats,
                              char *err, size_t errlen)
{
    int lo, hi;
    rank_share(n, c->rank, c->size, &lo, &hi);
    char msg[512] = "";
    graft_status s;
    if (c->allgatherv) {
        int *rows = malloc(sizeof *rows * (size_t)c->size);
        if (!rows) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
        for (int r = 0; r < c->size; r++) {
            int a, b;
            rank_share(n, r, c->size, &a, &b);
            rows[r] = b - a;
        }
        s = c->allgatherv(c->user, all, rows, row_floats, msg, sizeof msg);
        free(rows);
    } else {
        /* Zeros outside this rank's rows, then sums: each float is one
         * rank's value plus zeros, so the bits arrive unchanged (a -0.0
         * becomes +0.0). */
        size_t total = (size_t)n * row_floats;
        memset(all, 0, (size_t)lo * row_floats * sizeof *all);
        memset(all + (size_t)hi * row_floats, 0, (total - (size_t)hi * row_floats) * sizeof *all);
        s = GRAFT_OK;
        for (size_t at = 0; s == GRAFT_OK && at < total; at += GATHER_CHUNK) {
            size_t k = total - at < GATHER_CHUNK ? total - at : GATHER_CHUNK;
            s = c->allreduce_sum(c->user, all + at, k, msg, sizeof msg);
        }
    }
    if (s != GRAFT_OK)
        return error_set(err, errlen, s, "rank %d: gathering the features of %d ranks: %s",
                         c->rank, c->size, msg[0] ? msg : graft_status_name(s));
    return GRAFT_OK;
}
