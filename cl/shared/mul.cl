/* Product of two node values a * b, b of a's shape (S = 1) or one value
 * per (sample, channel) plane of S = H * W elements (squeeze-excitation).
 * Both kernel styles. */

__kernel void mul_fwd(__global const float *a, __global const float *b, __global float *y, int n,
                      int S)
{
    int i = get_global_id(0);
    if (i < n) y[i] = a[i] * b[i / S];
}

/* Gradient of a full-size operand: dx = dy * other[i / S] (S = 1 also
 * gives b's gradient when the shapes are equal, with other = a). */
__kernel void mul_bwd_full(__global const float *dy, __global const float *other,
                           __global float *dx, int n, int S, float beta)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float r = dy[i] * other[i / S];
    dx[i] = beta == 0.0f ? r : r + beta * dx[i];
}

/* Gradient of the per-plane operand: db[p] = sum over the plane of dy * a,
 * one work-item per plane (as gap_fwd). */
__kernel void mul_bwd_plane(__global const float *dy, __global const float *a,
                            __global float *db, int planes, int S, float beta)
{
    int p = get_global_id(0);
    if (p >= planes) return;
    __global const float *d = dy + (size_t)p * S, *x = a + (size_t)p * S;
    float acc = 0.0f;
    for (int s = 0; s < S; s++) acc += d[s] * x[s];
    db[p] = beta == 0.0f ? acc : acc + beta * db[p];
}
