/* Max pooling and the global average backward, CPU-shaped (PoCL): one
 * work-item per (sample, channel) plane. The backward passes scatter
 * within their own plane, so no atomics. */

__kernel void pool_max_fwd_cpu(__global const float *x, __global float *y, __global int *arg,
                                  int planes, int H, int W, int OH, int OW, int kh, int kw, int s,
                                  int pad_t, int pad_l)
{
    int pl = get_global_id(0);
    if (pl >= planes) return;
    __global const float *xp = x + (size_t)pl * H * W;
    __global float *yp = y + (size_t)pl * OH * OW;
    __global int *ap = arg + (size_t)pl * OH * OW;
    if (kh == 2 && kw == 2 && s == 2 && pad_t == 0 && pad_l == 0 && OH * 2 <= H && OW * 2 <= W) {
        /* The common 2x2/2 window, branch-free: a branch on which value
         * wins mispredicts about half the time on real data. Ties keep
         * the first in scan order, as below. */
        for (int oh = 0; oh < OH; oh++) {
            __global const float *r0 = xp + (size_t)(2 * oh) * W, *r1 = r0 + W;
            for (int ow = 0; ow < OW; ow++) {
                int i0 = 2 * oh * W + 2 * ow;
                float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
                float m = a;
                int bi = i0;
                bi = b > m ? i0 + 1 : bi;
                m = b > m ? b : m;
                bi = c > m ? i0 + W : bi;
                m = c > m ? c : m;
                bi = d > m ? i0 + W + 1 : bi;
                m = d > m ? d : m;
                yp[oh * OW + ow] = m;
                ap[oh * OW + ow] = bi;
            }
        }
        return;
    }
    /* Rows whose window lies inside the image take 8 outputs at a time
     * where their windows do too (stride 1: vload8; stride 2: the even
     * lanes of a vload16, whose odd last lane must lie inside the row as
     * well); the taps are scanned in the same order as below, so ties and
     * NaNs resolve identically. ResNet's 3x3/2 stem pool. */
    int vlo = s <= 2 ? (pad_l + s - 1) / s : OW, vhi = 0, last = kw - 1 - pad_l + s - 1;
    if (s <= 2 && W - 1 - last >= 0) vhi = min((W - 1 - last) / s + 1, OW);
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            int ih0 = oh * s - pad_t;
            if (ih0 >= 0 && ih0 + kh <= H && ow >= vlo && ow + 8 <= vhi) {
                int iw0 = ow * s - pad_l;
                __global const float *r = xp + (size_t)ih0 * W + iw0;
                int8 idx = (int8)(0, 1, 2, 3, 4, 5, 6, 7) * s + ih0 * W + iw0;
                float8 best = s == 1 ? vload8(0, r) : vload16(0, r).even;
                int8 bi = idx;
                for (int ky = 0; ky < kh; ky++)
                    for (int kx = 0; kx < kw; kx++) {
                        __global const float *q = r + ky * W + kx;
                        float8 v = s == 1 ? vload8(0, q) : vload16(0, q).even;
                        int8 take = v > best;
                        best = select(best, v, take);
                        bi = select(bi, idx + (ky * W + kx), take);
                    }
                vstore8(best, 0, yp + oh * OW + ow);
                vstore8(bi, 0, ap + oh * OW + ow);
                ow += 7;
                continue;
            }
            float best = -INFINITY;
            int bi = -1;
            for (int ky = 0; ky < kh; ky++) {
                int ih = oh * s - pad_t + ky;
                if (ih < 0 || ih >= H) continue;
                for (int kx = 0; kx < kw; kx++) {
                    int iw = ow * s - pad_l + kx;
                    if (iw < 0 || iw >= W) continue;
                    float v = xp[ih * W + iw];
                    int take = bi < 0 || v > best;
                    best = take ? v : best;
                    bi = take ? ih * W + iw : bi;
                }
            }
            yp[oh * OW + ow] = best;
            ap[oh * OW + ow] = bi;
        }
}

__kernel void pool_max_bwd_cpu(__global const float *dy, __global const int *arg,
                                  __global float *dx, int planes, int H, int W, int OH, int OW,
                                  float beta)
{
    int pl = get_global_id(0);
    if (pl >= planes) return;
    __global float *dp = dx + (size_t)pl * H * W;
    if (beta == 0.0f)
        for (int i = 0; i < H * W; i++) dp[i] = 0.0f;
    __global const float *g = dy + (size_t)pl * OH * OW;
    __global const int *a = arg + (size_t)pl * OH * OW;
    for (int o = 0; o < OH * OW; o++) dp[a[o]] += g[o];
}

__kernel void gap_bwd_cpu(__global const float *dy, __global float *dx, int planes, int S,
                             float beta)
{
    int pl = get_global_id(0);
    if (pl >= planes) return;
    float v = dy[pl] / (float)S;
    __global float *d = dx + (size_t)pl * S;
    for (int i = 0; i < S; i++) d[i] = beta == 0.0f ? v : v + beta * d[i];
}
