/* Logistic sigmoid, one work-item per element (both kernel styles). */

/* 1 / (1 + e^-v) without overflow: e^-|v| never exceeds 1. */
static float sigmoid_of(float v)
{
    float e = exp(-fabs(v));
    return v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

__kernel void sigmoid_fwd(__global const float *x, __global float *y, int n)
{
    int i = get_global_id(0);
    if (i < n) y[i] = sigmoid_of(x[i]);
}

/* dx = dy * s(x) * s(-x): 1 - s(x) as s(-x) keeps its relative accuracy
 * where s(x) is close to 1. */
__kernel void sigmoid_bwd(__global const float *x, __global const float *dy, __global float *dx,
                          int n, float beta)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float v = x[i];
    float r = dy[i] * sigmoid_of(v) * sigmoid_of(-v);
    dx[i] = beta == 0.0f ? r : r + beta * dx[i];
}
