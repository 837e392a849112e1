/* Implicit-GEMM convolution for CPU devices (PoCL): dilation 1, one group.
 * The register blocks of gemm_blocked32_cpu (macros and copy_stripe_t from
 * cl/cpu/blocks_cpu.cl) with operands read straight from a zero-padded copy
 * of the input (conv_pad_input_cpu; the input itself when pad is 0) instead
 * of an im2col matrix, and results written straight to NCHW:
 *  - conv_tall_cpu: forward (any stride), and the input gradient of a
 *    stride-1 conv as a conv of dy with the kernel rotated by 180 degrees
 *    (tall_b reads either B straight from the weights);
 *  - conv_implicit_dw_cpu: the weight gradient (any stride), split over items
 *    and summed by conv_dw_reduce_cpu.
 * The block sizes MR, NRW, KC and TALL_KC (K chunk of conv_tall_cpu: the
 * whole K of 3x3 convs up to 128 input channels) are build options. */

/* Zero-padded copy of images 0 .. n-1: xp[img][ci] is (h+2*pad) x
 * (w+2*pad). One work-item per plane. */
__kernel void conv_pad_input_cpu(__global const float *x, __global float *xp, int n, int cin, int h,
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

/* Weight gradient of a conv without a column matrix:
 *   part[s][kidx][co] = sum over this item's pixels of
 *          xpad[img][ci][oy*stride+ky][ox*stride+kx] * dy[img][co][oy][ox]
 * with kidx = (ci, ky, kx): rows are kidx (6-row panels, all of them in
 * one item), columns a 32-wide stripe of output channels. The reduction
 * runs over chunks of whole output rows (<= KC pixels) of one image; each
 * chunk's dy^T stripe is copied into local memory with copy_stripe_t,
 * then every panel runs its 6 x 32 block,
 * reading the six kidx rows straight from the padded input. Items split
 * the chunks (gid 1) and conv_dw_reduce_cpu sums their partial results. */
#define DW_FMA(r)                                                              \
    {                                                                          \
        float a_ = ar##r[ox * stride];                                         \
        c##r##0 = fma((float16)(a_), b0, c##r##0);                             \
        c##r##1 = fma((float16)(a_), b1, c##r##1);                             \
    }
__kernel void conv_implicit_dw_cpu(__global const float *xp, __global const float *dy,
                               __global float *part, int n, int cin, int hp, int wp, int cout,
                               int hout, int wout, int k, int stride, int rpc, int nsplit)
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
         * contiguous runs over t, as op(B) = stored^T in gemm_blocked32_cpu. */
        __global const float *bq = dy + ((size_t)img * cout + j0) * P + (size_t)oy0 * wout;
        if (full) {
            copy_stripe_t(bs, bq, P, kn, NRW);
        } else {
            for (int t = 0; t < kn; t++)
                for (int cc = 0; cc < NRW; cc++)
                    bs[t * NRW + cc] = cc < ncols ? bq[(size_t)cc * P + t] : 0.0f;
        }
        /* beta: the item's first chunk overwrites its partial result. */
        float beta = ch == c0 ? 0.0f : 1.0f;
        __global const float *xi = xp + (size_t)img * cin * hp * wp + (size_t)oy0 * stride * wp;
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
                int st = wp * stride;
                ar0 += st, ar1 += st, ar2 += st, ar3 += st, ar4 += st, ar5 += st;
            }
            ROW_STORE_V(16, 0) ROW_STORE_V(16, 1) ROW_STORE_V(16, 2)
            ROW_STORE_V(16, 3) ROW_STORE_V(16, 4) ROW_STORE_V(16, 5)
        }
    }
}
#undef DW_FMA

/* dw[co][kidx] = sum over s of part[s][kidx][co]. Item i walks part in
 * its own order (i = kidx * cout + co), so neighbouring items read
 * neighbouring floats of every partial matrix; only the single write is
 * strided. */
__kernel void conv_dw_reduce_cpu(__global const float *part, __global float *dw, int cout, int K,
                             int nsplit)
{
    int i = get_global_id(0);
    if (i >= cout * K) return;
    int kidx = i / cout, co = i - kidx * cout;
    size_t plane = (size_t)K * cout;
    float acc = 0.0f;
    for (int s = 0; s < nsplit; s++) acc += part[s * plane + i];
    dw[(size_t)co * K + kidx] = acc;
}

/* B operand of conv_tall_cpu, B[kidx][o] (kidx = (i, ky, kx) over the conv's
 * input channels i, o its output channels), read straight from the layer's
 * weights w while a stripe is copied to local memory, so the weights are
 * never transposed in a pass of their own. flip 0: the forward conv
 * (w[o][kidx]). flip 1: the input gradient, a conv of dy (i = co of the
 * layer) producing its input channels o, with the kernel rotated by 180
 * degrees (w[i][o][k*k-1-r], r = ky*k + kx). */
static inline float tall_b(__global const float *w, int flip, int kidx, int o, int K, int nout,
                           int kk2)
{
    if (!flip) return w[(size_t)o * K + kidx];
    int i = kidx / kk2, r = kidx - i * kk2;
    return w[((size_t)i * nout + o) * kk2 + kk2 - 1 - r];
}

/* conv_tall_cpu's B for flip 0 packed once (src/graph/layers/conv_packed.h),
 * stripe by stripe: b[q][kidx][c] = w[q * NRW + c][kidx] (zeros past
 * nout), so each stripe's K chunk is one contiguous run that is copied to
 * local memory as a stream, instead of a gather over NRW weight rows on
 * every call. One item per kidx; nstripes stripes of NRW channels. */
__kernel void conv_tall_pack_b_cpu(__global const float *w, __global float *b, int K, int nout,
                                   int nstripes)
{
    int kidx = get_global_id(0);
    if (kidx >= K) return;
    for (int o = 0; o < nstripes * NRW; o++)
        b[((size_t)(o / NRW) * K + kidx) * NRW + o % NRW] =
            o < nout ? w[(size_t)o * K + kidx] : 0.0f;
}

/* bn_act on 16 lanes (the vector epilogue of conv_tall_cpu). */
static inline float16 tall_act16(float16 v, int act, float slope)
{
    if (act == 0) return fmax(v, 0.0f);
    if (act == 1) return fmin(fmax(v, 0.0f), 6.0f);
    if (act == 2) return select(v * slope, v, v > 0.0f);
    return v;
}

/* "Tall" implicit-GEMM convolution: rows are output pixels
 * (6-pixel panels over the flattened (image, oy, ox) order), columns a
 * 32-wide stripe of output channels, the reduction runs over kidx = (i,
 * ky, kx). B (kidx x nout, tall_b of the weights wt) is small and sits in
 * local memory per K chunk, reused by the item's pc pixel panels; each
 * panel's six rows are read straight from the zero-padded input xp (cin x
 * hp x wp per image; output pixel (oy, ox) starts at (oy, ox) * stride) at
 * offsets that step identically for all six pixels. Results are
 * scattered into NCHW y (nout channels, hout x wout):
 *   y = beta * y + conv (+ bias).
 * flip 2 is flip 0 with wt already packed by conv_tall_pack_b_cpu. */
__kernel void conv_tall_cpu(__global const float *xp, __global const float *wt, int flip,
                        __global const float *bias, int has_bias, __global float *y, int n,
                        int cin, int hp, int wp, int nout, int hout, int wout, int k, int stride,
                        int pc, float beta0, __global const float *bn_g,
                        __global const float *bn_b, __global const float *bn_m,
                        __global const float *bn_v, float bn_eps, int has_bn, int act,
                        float slope, __global const float *res, int has_res)
{
    /* 144 KiB (PoCL gives CPU devices 512 KiB of local memory): with the
     * whole K in one chunk every panel keeps its sums in registers and
     * stores them once, instead of a scattered read-modify-write of C per
     * chunk. The stripe is reused by pc panels, so it stays in L2. */
    __local float bs[TALL_KC * NRW];
    int q = get_global_id(0), p0 = get_global_id(1) * pc;
    int P = hout * wout, NP = n * P, pm = (NP + MR - 1) / MR;
    int pn = (nout + NRW - 1) / NRW;
    if (q >= pn || p0 >= pm) return;
    int p1 = min(pm, p0 + pc);
    int K = cin * k * k, j0 = q * NRW, ncols = min(NRW, nout - j0);
    int plane = hp * wp;
    /* Inference epilogue (src/graph/fold_bn.c): a following BatchNorm's
     * running statistics folded into a scale and shift per channel. */
    float sc[NRW], sh[NRW];
    for (int cc = 0; cc < NRW; cc++) {
        float s = 1.0f, t = 0.0f;
        if (has_bn && cc < ncols) {
            int o = j0 + cc;
            s = bn_g[o] * (1.0f / sqrt(bn_v[o] + bn_eps));
            t = bn_b[o] - bn_m[o] * s;
        }
        sc[cc] = s, sh[cc] = t;
    }
    /* The same as vectors with the bias folded into the shift, for the
     * vector epilogue of full stripes (TALL_STORE). */
    float16 sc0 = vload16(0, sc), sc1 = vload16(1, sc), sh0 = vload16(0, sh), sh1 = vload16(1, sh);
    if (has_bias && ncols == NRW) {
        sh0 = fma(vload16(0, bias + j0), sc0, sh0);
        sh1 = fma(vload16(0, bias + j0 + 16), sc1, sh1);
    }
    for (int k0 = 0; k0 < K; k0 += TALL_KC) {
        int kn = min(TALL_KC, K - k0);
        /* Row by row, so the stores stream through local memory and the
         * loads walk 32 weight rows (flip 0) or one small block (flip 1)
         * whose cache lines serve the next rows too. */
        if (flip == 2) {
            /* Packed (conv_tall_pack_b_cpu): this chunk of stripe q is one run. */
            __global const float *src = wt + ((size_t)q * K + k0) * NRW;
            for (int i = 0; i < kn * NRW; i += 16) vstore16(vload16(0, src + i), 0, bs + i);
        } else {
            for (int kq = 0; kq < kn; kq++)
                for (int cc = 0; cc < NRW; cc++)
                    bs[kq * NRW + cc] =
                        cc < ncols ? tall_b(wt, flip, k0 + kq, j0 + cc, K, nout, k * k) : 0.0f;
        }
        /* Offset of kidx = k0 in the padded stack, then stepped per k. */
        int kk2 = k * k, ci0 = k0 / kk2, rem0 = k0 - ci0 * kk2;
        int ky0 = rem0 / k, kx0 = rem0 - ky0 * k;
        int o0 = ci0 * plane + ky0 * wp + kx0;
        float beta = k0 == 0 ? beta0 : 1.0f;
        int last = k0 + kn == K;
        for (int p = p0; p < p1; p++) {
            __global const float *ar[MR];
            int gp[MR];
            for (int r = 0; r < MR; r++) {
                int g = min(p * MR + r, NP - 1), img = g / P, pix = g - img * P;
                int oy = pix / wout, ox = pix - oy * wout;
                gp[r] = g;
                ar[r] = xp + ((size_t)img * cin * hp + oy * stride) * wp + ox * stride;
            }
            __global const float *a0 = ar[0], *a1 = ar[1], *a2 = ar[2];
            __global const float *a3 = ar[3], *a4 = ar[4], *a5 = ar[5];
            __local const float *pb = bs;
            float16 c00 = 0, c01 = 0, c10 = 0, c11 = 0, c20 = 0, c21 = 0;
            float16 c30 = 0, c31 = 0, c40 = 0, c41 = 0, c50 = 0, c51 = 0;
            int o = o0, kx = kx0, ky = ky0;
            for (int kq = 0; kq < kn; kq++) {
                float16 b0 = vload16(0, pb), b1 = vload16(1, pb);
#define TALL_FMA(r)                                                            \
    {                                                                          \
        float a_ = a##r[o];                                                    \
        c##r##0 = fma((float16)(a_), b0, c##r##0);                             \
        c##r##1 = fma((float16)(a_), b1, c##r##1);                             \
    }
                TALL_FMA(0) TALL_FMA(1) TALL_FMA(2) TALL_FMA(3) TALL_FMA(4) TALL_FMA(5)
#undef TALL_FMA
                pb += NRW;
                o++;
                if (++kx == k) {
                    kx = 0;
                    o += wp - k;
                    if (++ky == k) {
                        ky = 0;
                        o += plane - k * wp;
                    }
                }
            }
            /* Scatter: pixel row r, channels j0 .. j0+ncols-1; after the
             * last K chunk the bias, the folded BatchNorm, the residual
             * and the activation (act -1: none). */
#define TALL_STORE(r)                                                          \
    if (p * MR + r < NP) {                                                     \
        float t_[NRW];                                                         \
        vstore16(c##r##0, 0, t_);                                              \
        vstore16(c##r##1, 1, t_);                                              \
        int g = gp[r], img = g / P, pix = g - img * P;                         \
        size_t at = ((size_t)img * nout + j0) * P + pix;                       \
        __global float *dst = y + at;                                          \
        if (last && beta == 0.0f && ncols == NRW) {                            \
            float16 v0 = fma(c##r##0, sc0, sh0), v1 = fma(c##r##1, sc1, sh1);  \
            if (has_res) {                                                     \
                for (int cc = 0; cc < NRW; cc++) t_[cc] = res[at + (size_t)cc * P]; \
                v0 += vload16(0, t_), v1 += vload16(1, t_);                    \
            }                                                                  \
            vstore16(tall_act16(v0, act, slope), 0, t_);                       \
            vstore16(tall_act16(v1, act, slope), 1, t_);                       \
            for (int cc = 0; cc < NRW; cc++) dst[(size_t)cc * P] = t_[cc];     \
        } else                                                                 \
        for (int cc = 0; cc < ncols; cc++) {                                   \
            size_t o_ = (size_t)cc * P;                                        \
            float v = t_[cc];                                                  \
            if (beta != 0.0f) v = fma(beta, dst[o_], v);                       \
            if (last) {                                                        \
                if (has_bias) v += bias[j0 + cc];                              \
                v = fma(v, sc[cc], sh[cc]);                                    \
                if (has_res) v += res[at + o_];                                \
                v = bn_act(v, act, slope);                                     \
            }                                                                  \
            dst[o_] = v;                                                       \
        }                                                                      \
    }
            TALL_STORE(0) TALL_STORE(1) TALL_STORE(2) TALL_STORE(3) TALL_STORE(4) TALL_STORE(5)
#undef TALL_STORE
        }
        /* Next chunk starts at kidx = k0 + kn. */
    }
}
