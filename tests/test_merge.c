/* Add (3 inputs) and channel concatenation against float64 references;
 * backward by finite differences, with mixed din_beta and a NULL din. */
#include "layertest.h"

typedef struct merge_ref {
    int concat, nin, n, S;
    int c[3];
} merge_ref;

/* x holds the inputs one after another. */
static void merge_ref_fwd(const void *uu, const double *x, double *out)
{
    const merge_ref *u = uu;
    if (!u->concat) {
        size_t N = (size_t)u->n * u->c[0] * u->S;
        for (size_t i = 0; i < N; i++) {
            out[i] = 0;
            for (int k = 0; k < u->nin; k++) out[i] += x[k * N + i];
        }
        return;
    }
    int ct = 0;
    for (int k = 0; k < u->nin; k++) ct += u->c[k];
    size_t off = 0;
    int coff = 0;
    for (int k = 0; k < u->nin; k++) {
        for (int b = 0; b < u->n; b++)
            for (int c = 0; c < u->c[k]; c++)
                for (int s = 0; s < u->S; s++)
                    out[((size_t)b * ct + coff + c) * u->S + s] =
                        x[off + ((size_t)b * u->c[k] + c) * u->S + s];
        off += (size_t)u->n * u->c[k] * u->S;
        coff += u->c[k];
    }
}

static void merge_case(graft_ctx *ctx, tu_rng *r, int concat, int n, const int *cs, int H, int W,
                       double *worst)
{
    graft_layer_spec spec = graft_layer_default(concat ? GRAFT_LAYER_CONCAT : GRAFT_LAYER_ADD);
    merge_ref u = {concat, 3, n, H * W, {cs[0], cs[1], cs[2]}};
    layer_shape in[3];
    size_t sz[3], nx = 0;
    for (int k = 0; k < 3; k++) {
        in[k] = (layer_shape){cs[k], H, W};
        sz[k] = (size_t)n * cs[k] * H * W;
        nx += sz[k];
    }
    layer *l = lt_layer(ctx, &spec, 3, in);
    size_t N = (size_t)n * shape_numel(l->out);
    ck_assert_uint_eq(N, concat ? nx : sz[0]);
    float *x = lt_rand(r, nx, -2, 2), *R = lt_rand(r, N, -1, 1), *base = lt_rand(r, nx, -1, 1);
    double *v = lt_to_double(x, nx), *dR = lt_to_double(R, N);
    double *ref = lt_malloc(N * sizeof *ref), *g = lt_malloc(nx * sizeof *g);
    cl_mem din[3], dx[3], dy = lt_upload(ctx, R, N), dout;
    size_t off = 0;
    for (int k = 0; k < 3; k++) {
        dx[k] = lt_upload(ctx, x + off, sz[k]);
        din[k] = lt_upload(ctx, base + off, sz[k]);
        off += sz[k];
    }
    lt_ok(ctx, ctx_alloc(ctx, N * sizeof(float), &dout, "out"));
    fwd_io fio = {.n = n, .in = {dx[0], dx[1], dx[2]}, .out = dout, .training = 1};
    lt_ok(ctx, l->ops->forward(ctx, l, &fio));
    float *y = lt_download(ctx, dout, N);
    merge_ref_fwd(&u, v, ref);
    lt_check(concat ? "concat forward" : "add forward", y, ref, N, worst);

    /* input 0 overwrites, input 1 accumulates, input 2 is not needed */
    bwd_io bio = {.n = n, .in = {dx[0], dx[1], dx[2]}, .out = dout, .dout = dy,
                  .din = {din[0], din[1], NULL}, .din_beta = {0, 1, 0}};
    lt_ok(ctx, l->ops->backward(ctx, l, &bio));
    lt_fd_grad(merge_ref_fwd, &u, v, nx, dR, N, g);
    float *g0 = lt_download(ctx, din[0], sz[0]), *g1 = lt_download(ctx, din[1], sz[1]);
    float *g2 = lt_download(ctx, din[2], sz[2]);
    lt_check("merge din[0]", g0, g, sz[0], worst);
    for (size_t i = 0; i < sz[1]; i++) g[sz[0] + i] += base[sz[0] + i];
    lt_check("merge din[1] accumulate", g1, g + sz[0], sz[1], worst);
    ck_assert_msg(!memcmp(g2, base + sz[0] + sz[1], sz[2] * sizeof *g2),
                  "merge wrote a gradient that was not asked for");

    for (int k = 0; k < 3; k++) {
        clReleaseMemObject(dx[k]);
        clReleaseMemObject(din[k]);
    }
    clReleaseMemObject(dy);
    clReleaseMemObject(dout);
    layer_free(l);
    void *ptrs[] = {x, R, base, v, dR, ref, g, y, g0, g1, g2};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) free(ptrs[i]);
}

START_TEST(merge_matches_reference)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    tu_rng r = {303};
    double worst = 0;
    int same[3] = {5, 5, 5}, mixed[3] = {2, 3, 1};
    merge_case(ctx, &r, 0, 3, same, 7, 4, &worst);
    merge_case(ctx, &r, 0, 1, same, 3, 5, &worst);
    merge_case(ctx, &r, 1, 3, mixed, 5, 3, &worst);
    merge_case(ctx, &r, 1, 1, mixed, 1, 1, &worst);
    fprintf(stderr, "merge: worst relative error %.3g (bound %g)\n", worst, LT_BOUND);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(merge_rejects_bad_shapes)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    layer *l = NULL;
    layer_shape a[2] = {{3, 4, 4}, {2, 4, 4}}, b[2] = {{3, 4, 4}, {3, 4, 5}};
    graft_layer_spec add = graft_layer_default(GRAFT_LAYER_ADD);
    graft_layer_spec cat = graft_layer_default(GRAFT_LAYER_CONCAT);
    ck_assert_int_eq(layer_create(ctx, "a", &add, 2, a, &l), GRAFT_ERR_SHAPE);
    ck_assert_int_eq(layer_create(ctx, "c", &cat, 2, b, &l), GRAFT_ERR_SHAPE);
    ck_assert_int_eq(layer_create(ctx, "c", &cat, 1, b, &l), GRAFT_ERR_SHAPE);
    ck_assert_int_eq(layer_create(ctx, "c", &cat, 2, a, &l), GRAFT_OK);
    ck_assert_int_eq(l->out.c, 5);
    layer_free(l);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("merge");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, merge_matches_reference);
    tcase_add_test(tc, merge_rejects_bad_shapes);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
