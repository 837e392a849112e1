/* graft's native GEMM for CPU OpenCL devices (PoCL).
 *
 * C = alpha * op(A) op(B) + beta * C, row-major. The default kernel is
 * gemm_blocked_w: one work-item owns a 32-column stripe of C and up to 64
 * six-row panels; per K chunk it copies its stripe of op(B) (any stored
 * layout) into local memory and runs a 6 x 32 register block with twelve
 * named float16 accumulators (AVX-512: 32 vector registers). A is read
 * either in place or from 6-row k-major panels made by gemm_pack_a:
 *   Ap[p][k][r] = A(p*MR + r, k)  (zero padded)
 * gemm_blocked is the same with 6 x 16 float8 blocks (narrow outputs).
 * gemm_pack_b + gemm_packed are the first version (both operands packed,
 * one 6x16 block per work-item), kept for comparison.
 * Accumulators are named variables: PoCL keeps private arrays on the
 * stack, which is several times slower, and vectorising across work-items
 * loses to explicit vector FMAs. */

#define MR 6
#define NR 16

/* Packs op(A) (M x K) where element (r, k) sits at a[off + r*sr + k*sk]. */
__kernel void gemm_pack_a(__global const float *a, int off, int sr, int sk, int M, int K,
                          __global float *ap, int apoff)
{
    int k = get_global_id(0), p = get_global_id(1);
    if (k >= K) return;
    __global float *dst = ap + apoff + ((size_t)p * K + k) * MR;
    for (int r = 0; r < MR; r++) {
        int row = p * MR + r;
        dst[r] = row < M ? a[off + (size_t)row * sr + (size_t)k * sk] : 0.0f;
    }
}

/* Packs op(B) (K x N) where element (k, c) sits at b[off + k*sk + c*sc]. */
__kernel void gemm_pack_b(__global const float *b, int off, int sk, int sc, int K, int N,
                          __global float *bp)
{
    int k = get_global_id(0), q = get_global_id(1);
    if (k >= K) return;
    __global float *dst = bp + ((size_t)q * K + k) * NR;
    int c0 = q * NR;
    if (sc == 1 && c0 + NR <= N) {
        __global const float *src = b + off + (size_t)k * sk + c0;
        vstore8(vload8(0, src), 0, dst);
        vstore8(vload8(1, src), 1, dst);
        return;
    }
    for (int c = 0; c < NR; c++) {
        int col = c0 + c;
        dst[c] = col < N ? b[off + (size_t)k * sk + (size_t)col * sc] : 0.0f;
    }
}

#define ROW_FMA(r)                                                             \
    {                                                                          \
        float a_ = pa[r];                                                      \
        c##r##0 = fma((float8)(a_), b0, c##r##0);                              \
        c##r##1 = fma((float8)(a_), b1, c##r##1);                              \
    }

#define ROW_FMA_AT(r, off)                                                     \
    {                                                                          \
        float a_ = pa[off];                                                    \
        c##r##0 = fma((float8)(a_), b0, c##r##0);                              \
        c##r##1 = fma((float8)(a_), b1, c##r##1);                              \
    }

#define ROW_STORE(r)                                                           \
    if (i0 + r < M) {                                                          \
        __global float *crow = c + coff + (size_t)(i0 + r) * ldc + j0;        \
        float8 v0 = alpha * c##r##0, v1 = alpha * c##r##1;                     \
        if (full) {                                                            \
            if (beta != 0.0f) {                                                \
                v0 = fma((float8)(beta), vload8(0, crow), v0);                 \
                v1 = fma((float8)(beta), vload8(1, crow), v1);                 \
            }                                                                  \
            vstore8(v0, 0, crow);                                              \
            vstore8(v1, 1, crow);                                              \
        } else {                                                               \
            float t[NR];                                                       \
            vstore8(v0, 0, t);                                                 \
            vstore8(v1, 1, t);                                                 \
            for (int cc = 0; cc < ncols; cc++)                                 \
                crow[cc] = beta != 0.0f ? t[cc] + beta * crow[cc] : t[cc];     \
        }                                                                      \
    }

/* dim 0: MR-row panel index, dim 1: NR-column panel index. */
__kernel void gemm_packed(__global const float *ap, __global const float *bp, int M, int N,
                          int K, float alpha, float beta, __global float *c, int coff, int ldc)
{
    int p = get_global_id(0), q = get_global_id(1);
    int i0 = p * MR, j0 = q * NR;
    if (i0 >= M || j0 >= N) return;
    __global const float *pa = ap + (size_t)p * K * MR;
    __global const float *pb = bp + (size_t)q * K * NR;
    float8 c00 = 0, c01 = 0, c10 = 0, c11 = 0, c20 = 0, c21 = 0;
    float8 c30 = 0, c31 = 0, c40 = 0, c41 = 0, c50 = 0, c51 = 0;
    for (int k = 0; k < K; k++) {
        float8 b0 = vload8(0, pb), b1 = vload8(1, pb);
        ROW_FMA(0) ROW_FMA(1) ROW_FMA(2) ROW_FMA(3) ROW_FMA(4) ROW_FMA(5)
        pa += MR;
        pb += NR;
    }
    int ncols = min(NR, N - j0);
    int full = ncols == NR; /* vload8/vstore8 need only float alignment */
    ROW_STORE(0) ROW_STORE(1) ROW_STORE(2) ROW_STORE(3) ROW_STORE(4) ROW_STORE(5)
}

/* Blocked variant (v2). One work-item owns a 16-column stripe q of C and a
 * chunk of pc row panels. For each K chunk of at most KC rows it copies its
 * stripe of op(B) into local memory (contiguous, NR floats per k), so B is
 * never packed in a separate pass and the copy stays in L1 however badly
 * B's row stride aliases in the caches (conv columns have strides that are
 * multiples of 4 KiB), then runs the 6x16 register kernel over its panels,
 * adding each K chunk's product into C.
 * A is read in place: element (row, k) of op(A) is at
 *   a[aoff + (row / MR) * aps + k * ask + (row % MR) * asr],
 * which covers both stored layouts (aps = MR * asr) and the packed panels
 * of gemm_pack_a (aps = K * MR, ask = MR, asr = 1). Rows past M re-read row
 * M - 1 and are never stored.
 * Grid dimension qdim runs over chunks of qc column stripes, the other one
 * over chunks of pc panels; kc (at most KC) is the K chunk. */
#define KC 256

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
#define NRW 32
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

#define A_ROW(r) (min(r, M - 1 - i0) * asr)
__kernel void gemm_blocked(__global const float *a, int aoff, int aps, int ask, int asr,
                           __global const float *b, int boff, int bsk, int bsc, int M, int N,
                           int K, int pc, int qc, int qdim, int kc, float alpha, float beta0,
                           __global float *c, int coff, int ldc)
{
    __local float bs[KC * NR];
    int q0 = get_global_id(qdim) * qc, p0 = get_global_id(1 - qdim) * pc;
    int pm = (M + MR - 1) / MR, pn = (N + NR - 1) / NR;
    if (q0 >= pn || p0 >= pm) return;
    int p1 = min(pm, p0 + pc), q1 = min(pn, q0 + qc);
    for (int k0 = 0; k0 < K; k0 += kc) {
        int kn = min(kc, K - k0);
        /* qc > 1: several stripes reuse this K chunk of A while it is hot. */
        for (int q = q0; q < q1; q++) {
            int j0 = q * NR;
            int ncols = min(NR, N - j0);
            int full = ncols == NR;
            __global const float *bq = b + boff + (size_t)j0 * bsc;
            if (full && bsc == 1) {
                for (int k = 0; k < kn; k++) {
                    __global const float *src = bq + (size_t)(k0 + k) * bsk;
                    vstore8(vload8(0, src), 0, bs + k * NR);
                    vstore8(vload8(1, src), 1, bs + k * NR);
                }
            } else if (bsk == 1 && full) {
                copy_stripe_t(bs, bq + k0, bsc, kn, NR);
            } else if (bsk == 1) {
                /* op(B) = stored^T: each column is a contiguous run over k. */
                for (int cc = 0; cc < NR; cc++) {
                    __global const float *src = bq + (size_t)cc * bsc + k0;
                    if (cc < ncols)
                        for (int k = 0; k < kn; k++) bs[k * NR + cc] = src[k];
                    else
                        for (int k = 0; k < kn; k++) bs[k * NR + cc] = 0.0f;
                }
            } else {
                for (int k = 0; k < kn; k++)
                    for (int cc = 0; cc < NR; cc++)
                        bs[k * NR + cc] = cc < ncols ? bq[(size_t)(k0 + k) * bsk + (size_t)cc * bsc]
                                                     : 0.0f;
            }
            /* beta applies once, on the first chunk; later chunks accumulate. */
            float beta = k0 == 0 ? beta0 : 1.0f;
            for (int p = p0; p < p1; p++) {
                int i0 = p * MR;
                __global const float *pa = a + aoff + (size_t)p * aps + (size_t)k0 * ask;
                int r0 = A_ROW(0), r1 = A_ROW(1), r2 = A_ROW(2);
                int r3 = A_ROW(3), r4 = A_ROW(4), r5 = A_ROW(5);
                __local const float *pb = bs;
                float8 c00 = 0, c01 = 0, c10 = 0, c11 = 0, c20 = 0, c21 = 0;
                float8 c30 = 0, c31 = 0, c40 = 0, c41 = 0, c50 = 0, c51 = 0;
                for (int k = 0; k < kn; k++) {
                    float8 b0 = vload8(0, pb), b1 = vload8(1, pb);
                    ROW_FMA_AT(0, r0) ROW_FMA_AT(1, r1) ROW_FMA_AT(2, r2)
                    ROW_FMA_AT(3, r3) ROW_FMA_AT(4, r4) ROW_FMA_AT(5, r5)
                    pa += ask;
                    pb += NR;
                }
                ROW_STORE(0) ROW_STORE(1) ROW_STORE(2) ROW_STORE(3) ROW_STORE(4) ROW_STORE(5)
            }
        }
    }
}


/* Wide variant: 6 x 32 blocks in 12 float16 accumulators. The CPU has
 * AVX-512 (32 vector registers), so twice the block per B load fits. */
#define ROW_FMA_AT16(r, off)                                                   \
    {                                                                          \
        float a_ = pa[off];                                                    \
        c##r##0 = fma((float16)(a_), b0, c##r##0);                             \
        c##r##1 = fma((float16)(a_), b1, c##r##1);                             \
    }
#define ROW_STORE16(r)                                                         \
    if (i0 + r < M) {                                                          \
        __global float *crow = c + coff + (size_t)(i0 + r) * ldc + j0;        \
        float16 v0 = alpha * c##r##0, v1 = alpha * c##r##1;                    \
        if (full) {                                                            \
            if (beta != 0.0f) {                                                \
                v0 = fma((float16)(beta), vload16(0, crow), v0);               \
                v1 = fma((float16)(beta), vload16(1, crow), v1);               \
            }                                                                  \
            vstore16(v0, 0, crow);                                             \
            vstore16(v1, 1, crow);                                             \
        } else {                                                               \
            float t[NRW];                                                      \
            vstore16(v0, 0, t);                                                \
            vstore16(v1, 1, t);                                                \
            for (int cc = 0; cc < ncols; cc++)                                 \
                crow[cc] = beta != 0.0f ? t[cc] + beta * crow[cc] : t[cc];     \
        }                                                                      \
    }
__kernel void gemm_blocked_w(__global const float *a, int aoff, int aps, int ask, int asr,
                           __global const float *b, int boff, int bsk, int bsc, int M, int N,
                           int K, int pc, int qc, int qdim, int kc, float alpha, float beta0,
                           __global float *c, int coff, int ldc)
{
    __local float bs[KC * NRW];
    int q0 = get_global_id(qdim) * qc, p0 = get_global_id(1 - qdim) * pc;
    int pm = (M + MR - 1) / MR, pn = (N + NRW - 1) / NRW;
    if (q0 >= pn || p0 >= pm) return;
    int p1 = min(pm, p0 + pc), q1 = min(pn, q0 + qc);
    for (int k0 = 0; k0 < K; k0 += kc) {
        int kn = min(kc, K - k0);
        /* qc > 1: several stripes reuse this K chunk of A while it is hot. */
        for (int q = q0; q < q1; q++) {
            int j0 = q * NRW;
            int ncols = min(NRW, N - j0);
            int full = ncols == NRW;
            __global const float *bq = b + boff + (size_t)j0 * bsc;
            if (full && bsc == 1) {
                for (int k = 0; k < kn; k++) {
                    __global const float *src = bq + (size_t)(k0 + k) * bsk;
                    vstore16(vload16(0, src), 0, bs + k * NRW);
                    vstore16(vload16(1, src), 1, bs + k * NRW);
                }
            } else if (bsk == 1 && full) {
                copy_stripe_t(bs, bq + k0, bsc, kn, NRW);
            } else if (bsk == 1) {
                /* op(B) = stored^T: each column is a contiguous run over k. */
                for (int cc = 0; cc < NRW; cc++) {
                    __global const float *src = bq + (size_t)cc * bsc + k0;
                    if (cc < ncols)
                        for (int k = 0; k < kn; k++) bs[k * NRW + cc] = src[k];
                    else
                        for (int k = 0; k < kn; k++) bs[k * NRW + cc] = 0.0f;
                }
            } else {
                for (int k = 0; k < kn; k++)
                    for (int cc = 0; cc < NRW; cc++)
                        bs[k * NRW + cc] = cc < ncols ? bq[(size_t)(k0 + k) * bsk + (size_t)cc * bsc]
                                                     : 0.0f;
            }
            /* beta applies once, on the first chunk; later chunks accumulate. */
            float beta = k0 == 0 ? beta0 : 1.0f;
            for (int p = p0; p < p1; p++) {
                int i0 = p * MR;
                __global const float *pa = a + aoff + (size_t)p * aps + (size_t)k0 * ask;
                int r0 = A_ROW(0), r1 = A_ROW(1), r2 = A_ROW(2);
                int r3 = A_ROW(3), r4 = A_ROW(4), r5 = A_ROW(5);
                __local const float *pb = bs;
                float16 c00 = 0, c01 = 0, c10 = 0, c11 = 0, c20 = 0, c21 = 0;
                float16 c30 = 0, c31 = 0, c40 = 0, c41 = 0, c50 = 0, c51 = 0;
                for (int k = 0; k < kn; k++) {
                    float16 b0 = vload16(0, pb), b1 = vload16(1, pb);
                    ROW_FMA_AT16(0, r0) ROW_FMA_AT16(1, r1) ROW_FMA_AT16(2, r2)
                    ROW_FMA_AT16(3, r3) ROW_FMA_AT16(4, r4) ROW_FMA_AT16(5, r5)
                    pa += ask;
                    pb += NRW;
                }
                ROW_STORE16(0) ROW_STORE16(1) ROW_STORE16(2) ROW_STORE16(3) ROW_STORE16(4) ROW_STORE16(5)
            }
        }
    }
}

/* Plain tiled GEMM for GPUs when CLBlast is not used: 16x16 tiles in local
 * memory, general strides so it serves every transpose combination. */
#define TS 16
__kernel __attribute__((reqd_work_group_size(TS, TS, 1)))
void gemm_tiled(__global const float *a, int aoff, int asr, int ask,
                __global const float *b, int boff, int bsk, int bsc,
                int M, int N, int K, float alpha, float beta,
                __global float *c, int coff, int ldc)
{
    __local float ta[TS][TS + 1], tb[TS][TS + 1];
    int lj = get_local_id(0), li = get_local_id(1);
    int j = get_global_id(0), i = get_global_id(1);
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += TS) {
        int ka = k0 + lj, kb = k0 + li;
        ta[li][lj] = (i < M && ka < K) ? a[aoff + (size_t)i * asr + (size_t)ka * ask] : 0.0f;
        tb[li][lj] = (kb < K && j < N) ? b[boff + (size_t)kb * bsk + (size_t)j * bsc] : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int t = 0; t < TS; t++) acc = fma(ta[li][t], tb[t][lj], acc);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (i < M && j < N) {
        __global float *p = c + coff + (size_t)i * ldc + j;
        *p = beta != 0.0f ? alpha * acc + beta * *p : alpha * acc;
    }
}
