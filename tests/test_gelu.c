/* GELU (erf form) against a float64 reference on awkward sizes, backward by
 * finite differences and din_beta accumulation; its name and arity. */
#include "layertest.h"

static void gelu_ref_fwd(const void *uu, const double *x, double *out)
{
    size_t n = *(const size_t *)uu;
    for (size_t i = 0; i < n; i++) out[i] = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
}

static void gelu_case(graft_ctx *ctx, tu_rng *r, int n, int C, int H, int W, double *worst)
{
    graft_layer_spec spec = graft_layer_default(GRAFT_LAYER_GELU);
    layer_shape in = {C, H, W};
    layer *l = lt_layer(ctx, &spec, 1, &in);
    size_t N = (size_t)n * C * H * W;
    /* Both tails (erf saturates) and the curved middle. */
    float *x = lt_rand(r, N, -7, 6);
    lt_unary_layer_check(ctx, r, l, n, x, N, N, gelu_ref_fwd, &N, "gelu", worst);
    free(x);
}

START_TEST(gelu_matches_reference)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    tu_rng r = {412};
    double worst = 0;
    gelu_case(ctx, &r, 3, 3, 5, 7, &worst);
    gelu_case(ctx, &r, 1, 5, 1, 1, &worst);
    gelu_case(ctx, &r, 2, 13, 3, 11, &worst);
    fprintf(stderr, "gelu: worst relative error %.3g (bound %g)\n", worst, LT_BOUND);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(gelu_has_a_name_and_one_input)
{
    ck_assert_str_eq(graft_layer_kind_name(GRAFT_LAYER_GELU), "gelu");
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m;
    ck_assert(graft_model_create(ctx, &m) == GRAFT_OK);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 2, in.height = 3, in.width = 3;
    ck_assert(graft_model_add(m, "x", &in, 0, NULL, NULL) == GRAFT_OK);
    graft_layer_spec g = graft_layer_default(GRAFT_LAYER_GELU);
    int two[2] = {0, 0};
    ck_assert(graft_model_add(m, "g", &g, 2, two, NULL) == GRAFT_ERR_INVALID_ARG);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gelu");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gelu_matches_reference);
    tcase_add_test(tc, gelu_has_a_name_and_one_input);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
