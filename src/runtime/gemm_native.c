/* graft's own GEMM. On CPU devices (PoCL) gemm_blocked32_cpu (cl/cpu/gemm_cpu.cl)
 * streams op(B) from its stored layout and reads A either in place or
 * after packing it into 6-row panels; no pass packs B. On GPUs, where the
 * CPU kernel makes no sense, a local-memory tiled kernel runs. Numbers and
 * the experiments behind each choice: docs/performance.md. */
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "kernel_options.h"

#define MR GEMM_MR
#define NR GEMM_NR
#define KC GEMM_KC
#define PC 64 /* row panels per work-item sharing one copied B stripe (8, 16, 32 were slower) */

size_t gemm_packed_a_floats(int M, int K) { return (size_t)((M + MR - 1) / MR) * MR * (size_t)K; }

graft_status gemm_pack_a_into(graft_ctx *ctx, int M, int K, gemm_operand a, cl_mem dst,
                              size_t dst_off)
{
    int a_sr = a.trans ? 1 : a.ld, a_sk = a.trans ? a.ld : 1;
    int pm = (M + MR - 1) / MR;
    /* dim 0 is k: neighbouring work-items read neighbouring floats when A
     * is stored untransposed (W in forward); only small A gets packed. */
    size_t lws[2] = {16, 1};
    size_t ga[2] = {(size_t)K, (size_t)pm};
    return LAUNCH(ctx, "gemm_pack_a_cpu", 2, ga, lws, KA_MEM(a.buf), KA_INT(a.off), KA_INT(a_sr),
                  KA_INT(a_sk), KA_INT(M), KA_INT(K), KA_MEM(dst), KA_INT(dst_off));
}

/* A tuning knob, or dflt when it is not set. */
static int knob(int v, int dflt) { return v ? v : dflt; }

/* Launches gemm_blocked{16,32}_cpu with A given by the strides of cl/cpu/gemm_cpu.cl. */
static graft_status run_blocked(graft_ctx *ctx, int M, int N, int K, float alpha, cl_mem a,
                                size_t aoff, int aps, int ask, int asr, int a_packed,
                                gemm_operand b, float beta, cl_mem c, size_t coff, int ldc)
{
    int b_sk = b.trans ? 1 : b.ld, b_sc = b.trans ? b.ld : 1;
    /* 6 x 32 blocks in float16 registers (AVX-512 CPUs; gemm_blocked32_cpu)
     * unless the output is too narrow to fill them. */
    const gemm_tuning *t = &ctx->tune;
    int wide = knob(t->nr, N > NR ? GEMM_NRW : NR) == GEMM_NRW;
    int kc = knob(t->kc, KC);
    if (kc < 8 || kc > KC) kc = KC;
    int nr = wide ? GEMM_NRW : NR;
    int pm = (M + MR - 1) / MR, pn = (N + nr - 1) / nr;
    /* Benchmark-only knobs (docs/performance.md): panels per item, local
     * size, which grid dimension holds the column stripes. */
    int pcmax = knob(t->pc, PC), lx = knob(t->lws0, 1);
    int ly = knob(t->lws1, 1), qdim = t->qdim ? 1 : 0;
    if (pcmax < 1) pcmax = 1;
    if (lx < 1) lx = 1;
    if (ly < 1) ly = 1;
    /* Fewer panels per item when there would be too few items to keep
     * every core busy (dW of a thin layer has a single column stripe). */
    int pc = pm < pcmax ? pm : pcmax;
    int want = 4 * (int)(ctx->info.compute_units ? ctx->info.compute_units : 1);
    while (pc > 1 && (long)pn * ((pm + pc - 1) / pc) < want) pc = (pc + 1) / 2;
    /* With A large and read in place (dW: dY' is Cout x N*H*W), items take
     * several column stripes so each K chunk of A is fetched from memory
     * once per item rather than once per stripe; about 2 items per core
     * remain (1 to 9 stripes per item measured: docs/performance.md). */
    int qc = 1;
    if (!a_packed) {
        int np = (pm + pc - 1) / pc, groups = want / 2 / np;
        if (groups < 1) groups = 1;
        qc = (pn + groups - 1) / groups;
    }
    qc = knob(t->qc, qc);
    if (qc < 1) qc = 1;
    size_t nq = (size_t)((pn + qc - 1) / qc), np = (size_t)((pm + pc - 1) / pc);
    /* Work-groups of one item by default: PoCL compiles per local size and
     * gains nothing from bigger groups for this explicitly vectorised code. */
    size_t gc[2] = {qdim ? np : nq, qdim ? nq : np}, lc[2] = {(size_t)lx, (size_t)ly};
    return LAUNCH(ctx, wide ? "gemm_blocked32_cpu" : "gemm_blocked16_cpu", 2, gc, lc, KA_MEM(a),
                  KA_INT(aoff), KA_INT(aps), KA_INT(ask), KA_INT(asr), KA_MEM(b.buf),
                  KA_INT(b.off), KA_INT(b_sk), KA_INT(b_sc), KA_INT(M), KA_INT(N), KA_INT(K),
                  KA_INT(pc), KA_INT(qc), KA_INT(qdim), KA_INT(kc), KA_FLT(alpha),
                  KA_FLT(beta), KA_MEM(c), KA_INT(coff), KA_INT(ldc));
}

graft_status gemm_packed_run(graft_ctx *ctx, int M, int N, int K, float alpha, cl_mem ap,
                             size_t apoff, gemm_operand b, float beta, cl_mem c, size_t coff,
                             int ldc)
{
    if (!ctx_is_cpu(ctx))
        return ctx_fail(ctx, GRAFT_ERR_UNSUPPORTED, "gemm_packed_run: CPU devices only");
    if (M <= 0 || N <= 0 || K <= 0 || ldc < N)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "gemm_packed_run: M=%d N=%d K=%d ldc=%d", M, N, K,
                        ldc);
    return run_blocked(ctx, M, N, K, alpha, ap, apoff, K * MR, MR, 1, 1, b, beta, c, coff,
                       ldc);
}

/* The first version: both operands packed, one 6x16 block per work-item.
 * Kept selectable for benchmarking: GRAFT_GEMM_VARIANT=v1, or =packa /
 * =direct to force the A packing choice of the blocked kernel. */
static graft_status gemm_native_v1(graft_ctx *ctx, int M, int N, int K, float alpha,
                                   gemm_operand a, gemm_operand b, float beta, cl_mem c,
                                   size_t coff, int ldc)
{
    int b_sk = b.trans ? 1 : b.ld, b_sc = b.trans ? b.ld : 1;
    int pm = (M + MR - 1) / MR, pn = (N + NR - 1) / NR;
    cl_mem ap, bp;
    TRY(ctx_scratch(ctx, 3, gemm_packed_a_floats(M, K) * sizeof(float), &ap));
    TRY(ctx_scratch(ctx, 4, (size_t)pn * NR * K * sizeof(float), &bp));
    TRY(gemm_pack_a_into(ctx, M, K, a, ap, 0));
    size_t lws[2] = {16, 1};
    size_t gb[2] = {(size_t)K, (size_t)pn};
    TRY(LAUNCH(ctx, "gemm_pack_b_cpu", 2, gb, lws, KA_MEM(b.buf), KA_INT(b.off), KA_INT(b_sk),
               KA_INT(b_sc), KA_INT(K), KA_INT(N), KA_MEM(bp)));
    size_t gc[2] = {(size_t)pm, (size_t)pn}, lc[2] = {1, 1};
    return LAUNCH(ctx, "gemm_packed_cpu", 2, gc, lc, KA_MEM(ap), KA_MEM(bp), KA_INT(M), KA_INT(N),
                  KA_INT(K), KA_FLT(alpha), KA_FLT(beta), KA_MEM(c), KA_INT(coff), KA_INT(ldc));
}

/* GPU style: the tiled kernel, one work-item per element of C. */
graft_status gemm_native_gpu(graft_ctx *ctx, int M, int N, int K, float alpha, gemm_operand a,
                             gemm_operand b, float beta, cl_mem c, size_t coff, int ldc)
{
    /* Element (r, k) of op(A) and (k, col) of op(B) as strides. */
    int a_sr = a.trans ? 1 : a.ld, a_sk = a.trans ? a.ld : 1;
    int b_sk = b.trans ? 1 : b.ld, b_sc = b.trans ? b.ld : 1;
    size_t gws[2] = {(size_t)N, (size_t)M}, lws[2] = {GEMM_TS, GEMM_TS};
    return LAUNCH(ctx, "gemm_tiled_gpu", 2, gws, lws, KA_MEM(a.buf), KA_INT(a.off), KA_INT(a_sr),
                  KA_INT(a_sk), KA_MEM(b.buf), KA_INT(b.off), KA_INT(b_sk), KA_INT(b_sc),
                  KA_INT(M), KA_INT(N), KA_INT(K), KA_FLT(alpha), KA_FLT(beta), KA_MEM(c),
                  KA_INT(coff), KA_INT(ldc));
}

/* CPU style: the blocked kernels, A packed or read in place. */
graft_status gemm_native_cpu(graft_ctx *ctx, int M, int N, int K, float alpha, gemm_operand a,
                             gemm_operand b, float beta, cl_mem c, size_t coff, int ldc)
{
    if (ctx->tune.variant == 1) return gemm_native_v1(ctx, M, N, K, alpha, a, b, beta, c, coff, ldc);

    /* Pack A when that pass is cheap (A small) or pays off because many
     * column stripes re-read A: measured on refnet's shapes, packing W
     * (forward, dcol) and square A gains 5-20%, while packing a 32 x 50176
     * dY (dW) loses up to 35% to the extra pass. */
    int pn = (N + NR - 1) / NR;
    int pack = (size_t)M * K <= ((size_t)1 << 19) || pn >= 64;
    if (ctx->tune.variant == 2) pack = 1;
    if (ctx->tune.variant == 3) pack = 0;
    if (pack) {
        cl_mem ap;
        TRY(ctx_scratch(ctx, 3, gemm_packed_a_floats(M, K) * sizeof(float), &ap));
        TRY(gemm_pack_a_into(ctx, M, K, a, ap, 0));
        return gemm_packed_run(ctx, M, N, K, alpha, ap, 0, b, beta, c, coff, ldc);
    }
    /* A read in place: no packing pass at all. */
    int a_sr = a.trans ? 1 : a.ld, a_sk = a.trans ? a.ld : 1;
    return run_blocked(ctx, M, N, K, alpha, a.buf, a.off, MR * a_sr, a_sk, a_sr, 0, b, beta,
                       c, coff, ldc);
}
