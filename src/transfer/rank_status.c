/* Status rounds of a data parallel run: see rank_status.h. */
#include "rank_status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

graft_status rank_status_init(rank_status *rs, const graft_collective *comm, char *err,
                              size_t errlen)
{
    memset(rs, 0, sizeof *rs);
    if (!comm || comm->size <= 1) return GRAFT_OK;
    rs->comm = comm;
    rs->n = RANK_STATUS_VALUES + (size_t)comm->size;
    rs->buf = calloc(rs->n, sizeof *rs->buf);
    if (!rs->buf) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    return GRAFT_OK;
}

void rank_status_free(rank_status *rs)
{
    free(rs->buf);
    memset(rs, 0, sizeof *rs);
}

int rank_status_active(const rank_status *rs) { return rs->comm != NULL; }

graft_status rank_status_round(rank_status *rs, graft_status local, float *vals, int nvals,
                               char *err, size_t errlen)
{
    if (!rs->comm || rs->announced) return local;
    const graft_collective *c = rs->comm;
    memset(rs->buf, 0, rs->n * sizeof *rs->buf);
    for (int k = 0; k < nvals && k < RANK_STATUS_VALUES; k++) rs->buf[k] = vals[k];
    if (local != GRAFT_OK) rs->buf[RANK_STATUS_VALUES + c->rank] = 1;
    char msg[512] = "";
    graft_status cs = c->allreduce_sum(c->user, rs->buf, rs->n, msg, sizeof msg);
    if (cs != GRAFT_OK) {
        /* The sums cannot be trusted: nothing more goes over the wire. */
        rs->announced = 1;
        if (local != GRAFT_OK) return local;
        return error_set(err, errlen, cs, "rank %d: status round over %d ranks: %s", c->rank,
                         c->size, msg[0] ? msg : graft_status_name(cs));
    }
    for (int q = 0; q < c->size; q++)
        if (rs->buf[RANK_STATUS_VALUES + q] != 0) {
            rs->announced = 1;
            if (c->on_stop) c->on_stop(c->user);
            if (local != GRAFT_OK) return local;
            snprintf(rs->msg, sizeof rs->msg,
                     "rank %d of %d failed (its own message says why); every rank stops", q,
                     c->size);
            return error_set(err, errlen, GRAFT_ERR_INTERNAL, "%s", rs->msg);
        }
    if (local != GRAFT_OK) return local; /* not reached: our own flag is up */
    for (int k = 0; k < nvals && k < RANK_STATUS_VALUES; k++) vals[k] = rs->buf[k];
    return GRAFT_OK;
}

graft_status rank_status_finish(rank_status *rs, graft_status local, char *err, size_t errlen)
{
    return rank_status_round(rs, local, NULL, 0, err, errlen);
}
