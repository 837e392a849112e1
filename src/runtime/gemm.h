/* One internal GEMM interface, two back ends (CLBlast, graft's native
 * packed kernels), chosen per context. Row-major, offsets in floats:
 * C[M,N] = alpha * op(A) op(B) + beta * C. */
#ifndef GRAFT_GEMM_H
#define GRAFT_GEMM_H
#include "ctx.h"

typedef struct gemm_operand {
    cl_mem buf;
    size_t off; /* in floats */
    int ld;     /* row stride of the matrix as stored */
    int trans;  /* 1: the stored matrix is the transpose of the operand */
} gemm_operand;

graft_status gemm_run(graft_ctx *ctx, int M, int N, int K, float alpha, gemm_operand a,
                      gemm_operand b, float beta, cl_mem c, size_t coff, int ldc);

/* Pre-packing for callers that own an operand and reuse it (CPU devices,
 * native back end only; not for GPU contexts). gemm_pack_a_into writes
 * op(A) (M x K) into dst at float offset dst_off in the panel layout of
 * cl/cpu/gemm_cpu.cl; dst needs gemm_packed_a_floats(M, K) floats from there.
 * gemm_packed_run then computes C = alpha * op(A) op(B) + beta * C from that
 * packed A and B in any stored layout, exactly like gemm_run (M, N, K > 0;
 * GRAFT_ERR_UNSUPPORTED on GPU devices). gemm_native_cpu does the same, packing
 * into scratch slot 3, when A is small or re-read by many column stripes,
 * and otherwise reads A in place (docs/performance.md). */
size_t gemm_packed_a_floats(int M, int K);
graft_status gemm_pack_a_into(graft_ctx *ctx, int M, int K, gemm_operand a, cl_mem dst,
                              size_t dst_off);
graft_status gemm_packed_run(graft_ctx *ctx, int M, int N, int K, float alpha, cl_mem ap,
                             size_t apoff, gemm_operand b, float beta, cl_mem c, size_t coff,
                             int ldc);

/* The back ends; gemm_run picks one per context (back end and kernel
 * style), so none of them tests the style. */
graft_status gemm_native_cpu(graft_ctx *ctx, int M, int N, int K, float alpha, gemm_operand a,
                             gemm_operand b, float beta, cl_mem c, size_t coff, int ldc);
graft_status gemm_native_gpu(graft_ctx *ctx, int M, int N, int K, float alpha, gemm_operand a,
                             gemm_operand b, float beta, cl_mem c, size_t coff, int ldc);
graft_status gemm_clblast(graft_ctx *ctx, int M, int N, int K, float alpha, gemm_operand a,
                          gemm_operand b, float beta, cl_mem c, size_t coff, int ldc);
#endif
