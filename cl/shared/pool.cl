/* Max / average pooling (kh x kw windows, stride s, top and left pads
 * pad_t, pad_l; the bottom and right ones, and ceil_mode, only make OH and
 * OW larger) and global average pooling, shared by both kernel styles: average
 * pooling and the global average forward, one work-item per output
 * (forward) or per input element (backward, as a gather so that no atomics
 * are needed). planes = N * C. Max pooling and the global average backward
 * are style-specific: cl/cpu/pool_cpu.cl, cl/gpu/pool_gpu.cl. */

/* First and last output index along one axis whose window covers input i. */
static int2 pool_range(int i, int k, int s, int p, int O)
{
    int hi = (i + p) / s;
    int lo = i + p - k + 1;
    lo = lo <= 0 ? 0 : (lo + s - 1) / s;
    if (hi > O - 1) hi = O - 1;
    return (int2)(lo, hi);
}

/* Divisor of output (oh, ow): the window's pixels inside the padded image
 * (hlim x wlim: H + bottom pad, W + right pad; the padding counts, ONNX
 * count_include_pad=1), or, with exclude, only those inside the image.
 * kh*kw except where ceil_mode lets a window hang past the padding. */
static float pool_avg_div(int oh, int ow, int H, int W, int kh, int kw, int s, int pad_t, int pad_l,
                          int hlim, int wlim, int exclude)
{
    int h0 = oh * s - pad_t, w0 = ow * s - pad_l;
    int h1 = min(h0 + kh, hlim), w1 = min(w0 + kw, wlim);
    if (exclude) h0 = max(h0, 0), w0 = max(w0, 0);
    return (float)((h1 - h0) * (w1 - w0));
}

/* hlim, wlim: see pool_avg_div (H and W with exclude). */
__kernel void pool_avg_fwd(__global const float *x, __global float *y, int planes, int H, int W,
                           int OH, int OW, int kh, int kw, int s, int pad_t, int pad_l, int hlim,
                           int wlim, int exclude)
{
    int i = get_global_id(0);
    if (i >= planes * OH * OW) return;
    int ow = i % OW, oh = (i / OW) % OH, pl = i / (OW * OH);
    __global const float *xp = x + (size_t)pl * H * W;
    float acc = 0.0f;
    for (int ky = 0; ky < kh; ky++) {
        int ih = oh * s - pad_t + ky;
        if (ih < 0 || ih >= H) continue;
        for (int kx = 0; kx < kw; kx++) {
            int iw = ow * s - pad_l + kx;
            if (iw >= 0 && iw < W) acc += xp[ih * W + iw];
        }
    }
    y[i] = acc / pool_avg_div(oh, ow, H, W, kh, kw, s, pad_t, pad_l, hlim, wlim, exclude);
}

__kernel void pool_avg_bwd(__global const float *dy, __global float *dx, int planes, int H, int W,
                           int OH, int OW, int kh, int kw, int s, int pad_t, int pad_l, int hlim,
                           int wlim, int exclude, float beta)
{
    int i = get_global_id(0);
    if (i >= planes * H * W) return;
    int iw = i % W, ih = (i / W) % H, pl = i / (W * H);
    int2 ry = pool_range(ih, kh, s, pad_t, OH), rx = pool_range(iw, kw, s, pad_l, OW);
    size_t base = (size_t)pl * OH * OW;
    float acc = 0.0f;
    for (int oh = ry.x; oh <= ry.y; oh++)
        for (int ow = rx.x; ow <= rx.y; ow++)
            acc += dy[base + oh * OW + ow] /
                   pool_avg_div(oh, ow, H, W, kh, kw, s, pad_t, pad_l, hlim, wlim, exclude);
    dx[i] = beta == 0.0f ? acc : acc + beta * dx[i];
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
