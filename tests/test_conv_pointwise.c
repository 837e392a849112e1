/* 1x1 convs by conv_pointwise_cpu (cl/cpu/pointwise_cpu.cl) against a
 * float64 reference: forward, input gradient (din_beta 0 and 1), weight
 * and bias gradients, the inference epilogue part by part, finite
 * differences, and which kernel runs. Awkward sizes: planes of 1, 7, 49,
 * 50 and 3137 pixels (under one 32-pixel block, one block and a partial
 * one, a 3137-pixel row), 1, 5 and 33 output channels (partial 8-channel
 * blocks), 1, 3 and 17 input channels, batch 1 and 3. The GPU style
 * (GRAFT_KERNEL_STYLE=gpu, the *_gpu_style test) keeps im2col + GEMM for
 * these convs: the same cases must match there and must not launch
 * conv_pointwise_cpu. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "fold_bn.h"
#include "layer.h"
#include "testutil.h"

typedef struct pw_case {
    int n, cin, h, w, cout, bias;
} pw_case;

/* Epilogue parts: BatchNorm, residual, activation (-1 none, 0 ReLU,
 * 1 ReLU6, 2 leaky ReLU). */
typedef struct pw_epi {
    int bn, res, act;
} pw_epi;

static const float BN_EPS = 1e-3f, SLOPE = 0.1f;

static int uses_pointwise(const graft_ctx *ctx)
{
    return tu_kernel_calls(ctx, "conv_pointwise_cpu") > 0;
}

static graft_ctx *make_ctx(int pointwise, graft_conv_path path)
{
    graft_ctx_params p = tu_params(GRAFT_GEMM_NATIVE);
    p.conv_path = path;
    p.conv_pointwise = pointwise;
    p.profile_kernels = 1; /* to see which kernels ran */
    return tu_ctx_params(&p);
}

static layer *make_layer(graft_ctx *ctx, const pw_case *c)
{
    graft_layer_spec s = graft_layer_default(GRAFT_LAYER_CONV2D);
    s.channels = c->cout;
    s.kernel = 1;
    s.stride = 1;
    s.pad = 0;
    s.dilation = 1;
    s.groups = 1;
    s.bias = c->bias;
    layer_shape in = {c->cin, c->h, c->w};
    layer *l = NULL;
    graft_status st = layer_create(ctx, "pw", &s, 1, &in, &l);
    ck_assert_msg(st == GRAFT_OK, "layer_create: %s", graft_last_error(ctx));
    ck_assert(l->out.c == c->cout && l->out.h == c->h && l->out.w == c->w);
    return l;
}

static cl_mem dev_buf(graft_ctx *ctx, const float *host, size_t n)
{
    cl_mem m;
    ck_assert_int_eq(ctx_alloc(ctx, n * sizeof(float), &m, "test buffer"), GRAFT_OK);
    if (host) ck_assert_int_eq(ctx_write(ctx, m, 0, host, n), GRAFT_OK);
    return m;
}

static double act_ref(double v, int act)
{
    if (act == 0) return v > 0 ? v : 0;
    if (act == 1) return v < 0 ? 0 : v > 6 ? 6 : v;
    if (act == 2) return v > 0 ? v : SLOPE * v;
    return v;
}

/* y = W x (+ b) per image and pixel, then the epilogue e (NULL: none). */
static void ref_forward(const pw_case *c, const float *x, const float *w, const float *b,
                        const pw_epi *e, const float *bn, const float *res, double *y)
{
    int P = c->h * c->w;
    for (int i = 0; i < c->n; i++)
        for (int o = 0; o < c->cout; o++)
            for (int p = 0; p < P; p++) {
                double v = c->bias ? b[o] : 0.0;
                for (int r = 0; r < c->cin; r++)
                    v += (double)w[o * c->cin + r] * x[((size_t)i * c->cin + r) * P + p];
                size_t at = ((size_t)i * c->cout + o) * P + p;
                if (e && e->bn) {
                    const float *g = bn, *be = bn + c->cout, *m = bn + 2 * c->cout,
                                *var = bn + 3 * c->cout;
                    v = (v - m[o]) / sqrt((double)var[o] + BN_EPS) * g[o] + be[o];
                }
                if (e && e->res) v += res[at];
                y[at] = act_ref(v, e ? e->act : -1);
            }
}

static size_t nx_of(const pw_case *c) { return (size_t)c->n * c->cin * c->h * c->w; }
static size_t ny_of(const pw_case *c) { return (size_t)c->n * c->cout * c->h * c->w; }

/* Forward, then backward with din_beta beta, against the reference;
 * returns the worst relative error. */
static double run_case(graft_ctx *ctx, tu_rng *rg, const pw_case *c, float beta)
{
    int P = c->h * c->w;
    size_t nx = nx_of(c), ny = ny_of(c), nw = (size_t)c->cout * c->cin;
    layer *l = make_layer(ctx, c);
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(c->cout * 4);
    float *y = malloc(ny * sizeof *y), *dy = malloc(ny * sizeof *dy), *dx = malloc(nx * 4);
    float *dx0 = malloc(nx * sizeof *dx0), *dw = malloc(nw * sizeof *dw), *db = malloc(c->cout * 4);
    double *yref = malloc(ny * sizeof *yref), *dxref = calloc(nx, sizeof *dxref);
    double *dwref = calloc(nw, sizeof *dwref), *dbref = calloc(c->cout, sizeof *dbref);
    ck_assert(x && w && b && y && dy && dx && dx0 && dw && db && yref && dxref && dwref && dbref);
    tu_fill(rg, x, nx, -1, 1);
    tu_fill(rg, w, nw, -1, 1);
    tu_fill(rg, b, c->cout, -1, 1);
    tu_fill(rg, dy, ny, -1, 1);
    tu_fill(rg, dx0, nx, -1, 1);
    ck_assert_int_eq(ctx_write(ctx, l->params[0].data, 0, w, nw), GRAFT_OK);
    if (c->bias) ck_assert_int_eq(ctx_write(ctx, l->params[1].data, 0, b, c->cout), GRAFT_OK);
    cl_mem bx = dev_buf(ctx, x, nx), by = dev_buf(ctx, NULL, ny), bdy = dev_buf(ctx, dy, ny);
    cl_mem bdx = dev_buf(ctx, NULL, nx);
    ck_assert_int_eq(ctx_fill(ctx, by, 0, ny, NAN), GRAFT_OK);
    fwd_io fio = {.n = c->n, .in = {bx}, .out = by, .training = 1};
    ck_assert_msg(l->ops->forward(ctx, l, &fio) == GRAFT_OK, "%s", graft_last_error(ctx));
    ck_assert_int_eq(ctx_read(ctx, by, 0, y, ny), GRAFT_OK);

    if (beta != 0.0f) ck_assert_int_eq(ctx_write(ctx, bdx, 0, dx0, nx), GRAFT_OK);
    else ck_assert_int_eq(ctx_fill(ctx, bdx, 0, nx, NAN), GRAFT_OK);
    bwd_io bio = {.n = c->n, .in = {bx}, .out = by, .dout = bdy, .din = {bdx},
                  .din_beta = {beta}, .param_grads = 1};
    ck_assert_msg(l->ops->backward(ctx, l, &bio) == GRAFT_OK, "%s", graft_last_error(ctx));
    ck_assert_int_eq(ctx_read(ctx, bdx, 0, dx, nx), GRAFT_OK);
    ck_assert_int_eq(ctx_read(ctx, l->params[0].grad, 0, dw, nw), GRAFT_OK);
    if (c->bias) ck_assert_int_eq(ctx_read(ctx, l->params[1].grad, 0, db, c->cout), GRAFT_OK);

    ref_forward(c, x, w, b, NULL, NULL, NULL, yref);
    for (int i = 0; i < c->n; i++)
        for (int o = 0; o < c->cout; o++)
            for (int p = 0; p < P; p++) {
                double g = dy[((size_t)i * c->cout + o) * P + p];
                dbref[o] += g;
                for (int r = 0; r < c->cin; r++) {
                    size_t xi = ((size_t)i * c->cin + r) * P + p;
                    dxref[xi] += (double)w[o * c->cin + r] * g;
                    dwref[o * c->cin + r] += (double)x[xi] * g;
                }
            }
    if (beta != 0.0f)
        for (size_t i = 0; i < nx; i++) dxref[i] += dx0[i];
    double e = fmax(tu_rel_err(y, yref, ny), tu_rel_err(dx, dxref, nx));
    e = fmax(e, tu_rel_err(dw, dwref, nw));
    if (c->bias) e = fmax(e, tu_rel_err(db, dbref, c->cout));
    fprintf(stderr, "pointwise n=%d cin=%d %dx%d cout=%d bias=%d beta=%g: %.2e\n", c->n, c->cin,
            c->h, c->w, c->cout, c->bias, beta, e);
    clReleaseMemObject(bx), clReleaseMemObject(by), clReleaseMemObject(bdy);
    clReleaseMemObject(bdx);
    layer_free(l);
    free(x), free(w), free(b), free(y), free(dy), free(dx), free(dx0), free(dw), free(db);
    free(yref), free(dxref), free(dwref), free(dbref);
    return e;
}

/* Planes: 1, 7 (1x7), 49 (7x7), 50 (5x10), 3137 (1x3137) pixels. */
static const int planes[][2] = {{1, 1}, {1, 7}, {7, 7}, {5, 10}, {1, 3137}};
static const int couts[] = {1, 5, 33}, cins[] = {1, 3, 17}, batches[] = {1, 3};

START_TEST(pointwise_matches_reference)
{
    graft_ctx *ctx = make_ctx(1, GRAFT_CONV_PATH_AUTO);
    tu_rng rg = {2024};
    double worst = 0;
    int k = 0;
    for (int pi = 0; pi < 5; pi++)
        for (int oi = 0; oi < 3; oi++)
            for (int ii = 0; ii < 3; ii++)
                for (int ni = 0; ni < 2; ni++, k++) {
                    pw_case c = {batches[ni], cins[ii], planes[pi][0], planes[pi][1], couts[oi],
                                 k % 3 != 0};
                    double e = run_case(ctx, &rg, &c, (float)(k % 2));
                    ck_assert_msg(e < 1e-4, "rel err %g: n=%d cin=%d %dx%d cout=%d", e, c.n,
                                  c.cin, c.h, c.w, c.cout);
                    if (e > worst) worst = e;
                }
    fprintf(stderr, "pointwise: worst relative error %.3g over %d cases\n", worst, k);
    /* The CPU style runs these convs by conv_pointwise_cpu, the GPU style never. */
    ck_assert_int_eq(uses_pointwise(ctx), ctx_is_cpu(ctx));
    graft_ctx_destroy(ctx);
}
END_TEST

/* The A/B knob and the conv_path modes keep the other kernels. */
START_TEST(pointwise_off_keeps_other_paths)
{
    static const struct { int pw; graft_conv_path path; } modes[] = {
        {0, GRAFT_CONV_PATH_AUTO}, {1, GRAFT_CONV_PATH_IMPLICIT}, {1, GRAFT_CONV_PATH_IM2COL}};
    for (int m = 0; m < 3; m++) {
        graft_ctx *ctx = make_ctx(modes[m].pw, modes[m].path);
        tu_rng rg = {77};
        pw_case c = {3, 17, 7, 7, 33, 1};
        double e = run_case(ctx, &rg, &c, 1.0f);
        ck_assert_msg(e < 1e-4, "rel err %g (mode %d)", e, m);
        ck_assert_msg(!uses_pointwise(ctx), "conv_pointwise_cpu ran in mode %d", m);
        graft_ctx_destroy(ctx);
    }
    graft_ctx_params p = graft_ctx_default_params();
    ck_assert_int_eq(p.conv_pointwise, 1);
    p.conv_pointwise = 2;
    graft_ctx *ctx = NULL;
    char err[256];
    ck_assert_int_eq(graft_ctx_create(&p, &ctx, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "conv_pointwise"));
}
END_TEST

/* Inference forward with each part of the folded epilogue, alone and
 * together, through conv_forward_epilogue (CPU style only: the GPU style
 * folds nothing). */
START_TEST(pointwise_epilogue_matches_reference)
{
    graft_ctx *ctx = make_ctx(1, GRAFT_CONV_PATH_AUTO);
    if (!ctx_is_cpu(ctx)) {
        graft_ctx_destroy(ctx);
        return;
    }
    static const pw_epi epis[] = {{1, 0, -1}, {0, 1, -1}, {0, 0, 0}, {0, 0, 1}, {0, 0, 2},
                                  {1, 1, 1},  {1, 0, 2},  {0, 1, 0}, {1, 1, -1}};
    static const pw_case cases[] = {{1, 17, 7, 7, 33, 1}, {3, 3, 5, 10, 5, 0},
                                    {1, 17, 1, 3137, 5, 1}, {3, 1, 1, 7, 33, 1},
                                    {3, 17, 7, 7, 1, 0}};
    tu_rng rg = {31};
    double worst = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++)
        for (size_t ei = 0; ei < sizeof epis / sizeof epis[0]; ei++) {
            const pw_case *c = &cases[ci];
            const pw_epi *e = &epis[ei];
            size_t nx = nx_of(c), ny = ny_of(c), nw = (size_t)c->cout * c->cin;
            layer *l = make_layer(ctx, c);
            ck_assert(conv_fold_supported(ctx, l, c->n, e->res));
            float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc(c->cout * 4);
            float *bn = malloc(4 * c->cout * 4), *res = malloc(ny * 4), *y = malloc(ny * 4);
            double *yref = malloc(ny * sizeof *yref);
            ck_assert(x && w && b && bn && res && y && yref);
            tu_fill(&rg, x, nx, -1, 1);
            tu_fill(&rg, w, nw, -1, 1);
            tu_fill(&rg, b, c->cout, -1, 1);
            tu_fill(&rg, bn, 3 * c->cout, -1, 1);         /* gamma, beta, mean */
            tu_fill(&rg, bn + 3 * c->cout, c->cout, 0.2f, 2); /* var */
            tu_fill(&rg, res, ny, -2, 2);
            ck_assert_int_eq(ctx_write(ctx, l->params[0].data, 0, w, nw), GRAFT_OK);
            if (c->bias)
                ck_assert_int_eq(ctx_write(ctx, l->params[1].data, 0, b, c->cout), GRAFT_OK);
            cl_mem bx = dev_buf(ctx, x, nx), by = dev_buf(ctx, NULL, ny);
            cl_mem bres = dev_buf(ctx, res, ny), bbn[4];
            for (int j = 0; j < 4; j++) bbn[j] = dev_buf(ctx, bn + j * c->cout, c->cout);
            ck_assert_int_eq(ctx_fill(ctx, by, 0, ny, NAN), GRAFT_OK);
            conv_epilogue ep = {e->bn ? bbn[0] : NULL, bbn[1], bbn[2], bbn[3], BN_EPS, e->act,
                                SLOPE, e->res ? bres : NULL};
            fwd_io fio = {.n = c->n, .in = {bx}, .out = by, .training = 0};
            ck_assert_msg(conv_forward_epilogue(ctx, l, &fio, &ep) == GRAFT_OK, "%s",
                          graft_last_error(ctx));
            ck_assert_int_eq(ctx_read(ctx, by, 0, y, ny), GRAFT_OK);
            ref_forward(c, x, w, b, e, bn, res, yref);
            double err = tu_rel_err(y, yref, ny);
            fprintf(stderr, "pointwise epilogue n=%d cin=%d %dx%d cout=%d bn=%d res=%d act=%d: "
                    "%.2e\n", c->n, c->cin, c->h, c->w, c->cout, e->bn, e->res, e->act, err);
            ck_assert_msg(err < 1e-4, "epilogue rel err %g (case %zu, epilogue %zu)", err, ci, ei);
            if (err > worst) worst = err;
            clReleaseMemObject(bx), clReleaseMemObject(by), clReleaseMemObject(bres);
            for (int j = 0; j < 4; j++) clReleaseMemObject(bbn[j]);
            layer_free(l);
            free(x), free(w), free(b), free(bn), free(res), free(y), free(yref);
        }
    fprintf(stderr, "pointwise epilogue: worst relative error %.3g\n", worst);
    ck_assert(uses_pointwise(ctx));
    graft_ctx_destroy(ctx);
}
END_TEST

/* L = sum(y * R): central differences of the float64 forward against the
 * device's dx and dW (R as dout). */
START_TEST(pointwise_backward_matches_finite_differences)
{
    graft_ctx *ctx = make_ctx(1, GRAFT_CONV_PATH_AUTO);
    static const pw_case cases[] = {{1, 3, 1, 7, 5, 1}, {3, 3, 5, 10, 5, 0}, {1, 17, 7, 7, 33, 1}};
    tu_rng rg = {5};
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const pw_case *c = &cases[ci];
        size_t nx = nx_of(c), ny = ny_of(c), nw = (size_t)c->cout * c->cin;
        layer *l = make_layer(ctx, c);
        float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc(c->cout * 4);
        float *R = malloc(ny * 4), *dx = malloc(nx * 4), *dw = malloc(nw * 4);
        double *y = malloc(ny * sizeof *y), *fx = malloc(nx * sizeof *fx);
        double *fw = malloc(nw * sizeof *fw);
        ck_assert(x && w && b && R && dx && dw && y && fx && fw);
        tu_fill(&rg, x, nx, -1, 1);
        tu_fill(&rg, w, nw, -1, 1);
        tu_fill(&rg, b, c->cout, -1, 1);
        tu_fill(&rg, R, ny, -1, 1);
        ck_assert_int_eq(ctx_write(ctx, l->params[0].data, 0, w, nw), GRAFT_OK);
        if (c->bias) ck_assert_int_eq(ctx_write(ctx, l->params[1].data, 0, b, c->cout), GRAFT_OK);
        cl_mem bx = dev_buf(ctx, x, nx), by = dev_buf(ctx, NULL, ny), bdy = dev_buf(ctx, R, ny);
        cl_mem bdx = dev_buf(ctx, NULL, nx);
        bwd_io bio = {.n = c->n, .in = {bx}, .out = by, .dout = bdy, .din = {bdx},
                      .din_beta = {0.0f}, .param_grads = 1};
        ck_assert_msg(l->ops->backward(ctx, l, &bio) == GRAFT_OK, "%s", graft_last_error(ctx));
        ck_assert_int_eq(ctx_read(ctx, bdx, 0, dx, nx), GRAFT_OK);
        ck_assert_int_eq(ctx_read(ctx, l->params[0].grad, 0, dw, nw), GRAFT_OK);
        /* The reference takes float inputs: perturb in float, by a step
         * that is exact in float (a power of two). */
        const float h = 1.0f / 256;
        float *targets[2] = {x, w};
        double *fds[2] = {fx, fw};
        size_t counts[2] = {nx, nw};
        for (int t = 0; t < 2; t++)
            for (size_t i = 0; i < counts[t]; i++) {
                float keep = targets[t][i];
                double lp = 0, lm = 0;
                targets[t][i] = keep + h;
                ref_forward(c, x, w, b, NULL, NULL, NULL, y);
                for (size_t j = 0; j < ny; j++) lp += y[j] * R[j];
                targets[t][i] = keep - h;
                ref_forward(c, x, w, b, NULL, NULL, NULL, y);
                for (size_t j = 0; j < ny; j++) lm += y[j] * R[j];
                targets[t][i] = keep;
                fds[t][i] = (lp - lm) / ((double)(keep + h) - (double)(keep - h));
            }
        double e = fmax(tu_rel_err(dx, fx, nx), tu_rel_err(dw, fw, nw));
        fprintf(stderr, "pointwise finite differences n=%d cin=%d %dx%d cout=%d: %.2e\n", c->n,
                c->cin, c->h, c->w, c->cout, e);
        ck_assert_msg(e < 1e-4, "finite-difference rel err %g (case %zu)", e, ci);
        clReleaseMemObject(bx), clReleaseMemObject(by), clReleaseMemObject(bdy);
        clReleaseMemObject(bdx);
        layer_free(l);
        free(x), free(w), free(b), free(R), free(dx), free(dw), free(y), free(fx), free(fw);
    }
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv_pointwise");
    TCase *tc = tcase_create("conv_pointwise");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, pointwise_matches_reference);
    tcase_add_test(tc, pointwise_off_keeps_other_paths);
    tcase_add_test(tc, pointwise_epilogue_matches_reference);
    tcase_add_test(tc, pointwise_backward_matches_finite_differences);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
