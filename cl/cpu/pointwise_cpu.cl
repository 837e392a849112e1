/* Pointwise (1x1, stride 1, one group) convolution for CPU devices (PoCL),
 * as a plain GEMM per image on NCHW, read and written in place:
 *   y_img (nout x P) = beta * y_img + Wop (nout x nred) * x_img (nred x P)
 * with Wop[o][r] = w[o * so + r * sr]: the forward (so = cin, sr = 1, W as
 * stored) or the input gradient (so = 1, sr = cin: W^T, x = dy).
 * The micro-kernel is PW_CB output channels x PW_PB output pixels: each
 * reduction step loads two float16 from one input plane (contiguous along
 * the pixels) and broadcasts PW_CB weights, so every result row is two
 * vstore16 along an output plane. conv_tall_cpu's transposed shape (pixels
 * x channels, channels in the vectors) scatters each result across planes
 * instead, which made the small-K 1x1 convs of MobileNetV2 store-bound.
 * Then the epilogue of conv_tall_cpu: bias, a folded BatchNorm (scale and
 * shift from the running statistics), a residual, the activation. */

#define PW_CB 8  /* output channels per micro-kernel */
#define PW_PB 32 /* output pixels per micro-kernel: two float16 */
#define PW_PF 8 /* rows ahead that the inner loop prefetches */

/* The epilogue of one value: v = acc (+ beta * old), then bias, folded
 * BatchNorm (sc, sh, bias folded into sh), residual r, activation. */
static inline float pw_finish(float v, float sc, float sh, float r, int act, float slope)
{
    return bn_act(fma(v, sc, sh) + r, act, slope);
}

/* bn_act on 16 lanes. */
static inline float16 pw_act16(float16 v, int act, float slope)
{
    if (act == 0) return fmax(v, 0.0f);
    if (act == 1) return fmin(fmax(v, 0.0f), 6.0f);
    if (act == 2) return select(v * slope, v, v > 0.0f);
    return v;
}

/* Work-items: gid 0 a stripe of cs channel blocks (PW_CB channels each),
 * gid 1 a run of pc pixel blocks (PW_PB pixels each), gid 2 the image.
 * Pixel block b covers pixels [b * PW_PB, min(P, b * PW_PB + PW_PB)); the
 * last, partial one is computed over the PW_PB pixels ending at P and
 * stores only its own lanes, so no load leaves the plane. Planes under
 * PW_PB pixels take a scalar loop. Channel blocks past nout repeat the
 * last channel's weights and are not stored. Pixel blocks are the outer
 * loop, so an input block (nred x PW_PB) is reused by every channel block
 * of the stripe from cache. */
__kernel void conv_pointwise_cpu(__global const float *x, __global const float *w, int so, int sr,
                                 __global const float *bias, int has_bias, __global float *y,
                                 int n, int nred, int nout, int P, int cs, int pc, float beta,
                                 __global const float *bn_g, __global const float *bn_b,
                                 __global const float *bn_m, __global const float *bn_v,
                                 float bn_eps, int has_bn, int act, float slope,
                                 __global const float *res, int has_res)
{
    int ncb = (nout + PW_CB - 1) / PW_CB, nb = (P + PW_PB - 1) / PW_PB;
    int cb0 = get_global_id(0) * cs, b0 = get_global_id(1) * pc, img = get_global_id(2);
    if (cb0 >= ncb || b0 >= nb || img >= n) return;
    int cb1 = min(ncb, cb0 + cs), b1 = min(nb, b0 + pc);
    __global const float *xi = x + (size_t)img * nred * P;
    size_t yoff = (size_t)img * nout * P;
    __global float *yi = y + yoff;
    __global const float *ri = res + (has_res ? yoff : 0);

    if (P < PW_PB) {
        for (int o = cb0 * PW_CB; o < min(nout, cb1 * PW_CB); o++) {
            float sc = 1.0f, sh = 0.0f;
            if (has_bn) {
                sc = bn_g[o] * (1.0f / sqrt(bn_v[o] + bn_eps));
                sh = bn_b[o] - bn_m[o] * sc;
            }
            if (has_bias) sh = fma(bias[o], sc, sh);
            __global const float *wo = w + (size_t)o * so;
            for (int p = 0; p < P; p++) {
                float acc = 0.0f;
                for (int r = 0; r < nred; r++) acc = fma(wo[(size_t)r * sr], xi[(size_t)r * P + p], acc);
                size_t at = (size_t)o * P + p;
                if (beta != 0.0f) acc = fma(beta, yi[at], acc);
                yi[at] = pw_finish(acc, sc, sh, has_res ? ri[at] : 0.0f, act, slope);
            }
        }
        return;
    }

    for (int b = b0; b < b1; b++) {
        int s = min(b * PW_PB, P - PW_PB); /* first pixel computed */
        int first = b * PW_PB - s;         /* lanes below it belong to block b - 1 */
        __global const float *xb = xi + s;
        for (int cb = cb0; cb < cb1; cb++) {
            int o0 = cb * PW_CB, nc = min(PW_CB, nout - o0);
            __global const float *w0 = w + (size_t)min(o0 + 0, nout - 1) * so;
            __global const float *w1 = w + (size_t)min(o0 + 1, nout - 1) * so;
            __global const float *w2 = w + (size_t)min(o0 + 2, nout - 1) * so;
            __global const float *w3 = w + (size_t)min(o0 + 3, nout - 1) * so;
            __global const float *w4 = w + (size_t)min(o0 + 4, nout - 1) * so;
            __global const float *w5 = w + (size_t)min(o0 + 5, nout - 1) * so;
            __global const float *w6 = w + (size_t)min(o0 + 6, nout - 1) * so;
            __global const float *w7 = w + (size_t)min(o0 + 7, nout - 1) * so;
            float16 c00 = 0, c01 = 0, c10 = 0, c11 = 0, c20 = 0, c21 = 0, c30 = 0, c31 = 0;
            float16 c40 = 0, c41 = 0, c50 = 0, c51 = 0, c60 = 0, c61 = 0, c70 = 0, c71 = 0;
            __global const float *xr = xb;
            size_t wo = 0;
            for (int r = 0; r < nred; r++) {
                float16 a0 = vload16(0, xr), a1 = vload16(1, xr);
                CPU_PREFETCH(xr + PW_PF * P);
                CPU_PREFETCH(xr + PW_PF * P + 16);
                CPU_PREFETCH(xr + PW_PF * P + 31);
#define PW_FMA(j)                                                              \
    {                                                                          \
        float16 b_ = (float16)(w##j[wo]);                                      \
        c##j##0 = fma(a0, b_, c##j##0);                                        \
        c##j##1 = fma(a1, b_, c##j##1);                                        \
    }
                PW_FMA(0) PW_FMA(1) PW_FMA(2) PW_FMA(3) PW_FMA(4) PW_FMA(5) PW_FMA(6) PW_FMA(7)
#undef PW_FMA
                xr += P;
                wo += sr;
            }
            /* Channel j of the block: beta, epilogue, two vector stores
             * (or the lanes from first on, for a partial block). */
#define PW_STORE(j)                                                            \
    if (j < nc) {                                                              \
        int o = o0 + j;                                                        \
        float sc = 1.0f, sh = 0.0f;                                            \
        if (has_bn) {                                                          \
            sc = bn_g[o] * (1.0f / sqrt(bn_v[o] + bn_eps));                    \
            sh = bn_b[o] - bn_m[o] * sc;                                       \
        }                                                                      \
        if (has_bias) sh = fma(bias[o], sc, sh);                               \
        size_t at = (size_t)o * P + s;                                         \
        __global float *dst = yi + at;                                         \
        float16 v0 = c##j##0, v1 = c##j##1;                                    \
        if (beta != 0.0f) {                                                    \
            v0 = fma((float16)beta, vload16(0, dst), v0);                      \
            v1 = fma((float16)beta, vload16(1, dst), v1);                      \
        }                                                                      \
        v0 = fma(v0, (float16)sc, (float16)sh);                                \
        v1 = fma(v1, (float16)sc, (float16)sh);                                \
        if (has_res) v0 += vload16(0, ri + at), v1 += vload16(1, ri + at);     \
        v0 = pw_act16(v0, act, slope);                                         \
        v1 = pw_act16(v1, act, slope);                                         \
        if (first == 0) {                                                      \
            vstore16(v0, 0, dst);                                              \
            vstore16(v1, 1, dst);                                              \
        } else {                                                               \
            float t_[PW_PB];                                                   \
            vstore16(v0, 0, t_);                                               \
            vstore16(v1, 1, t_);                                               \
            for (int l_ = first; l_ < PW_PB; l_++) dst[l_] = t_[l_];           \
        }                                                                      \
    }
            PW_STORE(0) PW_STORE(1) PW_STORE(2) PW_STORE(3)
            PW_STORE(4) PW_STORE(5) PW_STORE(6) PW_STORE(7)
#undef PW_STORE
        }
    }
}
