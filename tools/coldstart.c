/* Start-up costs: context creation (graft's program build or cache load)
 * and the first and second GEMM through each back end. Run it twice with
 * the same cache directories to see cold against warm:
 *   XDG_CACHE_HOME=D POCL_CACHE_DIR=D/pocl build/tools/coldstart */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "env_params.h"
#include "graft.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int gemm_twice(graft_gemm_backend be, const char *name)
{
    graft_ctx_params p = graft_ctx_default_params();
    graft_ctx *ctx;
    char err[1024];
    double t0 = now();
    if (graft_params_from_env(&p, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "coldstart: %s\n", err);
        return 1;
    }
    p.gemm = be;
    if (graft_ctx_create(&p, &ctx, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "coldstart: %s\n", err);
        return 1;
    }
    double t1 = now();
    graft_build_stats bs = graft_ctx_build_stats(ctx);
    int s[2] = {64, 64};
    graft_tensor *a, *b, *c;
    graft_tensor_create(ctx, 2, s, &a);
    graft_tensor_create(ctx, 2, s, &b);
    graft_tensor_create(ctx, 2, s, &c);
    float *h = malloc(64 * 64 * sizeof *h);
    for (int i = 0; i < 64 * 64; i++) h[i] = (float)(i % 7) - 3.0f;
    graft_tensor_upload(a, h, 64 * 64);
    graft_tensor_upload(b, h, 64 * 64);
    double t2 = now();
    int rc = graft_gemm(ctx, 0, 0, 64, 64, 64, 1, a, b, 0, c) != GRAFT_OK;
    graft_tensor_download(c, h, 64 * 64);
    double t3 = now();
    rc |= graft_gemm(ctx, 0, 1, 64, 64, 64, 1, a, b, 0, c) != GRAFT_OK;
    rc |= graft_gemm(ctx, 0, 0, 64, 64, 64, 1, a, b, 0, c) != GRAFT_OK;
    graft_tensor_download(c, h, 64 * 64);
    double t4 = now();
    printf("%-8s context %.3f s (programs %s), first sgemm %.3f s, next two %.4f s\n", name, t1 - t0,
           bs.programs_from_cache ? "from cache" : "compiled", t3 - t2, t4 - t3);
    free(h);
    graft_tensor_free(a);
    graft_tensor_free(b);
    graft_tensor_free(c);
    graft_ctx_destroy(ctx);
    return rc;
}

int main(void)
{
    int rc = gemm_twice(GRAFT_GEMM_NATIVE, "native");
    rc |= gemm_twice(GRAFT_GEMM_CLBLAST, "clblast");
    return rc;
}
