/* Winograd convolution (cl/cpu/winograd_cpu.cl, src/graph/layers/conv_winograd.c)
 * through the conv2d layer with graft_ctx_params.conv_winograd ON, against
 * a float64 reference: 3x3 stride-1 pad-1 convs of awkward sizes (planes
 * 1x1 .. 17x17 with partial border tiles, 1, 3 and 20 input channels, 1, 7
 * and 33 output channels: partial 6-channel panels and 32-tile stripes),
 * forward with a bias, the input gradient (din_beta 0 and 1), every part
 * of the inference epilogue, chunks of one image, finite differences, and
 * that the kernels really ran (kernel profile). On GPU-style contexts the
 * layer keeps im2col + GEMM: the same cases pass and no Winograd kernel
 * runs.
 *
 * Tolerance: F(4x4, 3x3) rounds more than a direct sum (its transforms
 * multiply by up to 8 and divide by 24, and sum 36 terms per output); on
 * these cases (inputs and weights uniform in [-1, 1]) the measured worst
 * relative error (max |err| / max |ref|) is 6.3e-6 forward and 6.1e-6 for
 * the input gradient (typically 1e-6 .. 4e-6; the epilogue cases 2.5e-6 ..
 * 7.5e-6), against about 1e-7 for conv_tall_cpu; the bound 2e-5 is ~3x
 * the worst and far below what a wrong transform coefficient gives (1e-1). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "fold_bn.h"
#include "layer.h"
#include "testutil.h"

#define TOL 2e-5

typedef struct wcase {
    int n, cin, h, w, cout, bias;
} wcase;

static size_t nx_of(const wcase *c) { return (size_t)c->n * c->cin * c->h * c->w; }
static size_t ny_of(const wcase *c) { return (size_t)c->n * c->cout * c->h * c->w; }
static size_t nw_of(const wcase *c) { return (size_t)c->cout * c->cin * 9; }

/* y = conv3x3(x, w) + b, stride 1, pad 1 (b may be NULL). */
static void ref_forward(const wcase *c, const double *x, const double *w, const double *b,
                        double *y)
{
    for (int n = 0; n < c->n; n++)
        for (int o = 0; o < c->cout; o++)
            for (int oy = 0; oy < c->h; oy++)
                for (int ox = 0; ox < c->w; ox++) {
                    double s = b ? b[o] : 0.0;
                    for (int i = 0; i < c->cin; i++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                int iy = oy + ky - 1, ix = ox + kx - 1;
                                if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue;
                                s += x[(((size_t)n * c->cin + i) * c->h + iy) * c->w + ix] *
                                     w[(((size_t)o * c->cin + i) * 3 + ky) * 3 + kx];
                            }
                    y[(((size_t)n * c->cout + o) * c->h + oy) * c->w + ox] = s;
                }
}

/* dx = conv^T(dy, w). */
static void ref_dx(const wcase *c, const double *dy, const double *w, double *dx)
{
    memset(dx, 0, nx_of(c) * sizeof *dx);
    for (int n = 0; n < c->n; n++)
        for (int o = 0; o < c->cout; o++)
            for (int oy = 0; oy < c->h; oy++)
                for (int ox = 0; ox < c->w; ox++) {
                    double g = dy[(((size_t)n * c->cout + o) * c->h + oy) * c->w + ox];
                    for (int i = 0; i < c->cin; i++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                int iy = oy + ky - 1, ix = ox + kx - 1;
                                if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue;
                                dx[(((size_t)n * c->cin + i) * c->h + iy) * c->w + ix] +=
                                    g * w[(((size_t)o * c->cin + i) * 3 + ky) * 3 + kx];
                            }
                }
}

static double *to_d(const float *a, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < n; i++) d[i] = a[i];
    return d;
}

static float *rand_f(tu_rng *rg, size_t n)
{
    float *a = malloc((n ? n : 1) * sizeof *a);
    ck_assert_ptr_nonnull(a);
    tu_fill(rg, a, n, -1, 1);
    return a;
}

static cl_mem upload(graft_ctx *ctx, const float *a, size_t n)
{
    cl_mem m;
    ck_assert_int_eq(ctx_alloc(ctx, (n ? n : 1) * sizeof(float), &m, "test buffer"), GRAFT_OK);
    if (a) ck_assert_int_eq(ctx_write(ctx, m, 0, a, n), GRAFT_OK);
    return m;
}

static layer *make_layer(graft_ctx *ctx, const wcase *c)
{
    graft_layer_spec s = graft_layer_default(GRAFT_LAYER_CONV2D);
    s.channels = c->cout;
    s.kernel = 3;
    s.stride = 1;
    s.pad = 1;
    s.bias = c->bias;
    layer_shape in = {c->cin, c->h, c->w};
    layer *l = NULL;
    ck_assert_msg(layer_create(ctx, "wino", &s, 1, &in, &l) == GRAFT_OK, "layer_create: %s",
                  graft_last_error(ctx));
    return l;
}

static graft_ctx *wino_ctx(graft_conv_winograd mode, size_t chunk_bytes)
{
    graft_ctx_params p = tu_params(GRAFT_GEMM_NATIVE);
    p.conv_winograd = mode;
    p.profile_kernels = 1;
    if (chunk_bytes) p.conv_chunk_bytes = chunk_bytes;
    return tu_ctx_params(&p);
}

/* Forward and input gradient of one case; returns the worst error. */
static double run_case(graft_ctx *ctx, tu_rng *rg, const wcase *c, float din_beta)
{
    size_t nx = nx_of(c), ny = ny_of(c), nw = nw_of(c);
    layer *l = make_layer(ctx, c);
    float *x = rand_f(rg, nx), *w = rand_f(rg, nw), *b = rand_f(rg, c->cout);
    float *dy = rand_f(rg, ny), *dx0 = rand_f(rg, nx);
    float *y = malloc(ny * sizeof *y), *dx = malloc(nx * sizeof *dx);
    ck_assert(y && dx);
    cl_mem bx = upload(ctx, x, nx), by = upload(ctx, NULL, ny), bdy = upload(ctx, dy, ny);
    cl_mem bdx = upload(ctx, NULL, nx);
    ck_assert_int_eq(ctx_write(ctx, l->params[0].data, 0, w, nw), GRAFT_OK);
    if (c->bias) ck_assert_int_eq(ctx_write(ctx, l->params[1].data, 0, b, c->cout), GRAFT_OK);
    ck_assert_int_eq(ctx_fill(ctx, by, 0, ny, NAN), GRAFT_OK);
    fwd_io fio = {.n = c->n, .in = {bx}, .out = by, .training = 1};
    ck_assert_msg(l->ops->forward(ctx, l, &fio) == GRAFT_OK, "%s", graft_last_error(ctx));
    ck_assert_int_eq(ctx_read(ctx, by, 0, y, ny), GRAFT_OK);

    if (din_beta != 0.0f) ck_assert_int_eq(ctx_write(ctx, bdx, 0, dx0, nx), GRAFT_OK);
    else ck_assert_int_eq(ctx_fill(ctx, bdx, 0, nx, NAN), GRAFT_OK);
    bwd_io bio = {.n = c->n, .in = {bx}, .out = by, .dout = bdy, .din = {bdx},
                  .din_beta = {din_beta}, .param_grads = 0};
    ck_assert_msg(l->ops->backward(ctx, l, &bio) == GRAFT_OK, "%s", graft_last_error(ctx));
    ck_assert_int_eq(ctx_read(ctx, bdx, 0, dx, nx), GRAFT_OK);

    double *xd = to_d(x, nx), *wd = to_d(w, nw), *bd = to_d(b, c->cout), *dyd = to_d(dy, ny);
    double *yr = malloc(ny * sizeof *yr), *dxr = malloc(nx * sizeof *dxr);
    ck_assert(yr && dxr);
    ref_forward(c, xd, wd, c->bias ? bd : NULL, yr);
    ref_dx(c, dyd, wd, dxr);
    if (din_beta != 0.0f)
        for (size_t i = 0; i < nx; i++) dxr[i] += dx0[i];
    double ey = tu_rel_err(y, yr, ny), edx = tu_rel_err(dx, dxr, nx);
    fprintf(stderr, "winograd n=%d cin=%d %dx%d cout=%d bias=%d beta=%g: fwd %.2e dx %.2e\n",
            c->n, c->cin, c->h, c->w, c->cout, c->bias, din_beta, ey, edx);
    ck_assert_msg(ey < TOL && edx < TOL, "n=%d cin=%d %dx%d cout=%d: fwd %g dx %g", c->n, c->cin,
                  c->h, c->w, c->cout, ey, edx);
    clReleaseMemObject(bx), clReleaseMemObject(by), clReleaseMemObject(bdy);
    clReleaseMemObject(bdx);
    layer_free(l);
    free(x), free(w), free(b), free(dy), free(dx0), free(y), free(dx);
    free(xd), free(wd), free(bd), free(dyd), free(yr), free(dxr);
    return fmax(ey, edx);
}

static const int sizes[] = {1, 2, 5, 7, 9, 14, 17};
static const int cins[] = {1, 3, 20}, couts[] = {1, 7, 33};

/* Every (plane size, cin, cout) at batch 1 and 3 (the planes square and,
 * for odd ones, with a different width). */
static void sweep(graft_ctx *ctx, tu_rng *rg, double *worst)
{
    int k = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int ci = 0; ci < 3; ci++)
            for (int co = 0; co < 3; co++, k++) {
                int h = sizes[si], w = sizes[(si + (size_t)(k % 2)) % 7];
                wcase c = {k % 2 ? 3 : 1, cins[ci], h, w, couts[co], k % 3 != 0};
                double e = run_case(ctx, rg, &c, (float)(k % 2));
                if (e > *worst) *worst = e;
            }
}

START_TEST(winograd_matches_reference)
{
    graft_ctx *ctx = wino_ctx(GRAFT_CONV_WINOGRAD_ON, 0);
    tu_rng rg = {2024};
    double worst = 0;
    sweep(ctx, &rg, &worst);
    /* A plane wider than one 16-tile vector of the input transform and a
     * stripe of several 32-tile items, 40 channels in both directions. */
    wcase big = {2, 40, 13, 70, 40, 1};
    double e = run_case(ctx, &rg, &big, 1.0f);
    if (e > worst) worst = e;
    fprintf(stderr, "winograd: worst relative error %.3g\n", worst);
    if (ctx_is_cpu(ctx)) {
        ck_assert_int_gt(tu_kernel_calls(ctx, "winograd_gemm_cpu"), 0);
        ck_assert_int_gt(tu_kernel_calls(ctx, "winograd_input_cpu"), 0);
    } else {
        ck_assert_int_eq(tu_kernel_calls(ctx, "winograd_gemm_cpu"), 0);
    }
    graft_ctx_destroy(ctx);
}
END_TEST

/* A cap below one image's transformed input: every image is its own chunk
 * (the output and the input gradient written at each chunk's offset). */
START_TEST(winograd_chunks_of_one_image)
{
    graft_ctx *ctx = wino_ctx(GRAFT_CONV_WINOGRAD_ON, 4096);
    tu_rng rg = {77};
    wcase c = {3, 5, 9, 11, 7, 1};
    ck_assert(run_case(ctx, &rg, &c, 0.0f) < TOL);
    ck_assert(run_case(ctx, &rg, &c, 1.0f) < TOL);
    if (ctx_is_cpu(ctx)) ck_assert_int_ge(tu_kernel_calls(ctx, "winograd_gemm_cpu"), 12);
    graft_ctx_destroy(ctx);
}
END_TEST

/* conv_forward_epilogue: bias, BatchNorm (running statistics), residual
 * and each activation, alone and together. */
START_TEST(winograd_epilogue_matches_reference)
{
    graft_ctx *ctx = wino_ctx(GRAFT_CONV_WINOGRAD_ON, 0);
    if (!ctx_is_cpu(ctx)) {
        graft_ctx_destroy(ctx);
        return; /* folding is CPU-style only */
    }
    tu_rng rg = {31};
    wcase c = {3, 20, 9, 7, 33, 1};
    size_t nx = nx_of(&c), ny = ny_of(&c), nw = nw_of(&c);
    layer *l = make_layer(ctx, &c);
    ck_assert(conv_fold_supported(ctx, l, c.n, 1));
    float *x = rand_f(&rg, nx), *w = rand_f(&rg, nw), *b = rand_f(&rg, c.cout);
    float *res = rand_f(&rg, ny), *g = rand_f(&rg, c.cout), *be = rand_f(&rg, c.cout);
    float *mu = rand_f(&rg, c.cout), *var = rand_f(&rg, c.cout);
    for (int i = 0; i < c.cout; i++) var[i] = 0.5f + var[i] * var[i];
    float *y = malloc(ny * sizeof *y);
    ck_assert_ptr_nonnull(y);
    cl_mem bx = upload(ctx, x, nx), by = upload(ctx, NULL, ny), bres = upload(ctx, res, ny);
    cl_mem bg = upload(ctx, g, c.cout), bb = upload(ctx, be, c.cout);
    cl_mem bm = upload(ctx, mu, c.cout), bv = upload(ctx, var, c.cout);
    ck_assert_int_eq(ctx_write(ctx, l->params[0].data, 0, w, nw), GRAFT_OK);
    ck_assert_int_eq(ctx_write(ctx, l->params[1].data, 0, b, c.cout), GRAFT_OK);
    double *xd = to_d(x, nx), *wd = to_d(w, nw), *bd = to_d(b, c.cout);
    double *conv = malloc(ny * sizeof *conv), *want = malloc(ny * sizeof *want);
    ck_assert(conv && want);
    ref_forward(&c, xd, wd, bd, conv);
    const float eps = 1e-3f;
    for (int mask = 0; mask < 12; mask++) {
        int has_bn = mask & 1, has_res = (mask >> 1) & 1, act = (mask >> 2) - 1; /* -1 .. 1 */
        if (mask == 11) act = 2;                                                  /* leaky */
        conv_epilogue ep = {has_bn ? bg : NULL, bb, bm, bv, eps, act, 0.1f, has_res ? bres : NULL};
        for (size_t i = 0; i < ny; i++) {
            int o = (int)((i / ((size_t)c.h * c.w)) % c.cout);
            double v = conv[i];
            if (has_bn) v = (v - mu[o]) / sqrt((double)var[o] + eps) * g[o] + be[o];
            if (has_res) v += res[i];
            if (act == 0) v = fmax(v, 0.0);
            if (act == 1) v = fmin(fmax(v, 0.0), 6.0);
            if (act == 2) v = v > 0 ? v : 0.1 * v;
            want[i] = v;
        }
        ck_assert_int_eq(ctx_fill(ctx, by, 0, ny, NAN), GRAFT_OK);
        /* frozen, as inference folding calls it: the transformed weights
         * are packed once (conv_packed.h) and reused by the later cases. */
        fwd_io fio = {.n = c.n, .in = {bx}, .out = by, .frozen = 1};
        ck_assert_msg(conv_forward_epilogue(ctx, l, &fio, &ep) == GRAFT_OK, "%s",
                      graft_last_error(ctx));
        ck_assert_int_eq(ctx_read(ctx, by, 0, y, ny), GRAFT_OK);
        double e = tu_rel_err(y, want, ny);
        fprintf(stderr, "winograd epilogue bn=%d res=%d act=%d: %.2e\n", has_bn, has_res, act, e);
        ck_assert_msg(e < TOL, "epilogue bn=%d res=%d act=%d: %g", has_bn, has_res, act, e);
    }
    ck_assert_int_ge(tu_kernel_calls(ctx, "winograd_gemm_cpu"), 12);
    /* The weights were transformed once for all the cases. */
    ck_assert_int_eq(tu_kernel_calls(ctx, "winograd_weights_cpu"), 1);
    clReleaseMemObject(bx), clReleaseMemObject(by), clReleaseMemObject(bres);
    clReleaseMemObject(bg), clReleaseMemObject(bb), clReleaseMemObject(bm);
    clReleaseMemObject(bv);
    layer_free(l);
    free(x), free(w), free(b), free(res), free(g), free(be), free(mu), free(var), free(y);
    free(xd), free(wd), free(bd), free(conv), free(want);
    graft_ctx_destroy(ctx);
}
END_TEST

/* L = sum(y * R): central differences of the float64 forward in x against
 * the device's input gradient (dout = R). */
START_TEST(winograd_dx_matches_finite_differences)
{
    graft_ctx *ctx = wino_ctx(GRAFT_CONV_WINOGRAD_ON, 0);
    tu_rng rg = {5};
    wcase c = {2, 3, 6, 5, 4, 1};
    size_t nx = nx_of(&c), ny = ny_of(&c), nw = nw_of(&c);
    layer *l = make_layer(ctx, &c);
    float *x = rand_f(&rg, nx), *w = rand_f(&rg, nw), *R = rand_f(&rg, ny);
    float *dx = malloc(nx * sizeof *dx);
    ck_assert_ptr_nonnull(dx);
    cl_mem bx = upload(ctx, x, nx), by = upload(ctx, NULL, ny), bR = upload(ctx, R, ny);
    cl_mem bdx = upload(ctx, NULL, nx);
    ck_assert_int_eq(ctx_write(ctx, l->params[0].data, 0, w, nw), GRAFT_OK);
    bwd_io bio = {.n = c.n, .in = {bx}, .out = by, .dout = bR, .din = {bdx},
                  .din_beta = {0.0f}, .param_grads = 0};
    ck_assert_msg(l->ops->backward(ctx, l, &bio) == GRAFT_OK, "%s", graft_last_error(ctx));
    ck_assert_int_eq(ctx_read(ctx, bdx, 0, dx, nx), GRAFT_OK);
    double *xd = to_d(x, nx), *wd = to_d(w, nw), *y = malloc(ny * sizeof *y);
    double *fd = malloc(nx * sizeof *fd);
    ck_assert(y && fd);
    const double h = 1e-3;
    for (size_t i = 0; i < nx; i++) {
        double keep = xd[i], lp = 0, lm = 0;
        xd[i] = keep + h;
        ref_forward(&c, xd, wd, NULL, y);
        for (size_t j = 0; j < ny; j++) lp += y[j] * R[j];
        xd[i] = keep - h;
        ref_forward(&c, xd, wd, NULL, y);
        for (size_t j = 0; j < ny; j++) lm += y[j] * R[j];
        xd[i] = keep;
        fd[i] = (lp - lm) / (2 * h);
    }
    double e = tu_rel_err(dx, fd, nx);
    fprintf(stderr, "winograd dx finite differences: %.2e\n", e);
    ck_assert_msg(e < 1e-4, "finite differences %g", e);
    if (ctx_is_cpu(ctx)) ck_assert_int_gt(tu_kernel_calls(ctx, "winograd_gemm_cpu"), 0);
    clReleaseMemObject(bx), clReleaseMemObject(by), clReleaseMemObject(bR);
    clReleaseMemObject(bdx);
    layer_free(l);
    free(x), free(w), free(R), free(dx), free(xd), free(wd), free(y), free(fd);
    graft_ctx_destroy(ctx);
}
END_TEST

/* OFF: the same conv never launches a Winograd kernel; ON: rows wider
 * than the input kernel's local row (about 1000 pixels) keep conv_tall_cpu. */
START_TEST(winograd_off_switch)
{
    graft_ctx *ctx = wino_ctx(GRAFT_CONV_WINOGRAD_OFF, 0);
    tu_rng rg = {8};
    wcase c = {2, 64, 14, 14, 64, 1};
    ck_assert(run_case(ctx, &rg, &c, 0.0f) < TOL);
    ck_assert_int_eq(tu_kernel_calls(ctx, "winograd_gemm_cpu"), 0);
    graft_ctx_destroy(ctx);
    ctx = wino_ctx(GRAFT_CONV_WINOGRAD_ON, 0);
    wcase wide = {1, 2, 3, 1100, 3, 1};
    ck_assert(run_case(ctx, &rg, &wide, 1.0f) < TOL);
    ck_assert_int_eq(tu_kernel_calls(ctx, "winograd_gemm_cpu"), 0);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv_winograd");
    TCase *tc = tcase_create("conv_winograd");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, winograd_matches_reference);
    tcase_add_test(tc, winograd_chunks_of_one_image);
    tcase_add_test(tc, winograd_epilogue_matches_reference);
    tcase_add_test(tc, winograd_dx_matches_finite_differences);
    tcase_add_test(tc, winograd_off_switch);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
