/* A run of channels [c0, c0 + cy) of an NCHW tensor (both kernel styles). */

/* y[b, c, s] = x[b, c0 + c, s]. */
__kernel void channel_slice_fwd(__global const float *x, __global float *y, int n, int cx,
                                int cy, int c0, int S)
{
    int i = get_global_id(0);
    if (i >= n * cy * S) return;
    int s = i % S, c = (i / S) % cy, b = i / (S * cy);
    y[i] = x[((size_t)b * cx + c0 + c) * S + s];
}

/* One item per input element: dx = beta * dx + (dy of the kept channel,
 * else 0), so channels outside the slice get zero (beta 0) or keep what
 * another consumer accumulated (beta 1). */
__kernel void channel_slice_bwd(__global const float *dy, __global float *dx, int n, int cx,
                                int cy, int c0, int S, float beta)
{
    int i = get_global_id(0);
    if (i >= n * cx * S) return;
    int s = i % S, c = (i / S) % cx - c0, b = i / (S * cx);
    float v = c >= 0 && c < cy ? dy[((size_t)b * cy + c) * S + s] : 0.0f;
    dx[i] = beta == 0.0f ? v : v + beta * dx[i];
}
