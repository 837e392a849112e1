/* Max / average pooling (square kernel k, stride s, pad p) and global
 * average pooling, shared by both kernel styles: average pooling and the
 * global average forward, one work-item per output (forward) or per input
 * element (backward, as a gather so that no atomics are needed).
 * planes = N * C. Max pooling and the global average backward are
 * style-specific: cl/cpu/pool_cpu.cl, cl/gpu/pool_gpu.cl. */

/* First and last output index along one axis whose window covers input i. */
static int2 pool_range(int i, int k, int s, int p, int O)
{
    int hi = (i + p) / s;
    int lo = i + p - k + 1;
    lo = lo <= 0 ? 0 : (lo + s - 1) / s;
    if (hi > O - 1) hi = O - 1;
    return (int2)(lo, hi);
}

/* Padding counts towards the divisor (count_include_pad); with floor output
 * sizes every window lies inside the padded image, so it is always k*k. */
__kernel void pool_avg_fwd(__global const float *x, __global float *y, int planes, int H, int W,
                           int OH, int OW, int k, int s, int p)
{
    int i = get_global_id(0);
    if (i >= planes * OH * OW) return;
    int ow = i % OW, oh = (i / OW) % OH, pl = i / (OW * OH);
    __global const float *xp = x + (size_t)pl * H * W;
    float acc = 0.0f;
    for (int ky = 0; ky < k; ky++) {
        int ih = oh * s - p + ky;
        if (ih < 0 || ih >= H) continue;
        for (int kx = 0; kx < k; kx++) {
            int iw = ow * s - p + kx;
            if (iw >= 0 && iw < W) acc += xp[ih * W + iw];
        }
    }
    y[i] = acc / (float)(k * k);
}

__kernel void pool_avg_bwd(__global const float *dy, __global float *dx, int planes, int H, int W,
                           int OH, int OW, int k, int s, int p, float beta)
{
    int i = get_global_id(0);
    if (i >= planes * H * W) return;
    int iw = i % W, ih = (i / W) % H, pl = i / (W * H);
    int2 ry = pool_range(ih, k, s, p, OH), rx = pool_range(iw, k, s, p, OW);
    size_t base = (size_t)pl * OH * OW;
    float acc = 0.0f;
    for (int oh = ry.x; oh <= ry.y; oh++)
        for (int ow = rx.x; ow <= rx.y; ow++) acc += dy[base + oh * OW + ow];
    float v = acc / (float)(k * k);
    dx[i] = beta == 0.0f ? v : v + beta * dx[i];
}

__kernel void gap_fwd(__global const float *x, __global float *y, int planes, int S)
{
    int i = get_global_id(0);
    if (i >= planes) return;
    __global const float *xp = x + (size_t)i * S;
    float acc = 0.0f;
    for (int j = 0; j < S; j++) acc += xp[j];
    y[i] = acc / (float)S;
}
