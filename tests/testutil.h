/* Shared test helpers: device context (skip with 77 when no OpenCL device
 * exists), deterministic random data, float64 references, error measures. */
#ifndef GRAFT_TESTUTIL_H
#define GRAFT_TESTUTIL_H
#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "graft.h"

/* Default context parameters for a test: graft_ctx_default_params() with
 * the GRAFT_* environment applied through the graft tool's parser
 * (src/cli/env_params.h: GRAFT_DEVICE, and GRAFT_KERNEL_STYLE=gpu, which
 * tests/meson.build sets for the *_gpu_style runs), then gemm unless it is
 * GRAFT_GEMM_AUTO. A bad variable fails the test. */
graft_ctx_params tu_params(graft_gemm_backend gemm);

/* Context with params p. Exits the process with 77 (meson's skip) only when
 * there is no OpenCL device at all; any other failure fails the test. */
graft_ctx *tu_ctx_params(const graft_ctx_params *p);

/* tu_ctx_params(tu_params(gemm)). */
graft_ctx *tu_ctx(graft_gemm_backend gemm);

/* splitmix64-based generator; tests seed it explicitly. */
typedef struct tu_rng { uint64_t s; } tu_rng;
uint64_t tu_next(tu_rng *r);
double tu_uniform(tu_rng *r);               /* [0, 1) */
void tu_fill(tu_rng *r, float *x, size_t n, float lo, float hi);

/* Max |a-b| / max(|b|max, tiny) over n values: relative to the largest
 * reference magnitude so that near-zero entries do not blow it up. */
double tu_rel_err(const float *a, const double *ref, size_t n);

/* Row-major float64 reference: C = alpha op(A) op(B) + beta C. */
void tu_ref_gemm(int ta, int tb, int M, int N, int K, double alpha, const float *A,
                 const float *B, double beta, double *C);

/* Adds a node to m (graft_model_add) and returns its id; a failure fails
 * the test with the model's last error. */
int tu_add(graft_model *m, const char *name, graft_layer_spec s, int nin, const int *in);

/* A conv2d spec: out channels, k x k window padded by k / 2, stride,
 * groups, bias. */
graft_layer_spec tu_conv(int out, int k, int stride, int groups, int bias);

/* Launches of kernel name recorded so far on ctx (graft_ctx_params.
 * profile_kernels on; 0 when it never ran). */
long tu_kernel_calls(const graft_ctx *ctx, const char *name);

/* Run a Check suite; returns the process exit status. */
int tu_run(Suite *s);
#endif
