/* Elementwise helpers shared by every layer. */

/* A software prefetch of the cache line holding p, where the kernels are
 * built by clang for a CPU (PoCL): loops that walk rows far apart (one
 * line per row) get no help from the hardware prefetchers. Nothing on
 * other devices. */
#if defined(GRAFT_DEVICE_CPU) && defined(__clang__)
#define CPU_PREFETCH(p) __builtin_prefetch((p), 0, 3)
#else
#define CPU_PREFETCH(p) ((void)0)
#endif

__kernel void fill_f32(__global float *x, int off, int n, float v)
{
    int i = get_global_id(0);
    if (i < n) x[off + i] = v;
}

/* y = alpha * x + beta * y (beta == 0 overwrites, ignoring NaNs in y). */
__kernel void axpby_f32(__global const float *x, __global float *y, int n, float alpha, float beta)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float v = alpha * x[i];
    y[i] = beta == 0.0f ? v : v + beta * y[i];
}

/* C[r, c] *= beta for an M x N block with row stride ldc (GEMM with K = 0). */
__kernel void scale_rows_f32(__global float *c, int off, int M, int N, int ldc, float beta)
{
    int j = get_global_id(0), i = get_global_id(1);
    if (i >= M || j >= N) return;
    __global float *p = c + off + (size_t)i * ldc + j;
    *p = beta == 0.0f ? 0.0f : beta * *p;
}

/* db[c] = beta * db[c] + sum_{n, s} dy[n, c, s] (bias gradients). */
__kernel void reduce_nc_s(__global const float *dy, int n, int c, int spatial,
                          __global float *db, float beta)
{
    int ch = get_global_id(0);
    if (ch >= c) return;
    float acc = 0.0f;
    for (int i = 0; i < n; i++) {
        __global const float *p = dy + ((size_t)i * c + ch) * spatial;
        for (int s = 0; s < spatial; s++) acc += p[s];
    }
    db[ch] = beta == 0.0f ? acc : acc + beta * db[ch];
}
