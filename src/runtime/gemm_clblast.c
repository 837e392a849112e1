/* CLBlast back end. CLBlast caches compiled kernels per OpenCL context, so
 * the one long-lived context/queue of graft_ctx keeps it from recompiling
 * per layer or per batch. */
#include <clblast_c.h>

#include "gemm.h"

graft_status gemm_clblast(graft_ctx *ctx, int M, int N, int K, float alpha, gemm_operand a,
                          gemm_operand b, float beta, cl_mem c, size_t coff, int ldc)
{
    CLBlastStatusCode rc = CLBlastSgemm(
        CLBlastLayoutRowMajor, a.trans ? CLBlastTransposeYes : CLBlastTransposeNo,
        b.trans ? CLBlastTransposeYes : CLBlastTransposeNo, (size_t)M, (size_t)N, (size_t)K,
        alpha, a.buf, a.off, (size_t)a.ld, b.buf, b.off, (size_t)b.ld, beta, c, coff,
        (size_t)ldc, &ctx->queue, NULL);
    if (rc != CLBlastSuccess) {
        if (rc > -1024) return ctx_cl_fail(ctx, (cl_int)rc, "CLBlastSgemm");
        return ctx_fail(ctx, GRAFT_ERR_OPENCL, "CLBlastSgemm failed with CLBlast status %d "
                        "(M=%d N=%d K=%d)", (int)rc, M, N, K);
    }
    return GRAFT_OK;
}
