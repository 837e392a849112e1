/* channel_slice and channel_shuffle (ShuffleNet v2) against float64
 * references on awkward sizes, backward by finite differences (both are
 * linear, so the differences are exact up to rounding) and din_beta
 * accumulation; shapes they refuse. */
#include "layertest.h"

typedef struct chan_case {
    int n, C, S;  /* batch, input channels, pixels */
    int c0, cy;   /* slice: first channel, channels kept */
    int g;        /* shuffle: groups */
} chan_case;

static void slice_ref(const void *uu, const double *x, double *out)
{
    const chan_case *u = uu;
    for (int b = 0; b < u->n; b++)
        for (int c = 0; c < u->cy; c++)
            for (int s = 0; s < u->S; s++)
                out[((size_t)b * u->cy + c) * u->S + s] =
                    x[((size_t)b * u->C + u->c0 + c) * u->S + s];
}

/* torch: x.view(n, g, C/g, S).transpose(1, 2).reshape(n, C, S). */
static void shuffle_ref(const void *uu, const double *x, double *out)
{
    const chan_case *u = uu;
    int per = u->C / u->g;
    for (int b = 0; b < u->n; b++)
        for (int j = 0; j < per; j++)
            for (int i = 0; i < u->g; i++)
                for (int s = 0; s < u->S; s++)
                    out[((size_t)b * u->C + j * u->g + i) * u->S + s] =
                        x[((size_t)b * u->C + i * per + j) * u->S + s];
}

static void run_case(graft_ctx *ctx, tu_rng *r, chan_case u, int H, int W, double *worst)
{
    u.S = H * W;
    layer_shape in = {u.C, H, W};
    size_t NI = (size_t)u.n * u.C * u.S;
    graft_layer_spec sl = graft_layer_default(GRAFT_LAYER_CHANNEL_SLICE);
    sl.pad = u.c0, sl.channels = u.cy;
    float *x = lt_rand(r, NI, -3, 3);
    lt_unary_layer_check(ctx, r, lt_layer(ctx, &sl, 1, &in), u.n, x, NI,
                         (size_t)u.n * u.cy * u.S, slice_ref, &u, "channel_slice", worst);
    graft_layer_spec sh = graft_layer_default(GRAFT_LAYER_CHANNEL_SHUFFLE);
    sh.groups = u.g;
    lt_unary_layer_check(ctx, r, lt_layer(ctx, &sh, 1, &in), u.n, x, NI, NI, shuffle_ref, &u,
                         "channel_shuffle", worst);
    free(x);
}

START_TEST(channel_ops_match_reference)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    tu_rng r = {97};
    double worst = 0;
    run_case(ctx, &r, (chan_case){.n = 3, .C = 6, .c0 = 0, .cy = 3, .g = 2}, 5, 7, &worst);
    run_case(ctx, &r, (chan_case){.n = 1, .C = 9, .c0 = 4, .cy = 5, .g = 3}, 1, 1, &worst);
    run_case(ctx, &r, (chan_case){.n = 2, .C = 15, .c0 = 7, .cy = 1, .g = 5}, 3, 11, &worst);
    run_case(ctx, &r, (chan_case){.n = 2, .C = 4, .c0 = 1, .cy = 2, .g = 1}, 2, 3, &worst);
    fprintf(stderr, "channel ops: worst relative error %.3g (bound %g)\n", worst, LT_BOUND);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(channel_ops_refuse_bad_shapes)
{
    ck_assert_str_eq(graft_layer_kind_name(GRAFT_LAYER_CHANNEL_SLICE), "channel_slice");
    ck_assert_str_eq(graft_layer_kind_name(GRAFT_LAYER_CHANNEL_SHUFFLE), "channel_shuffle");
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m;
    ck_assert(graft_model_create(ctx, &m) == GRAFT_OK);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 6, in.height = 3, in.width = 3;
    int x = 0;
    ck_assert(graft_model_add(m, "x", &in, 0, NULL, &x) == GRAFT_OK);
    graft_layer_spec sl = graft_layer_default(GRAFT_LAYER_CHANNEL_SLICE);
    sl.pad = 4, sl.channels = 3; /* channels [4, 7) of 6 */
    ck_assert(graft_model_add(m, "s", &sl, 1, &x, NULL) == GRAFT_ERR_SHAPE);
    sl.pad = 0, sl.channels = 0;
    ck_assert(graft_model_add(m, "s", &sl, 1, &x, NULL) == GRAFT_ERR_SHAPE);
    graft_layer_spec sh = graft_layer_default(GRAFT_LAYER_CHANNEL_SHUFFLE);
    sh.groups = 4; /* does not divide 6 */
    ck_assert(graft_model_add(m, "h", &sh, 1, &x, NULL) == GRAFT_ERR_SHAPE);
    sh.groups = 3;
    ck_assert(graft_model_add(m, "h", &sh, 1, &x, NULL) == GRAFT_OK);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("channel_ops");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, channel_ops_match_reference);
    tcase_add_test(tc, channel_ops_refuse_bad_shapes);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
