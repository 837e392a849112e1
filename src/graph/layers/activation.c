/* ReLU, ReLU6 and leaky ReLU; backward reads the forward input. */
#include "layer.h"

/* Kind codes of cl/shared/activation.cl. */
static int act_code(graft_layer_kind k)
{
    return k == GRAFT_LAYER_RELU ? 0 : k == GRAFT_LAYER_RELU6 ? 1 : 2;
}

static graft_status act_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin != 1)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "%s '%s': needs 1 input, got %d",
                        graft_layer_kind_name(l->spec.kind), l->name, l->nin);
    l->out = l->in[0];
    return GRAFT_OK;
}

static graft_status act_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "act_fwd", n, KA_MEM(io->in[0]), KA_MEM(io->out), KA_INT(n),
                    KA_INT(act_code(l->spec.kind)), KA_FLT(l->spec.slope));
}

static graft_status act_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    if (!io->din[0]) return GRAFT_OK;
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "act_bwd", n, KA_MEM(io->in[0]), KA_MEM(io->dout), KA_MEM(io->din[0]),
                    KA_INT(n), KA_INT(act_code(l->spec.kind)), KA_FLT(l->spec.slope),
                    KA_FLT(io->din_beta[0]));
}

const layer_ops activation_ops = {act_setup, NULL, act_forward, act_backward, NULL, NULL};
