/* layer_norm (over the channels at each pixel) against a float64 reference
 * on awkward sizes: forward, dx, dweight and dbias by central finite
 * differences, din_beta accumulation, and a large channel offset (the
 * two-pass variance); the shapes and eps it refuses. */
#include "layertest.h"

typedef struct ln_ref {
    int n, c, s;
    double eps;
} ln_ref;

/* v = [x (n*c*s), weight (c), bias (c)]. */
static void ln_ref_fwd(const void *uu, const double *v, double *out)
{
    const ln_ref *u = uu;
    size_t N = (size_t)u->n * u->c * u->s;
    const double *g = v + N, *b = v + N + u->c;
    for (int k = 0; k < u->n; k++)
        for (int s = 0; s < u->s; s++) {
            double sum = 0, sq = 0;
            for (int c = 0; c < u->c; c++) sum += v[((size_t)k * u->c + c) * u->s + s];
            double mean = sum / u->c;
            for (int c = 0; c < u->c; c++) {
                double d = v[((size_t)k * u->c + c) * u->s + s] - mean;
                sq += d * d;
            }
            double is = 1.0 / sqrt(sq / u->c + u->eps);
            for (int c = 0; c < u->c; c++) {
                size_t i = ((size_t)k * u->c + c) * u->s + s;
                out[i] = (v[i] - mean) * is * g[c] + b[c];
            }
        }
}

static void ln_case(graft_ctx *ctx, tu_rng *r, int n, int C, int H, int W, float offset,
                    double *worst)
{
    int S = H * W;
    size_t N = (size_t)n * C * S, nv = N + 2 * (size_t)C;
    graft_layer_spec spec = graft_layer_default(GRAFT_LAYER_LAYER_NORM);
    spec.eps = 1e-6f;
    layer_shape in = {C, H, W};
    layer *l = lt_layer(ctx, &spec, 1, &in);
    ck_assert_int_eq(l->nparams, 2);
    float *x = lt_rand(r, N, offset - 2, offset + 3), *gam = lt_rand(r, C, 0.5f, 1.5f),
          *bet = lt_rand(r, C, -1, 1), *R = lt_rand(r, N, -1, 1), *base = lt_rand(r, N, -1, 1);
    lt_ok(ctx, ctx_write(ctx, l->params[0].data, 0, gam, C));
    lt_ok(ctx, ctx_write(ctx, l->params[1].data, 0, bet, C));
    double *v = lt_malloc(nv * sizeof *v), *ref = lt_malloc(N * sizeof *ref);
    for (size_t i = 0; i < N; i++) v[i] = x[i];
    for (int c = 0; c < C; c++) v[N + c] = gam[c], v[N + C + c] = bet[c];
    double *dR = lt_to_double(R, N), *g = lt_malloc(nv * sizeof *g);
    ln_ref u = {n, C, S, spec.eps};
    cl_mem dx = lt_upload(ctx, x, N), dy = lt_upload(ctx, R, N), ddin = lt_upload(ctx, R, N), dout;
    lt_ok(ctx, ctx_alloc(ctx, N * sizeof(float), &dout, "out"));

    fwd_io fio = {.n = n, .in = {dx}, .out = dout, .training = 1};
    lt_ok(ctx, l->ops->forward(ctx, l, &fio));
    float *y = lt_download(ctx, dout, N);
    ln_ref_fwd(&u, v, ref);
    lt_check("layer_norm forward", y, ref, N, worst);

    bwd_io bio = {.n = n, .in = {dx}, .out = dout, .dout = dy, .din = {ddin}, .din_beta = {0},
                  .param_grads = 1};
    lt_ok(ctx, l->ops->backward(ctx, l, &bio));
    lt_fd_grad(ln_ref_fwd, &u, v, nv, dR, N, g);
    float *gx = lt_download(ctx, ddin, N), *gg = lt_download(ctx, l->params[0].grad, C),
          *gb = lt_download(ctx, l->params[1].grad, C);
    lt_check("layer_norm dx", gx, g, N, worst);
    lt_check("layer_norm dweight", gg, g + N, C, worst);
    lt_check("layer_norm dbias", gb, g + N + C, C, worst);

    lt_ok(ctx, ctx_write(ctx, ddin, 0, base, N));
    bio.din_beta[0] = 1;
    bio.param_grads = 0;
    lt_ok(ctx, l->ops->backward(ctx, l, &bio));
    float *acc = lt_download(ctx, ddin, N);
    for (size_t i = 0; i < N; i++) ref[i] = base[i] + g[i];
    lt_check("layer_norm dx accumulate", acc, ref, N, worst);

    clReleaseMemObject(dx);
    clReleaseMemObject(dy);
    clReleaseMemObject(dout);
    clReleaseMemObject(ddin);
    layer_free(l);
    void *ptrs[] = {x, gam, bet, R, base, v, ref, dR, g, y, gx, gg, gb, acc};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) free(ptrs[i]);
}

START_TEST(layer_norm_matches_reference)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    tu_rng r = {613};
    double worst = 0;
    ln_case(ctx, &r, 3, 3, 5, 7, 0, &worst);
    ln_case(ctx, &r, 1, 13, 1, 1, 0, &worst);
    ln_case(ctx, &r, 2, 17, 3, 11, 0, &worst);
    ln_case(ctx, &r, 2, 5, 2, 3, 40, &worst); /* mean far from 0 */
    fprintf(stderr, "layer_norm: worst relative error %.3g (bound %g)\n", worst, LT_BOUND);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(layer_norm_refuses_bad_specs)
{
    ck_assert_str_eq(graft_layer_kind_name(GRAFT_LAYER_LAYER_NORM), "layer_norm");
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m;
    ck_assert(graft_model_create(ctx, &m) == GRAFT_OK);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 4, in.height = 2, in.width = 2;
    int x = 0;
    ck_assert(graft_model_add(m, "x", &in, 0, NULL, &x) == GRAFT_OK);
    graft_layer_spec ln = graft_layer_default(GRAFT_LAYER_LAYER_NORM);
    ln.eps = 0;
    ck_assert(graft_model_add(m, "n", &ln, 1, &x, NULL) == GRAFT_ERR_INVALID_ARG);
    int two[2] = {0, 0};
    ln.eps = 1e-6f;
    ck_assert(graft_model_add(m, "n", &ln, 2, two, NULL) == GRAFT_ERR_INVALID_ARG);
    ck_assert(graft_model_add(m, "n", &ln, 1, &x, NULL) == GRAFT_OK);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("layer_norm");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, layer_norm_matches_reference);
    tcase_add_test(tc, layer_norm_refuses_bad_specs);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
