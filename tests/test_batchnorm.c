/* BatchNorm2d against a float64 reference: training/inference forward,
 * running-statistic updates, frozen statistics, backward (finite
 * differences through gamma, beta and the batch mean/variance). */
#include "layertest.h"

typedef struct bn_ref {
    int n, c, s;
    double eps;
    int batch;                  /* 1: batch statistics, 0: running ones */
    const double *rmean, *rvar; /* running statistics */
} bn_ref;

/* x holds [input (n*c*s), gamma (c), beta (c)]. */
static void bn_ref_fwd(const void *uu, const double *x, double *out)
{
    const bn_ref *u = uu;
    size_t N = (size_t)u->n * u->c * u->s;
    const double *g = x + N, *b = g + u->c;
    for (int c = 0; c < u->c; c++) {
        double mean, var;
        if (u->batch) {
            double sum = 0, sq = 0;
            for (int k = 0; k < u->n; k++)
                for (int s = 0; s < u->s; s++) sum += x[((size_t)k * u->c + c) * u->s + s];
            mean = sum / (u->n * u->s);
            for (int k = 0; k < u->n; k++)
                for (int s = 0; s < u->s; s++) {
                    double d = x[((size_t)k * u->c + c) * u->s + s] - mean;
                    sq += d * d;
                }
            var = sq / (u->n * u->s);
        } else {
            mean = u->rmean[c];
            var = u->rvar[c];
        }
        double is = 1.0 / sqrt(var + u->eps);
        for (int k = 0; k < u->n; k++)
            for (int s = 0; s < u->s; s++) {
                size_t i = ((size_t)k * u->c + c) * u->s + s;
                out[i] = (x[i] - mean) * is * g[c] + b[c];
            }
    }
}

static void bn_case(graft_ctx *ctx, tu_rng *r, int n, int C, int H, int W, double *worst)
{
    int S = H * W;
    size_t N = (size_t)n * C * S, nv = N + 2 * (size_t)C;
    graft_layer_spec spec = graft_layer_default(GRAFT_LAYER_BATCHNORM2D);
    spec.momentum = 0.25f;
    spec.eps = 1e-3f;
    layer_shape in = {C, H, W};
    layer *l = lt_layer(ctx, &spec, 1, &in);
    ck_assert_int_eq(l->nparams, 4);
    ck_assert(l->out.c == C && l->out.h == H && l->out.w == W);

    /* Non-trivial parameters and running stats; data with a channel offset. */
    float *x = lt_rand(r, N, -2, 3), *gam = lt_rand(r, C, 0.5f, 1.5f), *bet = lt_rand(r, C, -1, 1);
    float *rm = lt_rand(r, C, -0.5f, 0.5f), *rv = lt_rand(r, C, 0.5f, 2.0f);
    float *R = lt_rand(r, N, -1, 1);
    lt_ok(ctx, ctx_write(ctx, l->params[0].data, 0, gam, C));
    lt_ok(ctx, ctx_write(ctx, l->params[1].data, 0, bet, C));
    lt_ok(ctx, ctx_write(ctx, l->params[2].data, 0, rm, C));
    lt_ok(ctx, ctx_write(ctx, l->params[3].data, 0, rv, C));
    double *v = lt_malloc(nv * sizeof *v), *ref = lt_malloc(N * sizeof *ref);
    for (size_t i = 0; i < N; i++) v[i] = x[i];
    for (int c = 0; c < C; c++) v[N + c] = gam[c], v[N + C + c] = bet[c];
    double *drm = lt_to_double(rm, C), *drv = lt_to_double(rv, C), *dR = lt_to_double(R, N);
    bn_ref u = {n, C, S, spec.eps, 1, drm, drv};

    cl_mem dx = lt_upload(ctx, x, N), dy = lt_upload(ctx, R, N), dout;
    lt_ok(ctx, ctx_alloc(ctx, N * sizeof(float), &dout, "out"));
    cl_mem ddin = lt_upload(ctx, R, N); /* overwritten with beta 0 */

    /* --- training forward: output and running-statistic update */
    fwd_io fio = {.n = n, .in = {dx}, .out = dout, .training = 1};
    lt_ok(ctx, l->ops->forward(ctx, l, &fio));
    float *y = lt_download(ctx, dout, N);
    bn_ref_fwd(&u, v, ref);
    lt_check("bn train forward", y, ref, N, worst);
    float *rm1 = lt_download(ctx, l->params[2].data, C), *rv1 = lt_download(ctx, l->params[3].data, C);
    double *erm = lt_malloc(C * sizeof *erm), *erv = lt_malloc(C * sizeof *erv);
    for (int c = 0; c < C; c++) {
        double sum = 0, sq = 0;
        int m = n * S;
        for (int k = 0; k < n; k++)
            for (int s = 0; s < S; s++) sum += x[((size_t)k * C + c) * S + s];
        double mean = sum / m;
        for (int k = 0; k < n; k++)
            for (int s = 0; s < S; s++) {
                double d = x[((size_t)k * C + c) * S + s] - mean;
                sq += d * d;
            }
        erm[c] = (1 - 0.25) * rm[c] + 0.25 * mean;
        erv[c] = (1 - 0.25) * rv[c] + 0.25 * sq / (m - 1); /* unbiased */
    }
    lt_check("bn running_mean", rm1, erm, C, worst);
    lt_check("bn running_var", rv1, erv, C, worst);

    /* --- backward with batch statistics: dx, dgamma, dbeta vs FD */
    bwd_io bio = {.n = n, .in = {dx}, .out = dout, .dout = dy, .din = {ddin}, .din_beta = {0},
                  .param_grads = 1};
    lt_ok(ctx, l->ops->backward(ctx, l, &bio));
    double *g = lt_malloc(nv * sizeof *g);
    lt_fd_grad(bn_ref_fwd, &u, v, nv, dR, N, g);
    float *gx = lt_download(ctx, ddin, N), *gg = lt_download(ctx, l->params[0].grad, C),
          *gb = lt_download(ctx, l->params[1].grad, C);
    lt_check("bn dx (batch stats)", gx, g, N, worst);
    lt_check("bn dgamma", gg, g + N, C, worst);
    lt_check("bn dbeta", gb, g + N + C, C, worst);

    /* --- din_beta = 1 accumulates onto what is there */
    float *base = lt_rand(r, N, -1, 1);
    lt_ok(ctx, ctx_write(ctx, ddin, 0, base, N));
    bio.din_beta[0] = 1;
    bio.param_grads = 0;
    lt_ok(ctx, l->ops->backward(ctx, l, &bio));
    float *acc = lt_download(ctx, ddin, N);
    double *eacc = lt_malloc(N * sizeof *eacc);
    for (size_t i = 0; i < N; i++) eacc[i] = base[i] + g[i];
    lt_check("bn dx accumulate", acc, eacc, N, worst);

    /* --- inference forward uses (updated) running stats, changes nothing */
    for (int c = 0; c < C; c++) drm[c] = rm1[c], drv[c] = rv1[c];
    u.batch = 0;
    fio.training = 0;
    lt_ok(ctx, l->ops->forward(ctx, l, &fio));
    float *yi = lt_download(ctx, dout, N);
    bn_ref_fwd(&u, v, ref);
    lt_check("bn inference forward", yi, ref, N, worst);

    /* --- frozen training forward: running stats bit-identical, output as
     * inference, backward treats statistics as constants */
    l->bn_frozen = 1;
    fio.training = 1;
    lt_ok(ctx, l->ops->forward(ctx, l, &fio));
    float *yf = lt_download(ctx, dout, N);
    float *rm2 = lt_download(ctx, l->params[2].data, C), *rv2 = lt_download(ctx, l->params[3].data, C);
    ck_assert_msg(!memcmp(rm1, rm2, C * sizeof *rm1) && !memcmp(rv1, rv2, C * sizeof *rv1),
                  "frozen batchnorm changed its running statistics");
    ck_assert_msg(!memcmp(yf, yi, N * sizeof *yf), "frozen training forward != inference");
    bio.din_beta[0] = 0;
    bio.param_grads = 1;
    lt_ok(ctx, l->ops->backward(ctx, l, &bio));
    lt_fd_grad(bn_ref_fwd, &u, v, nv, dR, N, g);
    float *fx = lt_download(ctx, ddin, N), *fg = lt_download(ctx, l->params[0].grad, C),
          *fb = lt_download(ctx, l->params[1].grad, C);
    lt_check("bn dx (frozen)", fx, g, N, worst);
    lt_check("bn dgamma (frozen)", fg, g + N, C, worst);
    lt_check("bn dbeta (frozen)", fb, g + N + C, C, worst);

    clReleaseMemObject(dx);
    clReleaseMemObject(dy);
    clReleaseMemObject(dout);
    clReleaseMemObject(ddin);
    layer_free(l);
    void *ptrs[] = {x, gam, bet, rm, rv, R, v, ref, drm, drv, dR, y, rm1, rv1, erm, erv, g, gx,
                    gg, gb, base, acc, eacc, yi, yf, rm2, rv2, fx, fg, fb};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) free(ptrs[i]);
}

START_TEST(bn_matches_reference)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    tu_rng r = {101};
    double worst = 0;
    bn_case(ctx, &r, 3, 5, 7, 4, &worst);
    bn_case(ctx, &r, 1, 3, 5, 3, &worst);
    bn_case(ctx, &r, 3, 1, 1, 1, &worst); /* m = 3: one value per sample */
    bn_case(ctx, &r, 2, 7, 13, 11, &worst); /* m = 286 > local size */
    fprintf(stderr, "batchnorm: worst relative error %.3g (bound %g)\n", worst, LT_BOUND);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(bn_backward_before_forward_fails)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_layer_spec spec = graft_layer_default(GRAFT_LAYER_BATCHNORM2D);
    layer_shape in = {2, 3, 3};
    layer *l = lt_layer(ctx, &spec, 1, &in);
    bwd_io bio = {.n = 1};
    ck_assert_int_eq(l->ops->backward(ctx, l, &bio), GRAFT_ERR_INTERNAL);
    layer_free(l);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("batchnorm");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bn_matches_reference);
    tcase_add_test(tc, bn_backward_before_forward_fails);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
