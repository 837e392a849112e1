/* Progress of one pass over data (graft_progress): to the call's own
 * callback when it has one, else to the context's sink
 * (graft_ctx_set_progress), else nowhere. */
#ifndef GRAFT_RUNTIME_PASS_PROGRESS_H
#define GRAFT_RUNTIME_PASS_PROGRESS_H
#include "graft.h"

typedef struct pass_progress {
    graft_progress_fn fn; /* NULL: the pass is silent */
    void *user;
    const char *label;    /* borrowed for the pass */
    long total;           /* batches of the pass */
    double t0;
} pass_progress;

/* Starts a pass of total batches: fn/user when fn is set, else ctx's sink. */
void pass_progress_begin(pass_progress *p, const graft_ctx *ctx, graft_progress_fn fn, void *user,
                         const char *label, long total);
/* Reports done of total batches and the images seen so far. */
void pass_progress_report(const pass_progress *p, long done, long images);
#endif
