/* Max/average/global-average pooling against float64 references (padding,
 * stride 1 and 2, kernel 3 stride 2, odd and non-square sizes); backward by
 * finite differences and din_beta accumulation. */
#include "layertest.h"

typedef struct pool_ref {
    graft_layer_kind kind;
    int planes, H, W, OH, OW, kh, kw, s, pt, pl, pb, pr;
    int exclude; /* average: only image pixels count in the divisor */
} pool_ref;

/* Output size as PyTorch computes it: floor or ceil, and with ceil no
 * window that starts in the trailing padding. */
static int ref_out(int in, int k, int s, int lead, int trail, int ceil_mode)
{
    int span = in + lead + trail - k;
    int o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + lead) o--;
    return o;
}

static void pool_ref_fwd(const void *uu, const double *x, double *out)
{
    const pool_ref *u = uu;
    for (int pl = 0; pl < u->planes; pl++) {
        const double *xp = x + (size_t)pl * u->H * u->W;
        if (u->kind == GRAFT_LAYER_GLOBAL_AVGPOOL) {
            double acc = 0;
            for (int i = 0; i < u->H * u->W; i++) acc += xp[i];
            out[pl] = acc / (u->H * u->W);
            continue;
        }
        for (int oh = 0; oh < u->OH; oh++)
            for (int ow = 0; ow < u->OW; ow++) {
                double best = -INFINITY, acc = 0;
                int counted = 0; /* window pixels inside the padded image (or the image) */
                for (int ky = 0; ky < u->kh; ky++)
                    for (int kx = 0; kx < u->kw; kx++) {
                        int ih = oh * u->s - u->pt + ky, iw = ow * u->s - u->pl + kx;
                        int in_image = ih >= 0 && ih < u->H && iw >= 0 && iw < u->W;
                        int in_padded = ih < u->H + u->pb && iw < u->W + u->pr;
                        counted += u->exclude ? in_image : in_padded;
                        if (!in_image) continue;
                        double v = xp[ih * u->W + iw];
                        if (v > best) best = v;
                        acc += v;
                    }
                out[((size_t)pl * u->OH + oh) * u->OW + ow] =
                    u->kind == GRAFT_LAYER_MAXPOOL2D ? best : acc / counted;
            }
    }
}

/* One case; g (may be NULL) adds a non-square window, per-side pads
 * (0 = k / p, as graft_layer_spec), ceil_mode and exclude_pad. */
typedef struct pool_geom {
    int kh, kw, pt, pl, pb, pr, ceil_mode, exclude;
} pool_geom;

static void pool_case_geom(graft_ctx *ctx, tu_rng *r, graft_layer_kind kind, int n, int C, int H,
                           int W, int k, int s, int p, const pool_geom *g, double *worst)
{
    static const pool_geom plain = {0};
    if (!g) g = &plain;
    graft_layer_spec spec = graft_layer_default(kind);
    spec.kernel = k;
    spec.stride = s;
    spec.pad = p;
    spec.kernel_h = g->kh, spec.kernel_w = g->kw;
    spec.pad_top = g->pt, spec.pad_left = g->pl, spec.pad_bottom = g->pb, spec.pad_right = g->pr;
    spec.ceil_mode = g->ceil_mode;
    spec.exclude_pad = g->exclude;
    layer_shape in = {C, H, W};
    layer *l = lt_layer(ctx, &spec, 1, &in);
    pool_ref u = {kind, n * C, H, W, l->out.h, l->out.w, g->kh ? g->kh : k, g->kw ? g->kw : k, s,
                  g->pt ? g->pt : p, g->pl ? g->pl : p, g->pb ? g->pb : p, g->pr ? g->pr : p,
                  g->exclude};
    if (kind == GRAFT_LAYER_GLOBAL_AVGPOOL) {
        ck_assert(l->out.c == C && l->out.h == 1 && l->out.w == 1);
    } else {
        ck_assert_int_eq(l->out.h, ref_out(H, u.kh, s, u.pt, u.pb, g->ceil_mode));
        ck_assert_int_eq(l->out.w, ref_out(W, u.kw, s, u.pl, u.pr, g->ceil_mode));
    }
    size_t NI = (size_t)n * C * H * W, NO = (size_t)n * shape_numel(l->out);
    float *x = lt_rand(r, NI, -2, 2);
    lt_unary_layer_check(ctx, r, l, n, x, NI, NO, pool_ref_fwd, &u, "pool", worst);
    free(x);
}

static void pool_case(graft_ctx *ctx, tu_rng *r, graft_layer_kind kind, int n, int C, int H,
                      int W, int k, int s, int p, double *worst)
{
    pool_case_geom(ctx, r, kind, n, C, H, W, k, s, p, NULL, worst);
}

/* n, C, H, W, k, s, p, then kh kw pt pl pb pr ceil_mode exclude_pad:
 * googlenet's 3x3/2 ceil pools (6x8 -> 3x4, not 2x3: windows hanging past
 * the edge), ceil where the last window would start in the padding (2x2/3
 * pad 1 on width 5: dropped), per-side pads, 1x3 and 3x2 windows,
 * inception's 3x3/1 pad 1 average with and without count_include_pad. */
static const int geom_cases[][15] = {
    {2, 3, 6, 8, 3, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0},
    {1, 2, 6, 7, 3, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0},
    {2, 2, 6, 6, 3, 2, 1, 0, 0, 0, 0, 0, 0, 1, 0},
    {2, 3, 7, 6, 3, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1},
    {2, 2, 7, 5, 2, 3, 1, 0, 0, 0, 0, 0, 0, 1, 1},
    {1, 3, 6, 9, 0, 2, 0, 1, 3, 0, 1, 0, 1, 1, 0},
    {2, 2, 8, 7, 0, 2, 0, 3, 2, 1, 0, 1, 1, 0, 1},
    {1, 2, 9, 8, 3, 2, 0, 0, 0, 1, 0, 0, 1, 1, 1},
};

START_TEST(pool_geometry_matches_reference)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    tu_rng r = {4242};
    double worst = 0;
    for (int kind = 0; kind < 2; kind++)
        for (size_t i = 0; i < sizeof geom_cases / sizeof geom_cases[0]; i++) {
            const int *c = geom_cases[i];
            pool_geom g = {c[7], c[8], c[9], c[10], c[11], c[12], c[13], kind ? c[14] : 0};
            pool_case_geom(ctx, &r, kind ? GRAFT_LAYER_AVGPOOL2D : GRAFT_LAYER_MAXPOOL2D, c[0],
                           c[1], c[2], c[3], c[4], c[5], c[6], &g, &worst);
        }
    fprintf(stderr, "pool geometry: worst relative error %.3g (bound %g)\n", worst, LT_BOUND);
    graft_ctx_destroy(ctx);
}
END_TEST

/* n, C, H, W, k, s, p */
static const int cases[][7] = {
    {3, 3, 7, 6, 3, 2, 1}, {1, 5, 9, 5, 2, 2, 0}, {3, 2, 5, 8, 3, 1, 1},
    {1, 3, 6, 7, 3, 2, 0}, {3, 1, 4, 3, 1, 1, 0},
    /* rows wide enough for the CPU max-pool's 8-output chunks */
    {2, 3, 9, 37, 3, 2, 1}, {1, 2, 8, 34, 3, 2, 1}, {2, 2, 7, 23, 3, 1, 1}, {1, 2, 6, 40, 5, 2, 2},
};

static void sweep(graft_layer_kind kind, const char *name)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    tu_rng r = {404 + kind};
    double worst = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        pool_case(ctx, &r, kind, cases[i][0], cases[i][1], cases[i][2], cases[i][3], cases[i][4],
                  cases[i][5], cases[i][6], &worst);
    fprintf(stderr, "%s: worst relative error %.3g (bound %g)\n", name, worst, LT_BOUND);
    graft_ctx_destroy(ctx);
}

START_TEST(maxpool_matches_reference) { sweep(GRAFT_LAYER_MAXPOOL2D, "maxpool2d"); }
END_TEST

START_TEST(avgpool_matches_reference) { sweep(GRAFT_LAYER_AVGPOOL2D, "avgpool2d"); }
END_TEST

START_TEST(global_avgpool_matches_reference) { sweep(GRAFT_LAYER_GLOBAL_AVGPOOL, "global_avgpool"); }
END_TEST

/* Ties (constant input): the gradient goes to the first maximum of each
 * window in row-major scan order, as in PyTorch. */
START_TEST(maxpool_ties_route_to_first)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_layer_spec spec = graft_layer_default(GRAFT_LAYER_MAXPOOL2D);
    spec.kernel = 2;
    spec.stride = 2;
    layer_shape in = {1, 4, 5};
    layer *l = lt_layer(ctx, &spec, 1, &in);
    ck_assert(l->out.h == 2 && l->out.w == 2);
    float x[20], dyh[4] = {1, 2, 3, 4};
    for (int i = 0; i < 20; i++) x[i] = 1.5f;
    cl_mem dx = lt_upload(ctx, x, 20), dy = lt_upload(ctx, dyh, 4), din = lt_upload(ctx, x, 20);
    cl_mem dout;
    lt_ok(ctx, ctx_alloc(ctx, 4 * sizeof(float), &dout, "out"));
    fwd_io fio = {.n = 1, .in = {dx}, .out = dout, .training = 1};
    lt_ok(ctx, l->ops->forward(ctx, l, &fio));
    bwd_io bio = {.n = 1, .in = {dx}, .out = dout, .dout = dy, .din = {din}, .din_beta = {0}};
    lt_ok(ctx, l->ops->backward(ctx, l, &bio));
    float *g = lt_download(ctx, din, 20);
    for (int i = 0; i < 20; i++) {
        int h = i / 5, w = i % 5;
        float want = (h == 0 || h == 2) && (w == 0 || w == 2) ? dyh[(h / 2) * 2 + w / 2] : 0.0f;
        ck_assert_msg(g[i] == want, "tie gradient at (%d,%d) = %g, want %g", h, w, g[i], want);
    }
    free(g);
    clReleaseMemObject(dx);
    clReleaseMemObject(dy);
    clReleaseMemObject(din);
    clReleaseMemObject(dout);
    layer_free(l);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(pool_rejects_bad_spec)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_layer_spec spec = graft_layer_default(GRAFT_LAYER_MAXPOOL2D);
    layer_shape in = {2, 4, 4};
    layer *l = NULL;
    spec.kernel = 3;
    spec.pad = 2; /* > k/2 */
    ck_assert_int_eq(layer_create(ctx, "p", &spec, 1, &in, &l), GRAFT_ERR_INVALID_ARG);
    spec.pad = 0;
    spec.stride = 0;
    ck_assert_int_eq(layer_create(ctx, "p", &spec, 1, &in, &l), GRAFT_ERR_INVALID_ARG);
    spec.stride = 1;
    spec.kernel = 5; /* larger than 4x4 */
    ck_assert_int_eq(layer_create(ctx, "p", &spec, 1, &in, &l), GRAFT_ERR_SHAPE);
    graft_ctx_destroy(ctx);
}
END_TEST

/* The same with overlapping 3x3/2 windows, pad 1, on rows wide enough for
 * the CPU kernel's vector chunks: each window's gradient goes to its first
 * pixel inside the image. */
START_TEST(maxpool_ties_route_to_first_wide)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_layer_spec spec = graft_layer_default(GRAFT_LAYER_MAXPOOL2D);
    spec.kernel = 3;
    spec.stride = 2;
    spec.pad = 1;
    enum { H = 5, W = 37, OH = 3, OW = 19 };
    layer_shape in = {1, H, W};
    layer *l = lt_layer(ctx, &spec, 1, &in);
    ck_assert(l->out.h == OH && l->out.w == OW);
    float x[H * W], dyh[OH * OW], want[H * W] = {0};
    for (int i = 0; i < H * W; i++) x[i] = -0.5f;
    for (int i = 0; i < OH * OW; i++) {
        dyh[i] = (float)(i + 1);
        int ih = i / OW * 2 - 1, iw = i % OW * 2 - 1;
        want[(ih < 0 ? 0 : ih) * W + (iw < 0 ? 0 : iw)] += dyh[i];
    }
    cl_mem dx = lt_upload(ctx, x, H * W), dy = lt_upload(ctx, dyh, OH * OW);
    cl_mem din = lt_upload(ctx, x, H * W), dout;
    lt_ok(ctx, ctx_alloc(ctx, OH * OW * sizeof(float), &dout, "out"));
    fwd_io fio = {.n = 1, .in = {dx}, .out = dout, .training = 1};
    lt_ok(ctx, l->ops->forward(ctx, l, &fio));
    bwd_io bio = {.n = 1, .in = {dx}, .out = dout, .dout = dy, .din = {din}, .din_beta = {0}};
    lt_ok(ctx, l->ops->backward(ctx, l, &bio));
    float *g = lt_download(ctx, din, H * W);
    for (int i = 0; i < H * W; i++)
        ck_assert_msg(g[i] == want[i], "tie gradient at (%d,%d) = %g, want %g", i / W, i % W,
                      g[i], want[i]);
    free(g);
    clReleaseMemObject(dx);
    clReleaseMemObject(dy);
    clReleaseMemObject(din);
    clReleaseMemObject(dout);
    layer_free(l);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, maxpool_matches_reference);
    tcase_add_test(tc, avgpool_matches_reference);
    tcase_add_test(tc, global_avgpool_matches_reference);
    tcase_add_test(tc, pool_geometry_matches_reference);
    tcase_add_test(tc, maxpool_ties_route_to_first);
    tcase_add_test(tc, maxpool_ties_route_to_first_wide);
    tcase_add_test(tc, pool_rejects_bad_spec);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
