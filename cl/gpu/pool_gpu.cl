/* Max pooling and the global average backward, GPU-shaped: one
 * work-item per output (forward) or per input element (backward, a gather
 * through pool_range of cl/shared/pool.cl, so no atomics). */

__kernel void pool_max_fwd_gpu(__global const float *x, __global float *y, __global int *arg,
                           int planes, int H, int W, int OH, int OW, int kh, int kw, int s,
                           int pad_t, int pad_l)
{
    int i = get_global_id(0);
    if (i >= planes * OH * OW) return;
    int ow = i % OW, oh = (i / OW) % OH, pl = i / (OW * OH);
    __global const float *xp = x + (size_t)pl * H * W;
    float best = -INFINITY;
    int bi = -1;
    for (int ky = 0; ky < kh; ky++) {
        int ih = oh * s - pad_t + ky;
        if (ih < 0 || ih >= H) continue;
        for (int kx = 0; kx < kw; kx++) {
            int iw = ow * s - pad_l + kx;
            if (iw < 0 || iw >= W) continue;
            float v = xp[ih * W + iw];
            /* strict > keeps the first maximum in scan order */
            if (bi < 0 || v > best) {
                best = v;
                bi = ih * W + iw;
            }
        }
    }
    y[i] = best;
    arg[i] = bi;
}

__kernel void pool_max_bwd_gpu(__global const float *dy, __global const int *arg, __global float *dx,
                           int planes, int H, int W, int OH, int OW, int kh, int kw, int s,
                           int pad_t, int pad_l, float beta)
{
    int i = get_global_id(0);
    if (i >= planes * H * W) return;
    int iw = i % W, ih = (i / W) % H, pl = i / (W * H);
    int2 ry = pool_range(ih, kh, s, pad_t, OH), rx = pool_range(iw, kw, s, pad_l, OW);
    size_t base = (size_t)pl * OH * OW;
    int me = ih * W + iw;
    float acc = 0.0f;
    for (int oh = ry.x; oh <= ry.y; oh++)
        for (int ow = rx.x; ow <= rx.y; ow++) {
            size_t o = base + oh * OW + ow;
            if (arg[o] == me) acc += dy[o];
        }
    dx[i] = beta == 0.0f ? acc : acc + beta * dx[i];
}

__kernel void gap_bwd_gpu(__global const float *dy, __global float *dx, int planes, int S, float beta)
{
    int i = get_global_id(0);
    if (i >= planes * S) return;
    float v = dy[i / S] / (float)S;
    dx[i] = beta == 0.0f ? v : v + beta * dx[i];
}
