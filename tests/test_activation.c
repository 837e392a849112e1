/* ReLU, ReLU6 and leaky ReLU against float64 references; backward by
 * finite differences and din_beta accumulation. */
#include "layertest.h"

typedef struct act_ref {
    graft_layer_kind kind;
    double slope;
    size_t n;
} act_ref;

static void act_ref_fwd(const void *uu, const double *x, double *out)
{
    const act_ref *u = uu;
    for (size_t i = 0; i < u->n; i++) {
        double v = x[i];
        if (u->kind == GRAFT_LAYER_RELU) v = v > 0 ? v : 0;
        else if (u->kind == GRAFT_LAYER_RELU6) v = v < 0 ? 0 : v > 6 ? 6 : v;
        else v = v > 0 ? v : u->slope * v;
        out[i] = v;
    }
}

static void act_case(graft_ctx *ctx, tu_rng *r, graft_layer_kind kind, int n, int C, int H, int W,
                     double *worst)
{
    graft_layer_spec spec = graft_layer_default(kind);
    spec.slope = 0.13f;
    layer_shape in = {C, H, W};
    layer *l = lt_layer(ctx, &spec, 1, &in);
    size_t N = (size_t)n * C * H * W;
    /* [-8, 9] reaches both ReLU6 knees; FD steps (1e-6) never cross a kink
     * for this data. */
    float *x = lt_rand(r, N, -8, 9), *R = lt_rand(r, N, -1, 1), *base = lt_rand(r, N, -1, 1);
    double *v = lt_to_double(x, N), *dR = lt_to_double(R, N);
    double *ref = lt_malloc(N * sizeof *ref), *g = lt_malloc(N * sizeof *g);
    act_ref u = {kind, spec.slope, N};
    cl_mem dx = lt_upload(ctx, x, N), dy = lt_upload(ctx, R, N), din = lt_upload(ctx, base, N), dout;
    lt_ok(ctx, ctx_alloc(ctx, N * sizeof(float), &dout, "out"));

    fwd_io fio = {.n = n, .in = {dx}, .out = dout, .training = 1};
    lt_ok(ctx, l->ops->forward(ctx, l, &fio));
    float *y = lt_download(ctx, dout, N);
    act_ref_fwd(&u, v, ref);
    lt_check("activation forward", y, ref, N, worst);

    bwd_io bio = {.n = n, .in = {dx}, .out = dout, .dout = dy, .din = {din}, .din_beta = {0}};
    lt_ok(ctx, l->ops->backward(ctx, l, &bio));
    float *gd = lt_download(ctx, din, N);
    lt_fd_grad(act_ref_fwd, &u, v, N, dR, N, g);
    lt_check("activation backward", gd, g, N, worst);

    lt_ok(ctx, ctx_write(ctx, din, 0, base, N));
    bio.din_beta[0] = 1;
    lt_ok(ctx, l->ops->backward(ctx, l, &bio));
    float *acc = lt_download(ctx, din, N);
    for (size_t i = 0; i < N; i++) ref[i] = base[i] + g[i];
    lt_check("activation backward accumulate", acc, ref, N, worst);

    clReleaseMemObject(dx);
    clReleaseMemObject(dy);
    clReleaseMemObject(din);
    clReleaseMemObject(dout);
    layer_free(l);
    void *ptrs[] = {x, R, base, v, dR, ref, g, y, gd, acc};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) free(ptrs[i]);
}

START_TEST(activations_match_reference)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    tu_rng r = {202};
    double worst = 0;
    graft_layer_kind kinds[] = {GRAFT_LAYER_RELU, GRAFT_LAYER_RELU6, GRAFT_LAYER_LEAKY_RELU};
    for (int k = 0; k < 3; k++) {
        act_case(ctx, &r, kinds[k], 3, 3, 5, 7, &worst);
        act_case(ctx, &r, kinds[k], 1, 5, 1, 1, &worst);
    }
    fprintf(stderr, "activation: worst relative error %.3g (bound %g)\n", worst, LT_BOUND);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("activation");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, activations_match_reference);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
