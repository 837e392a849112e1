/* The two-input product layer (mul) against a float64 reference, with the
 * second operand of the first's shape or one value per channel
 * (squeeze-excitation), on awkward sizes: forward, both input gradients by
 * central finite differences, din_beta accumulation; shape checks, x * x in
 * a model, and .graft and ONNX round trips. */
#include <unistd.h>

#include "layertest.h"

/* Variables: a (n values) then b (n / S values). */
typedef struct mul_ref {
    size_t n;
    int S;
} mul_ref;

static void mul_ref_fwd(const void *uu, const double *x, double *out)
{
    const mul_ref *u = uu;
    for (size_t i = 0; i < u->n; i++) out[i] = x[i] * x[u->n + i / (size_t)u->S];
}

static void mul_case(graft_ctx *ctx, tu_rng *r, int n, int C, int H, int W, int per_channel,
                     double *worst)
{
    graft_layer_spec spec = graft_layer_default(GRAFT_LAYER_MUL);
    layer_shape in[2] = {{C, H, W}, {C, per_channel ? 1 : H, per_channel ? 1 : W}};
    layer *l = lt_layer(ctx, &spec, 2, in);
    size_t NA = (size_t)n * C * H * W, NB = (size_t)n * shape_numel(in[1]);
    mul_ref u = {NA, per_channel ? H * W : 1};
    float *x = lt_rand(r, NA + NB, -2, 2), *R = lt_rand(r, NA, -1, 1);
    float *base = lt_rand(r, NA + NB, -1, 1);
    double *v = lt_to_double(x, NA + NB), *dR = lt_to_double(R, NA);
    double *ref = lt_malloc(NA * sizeof *ref), *g = lt_malloc((NA + NB) * sizeof *g);
    cl_mem a = lt_upload(ctx, x, NA), b = lt_upload(ctx, x + NA, NB), dy = lt_upload(ctx, R, NA);
    cl_mem da = lt_upload(ctx, base, NA), db = lt_upload(ctx, base + NA, NB), out;
    lt_ok(ctx, ctx_alloc(ctx, NA * sizeof(float), &out, "out"));
    char what[64];
    snprintf(what, sizeof what, "mul %dx%dx%dx%d%s", n, C, H, W, per_channel ? " per channel" : "");

    fwd_io fio = {.n = n, .in = {a, b}, .out = out, .training = 1};
    lt_ok(ctx, l->ops->forward(ctx, l, &fio));
    float *y = lt_download(ctx, out, NA);
    mul_ref_fwd(&u, v, ref);
    lt_check(what, y, ref, NA, worst);

    lt_fd_grad(mul_ref_fwd, &u, v, NA + NB, dR, NA, g);
    bwd_io bio = {.n = n, .in = {a, b}, .out = out, .dout = dy, .din = {da, db}};
    lt_ok(ctx, l->ops->backward(ctx, l, &bio));
    float *ga = lt_download(ctx, da, NA), *gb = lt_download(ctx, db, NB);
    lt_check("mul backward a", ga, g, NA, worst);
    lt_check("mul backward b", gb, g + NA, NB, worst);

    /* Accumulating onto random contents; then b's gradient alone. */
    lt_ok(ctx, ctx_write(ctx, da, 0, base, NA));
    lt_ok(ctx, ctx_write(ctx, db, 0, base + NA, NB));
    bio.din_beta[0] = bio.din_beta[1] = 1;
    lt_ok(ctx, l->ops->backward(ctx, l, &bio));
    float *aa = lt_download(ctx, da, NA), *ab = lt_download(ctx, db, NB);
    double *acc = lt_malloc((NA + NB) * sizeof *acc);
    for (size_t i = 0; i < NA + NB; i++) acc[i] = base[i] + g[i];
    lt_check("mul backward a accumulate", aa, acc, NA, worst);
    lt_check("mul backward b accumulate", ab, acc + NA, NB, worst);
    bio.din[0] = NULL;
    bio.din_beta[1] = 0;
    lt_ok(ctx, l->ops->backward(ctx, l, &bio));
    float *gb2 = lt_download(ctx, db, NB);
    lt_check("mul backward b only", gb2, g + NA, NB, worst);

    cl_mem bufs[] = {a, b, dy, da, db, out};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) clReleaseMemObject(bufs[i]);
    void *ptrs[] = {x, R, base, v, dR, ref, g, y, ga, gb, aa, ab, acc, gb2};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) free(ptrs[i]);
    layer_free(l);
}

START_TEST(mul_matches_reference)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    tu_rng r = {97};
    double worst = 0;
    mul_case(ctx, &r, 3, 3, 5, 7, 0, &worst);
    mul_case(ctx, &r, 3, 13, 3, 11, 1, &worst);
    mul_case(ctx, &r, 1, 5, 1, 1, 1, &worst);
    mul_case(ctx, &r, 2, 7, 9, 1, 1, &worst);
    mul_case(ctx, &r, 2, 6, 1, 1, 0, &worst);
    mul_case(ctx, &r, 2, 3, 10, 13, 1, &worst); /* planes longer than a GPU work-group */
    fprintf(stderr, "mul: worst relative error %.3g (bound %g)\n", worst, LT_BOUND);
    graft_ctx_destroy(ctx);
}
END_TEST

/* Shapes the layer refuses; x * x of one node. */
START_TEST(mul_shapes_and_squares)
{
    ck_assert_str_eq(graft_layer_kind_name(GRAFT_LAYER_MUL), "mul");
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m;
    ck_assert(graft_model_create(ctx, &m) == GRAFT_OK);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 4, in.height = 3, in.width = 2;
    graft_layer_spec gp = graft_layer_default(GRAFT_LAYER_GLOBAL_AVGPOOL);
    graft_layer_spec cv = graft_layer_default(GRAFT_LAYER_CONV2D);
    cv.channels = 3, cv.kernel = 1, cv.pad = 0;
    graft_layer_spec mu = graft_layer_default(GRAFT_LAYER_MUL);
    int x, pool, c3, ids[2];
    ck_assert(graft_model_add(m, "x", &in, 0, NULL, &x) == GRAFT_OK);
    ck_assert(graft_model_add(m, "pool", &gp, 1, &x, &pool) == GRAFT_OK);
    ck_assert(graft_model_add(m, "c3", &cv, 1, &pool, &c3) == GRAFT_OK);
    ids[0] = x, ids[1] = c3; /* 3 channels against 4 */
    ck_assert_int_eq(graft_model_add(m, "bad", &mu, 2, ids, NULL), GRAFT_ERR_SHAPE);
    ids[0] = pool, ids[1] = x; /* the per-channel operand must come second */
    ck_assert_int_eq(graft_model_add(m, "bad2", &mu, 2, ids, NULL), GRAFT_ERR_SHAPE);
    ck_assert_int_eq(graft_model_add(m, "bad3", &mu, 1, &x, NULL), GRAFT_ERR_INVALID_ARG);
    ids[0] = ids[1] = x;
    ck_assert(graft_model_add(m, "sq", &mu, 2, ids, NULL) == GRAFT_OK);
    float xs[24], ys[24];
    for (int i = 0; i < 24; i++) xs[i] = (float)(i - 11) / 4;
    int sq = graft_model_find(m, "sq");
    ck_assert(graft_model_forward(m, xs, 1, 0, NULL) == GRAFT_OK);
    ck_assert(graft_model_node_output(m, sq, ys, 24) == GRAFT_OK);
    for (int i = 0; i < 24; i++) ck_assert_float_eq(ys[i], xs[i] * xs[i]);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

/* A squeeze-excitation block (conv, pool, 1x1 conv, sigmoid gate, conv *
 * gate) survives .graft and ONNX round trips with identical outputs. */
START_TEST(mul_round_trips)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m;
    ck_assert(graft_model_create(ctx, &m) == GRAFT_OK);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 3, in.height = 5, in.width = 6;
    graft_layer_spec cv = graft_layer_default(GRAFT_LAYER_CONV2D);
    cv.channels = 4;
    graft_layer_spec fc1 = cv;
    fc1.kernel = 1, fc1.pad = 0, fc1.bias = 1;
    graft_layer_spec gp = graft_layer_default(GRAFT_LAYER_GLOBAL_AVGPOOL);
    graft_layer_spec sg = graft_layer_default(GRAFT_LAYER_SIGMOID);
    graft_layer_spec mu = graft_layer_default(GRAFT_LAYER_MUL);
    graft_layer_spec fc = graft_layer_default(GRAFT_LAYER_LINEAR);
    fc.channels = 3;
    int x, c, id, ids[2];
    ck_assert(graft_model_add(m, "x", &in, 0, NULL, &x) == GRAFT_OK);
    ck_assert(graft_model_add(m, "conv", &cv, 1, &x, &c) == GRAFT_OK);
    ck_assert(graft_model_add(m, "squeeze", &gp, 1, &c, &id) == GRAFT_OK);
    ck_assert(graft_model_add(m, "excite", &fc1, 1, &id, &id) == GRAFT_OK);
    ck_assert(graft_model_add(m, "gate", &sg, 1, &id, &id) == GRAFT_OK);
    ids[0] = c, ids[1] = id;
    ck_assert(graft_model_add(m, "scale", &mu, 2, ids, &id) == GRAFT_OK);
    ck_assert(graft_model_add(m, "pool", &gp, 1, &id, &id) == GRAFT_OK);
    ck_assert(graft_model_add(m, "fc", &fc, 1, &id, &id) == GRAFT_OK);
    tu_rng r = {6};
    float *xs = lt_rand(&r, 2 * 3 * 5 * 6, -2, 2), y0[6], y1[6];
    ck_assert(graft_model_forward(m, xs, 2, 0, y0) == GRAFT_OK);
    const char *t = getenv("TMPDIR");
    char path[256];
    for (int onnx = 0; onnx < 2; onnx++) {
        snprintf(path, sizeof path, "%s/graft-mul-%ld.%s", t && *t ? t : "/tmp", (long)getpid(),
                 onnx ? "onnx" : "graft");
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
        ck_assert_int_eq(graft_model_num_nodes(back), graft_model_num_nodes(m));
        int k = graft_model_find(back, "scale");
        ck_assert_int_ge(k, 0);
        ck_assert_int_eq(graft_model_node_spec(back, k)->kind, GRAFT_LAYER_MUL);
        /* The gate stays a sigmoid: its input is not the Mul's other one. */
        k = graft_model_find(back, "gate");
        ck_assert_int_ge(k, 0);
        ck_assert_int_eq(graft_model_node_spec(back, k)->kind, GRAFT_LAYER_SIGMOID);
        ck_assert(graft_model_forward(back, xs, 2, 0, y1) == GRAFT_OK);
        for (int i = 0; i < 6; i++) ck_assert_float_eq(y0[i], y1[i]);
        graft_model_free(back);
    }
    free(xs);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mul");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, mul_matches_reference);
    tcase_add_test(tc, mul_shapes_and_squares);
    tcase_add_test(tc, mul_round_trips);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
