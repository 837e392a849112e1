/* GEMM back ends against a float64 reference on awkward shapes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "testutil.h"

static double run_case(graft_ctx *ctx, tu_rng *r, int ta, int tb, int M, int N, int K,
                       float alpha, float beta)
{
    size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = malloc(nc * sizeof *C);
    double *ref = malloc(nc * sizeof *ref);
    ck_assert(A && B && C && ref);
    tu_fill(r, A, na, -1, 1);
    tu_fill(r, B, nb, -1, 1);
    tu_fill(r, C, nc, -1, 1);
    for (size_t i = 0; i < nc; i++) ref[i] = C[i];
    tu_ref_gemm(ta, tb, M, N, K, alpha, A, B, beta, ref);

    graft_tensor *tA, *tB, *tC;
    int sa[2] = {ta ? K : M, ta ? M : K}, sb[2] = {tb ? N : K, tb ? K : N}, sc[2] = {M, N};
    ck_assert_int_eq(graft_tensor_create(ctx, 2, sa, &tA), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_create(ctx, 2, sb, &tB), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_create(ctx, 2, sc, &tC), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_upload(tA, A, na), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_upload(tB, B, nb), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_upload(tC, C, nc), GRAFT_OK);
    graft_status s = graft_gemm(ctx, ta, tb, M, N, K, alpha, tA, tB, beta, tC);
    ck_assert_msg(s == GRAFT_OK, "gemm: %s", graft_last_error(ctx));
    ck_assert_int_eq(graft_tensor_download(tC, C, nc), GRAFT_OK);
    double e = tu_rel_err(C, ref, nc);
    graft_tensor_free(tA);
    graft_tensor_free(tB);
    graft_tensor_free(tC);
    free(A);
    free(B);
    free(C);
    free(ref);
    return e;
}

static const int shapes[][3] = {
    {1, 1, 1}, {7, 13, 5}, {6, 16, 9}, {17, 33, 65}, {64, 100, 27}, {31, 257, 288}, {128, 49, 576},
    {10, 3, 1}, {5, 130, 3},
    /* M * K above the native back end's packing threshold: A read in place. */
    {60, 37, 9000}, {70, 20, 7700},
};

/* tune: the native back end's knobs (graft_ctx_params.gemm_tuning; variant
 * v1: the first, fully packed kernel; packa / direct: force the A packing
 * choice; nr 16: the narrow kernel), so every code path stays covered
 * whatever the size heuristic picks. label names the setting. */
static void sweep_tuned(graft_gemm_backend be, graft_gemm_tuning tune, const char *label)
{
    graft_ctx_params p = tu_params(be);
    p.gemm_tuning = tune;
    graft_ctx *ctx = tu_ctx_params(&p);
    tu_rng r = {42};
    double worst = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                float beta = (i % 2) ? 0.0f : 0.5f;
                double e = run_case(ctx, &r, ta, tb, shapes[i][0], shapes[i][1], shapes[i][2],
                                    1.25f, beta);
                ck_assert_msg(e < 1e-5, "rel err %g for M=%d N=%d K=%d ta=%d tb=%d", e,
                              shapes[i][0], shapes[i][1], shapes[i][2], ta, tb);
                if (e > worst) worst = e;
            }
    fprintf(stderr, "gemm %s%s%s: worst relative error %.3g\n",
            be == GRAFT_GEMM_NATIVE ? "native" : "clblast", label ? " " : "",
            label ? label : "", worst);
    graft_ctx_destroy(ctx);
}

static void sweep_variant(graft_gemm_backend be, graft_gemm_variant variant, const char *label)
{
    graft_gemm_tuning t = {0};
    t.variant = variant;
    sweep_tuned(be, t, label);
}

static void sweep(graft_gemm_backend be) { sweep_variant(be, GRAFT_GEMM_VARIANT_AUTO, NULL); }

START_TEST(gemm_native_matches_reference) { sweep(GRAFT_GEMM_NATIVE); }
END_TEST

START_TEST(gemm_native_direct_a_matches_reference)
{
    sweep_variant(GRAFT_GEMM_NATIVE, GRAFT_GEMM_VARIANT_DIRECT, "direct");
}
END_TEST

START_TEST(gemm_native_packed_a_matches_reference)
{
    sweep_variant(GRAFT_GEMM_NATIVE, GRAFT_GEMM_VARIANT_PACKA, "packa");
}
END_TEST

START_TEST(gemm_native_v1_matches_reference)
{
    sweep_variant(GRAFT_GEMM_NATIVE, GRAFT_GEMM_VARIANT_V1, "v1");
}
END_TEST

/* The 6x16 float8 kernel, which the default only picks for N <= 16. */
START_TEST(gemm_native_narrow_matches_reference)
{
    graft_gemm_tuning t = {0};
    t.nr = 16;
    sweep_tuned(GRAFT_GEMM_NATIVE, t, "nr 16");
}
END_TEST

START_TEST(gemm_clblast_matches_reference) { sweep(GRAFT_GEMM_CLBLAST); }
END_TEST

/* The pre-packing helpers of gemm.h with buffer offsets everywhere, ldc > N,
 * beta != 0 and every transpose combination (CPU devices only). */
START_TEST(gemm_prepacked_a_with_offsets)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_NATIVE);
    if (!ctx_is_cpu(ctx)) {
        /* GPU-style kernels: the packed path is refused, not run. */
        cl_mem none = NULL;
        gemm_operand ob = {none, 0, 1, 0};
        ck_assert_int_eq(gemm_packed_run(ctx, 1, 1, 1, 1.0f, none, 0, ob, 0.0f, none, 0, 1),
                         GRAFT_ERR_UNSUPPORTED);
        graft_ctx_destroy(ctx);
        return;
    }
    enum { M = 13, N = 70, K = 300, LDC = N + 3, AOFF = 5, POFF = 7, BOFF = 3, COFF = 11 };
    tu_rng r = {7};
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C = malloc(sizeof(float) * (COFF + M * LDC));
    float *C0 = malloc(sizeof(float) * (COFF + M * LDC));
    double *ref = malloc(sizeof(double) * M * N);
    ck_assert(A && B && C && C0 && ref);
    cl_mem a, b, c, ap;
    ck_assert_int_eq(ctx_alloc(ctx, sizeof(float) * (AOFF + M * K), &a, "A"), GRAFT_OK);
    ck_assert_int_eq(ctx_alloc(ctx, sizeof(float) * (BOFF + K * N), &b, "B"), GRAFT_OK);
    ck_assert_int_eq(ctx_alloc(ctx, sizeof(float) * (COFF + M * LDC), &c, "C"), GRAFT_OK);
    ck_assert_int_eq(ctx_alloc(ctx, sizeof(float) * (POFF + gemm_packed_a_floats(M, K)), &ap, "Ap"),
                     GRAFT_OK);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            tu_fill(&r, A, (size_t)M * K, -1, 1);
            tu_fill(&r, B, (size_t)K * N, -1, 1);
            tu_fill(&r, C, COFF + (size_t)M * LDC, -1, 1);
            memcpy(C0, C, sizeof(float) * (COFF + M * LDC));
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) ref[i * N + j] = C[COFF + i * LDC + j];
            tu_ref_gemm(ta, tb, M, N, K, 0.75, A, B, 0.5, ref);
            ck_assert_int_eq(ctx_write(ctx, a, AOFF, A, (size_t)M * K), GRAFT_OK);
            ck_assert_int_eq(ctx_write(ctx, b, BOFF, B, (size_t)K * N), GRAFT_OK);
            ck_assert_int_eq(ctx_write(ctx, c, 0, C, COFF + (size_t)M * LDC), GRAFT_OK);
            gemm_operand oa = {a, AOFF, ta ? M : K, ta}, ob = {b, BOFF, tb ? K : N, tb};
            ck_assert_int_eq(gemm_pack_a_into(ctx, M, K, oa, ap, POFF), GRAFT_OK);
            graft_status st = gemm_packed_run(ctx, M, N, K, 0.75f, ap, POFF, ob, 0.5f, c, COFF, LDC);
            ck_assert_msg(st == GRAFT_OK, "gemm_packed_run: %s", graft_last_error(ctx));
            ck_assert_int_eq(ctx_read(ctx, c, 0, C, COFF + (size_t)M * LDC), GRAFT_OK);
            float got[M * N];
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) got[i * N + j] = C[COFF + i * LDC + j];
            double e = tu_rel_err(got, ref, (size_t)M * N);
            ck_assert_msg(e < 1e-5, "rel err %g ta=%d tb=%d", e, ta, tb);
            /* Everything outside the M x N view of C is left alone. */
            for (int i = 0; i < COFF + M * LDC; i++) {
                if (i < COFF || (i - COFF) % LDC >= N) ck_assert(C[i] == C0[i]);
            }
        }
    clReleaseMemObject(a);
    clReleaseMemObject(b);
    clReleaseMemObject(c);
    clReleaseMemObject(ap);
    free(A);
    free(B);
    free(C);
    free(C0);
    free(ref);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(gemm_rejects_bad_shapes)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_NATIVE);
    graft_tensor *a, *b, *c;
    int s23[2] = {2, 3}, s34[2] = {3, 4}, s24[2] = {2, 4};
    ck_assert_int_eq(graft_tensor_create(ctx, 2, s23, &a), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_create(ctx, 2, s34, &b), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_create(ctx, 2, s24, &c), GRAFT_OK);
    ck_assert_int_eq(graft_gemm(ctx, 0, 0, 2, 4, 5, 1, a, b, 0, c), GRAFT_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(graft_last_error(ctx), "K=5"));
    ck_assert_int_eq(graft_gemm(ctx, 0, 0, 0, 4, 3, 1, a, b, 0, c), GRAFT_ERR_SHAPE);
    graft_tensor_free(a);
    graft_tensor_free(b);
    graft_tensor_free(c);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, gemm_native_matches_reference);
    tcase_add_test(tc, gemm_native_direct_a_matches_reference);
    tcase_add_test(tc, gemm_native_packed_a_matches_reference);
    tcase_add_test(tc, gemm_native_v1_matches_reference);
    tcase_add_test(tc, gemm_native_narrow_matches_reference);
    tcase_add_test(tc, gemm_prepacked_a_with_offsets);
    tcase_add_test(tc, gemm_clblast_matches_reference);
    tcase_add_test(tc, gemm_rejects_bad_shapes);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
