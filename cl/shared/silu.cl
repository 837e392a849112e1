/* SiLU (swish) x * s(x), one work-item per element (both kernel styles);
 * s is sigmoid_of from sigmoid.cl, which comes before this file. */

__kernel void silu_fwd(__global const float *x, __global float *y, int n)
{
    int i = get_global_id(0);
    if (i < n) y[i] = x[i] * sigmoid_of(x[i]);
}

/* dx = dy * s(x) * (1 + x * s(-x)): s(-x) for 1 - s(x) keeps its relative
 * accuracy where s(x) is close to 1. */
__kernel void silu_bwd(__global const float *x, __global const float *dy, __global float *dx,
                       int n, float beta)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float v = x[i];
    float r = dy[i] * sigmoid_of(v) * (1.0f + v * sigmoid_of(-v));
    dx[i] = beta == 0.0f ? r : r + beta * dx[i];
}
