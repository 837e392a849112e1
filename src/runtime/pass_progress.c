#include "pass_progress.h"

#include "clock.h"
#include "ctx.h"

void pass_progress_begin(pass_progress *p, const graft_ctx *ctx, graft_progress_fn fn, void *user,
                         const char *label, long total)
{
    p->fn = fn ? fn : ctx ? ctx->progress : NULL;
    p->user = fn ? user : ctx ? ctx->progress_user : NULL;
    p->label = label;
    p->total = total;
    p->t0 = now_seconds();
}

void pass_progress_report(const pass_progress *p, long done, long images)
{
    if (!p->fn) return;
    double el = now_seconds() - p->t0;
    graft_progress g = {p->label, 0, 0, done, p->total, images, -1, -1,
                        images / (el > 0 ? el : 1e-9), el};
    p->fn(p->user, &g);
}
