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

/* Stride-1 3x3 convs (dilation 1) take dw3x3_forward_cpu,
 * dw3x3_backward_data_cpu and dw3x3_backward_weight_cpu
 * (cl/cpu/depthwise3x3_cpu.cl) when their two
 * local buffers of DW3_TILE floats hold the padded plane and its virtual
 * outputs (rows tw wide), rounded up to DW3_Q, plus the widest read past
 * them (planes up to 112x112 at pad 1). The input gradient pads dy by
 * 2 - pad, so pad <= 2 there. */
enum { DW3_TILE = 16384, DW3_Q = 64, DW3_ROW = 256 };
static int dw3x3_fits(const dw_shape *s, int backward)
{
    if (s->k != 3 || s->stride != 1 || s->dil != 1 || (backward && s->pad > 2)) return 0;
    long tw = (long)s->w + 2L * (backward ? 1 : s->pad), rows = backward ? s->h : s->hout;
    long nqr = (rows * tw + DW3_Q - 1) / DW3_Q * DW3_Q;
    return s->hout == s->h + 2 * s->pad - 2 && nqr + 2 * tw + 2 <= DW3_TILE;
}

/* Stride-2 3x3 forwards (dilation 1) take dw3x3s2_forward_cpu when the
 * four parity sub-planes (rows te = ceil(tw / 2) wide, each nqr + te + 24
 * floats) fit the tile and a padded row its row buffer (inputs up to
 * about 126x126 at pad 1: MobileNetV2's 112x112 and smaller). */
static int dw3x3s2_fits(const dw_shape *s)
{
    if (s->k != 3 || s->stride != 2 || s->dil != 1) return 0;
    long tw = (long)s->w + 2L * s->pad, te = (tw + 1) / 2;
    long nqr = ((long)s->hout * te + DW3_Q - 1) / DW3_Q * DW3_Q;
    return tw + 16 <= DW3_ROW && 4 * (nqr + te + 24) <= DW3_TILE;
}

graft_status conv_depthwise_forward_cpu(graft_ctx *ctx, const dw_shape *s, cl_mem x, cl_mem w,
                                        cl_mem bias, int has_bias, cl_mem y,
                                        const conv_epilogue *ep)
{
    size_t planes = (size_t)s->n * s->cout, lws = 1;
    int ppi = dw_planes_per_item(ctx, planes, (size_t)s->hout * s->wout);
    size_t gws = (planes + ppi - 1) / ppi;
    int bn = ep && ep->gamma; /* the BatchNorm buffers: any valid buffer when none */
    if (dw3x3_fits(s, 0))
        return LAUNCH(ctx, "dw3x3_forward_cpu", 1, &gws, &lws, KA_MEM(x), KA_MEM(w),
                      KA_MEM(bias), KA_INT(has_bias), KA_MEM(y), KA_INT(s->n), KA_INT(s->cin),
                      KA_INT(s->h), KA_INT(s->w), KA_INT(s->cout), KA_INT(s->pad),
                      KA_MEM(bn ? ep->gamma : w), KA_MEM(bn ? ep->beta : w),
                      KA_MEM(bn ? ep->mean : w), KA_MEM(bn ? ep->var : w),
                      KA_FLT(bn ? ep->eps : 0.0f), KA_INT(bn), KA_INT(ep ? ep->act : -1),
                      KA_FLT(ep ? ep->slope : 0.0f), KA_INT(ppi));
    if (dw3x3s2_fits(s))
        return LAUNCH(ctx, "dw3x3s2_forward_cpu", 1, &gws, &lws, KA_MEM(x), KA_MEM(w),
                      KA_MEM(bias), KA_INT(has_bias), KA_MEM(y), KA_INT(s->n), KA_INT(s->cin),
                      KA_INT(s->h), KA_INT(s->w), KA_INT(s->cout), KA_INT(s->hout),
                      KA_INT(s->wout), KA_INT(s->pad), KA_MEM(bn ? ep->gamma : w),
                      KA_MEM(bn ? ep->beta : w), KA_MEM(bn ? ep->mean : w),
                      KA_MEM(bn ? ep->var : w), KA_FLT(bn ? ep->eps : 0.0f), KA_INT(bn),
                      KA_INT(ep ? ep->act : -1), KA_FLT(ep ? ep->slope : 0.0f), KA_INT(ppi));
    return LAUNCH(ctx, "dw_forward_cpu", 1, &gws, &lws, KA_MEM(x), KA_MEM(w), KA_MEM(bias),
                  KA_INT(has_bias), KA_MEM(y), DW_ARGS(s), KA_MEM(bn ? ep->gamma : w),
                  KA_MEM(bn ? ep->beta : w), KA_MEM(bn ? ep->mean : w), KA_MEM(bn ? ep->var : w),
                  KA_FLT(bn ? ep->eps : 0.0f), KA_INT(bn), KA_INT(ep ? ep->act : -1),
                  KA_FLT(ep ? ep->slope : 0.0f), KA_INT(ppi));
}

/* Stride-2 input gradients (pad 0 or 1, dilation 1) take
 * dw3x3s2_backward_data_cpu when dy padded by one fits the tile and each
 * parity sub-plane of dx (rows wout + 2 wide) half of vout. */
static int dw3x3s2_dx_fits(const dw_shape *s)
{
    if (s->k != 3 || s->stride != 2 || s->dil != 1 || s->pad > 1) return 0;
    long tw = (long)s->wout + 2, nqr = ((s->h + 1L) / 2 * tw + DW3_Q - 1) / DW3_Q * DW3_Q;
    return s->hout == (s->h + 2 * s->pad - 3) / 2 + 1 && nqr + 3 * tw + 2 <= DW3_TILE &&
           nqr + DW3_Q <= DW3_TILE / 2;
}

graft_status conv_depthwise_backward_cpu(graft_ctx *ctx, const dw_shape *s, cl_mem dy, cl_mem x,
                                         cl_mem w, cl_mem dw, cl_mem dx, float beta)
{
    size_t lws = 1;
    if (dw && dw3x3_fits(s, 0)) {
        size_t gws = (size_t)s->cout;
        TRY(LAUNCH(ctx, "dw3x3_backward_weight_cpu", 1, &gws, &lws, KA_MEM(dy), KA_MEM(x),
                   KA_MEM(dw), KA_INT(s->n), KA_INT(s->cin), KA_INT(s->h), KA_INT(s->w),
                   KA_INT(s->cout), KA_INT(s->pad)));
    } else if (dw) {
        size_t gws = (size_t)s->cout;
        TRY(LAUNCH(ctx, "dw_backward_weight_cpu", 1, &gws, &lws, KA_MEM(dy), KA_MEM(x),
                   KA_MEM(dw), DW_ARGS(s)));
    }
    if (!dx) return GRAFT_OK;
    size_t planes = (size_t)s->n * s->cin;
    int ppi = dw_planes_per_item(ctx, planes, (size_t)s->h * s->w);
    size_t gws = (planes + ppi - 1) / ppi;
    if (dw3x3s2_dx_fits(s))
        return LAUNCH(ctx, "dw3x3s2_backward_data_cpu", 1, &gws, &lws, KA_MEM(dy), KA_MEM(w),
                      KA_MEM(dx), KA_INT(s->n), KA_INT(s->cin), KA_INT(s->h), KA_INT(s->w),
                      KA_INT(s->cout), KA_INT(s->hout), KA_INT(s->wout), KA_INT(s->pad),
                      KA_FLT(beta), KA_INT(ppi));
    if (dw3x3_fits(s, 1))
        return LAUNCH(ctx, "dw3x3_backward_data_cpu", 1, &gws, &lws, KA_MEM(dy), KA_MEM(w),
                      KA_MEM(dx), KA_INT(s->n), KA_INT(s->cin), KA_INT(s->h), KA_INT(s->w),
                      KA_INT(s->cout), KA_INT(s->pad), KA_FLT(beta), KA_INT(ppi));
    return LAUNCH(ctx, "dw_backward_data_cpu", 1, &gws, &lws, KA_MEM(dy), KA_MEM(w), KA_MEM(dx),
                  DW_ARGS(s), KA_FLT(beta), KA_INT(ppi));
}
