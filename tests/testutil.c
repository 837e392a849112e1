#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "env_params.h"

graft_ctx_params tu_params(graft_gemm_backend gemm)
{
    graft_ctx_params p = graft_ctx_default_params();
    char err[512];
    ck_assert_msg(graft_params_from_env(&p, err, sizeof err) == GRAFT_OK, "%s", err);
    if (gemm != GRAFT_GEMM_AUTO) p.gemm = gemm;
    return p;
}

graft_ctx *tu_ctx_params(const graft_ctx_params *p)
{
    graft_ctx *ctx = NULL;
    char err[1024];
    graft_status s = graft_ctx_create(p, &ctx, err, sizeof err);
    if (s == GRAFT_ERR_NO_DEVICE) {
        fprintf(stderr, "skipping: %s\n", err);
        exit(77);
    }
    ck_assert_msg(s == GRAFT_OK, "graft_ctx_create: %s", err);
    return ctx;
}

graft_ctx *tu_ctx(graft_gemm_backend gemm)
{
    graft_ctx_params p = tu_params(gemm);
    return tu_ctx_params(&p);
}

uint64_t tu_next(tu_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double tu_uniform(tu_rng *r) { return (double)(tu_next(r) >> 11) * (1.0 / 9007199254740992.0); }

void tu_fill(tu_rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)tu_uniform(r);
}

double tu_rel_err(const float *a, const double *ref, size_t n)
{
    double maxref = 1e-12, maxdiff = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(ref[i]) > maxref) maxref = fabs(ref[i]);
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= maxdiff)) maxdiff = d; /* also catches NaN */
    }
    return maxdiff / maxref;
}

void tu_ref_gemm(int ta, int tb, int M, int N, int K, double alpha, const float *A,
                 const float *B, double beta, double *C)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * M + i] : A[(size_t)i * K + k];
                double b = tb ? B[(size_t)j * K + k] : B[(size_t)k * N + j];
                acc += a * b;
            }
            C[(size_t)i * N + j] = alpha * acc + beta * C[(size_t)i * N + j];
        }
}

int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

int tu_add(graft_model *m, const char *name, graft_layer_spec s, int nin, const int *in)
{
    int id = -1;
    ck_assert_msg(graft_model_add(m, name, &s, nin, in, &id) == GRAFT_OK, "adding %s: %s", name,
                  graft_last_error(graft_model_ctx(m)));
    return id;
}

graft_layer_spec tu_conv(int out, int k, int stride, int groups, int bias)
{
    graft_layer_spec s = graft_layer_default(GRAFT_LAYER_CONV2D);
    s.channels = out;
    s.kernel = k;
    s.stride = stride;
    s.pad = k / 2;
    s.groups = groups;
    s.bias = bias;
    return s;
}

long tu_kernel_calls(const graft_ctx *ctx, const char *name)
{
    graft_kernel_stat st[256];
    int n = graft_ctx_kernel_profile(ctx, st, 256);
    for (int i = 0; i < n && i < 256; i++)
        if (!strcmp(st[i].name, name)) return st[i].calls;
    return 0;
}
