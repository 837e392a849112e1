/* Dropout: inference identity, inverted scaling, drop fraction ~p,
 * reproducible masks from (seed, calls), backward with the same mask. */
#include "layertest.h"

typedef struct drop_ref {
    size_t n;
    const double *mask; /* 0 or 1/(1-p) per element, from the device output */
} drop_ref;

static void drop_ref_fwd(const void *uu, const double *x, double *out)
{
    const drop_ref *u = uu;
    for (size_t i = 0; i < u->n; i++) out[i] = x[i] * u->mask[i];
}

static layer *make(graft_ctx *ctx, float p, int n, int C, int H, int W, size_t *N)
{
    graft_layer_spec spec = graft_layer_default(GRAFT_LAYER_DROPOUT);
    spec.p = p;
    layer_shape in = {C, H, W};
    layer *l = lt_layer(ctx, &spec, 1, &in);
    l->seed = 0x5eed1234abcdULL;
    *N = (size_t)n * C * H * W;
    return l;
}

START_TEST(dropout_inference_is_identity)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    tu_rng r = {505};
    size_t N;
    layer *l = make(ctx, 0.4f, 3, 5, 7, 3, &N);
    float *x = lt_rand(&r, N, -2, 2);
    cl_mem dx = lt_upload(ctx, x, N), dout;
    lt_ok(ctx, ctx_alloc(ctx, N * sizeof(float), &dout, "out"));
    fwd_io fio = {.n = 3, .in = {dx}, .out = dout, .training = 0};
    lt_ok(ctx, l->ops->forward(ctx, l, &fio));
    float *y = lt_download(ctx, dout, N);
    ck_assert_msg(!memcmp(x, y, N * sizeof *x), "inference dropout is not the identity");
    ck_assert_uint_eq(l->calls, 0);
    free(x);
    free(y);
    clReleaseMemObject(dx);
    clReleaseMemObject(dout);
    layer_free(l);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(dropout_training_matches_reference)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    tu_rng r = {506};
    double worst = 0;
    const float p = 0.3f;
    size_t N;
    layer *l = make(ctx, p, 3, 7, 33, 17, &N);
    /* Strictly nonzero data so a zero output means "dropped". */
    float *x = lt_rand(&r, N, 0.5f, 2.0f), *R = lt_rand(&r, N, -1, 1), *base = lt_rand(&r, N, -1, 1);
    for (size_t i = 0; i < N; i += 2) x[i] = -x[i];
    cl_mem dx = lt_upload(ctx, x, N), dy = lt_upload(ctx, R, N), din = lt_upload(ctx, base, N);
    cl_mem dout;
    lt_ok(ctx, ctx_alloc(ctx, N * sizeof(float), &dout, "out"));
    fwd_io fio = {.n = 3, .in = {dx}, .out = dout, .training = 1};
    lt_ok(ctx, l->ops->forward(ctx, l, &fio));
    ck_assert_uint_eq(l->calls, 1);
    float *y = lt_download(ctx, dout, N);

    /* fraction dropped ~ p (N = 11781: 3 sigma is about 0.013) */
    double scale = 1.0 / (1.0 - p);
    double *mask = lt_malloc(N * sizeof *mask), *ref = lt_malloc(N * sizeof *ref);
    size_t dropped = 0;
    for (size_t i = 0; i < N; i++) {
        mask[i] = y[i] == 0.0f ? 0.0 : scale;
        dropped += y[i] == 0.0f;
    }
    double frac = (double)dropped / N;
    ck_assert_msg(fabs(frac - p) < 0.02, "dropped fraction %g, p %g", frac, (double)p);
    drop_ref u = {N, mask};
    double *v = lt_to_double(x, N), *dR = lt_to_double(R, N), *g = lt_malloc(N * sizeof *g);
    drop_ref_fwd(&u, v, ref);
    lt_check("dropout kept values scaled by 1/(1-p)", y, ref, N, &worst);

    /* same seed and counter: bit-identical; next counter: a different mask */
    l->calls = 0;
    lt_ok(ctx, l->ops->forward(ctx, l, &fio));
    float *y2 = lt_download(ctx, dout, N);
    ck_assert_msg(!memcmp(y, y2, N * sizeof *y), "mask not reproducible for the same seed/calls");
    lt_ok(ctx, l->ops->forward(ctx, l, &fio));
    ck_assert_uint_eq(l->calls, 2);
    float *y3 = lt_download(ctx, dout, N);
    ck_assert_msg(memcmp(y, y3, N * sizeof *y), "mask did not change with calls");
    /* another seed, same counter: different too */
    l->calls = 0;
    l->seed ^= 1;
    lt_ok(ctx, l->ops->forward(ctx, l, &fio));
    float *y4 = lt_download(ctx, dout, N);
    ck_assert_msg(memcmp(y, y4, N * sizeof *y), "mask did not change with the seed");
    l->seed ^= 1;

    /* backward of the first mask (calls 0 again) vs FD, then accumulate */
    l->calls = 0;
    lt_ok(ctx, l->ops->forward(ctx, l, &fio));
    bwd_io bio = {.n = 3, .in = {dx}, .out = dout, .dout = dy, .din = {din}, .din_beta = {0}};
    lt_ok(ctx, l->ops->backward(ctx, l, &bio));
    float *gd = lt_download(ctx, din, N);
    lt_fd_grad(drop_ref_fwd, &u, v, N, dR, N, g);
    lt_check("dropout backward", gd, g, N, &worst);
    lt_ok(ctx, ctx_write(ctx, din, 0, base, N));
    bio.din_beta[0] = 1;
    lt_ok(ctx, l->ops->backward(ctx, l, &bio));
    float *acc = lt_download(ctx, din, N);
    for (size_t i = 0; i < N; i++) ref[i] = base[i] + g[i];
    lt_check("dropout backward accumulate", acc, ref, N, &worst);
    fprintf(stderr, "dropout: dropped %.4f (p %.2f), worst relative error %.3g (bound %g)\n",
            frac, (double)p, worst, LT_BOUND);

    void *ptrs[] = {x, R, base, y, mask, ref, v, dR, g, y2, y3, y4, gd, acc};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) free(ptrs[i]);
    clReleaseMemObject(dx);
    clReleaseMemObject(dy);
    clReleaseMemObject(din);
    clReleaseMemObject(dout);
    layer_free(l);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(dropout_rejects_bad_p)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_layer_spec spec = graft_layer_default(GRAFT_LAYER_DROPOUT);
    layer_shape in = {2, 3, 3};
    layer *l = NULL;
    spec.p = 1.0f;
    ck_assert_int_eq(layer_create(ctx, "d", &spec, 1, &in, &l), GRAFT_ERR_INVALID_ARG);
    spec.p = -0.1f;
    ck_assert_int_eq(layer_create(ctx, "d", &spec, 1, &in, &l), GRAFT_ERR_INVALID_ARG);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dropout");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, dropout_inference_is_identity);
    tcase_add_test(tc, dropout_training_matches_reference);
    tcase_add_test(tc, dropout_rejects_bad_p);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
