/* Residual add and channel concatenation. */

__kernel void add_fwd2(__global const float *a, __global const float *b, __global float *y, int n)
{
    int i = get_global_id(0);
    if (i < n) y[i] = a[i] + b[i];
}

/* y += a (third and later inputs of an add). */
__kernel void add_acc(__global const float *a, __global float *y, int n)
{
    int i = get_global_id(0);
    if (i < n) y[i] += a[i];
}

/* y[b, coff + c, s] = x[b, c, s] for the cx channels of one input. */
__kernel void concat_fwd(__global const float *x, __global float *y, int n, int cx, int cy,
                         int coff, int S)
{
    int i = get_global_id(0);
    if (i >= n * cx * S) return;
    int s = i % S, c = (i / S) % cx, b = i / (S * cx);
    y[((size_t)b * cy + coff + c) * S + s] = x[i];
}

/* dx[b, c, s] = beta * dx + dy[b, coff + c, s]. */
__kernel void concat_bwd(__global const float *dy, __global float *dx, int n, int cx, int cy,
                         int coff, int S, float beta)
{
    int i = get_global_id(0);
    if (i >= n * cx * S) return;
    int s = i % S, c = (i / S) % cx, b = i / (S * cx);
    float v = dy[((size_t)b * cy + coff + c) * S + s];
    dx[i] = beta == 0.0f ? v : v + beta * dx[i];
}
