/* Inference folding of conv [-> BatchNorm] [-> Add] [-> activation]
 * chains (fold_bn.h). Only chains whose inner nodes have exactly one consumer
 * fold, so no other node reads the buffers they no longer write; reading
 * such a node's output afterwards makes the model run that forward again
 * unfolded (graft_model_node_output). */
#include "fold_bn.h"

#include "layer_kind.h"

/* The only consumer of node i, or -1 when it has none or several. */
static int sole_consumer(const graft_model *m, int i)
{
    int who = -1;
    for (int j = i + 1; j < m->nnodes; j++)
        for (int k = 0; k < m->nodes[j].nin; k++)
            if (m->nodes[j].in[k] == i) {
                if (who >= 0) return -1;
                who = j;
            }
    return who;
}

/* Extends the chain past node from (the conv or its BatchNorm): an Add of
 * an earlier node and/or a fusible activation, each the only consumer of
 * what precedes it. */
static void chain_tail(const graft_model *m, int from, fold_chain *fc)
{
    if (from == m->nnodes - 1) return;
    int a = sole_consumer(m, from);
    if (a < 0) return;
    const node *an = &m->nodes[a];
    if (an->spec.kind == GRAFT_LAYER_ADD && an->nin == 2) {
        int other = an->in[0] == from ? an->in[1] : an->in[0];
        if (other >= fc->conv || other == from) return;
        fc->add = fc->last = a;
        fc->res = other;
        if (a == m->nnodes - 1 || (a = sole_consumer(m, a)) < 0) return;
        an = &m->nodes[a];
    }
    if (layer_bn_fusible(&an->spec)) fc->act = fc->last = a;
}

int fold_chain_at(const graft_model *m, int i, int n, fold_chain *fc)
{
    const node *c = &m->nodes[i];
    if (c->spec.kind != GRAFT_LAYER_CONV2D || i == m->nnodes - 1) return 0;
    /* An activation fused into the conv (model.c) is its own epilogue. */
    if (c->l->fused_act) return 0;
    *fc = (fold_chain){i, -1, -1, -1, i, -1};
    int b = sole_consumer(m, i);
    if (b >= 0 && m->nodes[b].spec.kind == GRAFT_LAYER_BATCHNORM2D) {
        fc->bn = fc->last = b;
        /* An activation fused into the BatchNorm ends the chain there. */
        if (!m->nodes[b].l->fused_act) chain_tail(m, b, fc);
    } else {
        /* A conv with its BatchNorm already in the weights (an ONNX
         * export's): only an Add and/or an activation to fold. */
        chain_tail(m, i, fc);
        if (fc->last == i) return 0;
    }
    return conv_fold_supported(m->ctx, c->l, n, fc->res >= 0);
}

graft_status fold_chain_run(graft_model *m, const fold_chain *fc, int n)
{
    const layer *bl = fc->bn >= 0 ? m->nodes[fc->bn].l : NULL;
    conv_epilogue ep = {NULL, NULL, NULL, NULL, 0.0f, -1, 0.0f, NULL};
    if (bl) {
        ep.gamma = bl->params[0].data, ep.beta = bl->params[1].data;
        ep.mean = bl->params[2].data, ep.var = bl->params[3].data;
        ep.eps = bl->spec.eps;
    }
    if (bl && bl->fused_act) {
        ep.act = bl->fused_act - 1;
        ep.slope = bl->fused_slope;
    } else if (fc->act >= 0) {
        ep.act = layer_bn_fusible(&m->nodes[fc->act].spec) - 1;
        ep.slope = m->nodes[fc->act].spec.slope;
    }
    if (fc->res >= 0) ep.res = m->nodes[fc->res].out;
    node *c = &m->nodes[fc->conv];
    fwd_io io = {.n = n, .in = {m->nodes[c->in[0]].out}, .out = m->nodes[fc->last].out,
                 .frozen = 1};
    TRY(conv_forward_epilogue(m->ctx, c->l, &io, &ep));
    const int chain[4] = {fc->conv, fc->bn, fc->add, fc->act};
    for (int k = 0; k < 4; k++)
        if (chain[k] >= 0) {
            m->nodes[chain[k]].fold_skip = k > 0;
            m->nodes[chain[k]].stale = chain[k] != fc->last;
        }
    return GRAFT_OK;
}
