/* Launchers of the CPU-shaped depthwise kernels: one work-item per plane
 * (forward: output planes; input gradient: input planes) or per output
 * channel (weight gradient), so PoCL pays one dispatch per plane instead
 * of one per pixel; small planes are grouped several to an item. */
#include "conv_depthwise.h"

/* Planes per work-item: about 4096 pixels of work each (a PoCL work-group
 * costs about a microsecond, a 7x7 plane about as much), but at least 8
 * items per compute unit so both cores stay busy at batch 1. */
static int dw_planes_per_item(graft_ctx *ctx, size_t planes, size_t pixels)
{
    size_t cu = ctx->info.compute_units ? ctx->info.compute_units : 1;
    size_t by_size = pixels >= 4096 ? 1 : 4096 / (pixels ? pixels : 1);
    size_t by_items = planes / (8 * cu);
    size_t ppi = by_size < by_items ? by_size : by_items;
    return ppi < 1 ? 1 : (int)ppi;
}

#define DW_ARGS(s)                                                                              \
    KA_INT((s)->n), KA_INT((s)->cin), KA_INT((s)->h), KA_INT((s)->w), KA_INT((s)->cout),       \
        KA_INT((s)->hout), KA_INT((s)->wout), KA_INT((s)->k), KA_INT((s)->stride),             \
        KA_INT((s)->pad), KA_INT((s)->dil)

graft_status conv_depthwise_forward_cpu(graft_ctx *ctx, const dw_shape *s, cl_mem x, cl_mem w,
                                        cl_mem bias, int has_bias, cl_mem y,
                                        const conv_epilogue *ep)
{
    size_t planes = (size_t)s->n * s->cout, lws = 1;
    int ppi = dw_planes_per_item(ctx, planes, (size_t)s->hout * s->wout);
    size_t gws = (planes + ppi - 1) / ppi;
    int bn = ep && ep->gamma; /* the BatchNorm buffers: any valid buffer when none */
    return LAUNCH(ctx, "dw_forward_cpu", 1, &gws, &lws, KA_MEM(x), KA_MEM(w), KA_MEM(bias),
                  KA_INT(has_bias), KA_MEM(y), DW_ARGS(s), KA_MEM(bn ? ep->gamma : w),
                  KA_MEM(bn ? ep->beta : w), KA_MEM(bn ? ep->mean : w), KA_MEM(bn ? ep->var : w),
                  KA_FLT(bn ? ep->eps : 0.0f), KA_INT(bn), KA_INT(ep ? ep->act : -1),
                  KA_FLT(ep ? ep->slope : 0.0f), KA_INT(ppi));
}

graft_status conv_depthwise_backward_cpu(graft_ctx *ctx, const dw_shape *s, cl_mem dy, cl_mem x,
                                         cl_mem w, cl_mem dw, cl_mem dx, float beta)
{
    size_t lws = 1;
    if (dw) {
        size_t gws = (size_t)s->cout;
        TRY(LAUNCH(ctx, "dw_backward_weight_cpu", 1, &gws, &lws, KA_MEM(dy), KA_MEM(x),
                   KA_MEM(dw), DW_ARGS(s)));
    }
    if (!dx) return GRAFT_OK;
    size_t planes = (size_t)s->n * s->cin;
    int ppi = dw_planes_per_item(ctx, planes, (size_t)s->h * s->w);
    size_t gws = (planes + ppi - 1) / ppi;
    return LAUNCH(ctx, "dw_backward_data_cpu", 1, &gws, &lws, KA_MEM(dy), KA_MEM(w), KA_MEM(dx),
                  DW_ARGS(s), KA_FLT(beta), KA_INT(ppi));
}
