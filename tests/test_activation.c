/* ReLU, ReLU6 and leaky ReLU against float64 references; backward by
 * finite differences and din_beta accumulation. */
#include "layertest.h"

typedef struct act_ref {
    graft_layer_kind kind;
    double slope;
    size_t n;
} act_ref;

static void act_ref_fwd(const void *uu, const double *x, double *out)
{
    const act_ref *u = uu;
    for (size_t i = 0; i < u->n; i++) {
        double v = x[i];
        if (u->kind == GRAFT_LAYER_RELU) v = v > 0 ? v : 0;
        else if (u->kind == GRAFT_LAYER_RELU6) v = v < 0 ? 0 : v > 6 ? 6 : v;
        else v = v > 0 ? v : u->slope * v;
        out[i] = v;
    }
}

static void act_case(graft_ctx *ctx, tu_rng *r, graft_layer_kind kind, int n, int C, int H, int W,
                     double *worst)
{
    graft_layer_spec spec = graft_layer_default(kind);
    spec.slope = 0.13f;
    layer_shape in = {C, H, W};
    layer *l = lt_layer(ctx, &spec, 1, &in);
    size_t N = (size_t)n * C * H * W;
    /* [-8, 9] reaches both ReLU6 knees; FD steps (1e-6) never cross a kink
     * for this data. */
    float *x = lt_rand(r, N, -8, 9);
    act_ref u = {kind, spec.slope, N};
    lt_unary_layer_check(ctx, r, l, n, x, N, N, act_ref_fwd, &u, "activation", worst);
    free(x);
}

START_TEST(activations_match_reference)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    tu_rng r = {202};
    double worst = 0;
    graft_layer_kind kinds[] = {GRAFT_LAYER_RELU, GRAFT_LAYER_RELU6, GRAFT_LAYER_LEAKY_RELU};
    for (int k = 0; k < 3; k++) {
        act_case(ctx, &r, kinds[k], 3, 3, 5, 7, &worst);
        act_case(ctx, &r, kinds[k], 1, 5, 1, 1, &worst);
    }
    fprintf(stderr, "activation: worst relative error %.3g (bound %g)\n", worst, LT_BOUND);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("activation");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, activations_match_reference);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
