/* BatchNorm2d against a float64 reference: training/inference forward,
 * running-statistic updates, frozen statistics, backward (finite
 * differences through gamma, beta and the batch mean/variance). */
#include "layertest.h"
#include "model.h"

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

/* conv -> bn1 -> relu, conv -> bn2 -> relu6, conv -> bn3 -> leaky (all
 * fused), add(act3, act2) -> bn4 -> leaky with a negative slope (not
 * fused) -> bn5 -> relu and add(relu, bn5) (bn5 has two consumers: not
 * fused) -> global avgpool -> fc. */
static graft_model *fusion_net(graft_ctx *ctx)
{
    graft_model *m;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_model_set_seed(m, 5);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 3;
    in.height = 6;
    in.width = 5;
    int x = tu_add(m, "input", in, 0, NULL);
    graft_layer_spec cv = graft_layer_default(GRAFT_LAYER_CONV2D);
    cv.kernel = 3;
    cv.pad = 1;
    cv.channels = 4;
    graft_layer_spec bn = graft_layer_default(GRAFT_LAYER_BATCHNORM2D);
    const graft_layer_kind acts[3] = {GRAFT_LAYER_RELU, GRAFT_LAYER_RELU6, GRAFT_LAYER_LEAKY_RELU};
    int a = x, a2 = x;
    for (int i = 0; i < 3; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "c%d", i + 1);
        int c = tu_add(m, nm, cv, 1, &a);
        snprintf(nm, sizeof nm, "bn%d", i + 1);
        int b = tu_add(m, nm, bn, 1, &c);
        graft_layer_spec as = graft_layer_default(acts[i]);
        as.slope = 0.1f;
        snprintf(nm, sizeof nm, "act%d", i + 1);
        a = tu_add(m, nm, as, 1, &b);
        if (i == 1) a2 = a;
    }
    int ins[2] = {a, a2};
    int s = tu_add(m, "add", graft_layer_default(GRAFT_LAYER_ADD), 2, ins);
    int b4 = tu_add(m, "bn4", bn, 1, &s);
    graft_layer_spec neg = graft_layer_default(GRAFT_LAYER_LEAKY_RELU);
    neg.slope = -0.2f;
    int l4 = tu_add(m, "act4", neg, 1, &b4);
    int b5 = tu_add(m, "bn5", bn, 1, &l4);
    int l5 = tu_add(m, "act5", graft_layer_default(GRAFT_LAYER_RELU), 1, &b5);
    int ins2[2] = {l5, b5};
    int s2 = tu_add(m, "add2", graft_layer_default(GRAFT_LAYER_ADD), 2, ins2);
    int g = tu_add(m, "gap", graft_layer_default(GRAFT_LAYER_GLOBAL_AVGPOOL), 1, &s2);
    graft_layer_spec fc = graft_layer_default(GRAFT_LAYER_LINEAR);
    fc.channels = 3;
    tu_add(m, "fc", fc, 1, &g);
    /* gamma 4 on bn2 so that ReLU6's upper clamp is exercised. */
    int gi = -1;
    for (int p = 0; p < graft_model_num_params(m); p++)
        if (!strcmp(graft_model_param_name(m, p), "bn2.weight")) gi = p;
    ck_assert_int_ge(gi, 0);
    float four[4] = {4, 4, 4, 4};
    ck_assert_int_eq(graft_model_param_set(m, gi, four, 4), GRAFT_OK);
    return m;
}

/* Folding activations into BatchNorm changes no number: logits (training
 * and inference), loss, every parameter gradient and the running
 * statistics equal those of the unfused graph. */
START_TEST(bn_activation_fusion_matches_unfused)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *mf = fusion_net(ctx), *mu = fusion_net(ctx);
    const int n = 4;
    float x[4 * 3 * 6 * 5], lf[12], lu[12];
    tu_rng r = {77};
    tu_fill(&r, x, sizeof x / sizeof x[0], -2, 2);
    int y[4] = {2, 0, 1, 2};
    int keep = ctx->fuse;
    ctx->fuse = 1; /* read when the model first reserves its buffers */
    ck_assert_int_eq(graft_model_forward(mf, x, n, 1, lf), GRAFT_OK);
    ctx->fuse = 0;
    ck_assert_int_eq(graft_model_forward(mu, x, n, 1, lu), GRAFT_OK);
    ctx->fuse = keep;
    const char *fused[] = {"act1", "act2", "act3"}, *plain[] = {"act4", "act5"};
    for (int i = 0; i < 3; i++) {
        int k = graft_model_find(mf, fused[i]);
        ck_assert_msg(mf->nodes[k].fused, "%s not fused", fused[i]);
        ck_assert_ptr_eq(mf->nodes[k].out, mf->nodes[mf->nodes[k].in[0]].out);
        ck_assert(!mu->nodes[k].fused);
    }
    for (int i = 0; i < 2; i++) ck_assert(!mf->nodes[graft_model_find(mf, plain[i])].fused);
    ck_assert_int_eq(mf->nodes[graft_model_find(mf, "bn3")].l->fused_act, 3);
    double worst = 0;
    for (int i = 0; i < n * 3; i++) worst = fmax(worst, fabs((double)lf[i] - lu[i]) / (1 + fabs(lu[i])));
    float lossf, lossu;
    ck_assert_int_eq(graft_model_backward(mf, y, 0.1f, &lossf, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_backward(mu, y, 0.1f, &lossu, NULL), GRAFT_OK);
    worst = fmax(worst, fabs((double)lossf - lossu));
    for (int p = 0; p < graft_model_num_params(mf); p++) {
        size_t cnt = graft_model_param_numel(mf, p);
        float *a = malloc(cnt * sizeof *a), *b = malloc(cnt * sizeof *b);
        ck_assert(a && b);
        int learn = graft_model_param_is_trainable(mf, p);
        if (learn) {
            ck_assert_int_eq(graft_model_param_grad(mf, p, a, cnt), GRAFT_OK);
            ck_assert_int_eq(graft_model_param_grad(mu, p, b, cnt), GRAFT_OK);
        } else {
            ck_assert_int_eq(graft_model_param_get(mf, p, a, cnt), GRAFT_OK);
            ck_assert_int_eq(graft_model_param_get(mu, p, b, cnt), GRAFT_OK);
        }
        double gmax = 1e-6, e = 0;
        for (size_t i = 0; i < cnt; i++) gmax = fmax(gmax, fabs(b[i]));
        for (size_t i = 0; i < cnt; i++) e = fmax(e, fabs((double)a[i] - b[i]) / gmax);
        ck_assert_msg(e <= 1e-5, "%s %s: fused vs unfused relative error %g",
                      graft_model_param_name(mf, p), learn ? "grad" : "value", e);
        if (!strcmp(graft_model_param_name(mf, p), "c1.weight"))
            ck_assert_msg(gmax > 1e-4, "c1.weight gets no gradient");
        worst = fmax(worst, e);
        free(a);
        free(b);
    }
    ck_assert_int_eq(graft_model_forward(mf, x, n, 0, lf), GRAFT_OK);
    ck_assert_int_eq(graft_model_forward(mu, x, n, 0, lu), GRAFT_OK);
    for (int i = 0; i < n * 3; i++) worst = fmax(worst, fabs((double)lf[i] - lu[i]) / (1 + fabs(lu[i])));
    ck_assert_msg(worst <= 1e-5, "fused vs unfused: worst difference %g", worst);
    fprintf(stderr, "batchnorm+activation fusion vs unfused: worst difference %.3g\n", worst);
    graft_model_free(mf);
    graft_model_free(mu);
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
    tcase_add_test(tc, bn_activation_fusion_matches_unfused);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
