/* LogME against an independent float64 reference (cyclic Jacobi
 * eigen-solver, explicit posterior mean and residual), plus properties. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logme.h"
#include "testutil.h"

/* Cyclic Jacobi: a (d x d, symmetric) is destroyed; w gets the eigenvalues,
 * v (row-major) the eigenvectors as columns. */
static void jacobi(double *a, int d, double *w, double *v)
{
    for (int i = 0; i < d * d; i++) v[i] = 0;
    for (int i = 0; i < d; i++) v[i * d + i] = 1;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int p = 0; p < d; p++)
            for (int q = 0; q < d; q++) {
                if (p != q) off += a[p * d + q] * a[p * d + q];
                else diag += a[p * d + p] * a[p * d + p];
            }
        if (off <= 1e-30 * diag) break;
        for (int p = 0; p < d - 1; p++)
            for (int q = p + 1; q < d; q++) {
                double apq = a[p * d + q];
                if (fabs(apq) < 1e-300) continue;
                double theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < d; k++) { /* columns p, q */
                    double akp = a[k * d + p], akq = a[k * d + q];
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for (int k = 0; k < d; k++) { /* rows p, q */
                    double apk = a[p * d + k], aqk = a[q * d + k];
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < d; k++) {
                    double vkp = v[k * d + p], vkq = v[k * d + q];
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < d; i++) w[i] = a[i * d + i] > 0 ? a[i * d + i] : 0;
}

/* Reference LogME: same fixed-point rule as the paper, but m formed in the
 * feature space and |y - F m|^2 computed from the samples directly. */
static double ref_logme(const float *F, int n, int d, const int *y, int C)
{
    double *G = calloc((size_t)d * d, sizeof *G), *w = malloc(d * sizeof *w),
           *V = malloc((size_t)d * d * sizeof *V), *z = malloc(d * sizeof *z),
           *b = malloc(d * sizeof *b), *m = malloc(d * sizeof *m);
    ck_assert(G && w && V && z && b && m);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double acc = 0;
            for (int r = 0; r < n; r++) acc += (double)F[r * d + i] * F[r * d + j];
            G[i * d + j] = acc;
        }
    jacobi(G, d, w, V);
    double total = 0;
    int used = 0;
    for (int c = 0; c < C; c++) {
        double yy = 0;
        for (int r = 0; r < n; r++) yy += y[r] == c;
        if (yy == 0) continue;
        for (int j = 0; j < d; j++) {
            b[j] = 0;
            for (int r = 0; r < n; r++)
                if (y[r] == c) b[j] += F[r * d + j];
        }
        for (int i = 0; i < d; i++) {
            z[i] = 0;
            for (int j = 0; j < d; j++) z[i] += V[j * d + i] * b[j];
        }
        double alpha = 1, beta = 1, gamma = 0, m2 = 0, res2 = 0;
        for (int it = 0; it <= 100; it++) {
            double t = alpha / beta;
            gamma = 0;
            for (int i = 0; i < d; i++) gamma += w[i] / (w[i] + t);
            m2 = 0;
            for (int j = 0; j < d; j++) {
                m[j] = 0;
                for (int i = 0; i < d; i++) m[j] += V[j * d + i] * z[i] / (t + w[i]);
                m2 += m[j] * m[j];
            }
            res2 = 0;
            for (int r = 0; r < n; r++) {
                double e = (y[r] == c) ? 1.0 : 0.0;
                for (int j = 0; j < d; j++) e -= F[r * d + j] * m[j];
                res2 += e * e;
            }
            if (it == 100) break; /* final evaluation at the last alpha/beta */
            alpha = gamma / (m2 + 1e-5);
            beta = (n - gamma) / (res2 + 1e-5);
            if (fabs(alpha / beta - t) <= 1e-8 * t) it = 99;
        }
        double ld = 0;
        for (int i = 0; i < d; i++) ld += log(alpha + beta * w[i]);
        double ev = 0.5 * d * log(alpha) + 0.5 * n * log(beta) - 0.5 * ld - 0.5 * beta * res2 -
                    0.5 * alpha * m2 - 0.5 * n * log(2 * 3.14159265358979323846);
        total += ev / n;
        used++;
    }
    free(G), free(w), free(V), free(z), free(b), free(m);
    return total / used;
}

/* Features with some class signal so the score is not trivial. */
static void make_data(tu_rng *r, float *F, int *y, int n, int d, int C, float signal)
{
    for (int i = 0; i < n; i++) {
        y[i] = (int)(tu_next(r) % (uint64_t)C);
        for (int j = 0; j < d; j++) {
            F[i * d + j] = (float)(2 * tu_uniform(r) - 1);
            if (j % C == y[i]) F[i * d + j] += signal;
        }
    }
}

static void check_against_ref(int n, int d, int C, float signal, uint64_t seed)
{
    tu_rng r = {seed};
    float *F = malloc((size_t)n * d * sizeof *F);
    int *y = malloc(n * sizeof *y);
    ck_assert(F && y);
    make_data(&r, F, y, n, d, C, signal);
    char err[256];
    double s = 0;
    graft_status st = logme_score(F, n, d, y, C, &s, err, sizeof err);
    ck_assert_msg(st == GRAFT_OK, "logme: %s", err);
    double ref = ref_logme(F, n, d, y, C);
    double rel = fabs(s - ref) / fabs(ref);
    fprintf(stderr, "logme n=%d d=%d C=%d: %.12f ref %.12f rel %.3g\n", n, d, C, s, ref, rel);
    ck_assert_msg(isfinite(s) && rel < 1e-6, "logme %.12g vs ref %.12g (rel %g)", s, ref, rel);
    free(F);
    free(y);
}

START_TEST(logme_matches_reference_n_ge_d) { check_against_ref(300, 24, 5, 0.7f, 11); }
END_TEST

START_TEST(logme_matches_reference_n_lt_d) { check_against_ref(18, 40, 3, 0.5f, 12); }
END_TEST

START_TEST(logme_informative_beats_random)
{
    int n = 400, d = 16, C = 4;
    tu_rng r = {5};
    float *good = malloc((size_t)n * d * sizeof *good), *rnd = malloc((size_t)n * d * sizeof *rnd);
    int *y = malloc(n * sizeof *y);
    ck_assert(good && rnd && y);
    for (int i = 0; i < n; i++) {
        y[i] = (int)(tu_next(&r) % (uint64_t)C);
        for (int j = 0; j < d; j++) {
            /* first C dims: one-hot of the label plus noise: a linear map recovers y */
            good[i * d + j] = (float)((j == y[i]) + 0.2 * (2 * tu_uniform(&r) - 1));
            rnd[i * d + j] = (float)(2 * tu_uniform(&r) - 1);
        }
    }
    double sg, sr;
    char err[256];
    ck_assert_int_eq(logme_score(good, n, d, y, C, &sg, err, sizeof err), GRAFT_OK);
    ck_assert_int_eq(logme_score(rnd, n, d, y, C, &sr, err, sizeof err), GRAFT_OK);
    fprintf(stderr, "logme informative %.6f random %.6f\n", sg, sr);
    ck_assert_msg(sg > sr + 0.1, "informative %g not above random %g", sg, sr);
    free(good), free(rnd), free(y);
}
END_TEST

START_TEST(logme_permutation_invariant)
{
    int n = 150, d = 12, C = 3;
    tu_rng r = {77};
    float *F = malloc((size_t)n * d * sizeof *F), *P = malloc((size_t)n * d * sizeof *P);
    int *y = malloc(n * sizeof *y), *py = malloc(n * sizeof *py), *perm = malloc(n * sizeof *perm);
    ck_assert(F && P && y && py && perm);
    make_data(&r, F, y, n, d, C, 0.6f);
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(tu_next(&r) % (uint64_t)(i + 1)), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    for (int i = 0; i < n; i++) {
        memcpy(P + (size_t)i * d, F + (size_t)perm[i] * d, d * sizeof *F);
        py[i] = y[perm[i]];
    }
    double a, b;
    char err[256];
    ck_assert_int_eq(logme_score(F, n, d, y, C, &a, err, sizeof err), GRAFT_OK);
    ck_assert_int_eq(logme_score(P, n, d, py, C, &b, err, sizeof err), GRAFT_OK);
    ck_assert_msg(fabs(a - b) <= 1e-9 * fabs(a), "%.15g vs %.15g", a, b);
    /* a class with no sample is left out of the mean */
    double c6;
    ck_assert_int_eq(logme_score(F, n, d, y, C + 2, &c6, err, sizeof err), GRAFT_OK);
    ck_assert_msg(fabs(a - c6) <= 1e-12 * fabs(a), "%.15g vs %.15g", a, c6);
    free(F), free(P), free(y), free(py), free(perm);
}
END_TEST

START_TEST(logme_rejects_bad_input)
{
    float F[6] = {0.5f, -1, 2, 0.25f, 1, -0.75f};
    int y[3] = {0, 1, 0};
    double s;
    char err[256] = "";
    ck_assert_int_eq(logme_score(F, 3, 2, y, 2, &s, err, sizeof err), GRAFT_OK);
    y[2] = 2;
    ck_assert_int_eq(logme_score(F, 3, 2, y, 2, &s, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "label 2"));
    y[2] = 0;
    F[3] = NAN;
    ck_assert_int_eq(logme_score(F, 3, 2, y, 2, &s, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "not finite"));
    F[3] = 1;
    ck_assert_int_eq(logme_score(F, 1, 2, y, 2, &s, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    ck_assert_int_eq(logme_score(F, 3, 2, y, 0, &s, NULL, 0), GRAFT_ERR_INVALID_ARG);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("logme");
    TCase *tc = tcase_create("logme");
    tcase_add_test(tc, logme_matches_reference_n_ge_d);
    tcase_add_test(tc, logme_matches_reference_n_lt_d);
    tcase_add_test(tc, logme_informative_beats_random);
    tcase_add_test(tc, logme_permutation_invariant);
    tcase_add_test(tc, logme_rejects_bad_input);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
