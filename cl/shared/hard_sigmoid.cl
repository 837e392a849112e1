/* Hard sigmoid clamp(alpha * x + beta, 0, 1), one work-item per element
 * (both kernel styles). */

__kernel void hard_sigmoid_fwd(__global const float *x, __global float *y, int n, float alpha,
                               float beta)
{
    int i = get_global_id(0);
    if (i < n) y[i] = clamp(alpha * x[i] + beta, 0.0f, 1.0f);
}

/* dx = dy * alpha on the ramp, 0 on the flat parts (the kinks count as
 * flat, as in PyTorch). */
__kernel void hard_sigmoid_bwd(__global const float *x, __global const float *dy,
                               __global float *dx, int n, float alpha, float beta, float acc)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float t = alpha * x[i] + beta;
    float r = t > 0.0f && t < 1.0f ? dy[i] * alpha : 0.0f;
    dx[i] = acc == 0.0f ? r : r + acc * dx[i];
}
