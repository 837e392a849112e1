/* Optimizer steps against values computed by hand on the host from the
 * same gradients, over several steps (momentum/moment state matters). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* input(5,1,1) -> fc(3) with bias. */
static graft_model *linear_model(graft_ctx *ctx)
{
    graft_model *m;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 5;
    in.height = in.width = 1;
    ck_assert_int_eq(graft_model_add(m, "input", &in, 0, NULL, NULL), GRAFT_OK);
    graft_layer_spec fc = graft_layer_default(GRAFT_LAYER_LINEAR);
    fc.channels = 3;
    fc.bias = 1;
    int zero = 0;
    ck_assert_int_eq(graft_model_add(m, "fc", &fc, 1, &zero, NULL), GRAFT_OK);
    return m;
}

static void run(graft_opt_kind kind, int nesterov)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m = linear_model(ctx);
    graft_opt_params p = graft_opt_default_params(kind);
    p.lr = 0.1f;
    p.weight_decay = 0.05f;
    p.nesterov = nesterov;
    graft_optimizer *o;
    ck_assert_int_eq(graft_optimizer_create(m, &p, &o), GRAFT_OK);
    ck_assert_int_eq(graft_model_num_params(m), 2);
    double w[2][15], st1[2][15] = {{0}}, st2[2][15] = {{0}};
    size_t cnt[2] = {graft_model_param_numel(m, 0), graft_model_param_numel(m, 1)};
    ck_assert_uint_eq(cnt[0], 15);
    ck_assert_uint_eq(cnt[1], 3);
    float buf[15], g[15];
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(graft_model_param_get(m, i, buf, cnt[i]), GRAFT_OK);
        for (size_t k = 0; k < cnt[i]; k++) w[i][k] = buf[k];
    }
    float x[2 * 5];
    tu_rng r = {9};
    int y[2] = {2, 0};
    for (int step = 1; step <= 3; step++) {
        tu_fill(&r, x, 10, -1, 1);
        ck_assert_int_eq(graft_model_forward(m, x, 2, 1, NULL), GRAFT_OK);
        ck_assert_int_eq(graft_model_backward(m, y, 0.0f, NULL, NULL), GRAFT_OK);
        for (int i = 0; i < 2; i++) {
            ck_assert_int_eq(graft_model_param_grad(m, i, g, cnt[i]), GRAFT_OK);
            double wd = i == 0 ? p.weight_decay : 0.0; /* weights only */
            for (size_t k = 0; k < cnt[i]; k++) {
                double gk = g[k];
                if (kind == GRAFT_OPT_SGD) {
                    double d = gk + wd * w[i][k];
                    st1[i][k] = p.momentum * st1[i][k] + d;
                    d = nesterov ? d + p.momentum * st1[i][k] : st1[i][k];
                    w[i][k] -= p.lr * d;
                } else {
                    st1[i][k] = p.beta1 * st1[i][k] + (1 - p.beta1) * gk;
                    st2[i][k] = p.beta2 * st2[i][k] + (1 - p.beta2) * gk * gk;
                    double mh = st1[i][k] / (1 - pow(p.beta1, step));
                    double vh = st2[i][k] / (1 - pow(p.beta2, step));
                    w[i][k] = w[i][k] * (1 - p.lr * wd) - p.lr * mh / (sqrt(vh) + p.eps);
                }
            }
        }
        ck_assert_int_eq(graft_optimizer_step(o), GRAFT_OK);
        for (int i = 0; i < 2; i++) {
            ck_assert_int_eq(graft_model_param_get(m, i, buf, cnt[i]), GRAFT_OK);
            double e = tu_rel_err(buf, w[i], cnt[i]);
            ck_assert_msg(e < 1e-5, "step %d param %d: relative error %g", step, i, e);
        }
    }
    ck_assert_int_eq(graft_optimizer_steps(o), 3);
    graft_optimizer_free(o);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}

START_TEST(sgd_momentum_steps) { run(GRAFT_OPT_SGD, 0); }
END_TEST
START_TEST(sgd_nesterov_steps) { run(GRAFT_OPT_SGD, 1); }
END_TEST
START_TEST(adamw_steps) { run(GRAFT_OPT_ADAMW, 0); }
END_TEST

START_TEST(lr_multiplier_and_bad_params)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m = linear_model(ctx);
    ck_assert_int_eq(graft_model_set_lr_mult(m, 1, 0.0f), GRAFT_OK);
    ck_assert_int_eq(graft_model_set_lr_mult(m, 1, -1.0f), GRAFT_ERR_INVALID_ARG);
    ck_assert_int_eq(graft_model_set_lr_mult(m, 9, 1.0f), GRAFT_ERR_INVALID_ARG);
    graft_opt_params p = graft_opt_default_params(GRAFT_OPT_SGD);
    graft_optimizer *o;
    p.momentum = 1.5f;
    ck_assert_int_eq(graft_optimizer_create(m, &p, &o), GRAFT_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(graft_last_error(ctx), "momentum"));
    p = graft_opt_default_params(GRAFT_OPT_SGD);
    ck_assert_int_eq(graft_optimizer_create(m, &p, &o), GRAFT_OK);
    float w0[15], w1[15], x[5] = {1, -2, 3, 0.5f, 1};
    int y = 1;
    graft_model_param_get(m, 0, w0, 15);
    graft_model_forward(m, x, 1, 1, NULL);
    graft_model_backward(m, &y, 0.1f, NULL, NULL);
    graft_optimizer_step(o);
    graft_model_param_get(m, 0, w1, 15);
    ck_assert(memcmp(w0, w1, sizeof w0) == 0); /* lr multiplier 0 */
    graft_optimizer_free(o);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("optim");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, sgd_momentum_steps);
    tcase_add_test(tc, sgd_nesterov_steps);
    tcase_add_test(tc, adamw_steps);
    tcase_add_test(tc, lr_multiplier_and_bad_params);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
