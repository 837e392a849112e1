/* Product of two node values a * b, b of a's shape (S = 1) or one value
 * per (sample, channel) plane of S = H * W elements (squeeze-excitation).
 * Both kernel styles; the per-plane gradient of b is style-specific
 * (cl/cpu/mul_cpu.cl, cl/gpu/mul_gpu.cl). */

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
