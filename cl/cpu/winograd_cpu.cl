/* Winograd convolution F(m x m, 3 x 3) for CPU devices (PoCL): stride 1,
 * dilation 1, pad 1, one group (src/graph/layers/conv_winograd.c). Each
 * m x m block of outputs (a "tile") is computed from an alpha x alpha
 * input patch (alpha = m + 2) as
 *     Y = A^T [ (G g G^T) (.) (B^T d B) ] A
 * so the 9 * m * m multiplies of a tile and channel pair become alpha^2
 * (F(2x2): 16 for 36, F(4x4): 36 for 144), summed over input channels by
 * one GEMM per transform point a = (i, j):
 *     M[a] (out channels x tiles) = U[a] (out x in channels) V[a] (in x tiles).
 * Three kernels:
 *  - winograd_weights_cpu: U = G g G^T, in 6-channel panels;
 *  - winograd_input_cpu: V = B^T d B, 16 tiles of a tile row per vector;
 *  - winograd_gemm_cpu: the alpha^2 GEMMs of a block of output channels x
 *    32 tiles into local memory, then the output transform and the epilogue
 *    of conv_tall_cpu (bias, folded BatchNorm, residual, activation)
 *    straight into NCHW.
 * The weight gradient (training) reuses winograd_input_cpu on x and sums
 * over tiles instead of channels:
 *     dU[a] (out x in) = dM[a] (out x tiles) V[a]^T,  dM = A dY A^T,
 *     dw = G^T dU G
 * by winograd_dy_cpu (dM), one GEMM per point (src/runtime/gemm.h) and
 * winograd_dw_out_cpu (dw).
 * Build options: WINO_M (2 or 4), WINO_PP (6-channel panels per item of
 * winograd_gemm_cpu, its local array), WINO_LROW (local row of the input
 * kernel: widest padded tile row). */

#define WINO_A (WINO_M + 2)
#define WINO_A2 (WINO_A * WINO_A)

/* The three transforms on one vector of alpha (in) or m (out) elements,
 * written out so that the zeros of B^T, G and A^T cost nothing; T is float
 * or float16. Matrices: Lavin and Gray, "Fast Algorithms for Convolutional
 * Neural Networks" (2015). */
#if WINO_M == 2
#define WINO_BT(T, d, o)                                                       \
    {                                                                          \
        o[0] = d[0] - d[2];                                                    \
        o[1] = d[1] + d[2];                                                    \
        o[2] = d[2] - d[1];                                                    \
        o[3] = d[1] - d[3];                                                    \
    }
#define WINO_G(g, o)                                                           \
    {                                                                          \
        o[0] = g[0];                                                           \
        o[1] = 0.5f * (g[0] + g[1] + g[2]);                                    \
        o[2] = 0.5f * (g[0] - g[1] + g[2]);                                    \
        o[3] = g[2];                                                           \
    }
#define WINO_AT(T, m, o)                                                       \
    {                                                                          \
        o[0] = m[0] + m[1] + m[2];                                             \
        o[1] = m[1] - m[2] - m[3];                                             \
    }
#define WINO_A_(T, y, o)                                                       \
    {                                                                          \
        o[0] = y[0];                                                           \
        o[1] = y[0] + y[1];                                                    \
        o[2] = y[0] - y[1];                                                    \
        o[3] = -y[1];                                                          \
    }
#define WINO_GT(d, o)                                                          \
    {                                                                          \
        o[0] = d[0] + 0.5f * (d[1] + d[2]);                                    \
        o[1] = 0.5f * (d[1] - d[2]);                                           \
        o[2] = 0.5f * (d[1] + d[2]) + d[3];                                    \
    }
#elif WINO_M == 4
#define WINO_BT(T, d, o)                                                       \
    {                                                                          \
        T d4_ = d[4] - d[2];                                                   \
        T d3_ = d[3] - d[1];                                                   \
        o[0] = fma((T)(4.0f), d[0] - d[2], d4_);                               \
        o[1] = fma((T)(-4.0f), d[1] + d[2], d[3] + d[4]);                      \
        o[2] = fma((T)(4.0f), d[1] - d[2], d[4] - d[3]);                       \
        o[3] = fma((T)(2.0f), d3_, d4_);                                       \
        o[4] = fma((T)(-2.0f), d3_, d4_);                                      \
        o[5] = fma((T)(4.0f), d[1] - d[3], d[5] - d[3]);                       \
    }
#define WINO_G(g, o)                                                           \
    {                                                                          \
        float s_ = g[0] + g[2], t_ = g[0] / 24.0f + g[2] / 6.0f;               \
        o[0] = 0.25f * g[0];                                                   \
        o[1] = -(s_ + g[1]) / 6.0f;                                            \
        o[2] = -(s_ - g[1]) / 6.0f;                                            \
        o[3] = t_ + g[1] / 12.0f;                                              \
        o[4] = t_ - g[1] / 12.0f;                                              \
        o[5] = g[2];                                                           \
    }
#define WINO_AT(T, m, o)                                                       \
    {                                                                          \
        T p1_ = m[1] + m[2], n1_ = m[1] - m[2];                                \
        T p3_ = m[3] + m[4], n3_ = m[3] - m[4];                                \
        o[0] = m[0] + p1_ + p3_;                                               \
        o[1] = fma((T)(2.0f), n3_, n1_);                                       \
        o[2] = fma((T)(4.0f), p3_, p1_);                                       \
        o[3] = fma((T)(8.0f), n3_, n1_) + m[5];                                \
    }
#define WINO_A_(T, y, o)                                                       \
    {                                                                          \
        T e_ = y[0] + y[2], f_ = y[1] + y[3];                                  \
        T g_ = fma((T)(4.0f), y[2], y[0]), k_ = fma((T)(8.0f), y[3], 2.0f * y[1]); \
        o[0] = y[0];                                                           \
        o[1] = e_ + f_;                                                        \
        o[2] = e_ - f_;                                                        \
        o[3] = g_ + k_;                                                        \
        o[4] = g_ - k_;                                                        \
        o[5] = y[3];                                                           \
    }
#define WINO_GT(d, o)                                                          \
    {                                                                          \
        float p34_ = d[3] + d[4], m34_ = d[3] - d[4];                          \
        o[0] = 0.25f * d[0] - (d[1] + d[2]) / 6.0f + p34_ / 24.0f;             \
        o[1] = (d[2] - d[1]) / 6.0f + m34_ / 12.0f;                            \
        o[2] = (p34_ - d[1] - d[2]) / 6.0f + d[5];                             \
    }
#else
#error "WINO_M must be 2 or 4"
#endif

/* U[a][panel][i][6] = (G g G^T)[a] for output channel o = panel * 6 + r of
 * the conv (zeros for o >= nout, the last panel's padding), input channel
 * i. flip 0: g = w[o][i] (forward, w is nout x nin x 3 x 3). flip 1: the
 * input gradient as a conv of dy (nin = the layer's outputs) producing the
 * layer's inputs (nout): g = w[i][o] rotated by 180 degrees. One item per
 * panel, looping over i: each point's rows are written in order (an item
 * per pair costs a PoCL dispatch each, and items per channel write
 * 4-byte pieces of shared cache lines). */
__kernel void winograd_weights_cpu(__global const float *w, __global float *u, int flip,
                                   int nin, int nout, int npanels)
{
    int p = get_global_id(0);
    if (p >= npanels) return;
    size_t plane = (size_t)npanels * nin * 6;
    for (int i = 0; i < nin; i++) {
        float ut[WINO_A2][6];
        for (int r = 0; r < 6; r++) {
            int o = p * 6 + r;
            float g[9];
#pragma unroll
            for (int e = 0; e < 9; e++)
                g[e] = o >= nout ? 0.0f
                       : flip    ? w[((size_t)i * nout + o) * 9 + 8 - e]
                                 : w[((size_t)o * nin + i) * 9 + e];
            /* t = G g (alpha x 3), then t G^T (alpha x alpha). */
            float t[WINO_A][3];
#pragma unroll
            for (int c = 0; c < 3; c++) {
                float col[3] = {g[c], g[3 + c], g[6 + c]}, out[WINO_A];
                WINO_G(col, out)
#pragma unroll
                for (int e = 0; e < WINO_A; e++) t[e][c] = out[e];
            }
#pragma unroll
            for (int e = 0; e < WINO_A; e++) {
                float out[WINO_A];
                WINO_G(t[e], out)
#pragma unroll
                for (int c = 0; c < WINO_A; c++) ut[e * WINO_A + c][r] = out[c];
            }
        }
        __global float *dst = u + ((size_t)p * nin + i) * 6;
        for (int a = 0; a < WINO_A2; a++)
            for (int r = 0; r < 6; r++) dst[a * plane + r] = ut[a][r];
    }
}

/* V[a][ci][t] = (B^T d B)[a] for tile t = (img * th + ty) * tw + tx of
 * this chunk (nimg images from img0), d the alpha x alpha patch of x[img0 +
 * img][ci] whose top-left is (ty * m - 1, tx * m - 1), zero outside the
 * plane; rows of V are ldv >= nimg * th * tw + 16 floats. One item per ci (few,
 * long items: PoCL dispatches each one), looping over the tile rows of the
 * chunk: the patch rows are copied with their zero border into local
 * memory split by phase (column c, holding x column c - 1, goes to
 * phase c % m at c / m), so that lane l = tile tx0 + l of the float16 for
 * patch column k, column (tx0 + l) * m + k, is the contiguous run at
 * tx0 + k / m of phase k % m (a gather of every m-th element cost more
 * than the whole transform). */
#define WINO_LQ (WINO_LROW / WINO_M + 16)
__kernel void winograd_input_cpu(__global const float *x, __global float *v, int img0, int nimg,
                                 int cin, int h, int w, int th, int tw, int ldv)
{
    __local float rows[WINO_A * WINO_M * WINO_LQ];
    int ci = get_global_id(0);
    if (ci >= cin) return;
    size_t pstride = (size_t)cin * ldv; /* from one transform point to the next */
    for (int i = 0; i < WINO_A * WINO_M * WINO_LQ; i++) rows[i] = 0.0f;
    for (int img = 0; img < nimg; img++) {
        __global const float *src = x + ((size_t)(img0 + img) * cin + ci) * h * w;
        for (int ty = 0; ty < th; ty++) {
            for (int i = 0; i < WINO_A; i++) {
                int y = ty * WINO_M - 1 + i;
                __local float *row = rows + i * WINO_M * WINO_LQ;
                /* Phase r, entry q: column q * m + r, x column q * m + r - 1;
                 * entries past the row stay zero (set above, never written). */
                if (y < 0 || y >= h) {
                    for (int r = 0; r < WINO_M; r++)
                        for (int q = 0; q <= tw; q++) row[r * WINO_LQ + q] = 0.0f;
                    continue;
                }
                __global const float *sr = src + (size_t)y * w;
                row[0] = 0.0f; /* column 0: x column -1 */
                /* Columns 1 .. m-1 one by one, then 16 at a time from
                 * column m (entry 1 of each phase), then the tail. */
                int xc = 0;
                for (; xc < WINO_M - 1 && xc < w; xc++) row[(xc + 1) * WINO_LQ] = sr[xc];
                for (; xc + 16 <= w; xc += 16) {
                    float16 t = vload16(0, sr + xc);
                    __local float *dq = row + (xc + 1) / WINO_M;
#if WINO_M == 2
                    vstore8(t.even, 0, dq);
                    vstore8(t.odd, 0, dq + WINO_LQ);
#else
                    vstore4(t.s048c, 0, dq);
                    vstore4(t.s159d, 0, dq + WINO_LQ);
                    vstore4(t.s26ae, 0, dq + 2 * WINO_LQ);
                    vstore4(t.s37bf, 0, dq + 3 * WINO_LQ);
#endif
                }
                for (; xc < w; xc++) {
                    int c = xc + 1;
                    row[(c % WINO_M) * WINO_LQ + c / WINO_M] = sr[xc];
                }
            }
            __global float *dst0 = v + (size_t)ci * ldv + ((size_t)img * th + ty) * tw;
            for (int tx0 = 0; tx0 < tw; tx0 += 16) {
                /* hz[i][j]: row i of the patch transformed along x (d B). */
                float16 hz[WINO_A][WINO_A];
#pragma unroll
                for (int i = 0; i < WINO_A; i++) {
                    float16 d[WINO_A];
#pragma unroll
                    for (int k = 0; k < WINO_A; k++)
                        d[k] = vload16(0, rows + (i * WINO_M + k % WINO_M) * WINO_LQ + tx0 +
                                              k / WINO_M);
                    WINO_BT(float16, d, hz[i])
                }
#pragma unroll
                for (int j = 0; j < WINO_A; j++) {
                    float16 col[WINO_A], out[WINO_A];
#pragma unroll
                    for (int i = 0; i < WINO_A; i++) col[i] = hz[i][j];
                    WINO_BT(float16, col, out)
#pragma unroll
                    for (int i = 0; i < WINO_A; i++) {
                        /* Lanes past the row's last tile land on the next
                         * row's first tiles, which this item writes later,
                         * or on the padding of V's row (ldv). */
                        vstore16(out[i], 0, dst0 + (size_t)(i * WINO_A + j) * pstride + tx0);
                    }
                }
            }
        }
    }
}

/* bn_act on 16 lanes. */
static inline float16 wino_act16(float16 v, int act, float slope)
{
    if (act == 0) return fmax(v, 0.0f);
    if (act == 1) return fmin(fmax(v, 0.0f), 6.0f);
    if (act == 2) return select(v * slope, v, v > 0.0f);
    return v;
}

/* The GEMMs and the output transform. Item (qo, tq): output channels of
 * panels qo * pp .. (6 each, up to WINO_PP panels) x tiles tq * 32 .. + 31
 * of this chunk (ntiles of them, images img0 ..). For every transform
 * point a, each panel's 6 x 32 block sums over the nin input channels:
 * 6 weights of u (one per channel of the panel) against two float16 of
 * v; the blocks go to local memory, and after the last point each
 * channel's 32 tiles are transformed back (A^T M A) as two float16 and
 * written to y (NCHW, nout channels, h x w) as
 *     y = act((beta * y + conv + bias) * scale + shift + res)
 * with scale and shift the folded BatchNorm (1 and 0 without). beta is
 * 0, or 1 with no BatchNorm (the input gradient's accumulation). */
__kernel void winograd_gemm_cpu(__global const float *v, __global const float *u,
                                __global float *y, int img0, int nin, int nout, int npanels,
                                int pp, int ldv, int ntiles, int th, int tw, int h, int w,
                                float beta, __global const float *bias, int has_bias,
                                __global const float *bn_g, __global const float *bn_b,
                                __global const float *bn_m, __global const float *bn_v,
                                float bn_eps, int has_bn, int act, float slope,
                                __global const float *res, int has_res)
{
    __local float acc[WINO_A2 * WINO_PP * 6 * 32];
    int qo = get_global_id(0), tq = get_global_id(1);
    int p0 = qo * pp, t0 = tq * 32;
    if (p0 >= npanels || t0 >= ntiles) return;
    int np = min(pp, npanels - p0);
    size_t pstride = (size_t)nin * ldv, uplane = (size_t)npanels * nin * 6;
    for (int a = 0; a < WINO_A2; a++) {
        for (int q = 0; q < np; q++) {
            __global const float *pv = v + a * pstride + t0;
            __global const float *pu = u + a * uplane + (size_t)(p0 + q) * nin * 6;
            float16 c00 = 0, c01 = 0, c10 = 0, c11 = 0, c20 = 0, c21 = 0;
            float16 c30 = 0, c31 = 0, c40 = 0, c41 = 0, c50 = 0, c51 = 0;
            for (int i = 0; i < nin; i++) {
                float16 b0 = vload16(0, pv), b1 = vload16(1, pv);
#define WINO_FMA(r)                                                            \
    {                                                                          \
        float a_ = pu[r];                                                      \
        c##r##0 = fma((float16)(a_), b0, c##r##0);                             \
        c##r##1 = fma((float16)(a_), b1, c##r##1);                             \
    }
                WINO_FMA(0) WINO_FMA(1) WINO_FMA(2) WINO_FMA(3) WINO_FMA(4) WINO_FMA(5)
#undef WINO_FMA
                pv += ldv;
                pu += 6;
            }
            __local float *dst = acc + ((size_t)a * WINO_PP + q) * 6 * 32;
            vstore16(c00, 0, dst), vstore16(c01, 1, dst);
            vstore16(c10, 2, dst), vstore16(c11, 3, dst);
            vstore16(c20, 4, dst), vstore16(c21, 5, dst);
            vstore16(c30, 6, dst), vstore16(c31, 7, dst);
            vstore16(c40, 8, dst), vstore16(c41, 9, dst);
            vstore16(c50, 10, dst), vstore16(c51, 11, dst);
        }
    }
    int per_img = th * tw;
    for (int q = 0; q < np; q++)
        for (int r = 0; r < 6; r++) {
            int o = (p0 + q) * 6 + r;
            if (o >= nout) break;
            float sc = 1.0f, sh = 0.0f;
            if (has_bn) {
                sc = bn_g[o] * (1.0f / sqrt(bn_v[o] + bn_eps));
                sh = bn_b[o] - bn_m[o] * sc;
            }
            if (has_bias) sh = fma(bias[o], sc, sh);
            float bsc = beta * sc;
            int vec_act = beta == 0.0f && !has_res; /* the activation can run on the vectors */
            for (int hv = 0; hv < 2; hv++) {
                int tl0 = t0 + hv * 16;
                if (tl0 >= ntiles) break;
                /* mt[i][j] = M at point (i, j) for 16 tiles; rows then
                 * columns through A^T. */
                float16 cols[WINO_A][WINO_M];
#pragma unroll
                for (int j = 0; j < WINO_A; j++) {
                    float16 m[WINO_A], o_[WINO_M];
#pragma unroll
                    for (int i = 0; i < WINO_A; i++)
                        m[i] = vload16(hv, acc + (((size_t)(i * WINO_A + j) * WINO_PP + q) * 6 + r) * 32);
                    WINO_AT(float16, m, o_)
#pragma unroll
                    for (int k = 0; k < WINO_M; k++) cols[j][k] = o_[k];
                }
                float out[WINO_M][WINO_M][16];
#pragma unroll
                for (int k = 0; k < WINO_M; k++) {
                    float16 m[WINO_A], o_[WINO_M];
#pragma unroll
                    for (int j = 0; j < WINO_A; j++) m[j] = cols[j][k];
                    WINO_AT(float16, m, o_)
#pragma unroll
                    for (int l = 0; l < WINO_M; l++) {
                        float16 z = fma(o_[l], (float16)(sc), (float16)(sh));
                        if (vec_act) z = wino_act16(z, act, slope);
                        vstore16(z, 0, out[k][l]);
                    }
                }
                int nl = min(16, ntiles - tl0);
                for (int ln = 0; ln < nl; ln++) {
                    int t = tl0 + ln, img = t / per_img, rest = t - img * per_img;
                    int ty = rest / tw, tx = rest - ty * tw;
                    int oy0 = ty * WINO_M, ox0 = tx * WINO_M;
                    int ny = min(WINO_M, h - oy0), nx = min(WINO_M, w - ox0);
                    size_t base = ((size_t)(img0 + img) * nout + o) * h * w + (size_t)oy0 * w + ox0;
                    if (vec_act) {
                        for (int k = 0; k < ny; k++)
                            for (int l = 0; l < nx; l++) y[base + (size_t)k * w + l] = out[k][l][ln];
                        continue;
                    }
                    for (int k = 0; k < ny; k++)
                        for (int l = 0; l < nx; l++) {
                            size_t at = base + (size_t)k * w + l;
                            float val = out[k][l][ln];
                            if (beta != 0.0f) val = fma(bsc, y[at], val);
                            if (has_res) val += res[at];
                            y[at] = bn_act(val, act, slope);
                        }
                }
            }
    }
}

/* dM[a][o][t] = (A dY A^T)[a] for tile t = (img * th + ty) * tw + tx of
 * this chunk (nimg images from img0): dY the m x m block of dy[img0 +
 * img][o] at (ty * m, tx * m), zero past the plane (those outputs do not
 * exist). Rows of dM are ldv floats, as V's. One item per output channel,
 * looping over tile rows: each dy row of a tile row goes to local memory
 * with zeros past the plane, so the m columns of 16 tiles are four-way
 * deinterleaved vector loads. */
#define WINO_DYROW (WINO_LROW + 64)
__kernel void winograd_dy_cpu(__global const float *dy, __global float *dm, int img0, int nimg,
                              int cout, int h, int w, int th, int tw, int ldv)
{
    __local float rows[WINO_M * WINO_DYROW];
    int o = get_global_id(0);
    if (o >= cout) return;
    size_t pstride = (size_t)cout * ldv;
    int wr = (tw * WINO_M + 63) / 64 * 64; /* floats of a row read, whole 16-tile groups */
    for (int i = 0; i < WINO_M * WINO_DYROW; i++) rows[i] = 0.0f;
    for (int img = 0; img < nimg; img++) {
        __global const float *src = dy + ((size_t)(img0 + img) * cout + o) * h * w;
        for (int ty = 0; ty < th; ty++) {
            for (int r = 0; r < WINO_M; r++) {
                int y = ty * WINO_M + r;
                __local float *row = rows + r * WINO_DYROW;
                if (y >= h) {
                    for (int c = 0; c < wr; c++) row[c] = 0.0f;
                    continue;
                }
                __global const float *sr = src + (size_t)y * w;
                int c = 0;
                for (; c + 16 <= w; c += 16) vstore16(vload16(0, sr + c), 0, row + c);
                for (; c < w; c++) row[c] = sr[c];
                for (; c < wr; c++) row[c] = 0.0f;
            }
            __global float *dst0 = dm + (size_t)o * ldv + ((size_t)img * th + ty) * tw;
            for (int tx0 = 0; tx0 < tw; tx0 += 16) {
                /* cols[r][k]: column k of dy row r for 16 tiles. */
                float16 hz[WINO_M][WINO_A];
#pragma unroll
                for (int r = 0; r < WINO_M; r++) {
                    __local const float *q = rows + r * WINO_DYROW + tx0 * WINO_M;
                    float16 d[WINO_M];
#if WINO_M == 2
                    float16 a0 = vload16(0, q), a1 = vload16(1, q);
                    d[0] = (float16)(a0.even, a1.even);
                    d[1] = (float16)(a0.odd, a1.odd);
#else
                    float16 a0 = vload16(0, q), a1 = vload16(1, q), a2 = vload16(2, q),
                            a3 = vload16(3, q);
                    d[0] = (float16)(a0.s048c, a1.s048c, a2.s048c, a3.s048c);
                    d[1] = (float16)(a0.s159d, a1.s159d, a2.s159d, a3.s159d);
                    d[2] = (float16)(a0.s26ae, a1.s26ae, a2.s26ae, a3.s26ae);
                    d[3] = (float16)(a0.s37bf, a1.s37bf, a2.s37bf, a3.s37bf);
#endif
                    WINO_A_(float16, d, hz[r])
                }
#pragma unroll
                for (int j = 0; j < WINO_A; j++) {
                    float16 col[WINO_M], out[WINO_A];
#pragma unroll
                    for (int r = 0; r < WINO_M; r++) col[r] = hz[r][j];
                    WINO_A_(float16, col, out)
#pragma unroll
                    for (int i = 0; i < WINO_A; i++)
                        /* Lanes past the row's last tile: as in winograd_input_cpu. */
                        vstore16(out[i], 0, dst0 + (size_t)(i * WINO_A + j) * pstride + tx0);
                }
            }
        }
    }
}

/* dw[o][i] (3 x 3, overwritten) = G^T dU G with dU[a][o][i] the summed
 * products of the points (rows of nin floats, nout rows per point). One
 * item per output channel. */
__kernel void winograd_dw_out_cpu(__global const float *du, __global float *dw, int nin, int nout)
{
    int o = get_global_id(0);
    if (o >= nout) return;
    size_t plane = (size_t)nout * nin;
    for (int i = 0; i < nin; i++) {
        __global const float *src = du + (size_t)o * nin + i;
        float t[WINO_A][3];
#pragma unroll
        for (int k = 0; k < WINO_A; k++) {
            float d[WINO_A];
#pragma unroll
            for (int l = 0; l < WINO_A; l++) d[l] = src[(size_t)(k * WINO_A + l) * plane];
            WINO_GT(d, t[k])
        }
        __global float *dst = dw + ((size_t)o * nin + i) * 9;
#pragma unroll
        for (int c = 0; c < 3; c++) {
            float d[WINO_A], g[3];
#pragma unroll
            for (int k = 0; k < WINO_A; k++) d[k] = t[k][c];
            WINO_GT(d, g)
#pragma unroll
            for (int r = 0; r < 3; r++) dst[r * 3 + c] = g[r];
        }
    }
}

/* dU[a][o][i] = beta * dU + sum over tiles t < ntiles of dM[a][o][t] V[a][i][t]:
 * the GEMMs of the weight gradient, whose reduction (tiles) is the long,
 * contiguous dimension of both operands. Item (ob, a), ob varying
 * fastest so that consecutive items share V[a] in cache: output channels
 * 6 * ob .. + 5 of point a against every input channel, 4 at a time: 24
 * dot products in float16 lanes over 16 tiles at a time (6 + 4 loads per
 * 24 FMAs), reduced across lanes at the end; tiles past the last multiple
 * of 16 one by one (the rows' padding is not written). */
__kernel void winograd_dw_gemm_cpu(__global const float *dm, __global const float *v,
                                   __global float *du, int nin, int nout, int ldv, int ntiles,
                                   float beta)
{
    int ob = get_global_id(0), a = get_global_id(1);
    int o0 = ob * 6;
    if (a >= WINO_A2 || o0 >= nout) return;
    int no = min(6, nout - o0), nt16 = ntiles / 16 * 16;
    __global const float *pm[6];
    for (int r = 0; r < 6; r++) pm[r] = dm + ((size_t)a * nout + o0 + min(r, no - 1)) * ldv;
    __global float *pu = du + (size_t)a * nout * nin;
    for (int i0 = 0; i0 < nin; i0 += 4) {
        int ni = min(4, nin - i0);
        __global const float *pv[4];
        for (int c = 0; c < 4; c++) pv[c] = v + ((size_t)a * nin + i0 + min(c, ni - 1)) * ldv;
        float16 acc[6][4];
#pragma unroll
        for (int r = 0; r < 6; r++)
#pragma unroll
            for (int c = 0; c < 4; c++) acc[r][c] = 0.0f;
        for (int t = 0; t < nt16; t += 16) {
            float16 b0 = vload16(0, pv[0] + t), b1 = vload16(0, pv[1] + t);
            float16 b2 = vload16(0, pv[2] + t), b3 = vload16(0, pv[3] + t);
#pragma unroll
            for (int r = 0; r < 6; r++) {
                float16 m = vload16(0, pm[r] + t);
                acc[r][0] = fma(m, b0, acc[r][0]);
                acc[r][1] = fma(m, b1, acc[r][1]);
                acc[r][2] = fma(m, b2, acc[r][2]);
                acc[r][3] = fma(m, b3, acc[r][3]);
            }
        }
        for (int r = 0; r < no; r++)
            for (int c = 0; c < ni; c++) {
                float16 q = acc[r][c];
                float8 h8 = q.lo + q.hi;
                float4 h4 = h8.lo + h8.hi;
                float2 h2 = h4.lo + h4.hi;
                float sum = h2.lo + h2.hi;
                for (int t = nt16; t < ntiles; t++) sum = fma(pm[r][t], pv[c][t], sum);
                __global float *dst = pu + (size_t)(o0 + r) * nin + i0 + c;
                *dst = beta != 0.0f ? fma(beta, *dst, sum) : sum;
            }
    }
}
