/* Implicit-GEMM convolution for CPU devices (PoCL), stride 1, dilation 1,
 * one group, output rows of at most 32 pixels.
 *
 * The same 6 x 32 register block as gemm_blocked_w (cl/gemm.cl, whose
 * macros it uses), but the B stripe in local memory is gathered straight
 * from the NCHW input instead of from an im2col matrix: a stripe is `rps`
 * whole output rows of one image (rps = 32 / wout), so for each k =
 * (ci, ky, kx) it is rps contiguous runs of the input plane, zero-padded
 * at the borders. The column matrix is never written (it was the largest
 * memory stream of a conv), and because the stripe's pixels are
 * consecutive in the output plane the results go straight to NCHW (no
 * layout pass). Columns past rps * wout are zero and not stored, so 28-wide
 * rows use 28 of the 32 lanes.
 *
 * y[img][co][p] = beta * y + sum_k W[co][k] * x~[img][k][p] (+ bias[co])
 * for images n0 .. n0 + n - 1. W comes packed by gemm_pack_a
 * (Ap[p][k][r]); the same kernel computes the input gradient of a stride-1
 * conv as a conv of dy with transposed, flipped weights and pad k-1-pad. */
__kernel void conv_implicit_fwd(__global const float *ap, __global const float *x,
                                __global const float *bias, int has_bias, __global float *y,
                                int n0, int n, int cin, int h, int w, int cout, int hout,
                                int wout, int k, int pad, int rps, int pc, float beta0)
{
    __local float bs[KC * NRW];
    int spi = (hout + rps - 1) / rps; /* stripes per image */
    int q = get_global_id(0), p0 = get_global_id(1) * pc;
    int M = cout, K = cin * k * k, pm = (M + MR - 1) / MR;
    if (q >= n * spi || p0 >= pm) return;
    int p1 = min(pm, p0 + pc);
    int img = n0 + q / spi, oy0 = (q % spi) * rps;
    int rows = min(rps, hout - oy0), ncols = rows * wout;
    int full = ncols == NRW, P = hout * wout, kk2 = k * k;
    __global const float *xi = x + (size_t)img * cin * h * w;
    int aps = K * MR, ask = MR, asr = 1;
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kn = min(KC, K - k0);
        /* (ci, ky, kx) of row k0, then stepped: a division per row would
         * cost as much as the row's FMAs. */
        int ci = k0 / kk2, rem0 = k0 - ci * kk2;
        int ky = rem0 / k, kx = rem0 - ky * k;
        for (int kq = 0; kq < kn; kq++) {
            __global const float *plane = xi + (size_t)ci * h * w;
            __local float *d = bs + kq * NRW;
            /* Output columns whose input column lies inside the image. */
            int lo = max(0, pad - kx), hi = min(wout, w + pad - kx);
            if (hi < lo) hi = lo;
            /* Zeros first (borders, rows outside the image, unused lanes),
             * then each row's inside part in 8-float moves. */
            vstore16((float16)(0.0f), 0, d);
            vstore16((float16)(0.0f), 1, d);
            for (int rr = 0, t = 0; rr < rows; rr++, t += wout) {
                int iy = oy0 + rr - pad + ky;
                if (iy < 0 || iy >= h) continue;
                __global const float *src = plane + (size_t)iy * w - pad + kx;
                int ox = lo;
                for (; ox + 8 <= hi; ox += 8) vstore8(vload8(0, src + ox), 0, d + t + ox);
                for (; ox < hi; ox++) d[t + ox] = src[ox];
            }
            if (++kx == k) {
                kx = 0;
                if (++ky == k) {
                    ky = 0;
                    ci++;
                }
            }
        }
        /* beta applies once, on the first chunk; later chunks accumulate. */
        float beta = k0 == 0 ? beta0 : 1.0f;
        float alpha = 1.0f;
        int j0 = oy0 * wout;
        for (int p = p0; p < p1; p++) {
            int i0 = p * MR;
            __global const float *pa = ap + (size_t)p * aps + (size_t)k0 * ask;
            int r0 = A_ROW(0), r1 = A_ROW(1), r2 = A_ROW(2);
            int r3 = A_ROW(3), r4 = A_ROW(4), r5 = A_ROW(5);
            __local const float *pb = bs;
            float16 c00 = 0, c01 = 0, c10 = 0, c11 = 0, c20 = 0, c21 = 0;
            float16 c30 = 0, c31 = 0, c40 = 0, c41 = 0, c50 = 0, c51 = 0;
            for (int kq = 0; kq < kn; kq++) {
                float16 b0 = vload16(0, pb), b1 = vload16(1, pb);
                ROW_FMA_AT16(0, r0) ROW_FMA_AT16(1, r1) ROW_FMA_AT16(2, r2)
                ROW_FMA_AT16(3, r3) ROW_FMA_AT16(4, r4) ROW_FMA_AT16(5, r5)
                pa += ask;
                pb += NRW;
            }
            /* Bias once, with the last chunk. */
            if (has_bias && k0 + kn == K) {
#define CONV_BIAS(r)                                                           \
    if (i0 + r < M) {                                                          \
        c##r##0 += bias[i0 + r];                                               \
        c##r##1 += bias[i0 + r];                                               \
    }
                CONV_BIAS(0) CONV_BIAS(1) CONV_BIAS(2) CONV_BIAS(3) CONV_BIAS(4) CONV_BIAS(5)
#undef CONV_BIAS
            }
            /* ROW_STORE16 writes row i0 + r at c + coff + (i0 + r) * ldc + j0:
             * the output plane of channel i0 + r of this image. */
            __global float *c = y;
            size_t coff = (size_t)img * M * P;
            int ldc = P;
            ROW_STORE16(0) ROW_STORE16(1) ROW_STORE16(2) ROW_STORE16(3) ROW_STORE16(4) ROW_STORE16(5)
        }
    }
}

/* Weights of the input gradient of a stride-1 conv: wt[ci][co][ky][kx] =
 * w[co][ci][k-1-ky][k-1-kx] (one group). */
__kernel void conv_flip_weights(__global const float *w, __global float *wt, int cout, int cin,
                                int k)
{
    int i = get_global_id(0);
    int kk2 = k * k;
    if (i >= cout * cin * kk2) return;
    int co = i / (cin * kk2), rem = i - co * cin * kk2;
    int ci = rem / kk2, r = rem - ci * kk2;
    int ky = r / k, kx = r - ky * k;
    wt[((size_t)ci * cout + co) * kk2 + (k - 1 - ky) * k + (k - 1 - kx)] = w[i];
}

/* Zero-padded copy of images n0 .. n0+n-1: xp[img][ci] is (h+2*pad) x
 * (w+2*pad). One work-item per plane. */
__kernel void conv_pad_input(__global const float *x, __global float *xp, int n, int cin, int h,
                             int w, int pad)
{
    int img = get_global_id(0), ci = get_global_id(1);
    if (img >= n || ci >= cin) return;
    int hp = h + 2 * pad, wp = w + 2 * pad;
    __global const float *src = x + ((size_t)img * cin + ci) * h * w;
    __global float *dst = xp + ((size_t)img * cin + ci) * hp * wp;
    for (int i = 0; i < pad * wp; i++) dst[i] = 0.0f;
    for (int y = 0; y < h; y++) {
        __global float *d = dst + (size_t)(y + pad) * wp;
        for (int i = 0; i < pad; i++) d[i] = 0.0f;
        for (int i = 0; i < w; i++) d[pad + i] = src[(size_t)y * w + i];
        for (int i = pad + w; i < wp; i++) d[i] = 0.0f;
    }
    for (int i = (h + pad) * wp; i < hp * wp; i++) dst[i] = 0.0f;
}

/* Weight gradient of a stride-1 conv without a column matrix:
 *   part[s][kidx][co] = sum over this item's pixels of
 *                       xpad[img][ci][oy+ky][ox+kx] * dy[img][co][oy][ox]
 * with kidx = (ci, ky, kx): rows are kidx (6-row panels, all of them in
 * one item), columns a 32-wide stripe of output channels. The reduction
 * runs over chunks of whole output rows (<= KC pixels) of one image; each
 * chunk's dy^T stripe is copied into local memory with the 8x8 register
 * transpose of gemm_blocked_w, then every panel runs its 6 x 32 block,
 * reading the six kidx rows straight from the padded input. Items split
 * the chunks (gid 1) and conv_dw_reduce sums their partial results. */
#define DW_FMA(r)                                                              \
    {                                                                          \
        float a_ = ar##r[ox];                                                  \
        c##r##0 = fma((float16)(a_), b0, c##r##0);                             \
        c##r##1 = fma((float16)(a_), b1, c##r##1);                             \
    }
__kernel void conv_implicit_dw(__global const float *xp, __global const float *dy,
                               __global float *part, int n, int cin, int hp, int wp, int cout,
                               int hout, int wout, int k, int rpc, int nsplit)
{
    __local float bs[KC * NRW];
    int q = get_global_id(0), sidx = get_global_id(1);
    int pn = (cout + NRW - 1) / NRW;
    if (q >= pn || sidx >= nsplit) return;
    int K = cin * k * k, M = K, pm = (M + MR - 1) / MR, P = hout * wout, kk2 = k * k;
    int cpi = (hout + rpc - 1) / rpc, nchunks = n * cpi;
    /* This item's chunks: a contiguous share. */
    int c0 = (int)((long)nchunks * sidx / nsplit), c1 = (int)((long)nchunks * (sidx + 1) / nsplit);
    int j0 = q * NRW, ncols = min(NRW, cout - j0), full = ncols == NRW;
    float alpha = 1.0f;
    __global float *c = part;
    size_t coff = (size_t)sidx * K * cout;
    int ldc = cout;
    for (int ch = c0; ch < c1; ch++) {
        int img = ch / cpi, oy0 = (ch % cpi) * rpc, rows = min(rpc, hout - oy0);
        int kn = rows * wout;
        /* bs[t][co] = dy[img][j0 + co][oy0 * wout + t]: columns are
         * contiguous runs over t, as op(B) = stored^T in gemm_blocked_w. */
        __global const float *bq = dy + ((size_t)img * cout + j0) * P + (size_t)oy0 * wout;
        int t = 0;
        if (full) {
            for (; t + 8 <= kn; t += 8)
                for (int hh = 0; hh < 4; hh++) {
                    __global const float *src = bq + (size_t)(hh * 8) * P + t;
                    float8 r0 = vload8(0, src), r1 = vload8(0, src + P);
                    float8 r2 = vload8(0, src + 2 * P), r3 = vload8(0, src + 3 * P);
                    float8 r4 = vload8(0, src + 4 * P), r5 = vload8(0, src + 5 * P);
                    float8 r6 = vload8(0, src + 6 * P), r7 = vload8(0, src + 7 * P);
                    TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7);
                    __local float *d = bs + t * NRW + hh * 8;
                    vstore8(r0, 0, d);
                    vstore8(r1, 0, d + NRW);
                    vstore8(r2, 0, d + 2 * NRW);
                    vstore8(r3, 0, d + 3 * NRW);
                    vstore8(r4, 0, d + 4 * NRW);
                    vstore8(r5, 0, d + 5 * NRW);
                    vstore8(r6, 0, d + 6 * NRW);
                    vstore8(r7, 0, d + 7 * NRW);
                }
        }
        for (; t < kn; t++)
            for (int cc = 0; cc < NRW; cc++)
                bs[t * NRW + cc] = cc < ncols ? bq[(size_t)cc * P + t] : 0.0f;
        /* beta: the item's first chunk overwrites its partial result. */
        float beta = ch == c0 ? 0.0f : 1.0f;
        __global const float *xi = xp + (size_t)img * cin * hp * wp + (size_t)oy0 * wp;
        for (int p = 0; p < pm; p++) {
            int i0 = p * MR;
            /* Offsets of the six kidx rows in the padded plane stack
             * (rows past K repeat the last one and are not stored). */
            int off[MR];
            for (int r = 0; r < MR; r++) {
                int kg = min(i0 + r, K - 1), ci = kg / kk2, rem = kg - ci * kk2;
                int ky = rem / k, kx = rem - ky * k;
                off[r] = ci * hp * wp + ky * wp + kx;
            }
            __global const float *ar0 = xi + off[0], *ar1 = xi + off[1], *ar2 = xi + off[2];
            __global const float *ar3 = xi + off[3], *ar4 = xi + off[4], *ar5 = xi + off[5];
            __local const float *pb = bs;
            float16 c00 = 0, c01 = 0, c10 = 0, c11 = 0, c20 = 0, c21 = 0;
            float16 c30 = 0, c31 = 0, c40 = 0, c41 = 0, c50 = 0, c51 = 0;
            for (int rr = 0; rr < rows; rr++) {
                for (int ox = 0; ox < wout; ox++) {
                    float16 b0 = vload16(0, pb), b1 = vload16(1, pb);
                    DW_FMA(0) DW_FMA(1) DW_FMA(2) DW_FMA(3) DW_FMA(4) DW_FMA(5)
                    pb += NRW;
                }
                ar0 += wp, ar1 += wp, ar2 += wp, ar3 += wp, ar4 += wp, ar5 += wp;
            }
            ROW_STORE16(0) ROW_STORE16(1) ROW_STORE16(2) ROW_STORE16(3) ROW_STORE16(4) ROW_STORE16(5)
        }
    }
}
#undef DW_FMA

/* dw[co][kidx] = sum over s of part[s][kidx][co]. */
__kernel void conv_dw_reduce(__global const float *part, __global float *dw, int cout, int K,
                             int nsplit)
{
    int i = get_global_id(0);
    if (i >= cout * K) return;
    int co = i / K, kidx = i - co * K;
    float acc = 0.0f;
    for (int s = 0; s < nsplit; s++) acc += part[((size_t)s * K + kidx) * cout + co];
    dw[i] = acc;
}
