/* graft's native GEMM for CPU OpenCL devices (PoCL).
 *
 * C = alpha * op(A) op(B) + beta * C, row-major. The default kernel is
 * gemm_blocked32_cpu: one work-item owns a 32-column stripe of C and up to
 * 64 six-row panels; per K chunk it copies its stripe of op(B) (any stored
 * layout) into local memory and runs a 6 x 32 register block with twelve
 * named float16 accumulators (AVX-512: 32 vector registers). A is read
 * either in place or from 6-row k-major panels made by gemm_pack_a_cpu:
 *   Ap[p][k][r] = A(p*MR + r, k)  (zero padded)
 * gemm_blocked16_cpu is the same body with 6 x 16 float8 blocks (narrow
 * outputs). gemm_pack_b_cpu + gemm_packed_cpu are the first version (both
 * operands packed, one 6x16 block per work-item), kept for comparison.
 * The register-block macros are in cl/cpu/blocks_cpu.cl; vectorising
 * across work-items loses to explicit vector FMAs. */

/* Packs op(A) (M x K) where element (r, k) sits at a[off + r*sr + k*sk]. */
__kernel void gemm_pack_a_cpu(__global const float *a, int off, int sr, int sk, int M, int K,
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
__kernel void gemm_pack_b_cpu(__global const float *b, int off, int sk, int sc, int K, int N,
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

/* dim 0: MR-row panel index, dim 1: NR-column panel index. */
__kernel void gemm_packed_cpu(__global const float *ap, __global const float *bp, int M, int N,
                              int K, float alpha, float beta, __global float *c, int coff,
                              int ldc)
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
        ROW_FMA_V(8, 0, 0) ROW_FMA_V(8, 1, 1) ROW_FMA_V(8, 2, 2)
        ROW_FMA_V(8, 3, 3) ROW_FMA_V(8, 4, 4) ROW_FMA_V(8, 5, 5)
        pa += MR;
        pb += NR;
    }
    int ncols = min(NR, N - j0);
    int full = ncols == NR; /* vload8/vstore8 need only float alignment */
    ROW_STORE_V(8, 0) ROW_STORE_V(8, 1) ROW_STORE_V(8, 2)
    ROW_STORE_V(8, 3) ROW_STORE_V(8, 4) ROW_STORE_V(8, 5)
}

/* Blocked GEMM, one body for two block widths (GEMM_BLOCKED below makes
 * gemm_blocked16_cpu with float8 and gemm_blocked32_cpu with float16
 * halves). One work-item owns a SW = 2W column stripe q of C and a chunk of
 * pc row panels. For each K chunk of at most KC rows it copies its stripe
 * of op(B) into local memory (contiguous, SW floats per k), so B is never
 * packed in a separate pass and the copy stays in L1 however badly B's
 * row stride aliases in the caches (conv columns have strides that are
 * multiples of 4 KiB), then runs the 6 x SW register kernel over its
 * panels, adding each K chunk's product into C.
 * A is read in place: element (row, k) of op(A) is at
 *   a[aoff + (row / MR) * aps + k * ask + (row % MR) * asr],
 * which covers both stored layouts (aps = MR * asr) and the packed panels
 * of gemm_pack_a_cpu (aps = K * MR, ask = MR, asr = 1). Rows past M
 * re-read row M - 1 and are never stored.
 * Grid dimension qdim runs over chunks of qc column stripes, the other one
 * over chunks of pc panels; kc (at most KC) is the K chunk. */
#define A_ROW(r) (min(r, M - 1 - i0) * asr)
#define GEMM_BLOCKED(NAME, W)                                                                 \
__kernel void NAME(__global const float *a, int aoff, int aps, int ask, int asr,              \
                   __global const float *b, int boff, int bsk, int bsc, int M, int N, int K,  \
                   int pc, int qc, int qdim, int kc, float alpha, float beta0,                \
                   __global float *c, int coff, int ldc)                                      \
{                                                                                             \
    __local float bs[KC * (2 * W)];                                                           \
    int q0 = get_global_id(qdim) * qc, p0 = get_global_id(1 - qdim) * pc;                     \
    int pm = (M + MR - 1) / MR, pn = (N + (2 * W) - 1) / (2 * W);                             \
    if (q0 >= pn || p0 >= pm) return;                                                         \
    int p1 = min(pm, p0 + pc), q1 = min(pn, q0 + qc);                                         \
    for (int k0 = 0; k0 < K; k0 += kc) {                                                      \
        int kn = min(kc, K - k0);                                                             \
        /* qc > 1: several stripes reuse this K chunk of A while it is hot. */                \
        for (int q = q0; q < q1; q++) {                                                       \
            int j0 = q * (2 * W);                                                             \
            int ncols = min((2 * W), N - j0);                                                 \
            int full = ncols == (2 * W);                                                      \
            __global const float *bq = b + boff + (size_t)j0 * bsc;                           \
            if (full && bsc == 1) {                                                           \
                for (int k = 0; k < kn; k++) {                                                \
                    __global const float *src = bq + (size_t)(k0 + k) * bsk;                  \
                    VSTORE(W)(VLOAD(W)(0, src), 0, bs + k * (2 * W));                         \
                    VSTORE(W)(VLOAD(W)(1, src), 1, bs + k * (2 * W));                         \
                }                                                                             \
            } else if (bsk == 1 && full) {                                                    \
                copy_stripe_t(bs, bq + k0, bsc, kn, (2 * W));                                 \
            } else if (bsk == 1) {                                                            \
                /* op(B) = stored^T: each column is a contiguous run over k. */               \
                for (int cc = 0; cc < (2 * W); cc++) {                                        \
                    __global const float *src = bq + (size_t)cc * bsc + k0;                   \
                    if (cc < ncols)                                                           \
                        for (int k = 0; k < kn; k++) bs[k * (2 * W) + cc] = src[k];           \
                    else                                                                      \
                        for (int k = 0; k < kn; k++) bs[k * (2 * W) + cc] = 0.0f;             \
                }                                                                             \
            } else {                                                                          \
                for (int k = 0; k < kn; k++)                                                  \
                    for (int cc = 0; cc < (2 * W); cc++)                                      \
                        bs[k * (2 * W) + cc] =                                                \
                            cc < ncols ? bq[(size_t)(k0 + k) * bsk + (size_t)cc * bsc]        \
                                       : 0.0f;                                                \
            }                                                                                 \
            /* beta applies once, on the first chunk; later chunks accumulate. */             \
            float beta = k0 == 0 ? beta0 : 1.0f;                                              \
            for (int p = p0; p < p1; p++) {                                                   \
                int i0 = p * MR;                                                              \
                __global const float *pa = a + aoff + (size_t)p * aps + (size_t)k0 * ask;     \
                int r0 = A_ROW(0), r1 = A_ROW(1), r2 = A_ROW(2);                              \
                int r3 = A_ROW(3), r4 = A_ROW(4), r5 = A_ROW(5);                              \
                __local const float *pb = bs;                                                 \
                VEC(W) c00 = 0, c01 = 0, c10 = 0, c11 = 0, c20 = 0, c21 = 0;                  \
                VEC(W) c30 = 0, c31 = 0, c40 = 0, c41 = 0, c50 = 0, c51 = 0;                  \
                for (int k = 0; k < kn; k++) {                                                \
                    VEC(W) b0 = VLOAD(W)(0, pb), b1 = VLOAD(W)(1, pb);                        \
                    ROW_FMA_V(W, 0, r0) ROW_FMA_V(W, 1, r1) ROW_FMA_V(W, 2, r2)               \
                    ROW_FMA_V(W, 3, r3) ROW_FMA_V(W, 4, r4) ROW_FMA_V(W, 5, r5)               \
                    pa += ask;                                                                \
                    pb += (2 * W);                                                            \
                }                                                                             \
                ROW_STORE_V(W, 0) ROW_STORE_V(W, 1) ROW_STORE_V(W, 2)                         \
                ROW_STORE_V(W, 3) ROW_STORE_V(W, 4) ROW_STORE_V(W, 5)                         \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
}

/* The two widths: NR = 16 columns in float8 halves, NRW = 32 columns in
 * float16 halves (6 x 32 blocks fill the 32 vector registers of AVX-512). */
GEMM_BLOCKED(gemm_blocked16_cpu, 8)
GEMM_BLOCKED(gemm_blocked32_cpu, 16)
