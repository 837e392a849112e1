/* Public device tensors and the public GEMM entry point. */
#include <stdlib.h>

#include "gemm.h"
#include "tensor.h"

graft_status graft_tensor_create(graft_ctx *ctx, int ndim, const int *shape, graft_tensor **out)
{
    if (!ctx || !out) return GRAFT_ERR_INVALID_ARG;
    *out = NULL;
    if (ndim < 1 || ndim > GRAFT_MAX_DIMS || !shape)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "tensor: %d dimensions, expected 1 to %d", ndim,
                        GRAFT_MAX_DIMS);
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return ctx_fail(ctx, GRAFT_ERR_SHAPE, "tensor: dimension %d is %d, expected > 0", i,
                            shape[i]);
        if (numel > ((size_t)1 << 40) / (size_t)shape[i])
            return ctx_fail(ctx, GRAFT_ERR_DEVICE_MEMORY, "tensor: shape too large");
        numel *= (size_t)shape[i];
    }
    graft_tensor *t = calloc(1, sizeof *t);
    if (!t) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    graft_status s = ctx_alloc(ctx, numel * sizeof(float), &t->buf, "tensor");
    if (s != GRAFT_OK) {
        free(t);
        return s;
    }
    t->ctx = ctx;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    *out = t;
    return GRAFT_OK;
}

void graft_tensor_free(graft_tensor *t)
{
    if (!t) return;
    if (t->buf) clReleaseMemObject(t->buf);
    free(t);
}

int graft_tensor_ndim(const graft_tensor *t) { return t->ndim; }
int graft_tensor_dim(const graft_tensor *t, int i)
{
    return (i >= 0 && i < t->ndim) ? t->shape[i] : 0;
}
size_t graft_tensor_numel(const graft_tensor *t) { return t->numel; }

graft_status graft_tensor_upload(graft_tensor *t, const float *src, size_t n)
{
    if (!t || !src) return GRAFT_ERR_INVALID_ARG;
    if (n != t->numel)
        return ctx_fail(t->ctx, GRAFT_ERR_SHAPE, "tensor upload: %zu values for a tensor of %zu",
                        n, t->numel);
    return ctx_write(t->ctx, t->buf, 0, src, n);
}

graft_status graft_tensor_download(const graft_tensor *t, float *dst, size_t n)
{
    if (!t || !dst) return GRAFT_ERR_INVALID_ARG;
    if (n != t->numel)
        return ctx_fail(t->ctx, GRAFT_ERR_SHAPE, "tensor download: %zu values for a tensor of %zu",
                        n, t->numel);
    return ctx_read(t->ctx, t->buf, 0, dst, n);
}

graft_status graft_gemm(graft_ctx *ctx, int transA, int transB, int M, int N, int K, float alpha,
                        const graft_tensor *A, const graft_tensor *B, float beta, graft_tensor *C)
{
    if (!ctx || !A || !B || !C) return GRAFT_ERR_INVALID_ARG;
    if (M <= 0 || N <= 0 || K <= 0)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "gemm: sizes M=%d N=%d K=%d must be positive", M, N, K);
    if (A->numel != (size_t)M * K || B->numel != (size_t)K * N || C->numel != (size_t)M * N)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE,
                        "gemm: tensors of %zu, %zu, %zu values do not fit M=%d N=%d K=%d", A->numel,
                        B->numel, C->numel, M, N, K);
    gemm_operand a = {A->buf, 0, transA ? M : K, transA != 0};
    gemm_operand b = {B->buf, 0, transB ? K : N, transB != 0};
    return gemm_run(ctx, M, N, K, alpha, a, b, beta, C->buf, 0, N);
}
