/* Hard swish x * clamp(alpha * x + beta, 0, 1), one work-item per element
 * (both kernel styles). */

__kernel void hard_swish_fwd(__global const float *x, __global float *y, int n, float alpha,
                             float beta)
{
    int i = get_global_id(0);
    if (i < n) y[i] = x[i] * clamp(alpha * x[i] + beta, 0.0f, 1.0f);
}

/* dx = dy * (h(x) + x * alpha on the ramp); with PyTorch's alpha and beta
 * that is (2x + 3) / 6 inside [-3, 3], 0 below and 1 above. */
__kernel void hard_swish_bwd(__global const float *x, __global const float *dy,
                             __global float *dx, int n, float alpha, float beta, float acc)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float v = x[i], t = alpha * v + beta;
    float d = t <= 0.0f ? 0.0f : t >= 1.0f ? 1.0f : t + alpha * v;
    float r = dy[i] * d;
    dx[i] = acc == 0.0f ? r : r + acc * dx[i];
}
