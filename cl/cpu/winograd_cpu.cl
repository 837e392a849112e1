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
