/* Register-block helpers of the CPU-shaped GEMM kernels, shared by
 * cl/cpu/gemm_cpu.cl and cl/cpu/conv_implicit_cpu.cl (listed before both in
 * cl/meson.build). The block sizes MR, NR, NRW, KC and TALL_KC are build
 * options made from src/runtime/kernel_options.h, the one place they are
 * defined. Accumulators are named variables c<row><half>: PoCL keeps
 * private arrays on the stack, which is several times slower. */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
/* floatW, vloadW, vstoreW for a vector width W of 8 or 16. */
#define VEC(W) CAT(float, W)
#define VLOAD(W) CAT(vload, W)
#define VSTORE(W) CAT(vstore, W)

/* Row r of a 6 x 2W block: c<r>0, c<r>1 += A(row r) * (b0, b1), with the
 * A value read at pa[off]. */
#define ROW_FMA_V(W, r, off)                                                   \
    {                                                                          \
        float a_ = pa[off];                                                    \
        c##r##0 = fma((VEC(W))(a_), b0, c##r##0);                              \
        c##r##1 = fma((VEC(W))(a_), b1, c##r##1);                              \
    }

/* C row i0 + r, columns j0 .. j0 + ncols - 1 = alpha * block row r
 * (+ beta * C); full: all 2W columns exist. */
#define ROW_STORE_V(W, r)                                                      \
    if (i0 + r < M) {                                                          \
        __global float *crow = c + coff + (size_t)(i0 + r) * ldc + j0;        \
        VEC(W) v0 = alpha * c##r##0, v1 = alpha * c##r##1;                     \
        if (full) {                                                            \
            if (beta != 0.0f) {                                                \
                v0 = fma((VEC(W))(beta), VLOAD(W)(0, crow), v0);               \
                v1 = fma((VEC(W))(beta), VLOAD(W)(1, crow), v1);               \
            }                                                                  \
            VSTORE(W)(v0, 0, crow);                                            \
            VSTORE(W)(v1, 1, crow);                                            \
        } else {                                                               \
            float t[2 * W];                                                    \
            VSTORE(W)(v0, 0, t);                                               \
            VSTORE(W)(v1, 1, t);                                               \
            for (int cc = 0; cc < ncols; cc++)                                 \
                crow[cc] = beta != 0.0f ? t[cc] + beta * crow[cc] : t[cc];     \
        }                                                                      \
    }

/* In-register 8x8 transpose: row i of the result is column i of the input
 * (unpack pairs, then quads, then swap 128-bit halves). */
#define TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7)                              \
    {                                                                           \
        float8 t0 = shuffle2(r0, r1, (uint8)(0, 8, 1, 9, 4, 12, 5, 13));        \
        float8 t1 = shuffle2(r0, r1, (uint8)(2, 10, 3, 11, 6, 14, 7, 15));      \
        float8 t2 = shuffle2(r2, r3, (uint8)(0, 8, 1, 9, 4, 12, 5, 13));        \
        float8 t3 = shuffle2(r2, r3, (uint8)(2, 10, 3, 11, 6, 14, 7, 15));      \
        float8 t4 = shuffle2(r4, r5, (uint8)(0, 8, 1, 9, 4, 12, 5, 13));        \
        float8 t5 = shuffle2(r4, r5, (uint8)(2, 10, 3, 11, 6, 14, 7, 15));      \
        float8 t6 = shuffle2(r6, r7, (uint8)(0, 8, 1, 9, 4, 12, 5, 13));        \
        float8 t7 = shuffle2(r6, r7, (uint8)(2, 10, 3, 11, 6, 14, 7, 15));      \
        float8 u0 = shuffle2(t0, t2, (uint8)(0, 1, 8, 9, 4, 5, 12, 13));        \
        float8 u1 = shuffle2(t0, t2, (uint8)(2, 3, 10, 11, 6, 7, 14, 15));      \
        float8 u2 = shuffle2(t1, t3, (uint8)(0, 1, 8, 9, 4, 5, 12, 13));        \
        float8 u3 = shuffle2(t1, t3, (uint8)(2, 3, 10, 11, 6, 7, 14, 15));      \
        float8 u4 = shuffle2(t4, t6, (uint8)(0, 1, 8, 9, 4, 5, 12, 13));        \
        float8 u5 = shuffle2(t4, t6, (uint8)(2, 3, 10, 11, 6, 7, 14, 15));      \
        float8 u6 = shuffle2(t5, t7, (uint8)(0, 1, 8, 9, 4, 5, 12, 13));        \
        float8 u7 = shuffle2(t5, t7, (uint8)(2, 3, 10, 11, 6, 7, 14, 15));      \
        r0 = shuffle2(u0, u4, (uint8)(0, 1, 2, 3, 8, 9, 10, 11));               \
        r1 = shuffle2(u1, u5, (uint8)(0, 1, 2, 3, 8, 9, 10, 11));               \
        r2 = shuffle2(u2, u6, (uint8)(0, 1, 2, 3, 8, 9, 10, 11));               \
        r3 = shuffle2(u3, u7, (uint8)(0, 1, 2, 3, 8, 9, 10, 11));               \
        r4 = shuffle2(u0, u4, (uint8)(4, 5, 6, 7, 12, 13, 14, 15));             \
        r5 = shuffle2(u1, u5, (uint8)(4, 5, 6, 7, 12, 13, 14, 15));             \
        r6 = shuffle2(u2, u6, (uint8)(4, 5, 6, 7, 12, 13, 14, 15));             \
        r7 = shuffle2(u3, u7, (uint8)(4, 5, 6, 7, 12, 13, 14, 15));             \
    }
/* bs[k][cc] = src[cc * sc + k] for k < kn, cc < w (16 or 32): a stripe of
 * an operand stored transposed (each column a contiguous run over k).
 * Loads 8 k-values of 8 columns and transposes them in registers, about a
 * third of the instructions of the scalar copy. */
static void copy_stripe_t(__local float *bs, __global const float *src0, int sc, int kn, int w)
{
    int k = 0;
    for (; k + 8 <= kn; k += 8)
        for (int h = 0; h < w / 8; h++) {
            __global const float *src = src0 + (size_t)(h * 8) * sc + k;
            float8 r0 = vload8(0, src), r1 = vload8(0, src + sc);
            float8 r2 = vload8(0, src + 2 * sc), r3 = vload8(0, src + 3 * sc);
            float8 r4 = vload8(0, src + 4 * sc), r5 = vload8(0, src + 5 * sc);
            float8 r6 = vload8(0, src + 6 * sc), r7 = vload8(0, src + 7 * sc);
            TRANSPOSE8(r0, r1, r2, r3, r4, r5, r6, r7);
            __local float *d = bs + k * w + h * 8;
            vstore8(r0, 0, d);
            vstore8(r1, 0, d + w);
            vstore8(r2, 0, d + 2 * w);
            vstore8(r3, 0, d + 3 * w);
            vstore8(r4, 0, d + 4 * w);
            vstore8(r5, 0, d + 5 * w);
            vstore8(r6, 0, d + 6 * w);
            vstore8(r7, 0, d + 7 * w);
        }
    for (; k < kn; k++)
        for (int cc = 0; cc < w; cc++) bs[k * w + cc] = src0[(size_t)cc * sc + k];
}
