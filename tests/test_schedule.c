/* Learning-rate schedules at their boundaries, against closed forms. */
#include <math.h>

#include "testutil.h"

#define PI 3.14159265358979323846
#define NEAR(a, b) ck_assert_msg(fabs((double)(a) - (double)(b)) <= 1e-6 * (1 + fabs((double)(b))), \
                                 "%s = %.9g, expected %.9g", #a, (double)(a), (double)(b))

START_TEST(constant_and_warmup)
{
    graft_opt_params p = graft_opt_default_params(GRAFT_OPT_SGD);
    p.lr = 0.2f;
    NEAR(graft_schedule_lr(&p, 0), 0.2);
    NEAR(graft_schedule_lr(&p, 100000), 0.2);
    p.warmup_steps = 4;
    NEAR(graft_schedule_lr(&p, 0), 0.05);
    NEAR(graft_schedule_lr(&p, 3), 0.2);
    NEAR(graft_schedule_lr(&p, 4), 0.2);
}
END_TEST

START_TEST(step_schedule)
{
    graft_opt_params p = graft_opt_default_params(GRAFT_OPT_SGD);
    p.lr = 1.0f;
    p.schedule = GRAFT_SCHED_STEP;
    p.step_size = 10;
    p.gamma = 0.5f;
    NEAR(graft_schedule_lr(&p, 9), 1.0);
    NEAR(graft_schedule_lr(&p, 10), 0.5);
    NEAR(graft_schedule_lr(&p, 29), 0.25);
    NEAR(graft_schedule_lr(&p, 30), 0.125);
}
END_TEST

START_TEST(cosine_schedule)
{
    graft_opt_params p = graft_opt_default_params(GRAFT_OPT_SGD);
    p.lr = 0.1f;
    p.schedule = GRAFT_SCHED_COSINE;
    p.total_steps = 100;
    p.min_factor = 0.01f;
    NEAR(graft_schedule_lr(&p, 0), 0.1);
    NEAR(graft_schedule_lr(&p, 50), 0.001 + 0.099 * 0.5);
    NEAR(graft_schedule_lr(&p, 100), 0.001);
    NEAR(graft_schedule_lr(&p, 1000), 0.001); /* clamps past the end */
    NEAR(graft_schedule_lr(&p, 25), 0.001 + 0.099 * 0.5 * (1 + cos(PI * 0.25)));
}
END_TEST

START_TEST(onecycle_schedule)
{
    graft_opt_params p = graft_opt_default_params(GRAFT_OPT_SGD);
    p.lr = 1.0f;
    p.schedule = GRAFT_SCHED_ONECYCLE;
    p.total_steps = 100;
    p.pct_start = 0.3f;
    NEAR(graft_schedule_lr(&p, 0), 1.0 / 25);
    NEAR(graft_schedule_lr(&p, 30), 1.0); /* the peak at the end of the rise */
    NEAR(graft_schedule_lr(&p, 100), 1.0 / 25 / 1e4);
    ck_assert(graft_schedule_lr(&p, 15) > graft_schedule_lr(&p, 10));
    ck_assert(graft_schedule_lr(&p, 60) < graft_schedule_lr(&p, 40));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("schedule");
    TCase *tc = tcase_create("schedule");
    tcase_add_test(tc, constant_and_warmup);
    tcase_add_test(tc, step_schedule);
    tcase_add_test(tc, cosine_schedule);
    tcase_add_test(tc, onecycle_schedule);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
