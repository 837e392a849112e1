/* Residual add (2+ inputs of one shape) and channel concatenation (2+
 * inputs with equal H, W). */
#include "layer.h"

static graft_status add_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin < 2)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "add '%s': needs at least 2 inputs, got %d", l->name,
                        l->nin);
    for (int i = 1; i < l->nin; i++)
        if (l->in[i].c != l->in[0].c || l->in[i].h != l->in[0].h || l->in[i].w != l->in[0].w)
            return ctx_fail(ctx, GRAFT_ERR_SHAPE,
                            "add '%s': input %d is %dx%dx%d but input 0 is %dx%dx%d", l->name, i,
                            l->in[i].c, l->in[i].h, l->in[i].w, l->in[0].c, l->in[0].h,
                            l->in[0].w);
    l->out = l->in[0];
    return GRAFT_OK;
}

static graft_status add_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    size_t n = (size_t)io->n * shape_numel(l->out);
    TRY(LAUNCH1D(ctx, "add_fwd2", n, KA_MEM(io->in[0]), KA_MEM(io->in[1]), KA_MEM(io->out),
                 KA_INT(n)));
    for (int i = 2; i < l->nin; i++)
        TRY(LAUNCH1D(ctx, "add_acc", n, KA_MEM(io->in[i]), KA_MEM(io->out), KA_INT(n)));
    return GRAFT_OK;
}

static graft_status add_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    size_t n = (size_t)io->n * shape_numel(l->out);
    for (int i = 0; i < l->nin; i++) {
        if (!io->din[i]) continue;
        TRY(LAUNCH1D(ctx, "axpby_f32", n, KA_MEM(io->dout), KA_MEM(io->din[i]), KA_INT(n),
                     KA_FLT(1.0f), KA_FLT(io->din_beta[i])));
    }
    return GRAFT_OK;
}

static double add_flops(const layer *l) { return (double)(l->nin - 1) * shape_numel(l->out); }

const layer_ops add_ops = {add_setup, NULL, add_forward, add_backward, NULL, add_flops};

/* ---- concat along channels. */

static graft_status concat_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin < 2)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "concat '%s': needs at least 2 inputs, got %d",
                        l->name, l->nin);
    int c = 0;
    for (int i = 0; i < l->nin; i++) {
        if (l->in[i].h != l->in[0].h || l->in[i].w != l->in[0].w)
            return ctx_fail(ctx, GRAFT_ERR_SHAPE,
                            "concat '%s': input %d is %dx%d spatially but input 0 is %dx%d",
                            l->name, i, l->in[i].h, l->in[i].w, l->in[0].h, l->in[0].w);
        c += l->in[i].c;
    }
    l->out = (layer_shape){c, l->in[0].h, l->in[0].w};
    return GRAFT_OK;
}

static graft_status concat_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    int S = l->out.h * l->out.w, coff = 0;
    for (int i = 0; i < l->nin; i++) {
        size_t n = (size_t)io->n * l->in[i].c * S;
        TRY(LAUNCH1D(ctx, "concat_fwd", n, KA_MEM(io->in[i]), KA_MEM(io->out), KA_INT(io->n),
                     KA_INT(l->in[i].c), KA_INT(l->out.c), KA_INT(coff), KA_INT(S)));
        coff += l->in[i].c;
    }
    return GRAFT_OK;
}

static graft_status concat_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    int S = l->out.h * l->out.w, coff = 0;
    for (int i = 0; i < l->nin; i++) {
        size_t n = (size_t)io->n * l->in[i].c * S;
        if (io->din[i])
            TRY(LAUNCH1D(ctx, "concat_bwd", n, KA_MEM(io->dout), KA_MEM(io->din[i]),
                         KA_INT(io->n), KA_INT(l->in[i].c), KA_INT(l->out.c), KA_INT(coff),
                         KA_INT(S), KA_FLT(io->din_beta[i])));
        coff += l->in[i].c;
    }
    return GRAFT_OK;
}

const layer_ops concat_ops = {concat_setup, NULL, concat_forward, concat_backward, NULL, NULL};
