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
