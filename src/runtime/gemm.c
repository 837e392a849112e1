/* GEMM dispatch: argument checks, degenerate sizes, back-end choice. */
#include "gemm.h"

typedef graft_status (*gemm_fn)(graft_ctx *ctx, int M, int N, int K, float alpha, gemm_operand a,
                                gemm_operand b, float beta, cl_mem c, size_t coff, int ldc);

/* The one place the GEMM implementation is chosen: the context's back end
 * and, for the native one, its kernel style. */
static gemm_fn gemm_backend(const graft_ctx *ctx)
{
    if (ctx->gemm == GRAFT_GEMM_CLBLAST) return gemm_clblast;
    return ctx_is_cpu(ctx) ? gemm_native_cpu : gemm_native_gpu;
}

graft_status gemm_run(graft_ctx *ctx, int M, int N, int K, float alpha, gemm_operand a,
                      gemm_operand b, float beta, cl_mem c, size_t coff, int ldc)
{
    if (M < 0 || N < 0 || K < 0)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "gemm: negative size M=%d N=%d K=%d", M, N, K);
    if (M == 0 || N == 0) return GRAFT_OK;
    if (ldc < N)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "gemm: ldc=%d below N=%d", ldc, N);
    if (K == 0) {
        size_t gws[2] = {(size_t)N, (size_t)M}, lws[2] = {16, 4};
        return LAUNCH(ctx, "scale_rows_f32", 2, gws, lws, KA_MEM(c), KA_INT(coff), KA_INT(M),
                      KA_INT(N), KA_INT(ldc), KA_FLT(beta));
    }
    return gemm_backend(ctx)(ctx, M, N, K, alpha, a, b, beta, c, coff, ldc);
}
