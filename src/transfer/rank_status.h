/* How the ranks of a data parallel run agree to stop (docs/parallel.md):
 * every collective phase of a step (a synchronised BatchNorm sum, the
 * gradient sum, the evaluation sums, the end of the run) opens with one
 * status round of the same size on every rank: a few summed values and one
 * failure flag per rank. A rank that fails anywhere makes exactly one more
 * status round, with its flag raised, whatever phase the others are in;
 * they are in some status round too, so the counts match, every rank sees
 * the flag in the same round, and all stop without MPI_Abort. */
#ifndef GRAFT_TRANSFER_RANK_STATUS_H
#define GRAFT_TRANSFER_RANK_STATUS_H
#include <stddef.h>

#include "graft.h"
#include "graft_train.h"

/* Values a status round can carry before the flags. */
#define RANK_STATUS_VALUES 3

typedef struct rank_status {
    const graft_collective *comm; /* borrowed; NULL: one process, rounds are no-ops */
    int announced;                /* a round has shown a failure: no more rounds */
    float *buf;                   /* RANK_STATUS_VALUES + comm->size floats */
    size_t n;
    char msg[256];                /* why the ranks stopped, when another rank failed */
} rank_status;

/* comm may be NULL or of size 1 (then every round returns its local
 * status at once). Free with rank_status_free. */
graft_status rank_status_init(rank_status *rs, const graft_collective *comm, char *err,
                              size_t errlen);
void rank_status_free(rank_status *rs);

/* Whether rounds are collective (more than one rank). */
int rank_status_active(const rank_status *rs);

/* One status round: vals[0..nvals) (nvals <= RANK_STATUS_VALUES; may be
 * NULL with 0) are summed over the ranks in place, and local (this rank's
 * status; its message already in err) raises this rank's flag. Returns
 * local when it failed; otherwise GRAFT_ERR_INTERNAL "rank R of N failed
 * ... every rank stops" when another rank's flag is up, else GRAFT_OK.
 * After a round that showed a failure (or failed itself) the ranks make no
 * more rounds: later calls return at once. */
graft_status rank_status_round(rank_status *rs, graft_status local, float *vals, int nvals,
                               char *err, size_t errlen);

/* The round a failing rank owes the others (local != GRAFT_OK), or the
 * closing round of a run that ends (local == GRAFT_OK): nothing when a
 * round already showed a failure. Returns what rank_status_round does. */
graft_status rank_status_finish(rank_status *rs, graft_status local, char *err, size_t errlen);
#endif
