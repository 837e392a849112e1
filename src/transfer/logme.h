/* LogME transferability score (You et al., ICML 2021, "LogME: Practical
 * Assessment of Pre-trained Models for Transfer Learning").
 *
 * For each class c the one-hot column y_c = [y == c] is modelled as
 * y_c = F w + noise, w ~ N(0, alpha^-1 I), noise ~ N(0, beta^-1 I). alpha and
 * beta are chosen by the paper's fixed-point iteration (MacKay updates
 * gamma = sum s/(s+t), alpha = gamma/|m|^2, beta = (n-gamma)/|y-Fm|^2, with
 * t = alpha/beta, the paper's 1e-5 guards in both denominators, start
 * alpha = beta = 1), iterated until t changes by less than 1e-8 relative (at
 * most 100 times; the paper's code stops at 1e-3 or 11 iterations). The
 * score is the mean over classes of log p(y_c | F, alpha, beta) / n, so
 * higher is better and the value is comparable across feature extractors
 * on the same labels.
 *
 * The spectrum comes from LAPACK in double precision: the eigendecomposition
 * of F^T F (dsyevd) when n >= d, the thin SVD of F (dgesdd) when n < d. The
 * log-determinant counts all d eigenvalues of F^T F, including the d - rank
 * zero ones (the published fixed-point code drops those when n < d, so for
 * n < d scores here differ from it by (d-n)/(2n) log(alpha) per class). */
#ifndef GRAFT_LOGME_H
#define GRAFT_LOGME_H
#include <stddef.h>

#include "graft.h"

/* F: n x d floats, row-major (borrowed; all finite). y: n labels in
 * [0, nclasses) (borrowed). Classes without any sample are left out of the
 * mean (their evidence is degenerate); at least one class is present
 * whenever n >= 1. Needs n >= 2 and d >= 1. On success *score holds the
 * LogME value. Errors: GRAFT_ERR_INVALID_ARG (bad sizes, label out of range,
 * NaN/Inf feature), GRAFT_ERR_HOST_MEMORY, GRAFT_ERR_INTERNAL (LAPACK did
 * not converge); err (may be NULL) says which. */
graft_status logme_score(const float *F, int n, int d, const int *y, int nclasses,
                         double *score, char *err, size_t errlen);

/* Evidence per sample of one target column given the spectrum: sigma[0..d-1]
 * are the eigenvalues of F^T F (zeros for the null space), z[i] the
 * projection of F^T y on eigenvector i, yy = |y|^2. Exposed for tests and
 * for callers that reuse one decomposition for many targets. Writes the
 * chosen alpha and beta when the pointers are not NULL. */
double logme_evidence(const double *sigma, const double *z, int d, int n, double yy,
                      double *alpha_out, double *beta_out);
#endif
