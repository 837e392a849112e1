/* Softmax cross-entropy (with and without label smoothing) against a
 * float64 reference: mean loss, dlogits (analytic and finite differences),
 * arg-max hits, and bad-label errors. */
#include "layertest.h"
#include "loss.h"

typedef struct loss_ref {
    int n, classes;
    const int *labels;
    double s;
} loss_ref;

/* Mean loss as a 1-element output (FD with R = 1). */
static void loss_ref_fwd(const void *uu, const double *z, double *out)
{
    const loss_ref *u = uu;
    double total = 0;
    for (int b = 0; b < u->n; b++) {
        const double *zb = z + (size_t)b * u->classes;
        double mx = zb[0], se = 0;
        for (int j = 1; j < u->classes; j++) mx = zb[j] > mx ? zb[j] : mx;
        for (int j = 0; j < u->classes; j++) se += exp(zb[j] - mx);
        double lse = mx + log(se);
        for (int j = 0; j < u->classes; j++) {
            double t = u->s / u->classes + (j == u->labels[b] ? 1 - u->s : 0);
            total -= t * (zb[j] - lse);
        }
    }
    out[0] = total / u->n;
}

static void loss_case(graft_ctx *ctx, tu_rng *r, int n, int classes, float s, double *worst)
{
    size_t N = (size_t)n * classes;
    float *z = lt_rand(r, N, -4, 4);
    int *labels = lt_malloc((size_t)n * sizeof *labels);
    for (int b = 0; b < n; b++) labels[b] = (int)(tu_next(r) % (uint64_t)classes);
    /* A logit of ~100 overflows expf without the max shift: exercises the
     * stable log-softmax. It sits on a wrong class so that sample 0 keeps
     * O(1) gradients (a near-certain right answer has ~1e-40 gradients that
     * finite differences cannot resolve). */
    if (classes > 1) z[(labels[0] + 1) % classes] += 100.0f;
    cl_mem dz = lt_upload(ctx, z, N), dg;
    lt_ok(ctx, ctx_alloc(ctx, N * sizeof(float), &dg, "dlogits"));
    float loss = -1;
    int correct = -1;
    lt_ok(ctx, loss_softmax_ce(ctx, dz, labels, n, classes, s, dg, &loss, &correct));
    float *g = lt_download(ctx, dg, N);

    loss_ref u = {n, classes, labels, s};
    double *v = lt_to_double(z, N), ref, one = 1.0;
    double *fd = lt_malloc(N * sizeof *fd), *an = lt_malloc(N * sizeof *an);
    loss_ref_fwd(&u, v, &ref);
    lt_check("loss value", &loss, &ref, 1, worst);
    int hits = 0;
    for (int b = 0; b < n; b++) {
        const double *zb = v + (size_t)b * classes;
        int am = 0;
        double mx = zb[0], se = 0;
        for (int j = 1; j < classes; j++)
            if (zb[j] > zb[am]) am = j;
        mx = zb[am];
        hits += am == labels[b];
        for (int j = 0; j < classes; j++) se += exp(zb[j] - mx);
        for (int j = 0; j < classes; j++) {
            double t = s / classes + (j == labels[b] ? 1 - s : 0);
            an[(size_t)b * classes + j] = (exp(zb[j] - mx) / se - t) / n;
        }
    }
    ck_assert_int_eq(correct, hits);
    lt_check("dlogits (analytic)", g, an, N, worst);
    lt_fd_grad(loss_ref_fwd, &u, v, N, &one, 1, fd);
    lt_check("dlogits (finite differences)", g, fd, N, worst);

    clReleaseMemObject(dz);
    clReleaseMemObject(dg);
    void *ptrs[] = {z, labels, g, v, fd, an};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) free(ptrs[i]);
}

START_TEST(loss_matches_reference)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    tu_rng r = {606};
    double worst = 0;
    float sm[2] = {0.0f, 0.1f};
    for (int k = 0; k < 2; k++) {
        loss_case(ctx, &r, 1, 10, sm[k], &worst);
        loss_case(ctx, &r, 3, 5, sm[k], &worst);
        loss_case(ctx, &r, 37, 13, sm[k], &worst);
        loss_case(ctx, &r, 2, 1, sm[k], &worst); /* one class: loss 0 */
    }
    fprintf(stderr, "loss: worst relative error %.3g (bound %g)\n", worst, LT_BOUND);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(loss_rejects_bad_labels)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    float z[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    cl_mem dz = lt_upload(ctx, z, 12), dg = lt_upload(ctx, z, 12);
    int bad[3] = {0, 1, 4};
    float loss;
    int correct;
    ck_assert_int_eq(loss_softmax_ce(ctx, dz, bad, 3, 4, 0, dg, &loss, &correct),
                     GRAFT_ERR_INVALID_ARG);
    ck_assert_msg(strstr(graft_last_error(ctx), "label 4 of sample 2"), "message: %s",
                  graft_last_error(ctx));
    bad[2] = 0;
    bad[1] = -1;
    ck_assert_int_eq(loss_softmax_ce(ctx, dz, bad, 3, 4, 0, dg, &loss, &correct),
                     GRAFT_ERR_INVALID_ARG);
    ck_assert_msg(strstr(graft_last_error(ctx), "label -1 of sample 1"), "message: %s",
                  graft_last_error(ctx));
    bad[1] = 1;
    ck_assert_int_eq(loss_softmax_ce(ctx, dz, bad, 3, 4, 1.0f, dg, &loss, &correct),
                     GRAFT_ERR_INVALID_ARG);
    lt_ok(ctx, loss_softmax_ce(ctx, dz, bad, 3, 4, 0, dg, &loss, &correct));
    ck_assert_int_eq(correct, 0); /* arg-max is class 3 in every row */
    clReleaseMemObject(dz);
    clReleaseMemObject(dg);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, loss_matches_reference);
    tcase_add_test(tc, loss_rejects_bad_labels);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
