/* Sigmoid against a float64 reference on awkward sizes, backward by finite
 * differences and din_beta accumulation; its .graft and ONNX names. */
#include <unistd.h>

#include "layertest.h"

static void sig_ref_fwd(const void *uu, const double *x, double *out)
{
    size_t n = *(const size_t *)uu;
    for (size_t i = 0; i < n; i++) out[i] = 1.0 / (1.0 + exp(-x[i]));
}

static void sig_case(graft_ctx *ctx, tu_rng *r, int n, int C, int H, int W, double *worst)
{
    graft_layer_spec spec = graft_layer_default(GRAFT_LAYER_SIGMOID);
    layer_shape in = {C, H, W};
    layer *l = lt_layer(ctx, &spec, 1, &in);
    size_t N = (size_t)n * C * H * W;
    /* Wide enough to reach both tails, where 1 - s(x) is tiny. */
    float *x = lt_rand(r, N, -12, 11);
    lt_unary_layer_check(ctx, r, l, n, x, N, N, sig_ref_fwd, &N, "sigmoid", worst);
    free(x);
}

START_TEST(sigmoid_matches_reference)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    tu_rng r = {311};
    double worst = 0;
    sig_case(ctx, &r, 3, 3, 5, 7, &worst);
    sig_case(ctx, &r, 1, 5, 1, 1, &worst);
    sig_case(ctx, &r, 2, 13, 3, 11, &worst);
    fprintf(stderr, "sigmoid: worst relative error %.3g (bound %g)\n", worst, LT_BOUND);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(sigmoid_has_a_name_and_one_input)
{
    ck_assert_str_eq(graft_layer_kind_name(GRAFT_LAYER_SIGMOID), "sigmoid");
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m;
    ck_assert(graft_model_create(ctx, &m) == GRAFT_OK);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 2, in.height = 3, in.width = 3;
    ck_assert(graft_model_add(m, "x", &in, 0, NULL, NULL) == GRAFT_OK);
    graft_layer_spec sg = graft_layer_default(GRAFT_LAYER_SIGMOID);
    int two[2] = {0, 0};
    ck_assert(graft_model_add(m, "s", &sg, 2, two, NULL) == GRAFT_ERR_INVALID_ARG);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

/* conv -> sigmoid -> global pool -> linear survives .graft and ONNX round
 * trips with its outputs. */
START_TEST(sigmoid_round_trips)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m;
    ck_assert(graft_model_create(ctx, &m) == GRAFT_OK);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 3, in.height = 5, in.width = 6;
    graft_layer_spec cv = graft_layer_default(GRAFT_LAYER_CONV2D);
    cv.channels = 4;
    graft_layer_spec sg = graft_layer_default(GRAFT_LAYER_SIGMOID);
    graft_layer_spec gp = graft_layer_default(GRAFT_LAYER_GLOBAL_AVGPOOL);
    graft_layer_spec fc = graft_layer_default(GRAFT_LAYER_LINEAR);
    fc.channels = 3;
    int id = 0;
    ck_assert(graft_model_add(m, "x", &in, 0, NULL, &id) == GRAFT_OK);
    ck_assert(graft_model_add(m, "conv", &cv, 1, &id, &id) == GRAFT_OK);
    ck_assert(graft_model_add(m, "sig", &sg, 1, &id, &id) == GRAFT_OK);
    ck_assert(graft_model_add(m, "pool", &gp, 1, &id, &id) == GRAFT_OK);
    ck_assert(graft_model_add(m, "fc", &fc, 1, &id, &id) == GRAFT_OK);
    tu_rng r = {5};
    float *x = lt_rand(&r, 2 * 3 * 5 * 6, -2, 2), y0[6], y1[6];
    ck_assert(graft_model_forward(m, x, 2, 0, y0) == GRAFT_OK);
    const char *t = getenv("TMPDIR");
    char path[256];
    for (int onnx = 0; onnx < 2; onnx++) {
        snprintf(path, sizeof path, "%s/graft-sigmoid-%ld.%s", t && *t ? t : "/tmp",
                 (long)getpid(), onnx ? "onnx" : "graft");
        graft_model *back = NULL;
        if (onnx) {
            ck_assert_msg(graft_onnx_export(m, path, 0) == GRAFT_OK, "%s", graft_last_error(ctx));
            ck_assert_msg(graft_onnx_import(ctx, path, &back, NULL, 0) == GRAFT_OK, "%s",
                          graft_last_error(ctx));
        } else {
            ck_assert_msg(graft_model_save(m, NULL, path) == GRAFT_OK, "%s", graft_last_error(ctx));
            ck_assert_msg(graft_model_load(ctx, path, &back, NULL) == GRAFT_OK, "%s",
                          graft_last_error(ctx));
        }
        unlink(path);
        int k = graft_model_find(back, "sig");
        ck_assert_int_ge(k, 0);
        ck_assert(graft_model_node_spec(back, k)->kind == GRAFT_LAYER_SIGMOID);
        ck_assert(graft_model_forward(back, x, 2, 0, y1) == GRAFT_OK);
        for (int i = 0; i < 6; i++) ck_assert(fabs(y0[i] - y1[i]) <= 1e-5 * (1 + fabs(y0[i])));
        graft_model_free(back);
    }
    free(x);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sigmoid");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sigmoid_matches_reference);
    tcase_add_test(tc, sigmoid_has_a_name_and_one_input);
    tcase_add_test(tc, sigmoid_round_trips);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
