/* Winograd convolution on CPU devices: weight transform, then per chunk of
 * images the input transform and the GEMMs with the output transform and
 * epilogue (cl/cpu/winograd_cpu.cl, conv_winograd.h). */
#include "conv_winograd.h"

#include "kernel_options.h"

enum { WINO_ALPHA = WINO_M + 2, WINO_POINTS = WINO_ALPHA * WINO_ALPHA };

static int tiles_of(int len) { return (len + WINO_M - 1) / WINO_M; }

int conv_winograd_fits(const wino_shape *s)
{
    int tw16 = (tiles_of(s->w) + 15) / 16 * 16;
    return s->n > 0 && s->h > 0 && s->w > 0 && tw16 * WINO_M + WINO_ALPHA <= WINO_LROW;
}

int conv_winograd_pays(const graft_ctx *ctx, const wino_shape *s, int cached)
{
    (void)ctx;
    /* Measured per conv against conv_tall_cpu (docs/performance.md,
     * "Backbones at 224", items 7 and 14): the transforms are memory-bound,
     * so narrow convs gain nothing. Weights transformed on every call (a
     * trained layer) pay from about 32 tiles (ResNet-18 training with
     * layer4's 7x7 planes on Winograd: 1.04-1.23x img/s at batch 16, 3
     * alternating rounds, and 2 of 3 at batch 8); cached ones (inference,
     * frozen layers) from about 16, where the GEMM stops being bound by
     * reading the transformed weights (36 / 9 = 4x the weights). */
    long tiles = (long)s->n * tiles_of(s->h) * tiles_of(s->w);
    if (s->nin < 32 || s->nout < 32) return 0;
    return tiles >= (cached ? WINO_CACHED_MIN_TILES : WINO_MIN_TILES);
}

size_t conv_winograd_weight_bytes(const wino_shape *s)
{
    return (size_t)WINO_POINTS * ((s->nout + 5) / 6) * 6 * s->nin * sizeof(float);
}

graft_status conv_winograd_weights(graft_ctx *ctx, const wino_shape *s, int flip, cl_mem w,
                                   cl_mem u)
{
    int npanels = (s->nout + 5) / 6;
    size_t gw = (size_t)npanels, l1 = 1;
    return LAUNCH(ctx, "winograd_weights_cpu", 1, &gw, &l1, KA_MEM(w), KA_MEM(u), KA_INT(flip),
                  KA_INT(s->nin), KA_INT(s->nout), KA_INT(npanels));
}

graft_status conv_winograd_run(graft_ctx *ctx, const wino_shape *s, int flip, cl_mem x, cl_mem w,
                               cl_mem packed, cl_mem bias, int has_bias, cl_mem y, float beta,
                               const conv_epilogue *ep)
{
    if (!conv_winograd_fits(s) || (ep && beta != 0.0f))
        return ctx_fail(ctx, GRAFT_ERR_INTERNAL, "winograd conv: unsupported call");
    int th = tiles_of(s->h), tw = tiles_of(s->w), per_img = th * tw;
    int npanels = (s->nout + 5) / 6;
    cl_mem u = packed, v;
    size_t l2[2] = {1, 1};
    if (!u) {
        TRY(ctx_scratch(ctx, 1, conv_winograd_weight_bytes(s), &u));
        TRY(conv_winograd_weights(ctx, s, flip, w, u));
    }

    /* Images per chunk: the transformed input of a chunk within the cap. */
    size_t per_image = (size_t)WINO_POINTS * s->nin * per_img * sizeof(float);
    size_t cap = ctx->conv_chunk_bytes / per_image;
    int nc = cap < 1 ? 1 : cap > (size_t)s->n ? s->n : (int)cap;
    /* Rows of V: whole 32-tile stripes, and room for the input kernel's
     * 16-lane stores past the last tile. */
    int ldv_max = (nc * per_img + 16 + 31) / 32 * 32;
    TRY(ctx_scratch(ctx, 0, (size_t)WINO_POINTS * s->nin * ldv_max * sizeof(float), &v));
    int bn = ep && ep->gamma;
    for (int img0 = 0; img0 < s->n; img0 += nc) {
        int m = s->n - img0 < nc ? s->n - img0 : nc;
        int ntiles = m * per_img, ldv = (ntiles + 16 + 31) / 32 * 32;
        size_t gi = (size_t)s->nin, l1 = 1;
        TRY(LAUNCH(ctx, "winograd_input_cpu", 1, &gi, &l1, KA_MEM(x), KA_MEM(v), KA_INT(img0),
                   KA_INT(m), KA_INT(s->nin), KA_INT(s->h), KA_INT(s->w), KA_INT(th), KA_INT(tw),
                   KA_INT(ldv)));
        /* Panels per item: as many as the local array holds while every
         * core still gets about 4 items. */
        int nq = (ntiles + 31) / 32, pp = WINO_PP;
        int want = 4 * (int)(ctx->info.compute_units ? ctx->info.compute_units : 1);
        while (pp > 1 && ((npanels + pp - 1) / pp) * nq < want) pp--;
        size_t gg[2] = {(size_t)((npanels + pp - 1) / pp), (size_t)nq};
        TRY(LAUNCH(ctx, "winograd_gemm_cpu", 2, gg, l2, KA_MEM(v), KA_MEM(u), KA_MEM(y),
                   KA_INT(img0), KA_INT(s->nin), KA_INT(s->nout), KA_INT(npanels), KA_INT(pp),
                   KA_INT(ldv), KA_INT(ntiles), KA_INT(th), KA_INT(tw), KA_INT(s->h),
                   KA_INT(s->w), KA_FLT(beta), KA_MEM(bias), KA_INT(has_bias),
                   KA_MEM(bn ? ep->gamma : w), KA_MEM(bn ? ep->beta : w),
                   KA_MEM(bn ? ep->mean : w), KA_MEM(bn ? ep->var : w),
                   KA_FLT(bn ? ep->eps : 0.0f), KA_INT(bn), KA_INT(ep ? ep->act : -1),
                   KA_FLT(ep ? ep->slope : 0.0f), KA_MEM(ep && ep->res ? ep->res : w),
                   KA_INT(ep && ep->res)));
    }
    return GRAFT_OK;
}
