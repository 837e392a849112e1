/* The gating activations hard_sigmoid, hard_swish and silu against float64
 * references on awkward sizes, backward by finite differences and din_beta
 * accumulation; their names, and .graft and ONNX round trips (hard_swish
 * and silu leave as a pair of ONNX nodes and come back as one layer). */
#include <unistd.h>

#include "layertest.h"

typedef struct gate_ref {
    graft_layer_kind kind;
    double alpha, beta;
    size_t n;
} gate_ref;

static double sig(double v) { return 1.0 / (1.0 + exp(-v)); }

static void gate_ref_fwd(const void *uu, const double *x, double *out)
{
    const gate_ref *u = uu;
    for (size_t i = 0; i < u->n; i++) {
        double h = fmin(1.0, fmax(0.0, u->alpha * x[i] + u->beta));
        out[i] = u->kind == GRAFT_LAYER_HARD_SIGMOID ? h
               : u->kind == GRAFT_LAYER_HARD_SWISH   ? x[i] * h
                                                     : x[i] * sig(x[i]);
    }
}

static void gate_case(graft_ctx *ctx, tu_rng *r, graft_layer_kind kind, float alpha, float beta,
                      int n, int C, int H, int W, double *worst)
{
    graft_layer_spec spec = graft_layer_default(kind);
    spec.slope = alpha;
    spec.p = beta;
    layer_shape in = {C, H, W};
    layer *l = lt_layer(ctx, &spec, 1, &in);
    size_t N = (size_t)n * C * H * W;
    gate_ref u = {kind, alpha, beta, N};
    /* Both flat parts of the hard ramps and SiLU's tails. */
    float *x = lt_rand(r, N, -9, 8);
    lt_unary_layer_check(ctx, r, l, n, x, N, N, gate_ref_fwd, &u, graft_layer_kind_name(kind), worst);
    free(x);
}

START_TEST(gates_match_reference)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    tu_rng r = {412};
    double worst = 0;
    const graft_layer_kind kinds[] = {GRAFT_LAYER_HARD_SIGMOID, GRAFT_LAYER_HARD_SWISH,
                                      GRAFT_LAYER_SILU};
    for (int k = 0; k < 3; k++) {
        /* PyTorch's ramp, ONNX's default one, and an odd one. */
        gate_case(ctx, &r, kinds[k], 1.0f / 6, 0.5f, 3, 3, 5, 7, &worst);
        gate_case(ctx, &r, kinds[k], 0.2f, 0.5f, 1, 5, 1, 1, &worst);
        gate_case(ctx, &r, kinds[k], 0.3f, 0.35f, 2, 13, 3, 11, &worst);
    }
    fprintf(stderr, "gates: worst relative error %.3g (bound %g)\n", worst, LT_BOUND);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(gates_have_names_defaults_and_one_input)
{
    ck_assert_str_eq(graft_layer_kind_name(GRAFT_LAYER_HARD_SIGMOID), "hard_sigmoid");
    ck_assert_str_eq(graft_layer_kind_name(GRAFT_LAYER_HARD_SWISH), "hard_swish");
    ck_assert_str_eq(graft_layer_kind_name(GRAFT_LAYER_SILU), "silu");
    /* PyTorch's hardsigmoid / hardswish ramp by default. */
    graft_layer_spec hs = graft_layer_default(GRAFT_LAYER_HARD_SWISH);
    ck_assert_float_eq_tol(hs.slope, 1.0f / 6, 1e-7f);
    ck_assert_float_eq(hs.p, 0.5f);
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m;
    ck_assert(graft_model_create(ctx, &m) == GRAFT_OK);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 2, in.height = 3, in.width = 3;
    ck_assert(graft_model_add(m, "x", &in, 0, NULL, NULL) == GRAFT_OK);
    int two[2] = {0, 0};
    ck_assert(graft_model_add(m, "s", &hs, 2, two, NULL) == GRAFT_ERR_INVALID_ARG);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

/* conv -> gate -> global pool -> linear survives .graft and ONNX round
 * trips with its kind, ramp and outputs. */
static void round_trip(graft_ctx *ctx, graft_layer_kind kind, float alpha, float beta)
{
    graft_model *m;
    ck_assert(graft_model_create(ctx, &m) == GRAFT_OK);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 3, in.height = 5, in.width = 6;
    graft_layer_spec cv = graft_layer_default(GRAFT_LAYER_CONV2D);
    cv.channels = 4;
    graft_layer_spec gt = graft_layer_default(kind);
    gt.slope = alpha, gt.p = beta;
    graft_layer_spec gp = graft_layer_default(GRAFT_LAYER_GLOBAL_AVGPOOL);
    graft_layer_spec fc = graft_layer_default(GRAFT_LAYER_LINEAR);
    fc.channels = 3;
    int id = 0;
    ck_assert(graft_model_add(m, "x", &in, 0, NULL, &id) == GRAFT_OK);
    ck_assert(graft_model_add(m, "conv", &cv, 1, &id, &id) == GRAFT_OK);
    ck_assert(graft_model_add(m, "gate", &gt, 1, &id, &id) == GRAFT_OK);
    ck_assert(graft_model_add(m, "pool", &gp, 1, &id, &id) == GRAFT_OK);
    ck_assert(graft_model_add(m, "fc", &fc, 1, &id, &id) == GRAFT_OK);
    tu_rng r = {5};
    float *x = lt_rand(&r, 2 * 3 * 5 * 6, -4, 4), y0[6], y1[6];
    ck_assert(graft_model_forward(m, x, 2, 0, y0) == GRAFT_OK);
    const char *t = getenv("TMPDIR");
    char path[256];
    for (int onnx = 0; onnx < 2; onnx++) {
        snprintf(path, sizeof path, "%s/graft-gates-%ld.%s", t && *t ? t : "/tmp",
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
        /* One layer again, named as before, nothing added. */
        ck_assert_int_eq(graft_model_num_nodes(back), graft_model_num_nodes(m));
        int k = graft_model_find(back, "gate");
        ck_assert_int_ge(k, 0);
        const graft_layer_spec *s = graft_model_node_spec(back, k);
        ck_assert_int_eq(s->kind, kind);
        if (kind != GRAFT_LAYER_SILU) {
            ck_assert_float_eq(s->slope, alpha);
            ck_assert_float_eq(s->p, beta);
        }
        ck_assert(graft_model_forward(back, x, 2, 0, y1) == GRAFT_OK);
        for (int i = 0; i < 6; i++) ck_assert_float_eq(y0[i], y1[i]);
        graft_model_free(back);
    }
    free(x);
    graft_model_free(m);
}

START_TEST(gates_round_trip)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    round_trip(ctx, GRAFT_LAYER_HARD_SIGMOID, 0.2f, 0.5f);
    round_trip(ctx, GRAFT_LAYER_HARD_SWISH, 1.0f / 6, 0.5f);
    round_trip(ctx, GRAFT_LAYER_HARD_SWISH, 0.25f, 0.4f);
    round_trip(ctx, GRAFT_LAYER_SILU, 0, 0);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gates");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gates_match_reference);
    tcase_add_test(tc, gates_have_names_defaults_and_one_input);
    tcase_add_test(tc, gates_round_trip);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
