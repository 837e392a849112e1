/* GELU with the exact (erf) form, y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)),
 * one work-item per element (both kernel styles). */

__kernel void gelu_fwd(__global const float *x, __global float *y, int n)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float v = x[i];
    y[i] = 0.5f * v * (1.0f + erf(v * M_SQRT1_2_F));
}

/* dx = dy * (Phi(x) + x * phi(x)), phi the standard normal density. */
__kernel void gelu_bwd(__global const float *x, __global const float *dy, __global float *dx,
                       int n, float beta)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float v = x[i];
    float cdf = 0.5f * (1.0f + erf(v * M_SQRT1_2_F));
    float pdf = exp(-0.5f * v * v) * (0.5f * M_2_SQRTPI_F * M_SQRT1_2_F);
    float r = dy[i] * (cdf + v * pdf);
    dx[i] = beta == 0.0f ? r : r + beta * dx[i];
}
