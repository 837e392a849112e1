/* Learning-rate schedules: a pure function of the step number, so a
 * resumed run continues exactly where it stopped. */
#include <math.h>

#include "graft.h"

#define PI 3.14159265358979323846

/* OneCycle's start and end, as in the usual formulation: max/25, then
 * start/1e4 at the end. */
#define ONECYCLE_DIV 25.0
#define ONECYCLE_FINAL_DIV 1e4

static double cos_anneal(double from, double to, double frac)
{
    if (frac < 0) frac = 0;
    if (frac > 1) frac = 1;
    return to + (from - to) * 0.5 * (1.0 + cos(PI * frac));
}

float graft_schedule_lr(const graft_opt_params *p, long step)
{
    double lr = p->lr;
    if (step < 0) step = 0;
    switch (p->schedule) {
    case GRAFT_SCHED_STEP:
        if (p->step_size > 0) lr *= pow(p->gamma, (double)(step / p->step_size));
        break;
    case GRAFT_SCHED_COSINE:
        if (p->total_steps > 0)
            lr = cos_anneal(p->lr, p->lr * p->min_factor, (double)step / (double)p->total_steps);
        break;
    case GRAFT_SCHED_ONECYCLE:
        if (p->total_steps > 0) {
            double start = p->lr / ONECYCLE_DIV, end = start / ONECYCLE_FINAL_DIV;
            double up = p->pct_start * (double)p->total_steps;
            if ((double)step < up)
                lr = cos_anneal(start, p->lr, (double)step / up);
            else
                lr = cos_anneal(p->lr, end, ((double)step - up) / ((double)p->total_steps - up));
        }
        break;
    case GRAFT_SCHED_CONSTANT:
    default:
        break;
    }
    if (p->warmup_steps > 0 && step < p->warmup_steps)
        lr *= (double)(step + 1) / (double)p->warmup_steps;
    return (float)lr;
}

graft_opt_params graft_opt_default_params(graft_opt_kind kind)
{
    graft_opt_params p = {0};
    p.kind = kind;
    p.lr = kind == GRAFT_OPT_ADAMW ? 1e-3f : 0.05f;
    p.momentum = 0.9f;
    p.nesterov = 0;
    p.weight_decay = kind == GRAFT_OPT_ADAMW ? 0.01f : 5e-4f;
    p.beta1 = 0.9f;
    p.beta2 = 0.999f;
    p.eps = 1e-8f;
    p.schedule = GRAFT_SCHED_CONSTANT;
    p.gamma = 0.1f;
    p.min_factor = 0.0f;
    p.pct_start = 0.3f;
    return p;
}
