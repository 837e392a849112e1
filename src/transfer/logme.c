/* LogME: see logme.h for the model and the choices made. */
#include "logme.h"

#include <lapacke.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"


/* gamma, |m|^2 and |y - F m|^2 at t = alpha/beta, from the spectrum alone:
 * m = sum_i v_i z_i / (t + s_i), so |y - Fm|^2 = |y|^2 - sum z^2 (2t+s)/(t+s)^2
 * and no division by a (possibly tiny) eigenvalue is needed. */
static void stats_at(const double *s, const double *z, int d, double yy, double t, double *gamma,
                     double *m2, double *res2)
{
    double g = 0, mm = 0, fit = 0;
    for (int i = 0; i < d; i++) {
        double ts = t + s[i], z2 = z[i] * z[i];
        g += s[i] / ts;
        mm += z2 / (ts * ts);
        fit += z2 * (2 * t + s[i]) / (ts * ts);
    }
    *gamma = g;
    *m2 = mm;
    double r = yy - fit;
    *res2 = r > 0 ? r : 0; /* rounding can push an exact fit below zero */
}

double logme_evidence(const double *sigma, const double *z, int d, int n, double yy,
                      double *alpha_out, double *beta_out)
{
    const double guard = 1e-5; /* the paper's code: keeps alpha, beta finite on exact fits */
    double alpha = 1, beta = 1, gamma, m2, res2;
    for (int it = 0; it < 100; it++) {
        double t = alpha / beta;
        stats_at(sigma, z, d, yy, t, &gamma, &m2, &res2);
        alpha = gamma / (m2 + guard);
        beta = (n - gamma) / (res2 + guard);
        if (fabs(alpha / beta - t) <= 1e-8 * t) break;
    }
    stats_at(sigma, z, d, yy, alpha / beta, &gamma, &m2, &res2);
    double logdet = 0;
    for (int i = 0; i < d; i++) logdet += log(alpha + beta * sigma[i]);
    double ev = 0.5 * d * log(alpha) + 0.5 * n * log(beta) - 0.5 * logdet - 0.5 * beta * res2 -
                0.5 * alpha * m2 - 0.5 * n * log(2 * 3.14159265358979323846);
    if (alpha_out) *alpha_out = alpha;
    if (beta_out) *beta_out = beta;
    return ev / n;
}

graft_status logme_score(const float *F, int n, int d, const int *y, int nclasses,
                         double *score, char *err, size_t errlen)
{
    if (!F || !y || !score)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "logme: NULL argument");
    if (n < 2 || d < 1 || nclasses < 1)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                    "logme: need n >= 2, d >= 1, nclasses >= 1 (n=%d d=%d nclasses=%d)", n, d,
                    nclasses);
    if ((size_t)n > SIZE_MAX / sizeof(double) / (size_t)d)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "logme: n x d = %d x %d too large", n, d);
    for (int i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= nclasses)
            return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                        "logme: label %d of sample %d outside [0, %d)", y[i], i, nclasses);
    size_t nd = (size_t)n * d;
    for (size_t i = 0; i < nd; i++)
        if (!isfinite(F[i]))
            return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                        "logme: feature %zu (sample %zu, dim %zu) is not finite", i, i / d,
                        i % d);

    int k = n < d ? n : d; /* non-trivial eigenvalues */
    double *A = malloc(nd * sizeof *A);
    double *sigma = calloc((size_t)d, sizeof *sigma);
    double *z = calloc((size_t)d, sizeof *z);
    double *b = malloc((size_t)(n > d ? n : d) * sizeof *b);
    double *vec = malloc((size_t)k * k * sizeof *vec); /* eigenvectors (d x d) or U (n x n) */
    double *vt = n < d ? malloc(nd * sizeof *vt) : NULL;
    int *count = calloc((size_t)nclasses, sizeof *count);
    graft_status st = GRAFT_OK;
    if (!A || !sigma || !z || !b || !vec || (n < d && !vt) || !count) {
        st = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "logme: out of memory for %d x %d", n, d);
        goto out;
    }
    for (size_t i = 0; i < nd; i++) A[i] = F[i];
    for (int i = 0; i < n; i++) count[y[i]]++;

    if (n >= d) {
        /* Gram matrix F^T F, upper triangle, accumulated row by row so the
         * inner loop streams contiguous memory. */
        memset(vec, 0, (size_t)d * d * sizeof *vec);
        for (int r = 0; r < n; r++) {
            const double *row = A + (size_t)r * d;
            for (int i = 0; i < d; i++) {
                double fi = row[i];
                double *g = vec + (size_t)i * d;
                for (int j = i; j < d; j++) g[j] += fi * row[j];
            }
        }
        lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', d, vec, d, sigma);
        if (info != 0) {
            st = error_set(err, errlen, GRAFT_ERR_INTERNAL, "logme: LAPACKE_dsyevd failed (info %d)",
                      (int)info);
            goto out;
        }
    } else {
        lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', n, d, A, d, sigma, vec, n, vt, d);
        if (info != 0) {
            st = error_set(err, errlen, GRAFT_ERR_INTERNAL, "logme: LAPACKE_dgesdd failed (info %d)",
                      (int)info);
            goto out;
        }
        /* eigenvalues of F^T F are the squared singular values; the other
         * d - n stay zero from calloc */
        for (int i = 0; i < n; i++) sigma[i] *= sigma[i];
    }
    for (int i = 0; i < d; i++)
        if (sigma[i] < 0) sigma[i] = 0; /* dsyevd can return -eps for a null direction */

    double sum = 0;
    int used = 0;
    for (int c = 0; c < nclasses; c++) {
        if (!count[c]) continue;
        memset(z, 0, (size_t)d * sizeof *z);
        if (n >= d) {
            /* z = V^T F^T y_c; F^T y_c is the sum of the class's rows */
            memset(b, 0, (size_t)d * sizeof *b);
            for (int r = 0; r < n; r++)
                if (y[r] == c)
                    for (int j = 0; j < d; j++) b[j] += A[(size_t)r * d + j];
            for (int r = 0; r < d; r++) {
                const double *vr = vec + (size_t)r * d;
                for (int i = 0; i < d; i++) z[i] += vr[i] * b[r];
            }
        } else {
            /* F = U S V^T, so V^T F^T y = S U^T y */
            for (int r = 0; r < n; r++)
                if (y[r] == c)
                    for (int i = 0; i < n; i++) z[i] += vec[(size_t)r * n + i];
            for (int i = 0; i < n; i++) z[i] *= sqrt(sigma[i]);
        }
        sum += logme_evidence(sigma, z, d, n, (double)count[c], NULL, NULL);
        used++;
    }
    *score = sum / used;
out:
    free(A);
    free(sigma);
    free(z);
    free(b);
    free(vec);
    free(vt);
    free(count);
    return st;
}
