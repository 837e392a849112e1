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
 * (o, i). */
__kernel void winograd_weights_cpu(__global const float *w, __global float *u, int flip,
                                   int nin, int nout, int npanels)
{
    int o = get_global_id(0), i = get_global_id(1);
    if (o >= npanels * 6 || i >= nin) return;
    float g[9];
    for (int r = 0; r < 9; r++)
        g[r] = o >= nout ? 0.0f
               : flip    ? w[((size_t)i * nout + o) * 9 + 8 - r]
                         : w[((size_t)o * nin + i) * 9 + r];
    /* t = G g (alpha x 3), then t G^T (alpha x alpha). */
    float t[WINO_A][3];
    for (int c = 0; c < 3; c++) {
        float col[3] = {g[c], g[3 + c], g[6 + c]}, out[WINO_A];
        WINO_G(col, out)
        for (int r = 0; r < WINO_A; r++) t[r][c] = out[r];
    }
    size_t plane = (size_t)npanels * nin * 6;
    __global float *dst = u + ((size_t)(o / 6) * nin + i) * 6 + o % 6;
    for (int r = 0; r < WINO_A; r++) {
        float out[WINO_A];
        WINO_G(t[r], out)
        for (int c = 0; c < WINO_A; c++) dst[(r * WINO_A + c) * plane] = out[c];
    }
}

/* V[a][ci][t] = (B^T d B)[a] for tile t = (img * th + ty) * tw + tx of
 * this chunk (images img0 ..), d the alpha x alpha patch of x[img0 +
 * img][ci] whose top-left is (ty * m - 1, tx * m - 1), zero outside the
 * plane; rows of V are ldv >= th * tw * nimg floats. One item per (ci, ty,
 * img): the patch rows are copied with their zero border into local memory
 * (column c holds x column c - 1), then 16 tiles at a time are transformed
 * as float16 lanes (lane l = tile tx0 + l reads columns (tx0 + l) * m + k,
 * k < alpha: every m-th element of a row segment). */
__kernel void winograd_input_cpu(__global const float *x, __global float *v, int img0, int cin,
                                 int h, int w, int th, int tw, int ldv)
{
    __local float rows[WINO_A * WINO_LROW];
    int ci = get_global_id(0), ty = get_global_id(1), img = get_global_id(2);
    if (ci >= cin || ty >= th) return;
    int tw16 = (tw + 15) / 16 * 16, wl = tw16 * WINO_M + WINO_A;
    __global const float *src = x + ((size_t)(img0 + img) * cin + ci) * h * w;
    for (int i = 0; i < WINO_A; i++) {
        int y = ty * WINO_M - 1 + i;
        __local float *row = rows + i * WINO_LROW;
        if (y < 0 || y >= h) {
            for (int c = 0; c < wl; c++) row[c] = 0.0f;
            continue;
        }
        __global const float *sr = src + (size_t)y * w;
        row[0] = 0.0f;
        for (int c = 1; c <= w; c++) row[c] = sr[c - 1];
        for (int c = w + 1; c < wl; c++) row[c] = 0.0f;
    }
    size_t tbase = ((size_t)img * th + ty) * tw;
    size_t pstride = (size_t)cin * ldv; /* from one transform point to the next */
    __global float *dst0 = v + (size_t)ci * ldv + tbase;
    for (int tx0 = 0; tx0 < tw; tx0 += 16) {
        /* hz[i][j]: row i of the patch transformed along x (d B). */
        float16 hz[WINO_A][WINO_A];
        for (int i = 0; i < WINO_A; i++) {
            float16 d[WINO_A];
            for (int k = 0; k < WINO_A; k++) {
                __local const float *p = rows + i * WINO_LROW + tx0 * WINO_M + k;
#if WINO_M == 2
                float16 a0 = vload16(0, p), a1 = vload16(1, p);
                d[k] = (float16)(a0.even, a1.even);
#else
                float16 a0 = vload16(0, p), a1 = vload16(1, p);
                float16 a2 = vload16(2, p), a3 = vload16(3, p);
                d[k] = (float16)(a0.s048c, a1.s048c, a2.s048c, a3.s048c);
#endif
            }
            WINO_BT(float16, d, hz[i])
        }
        int nl = min(16, tw - tx0);
        for (int j = 0; j < WINO_A; j++) {
            float16 col[WINO_A], out[WINO_A];
            for (int i = 0; i < WINO_A; i++) col[i] = hz[i][j];
            WINO_BT(float16, col, out)
            for (int i = 0; i < WINO_A; i++) {
                __global float *d = dst0 + (size_t)(i * WINO_A + j) * pstride + tx0;
                if (nl == 16) {
                    vstore16(out[i], 0, d);
                } else {
                    float t[16];
                    vstore16(out[i], 0, t);
                    for (int l = 0; l < nl; l++) d[l] = t[l];
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
                for (int j = 0; j < WINO_A; j++) {
                    float16 m[WINO_A], o_[WINO_M];
                    for (int i = 0; i < WINO_A; i++)
                        m[i] = vload16(hv, acc + (((size_t)(i * WINO_A + j) * WINO_PP + q) * 6 + r) * 32);
                    WINO_AT(float16, m, o_)
                    for (int k = 0; k < WINO_M; k++) cols[j][k] = o_[k];
                }
                float out[WINO_M][WINO_M][16];
                for (int k = 0; k < WINO_M; k++) {
                    float16 m[WINO_A], o_[WINO_M];
                    for (int j = 0; j < WINO_A; j++) m[j] = cols[j][k];
                    WINO_AT(float16, m, o_)
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
                    size_t plane = ((size_t)(img0 + img) * nout + o) * h * w;
                    for (int k = 0; k < WINO_M; k++) {
                        int oy = ty * WINO_M + k;
                        if (oy >= h) break;
                        for (int l = 0; l < WINO_M; l++) {
                            int ox = tx * WINO_M + l;
                            if (ox >= w) break;
                            size_t at = plane + (size_t)oy * w + ox;
                            float val = out[k][l][ln];
                            if (!vec_act) {
                                if (beta != 0.0f) val = fma(bsc, y[at], val);
                                if (has_res) val += res[at];
                                val = bn_act(val, act, slope);
                            }
                            y[at] = val;
                        }
                    }
                }
            }
        }
}
