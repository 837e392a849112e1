/* Launchers of conv_pointwise_cpu: the forward (W as stored) and the input
 * gradient (W^T, read in place through strides), and how the work is cut
 * into items. */
#include "conv_pointwise.h"

enum { PW_CB = 8, PW_PB = 32 }; /* the kernel's micro-kernel: channels x pixels */

/* Cuts nout channels (blocks of PW_CB) x P pixels (blocks of PW_PB) x n
 * images into items: each takes a stripe of *cs channel blocks and a run
 * of *pc pixel blocks. Whole planes and all channels per image unless that
 * leaves fewer than 4 items per compute unit (batch 1) or a stripe's
 * weights (nred x stripe) would outgrow about 256 KiB of cache. */
static void pw_split(const graft_ctx *ctx, int n, int nred, int nout, int P, int *cs, int *pc,
                     size_t gws[3])
{
    int ncb = (nout + PW_CB - 1) / PW_CB, nb = (P + PW_PB - 1) / PW_PB;
    int c = ncb, p = P < PW_PB ? 1 : nb;
    int cap = (256 * 1024 / (int)sizeof(float)) / (nred * PW_CB);
    if (cap < 1) cap = 1;
    if (c > cap) c = cap;
    long want = 4L * (ctx->info.compute_units ? ctx->info.compute_units : 1);
    for (;;) {
        long items = (long)n * ((ncb + c - 1) / c) * ((nb + p - 1) / p);
        if (items >= want || (c == 1 && p == 1)) break;
        if (p >= c && p > 1) p = (p + 1) / 2;
        else c = (c + 1) / 2;
    }
    *cs = c, *pc = p;
    gws[0] = (size_t)((ncb + c - 1) / c);
    gws[1] = (size_t)((nb + p - 1) / p);
    gws[2] = (size_t)n;
}

/* so, sr: Wop[o][r] = w[o * so + r * sr]; nred = rows of x per image. */
static graft_status pw_run(graft_ctx *ctx, const pw_shape *s, cl_mem x, cl_mem w, int so, int sr,
                           int nred, int nout, cl_mem bias, int has_bias, cl_mem y, float beta,
                           const conv_epilogue *ep)
{
    int cs, pc;
    size_t gws[3], lws[3] = {1, 1, 1};
    pw_split(ctx, s->n, nred, nout, s->P, &cs, &pc, gws);
    int bn = ep && ep->gamma; /* the BatchNorm buffers: any valid buffer when none */
    return LAUNCH(ctx, "conv_pointwise_cpu", 3, gws, lws, KA_MEM(x), KA_MEM(w), KA_INT(so),
                  KA_INT(sr), KA_MEM(bias), KA_INT(has_bias), KA_MEM(y), KA_INT(s->n),
                  KA_INT(nred), KA_INT(nout), KA_INT(s->P), KA_INT(cs), KA_INT(pc),
                  KA_FLT(beta), KA_MEM(bn ? ep->gamma : w), KA_MEM(bn ? ep->beta : w),
                  KA_MEM(bn ? ep->mean : w), KA_MEM(bn ? ep->var : w),
                  KA_FLT(bn ? ep->eps : 0.0f), KA_INT(bn), KA_INT(ep ? ep->act : -1),
                  KA_FLT(ep ? ep->slope : 0.0f), KA_MEM(ep && ep->res ? ep->res : w),
                  KA_INT(ep && ep->res));
}

graft_status conv_pointwise_forward_cpu(graft_ctx *ctx, const pw_shape *s, cl_mem x, cl_mem w,
                                        cl_mem bias, int has_bias, cl_mem y,
                                        const conv_epilogue *ep)
{
    return pw_run(ctx, s, x, w, s->cin, 1, s->cin, s->cout, bias, has_bias, y, 0.0f, ep);
}

graft_status conv_pointwise_backward_data_cpu(graft_ctx *ctx, const pw_shape *s, cl_mem dy,
                                              cl_mem w, cl_mem dx, float beta)
{
    return pw_run(ctx, s, dy, w, 1, s->cin, s->cout, s->cin, w, 0, dx, beta, NULL);
}
