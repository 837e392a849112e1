/* graft's own GEMM: pack both operands into register-block panels, then
 * one work-item per 6x16 block of C (see cl/gemm.cl). On GPUs, where the
 * packed CPU kernel makes no sense, a local-memory tiled kernel runs. */
#include "gemm.h"

#define MR 6
#define NR 16

graft_status gemm_native(graft_ctx *ctx, int M, int N, int K, float alpha, gemm_operand a,
                         gemm_operand b, float beta, cl_mem c, size_t coff, int ldc)
{
    /* Element (r, k) of op(A) and (k, col) of op(B) as strides. */
    int a_sr = a.trans ? 1 : a.ld, a_sk = a.trans ? a.ld : 1;
    int b_sk = b.trans ? 1 : b.ld, b_sc = b.trans ? b.ld : 1;

    if (ctx->info.type == GRAFT_DEVICE_GPU) {
        size_t gws[2] = {(size_t)N, (size_t)M}, lws[2] = {16, 16};
        return LAUNCH(ctx, "gemm_tiled", 2, gws, lws, KA_MEM(a.buf), KA_INT(a.off), KA_INT(a_sr),
                      KA_INT(a_sk), KA_MEM(b.buf), KA_INT(b.off), KA_INT(b_sk), KA_INT(b_sc),
                      KA_INT(M), KA_INT(N), KA_INT(K), KA_FLT(alpha), KA_FLT(beta), KA_MEM(c),
                      KA_INT(coff), KA_INT(ldc));
    }

    int pm = (M + MR - 1) / MR, pn = (N + NR - 1) / NR;
    cl_mem ap, bp;
    TRY(ctx_scratch(ctx, 3, (size_t)pm * MR * K * sizeof(float), &ap));
    TRY(ctx_scratch(ctx, 4, (size_t)pn * NR * K * sizeof(float), &bp));
    size_t lws[2] = {16, 1};
    size_t ga[2] = {(size_t)K, (size_t)pm};
    TRY(LAUNCH(ctx, "gemm_pack_a", 2, ga, lws, KA_MEM(a.buf), KA_INT(a.off), KA_INT(a_sr),
               KA_INT(a_sk), KA_INT(M), KA_INT(K), KA_MEM(ap)));
    size_t gb[2] = {(size_t)K, (size_t)pn};
    TRY(LAUNCH(ctx, "gemm_pack_b", 2, gb, lws, KA_MEM(b.buf), KA_INT(b.off), KA_INT(b_sk),
               KA_INT(b_sc), KA_INT(K), KA_INT(N), KA_MEM(bp)));
    size_t gc[2] = {(size_t)pm, (size_t)pn}, lc[2] = {1, 1};
    return LAUNCH(ctx, "gemm_packed", 2, gc, lc, KA_MEM(ap), KA_MEM(bp), KA_INT(M), KA_INT(N),
                  KA_INT(K), KA_FLT(alpha), KA_FLT(beta), KA_MEM(c), KA_INT(coff), KA_INT(ldc));
}
