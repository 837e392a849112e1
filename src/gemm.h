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

graft_status gemm_native(graft_ctx *ctx, int M, int N, int K, float alpha, gemm_operand a,
                         gemm_operand b, float beta, cl_mem c, size_t coff, int ldc);
graft_status gemm_clblast(graft_ctx *ctx, int M, int N, int K, float alpha, gemm_operand a,
                          gemm_operand b, float beta, cl_mem c, size_t coff, int ldc);
#endif
