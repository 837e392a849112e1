/* Inference folding (CPU-style kernels): a conv runs as one kernel whose
 * epilogue applies a following BatchNorm's running statistics (scale and
 * shift per channel, computed from the parameters inside the kernel, so
 * nothing is cached and nothing goes stale when the weights change), then
 * a residual Add and the activation that follow; each part is optional,
 * but a chain has at least one. The nodes folded in run no kernel of their
 * own. */
#ifndef GRAFT_FOLD_BN_H
#define GRAFT_FOLD_BN_H
#include "model.h"

typedef struct conv_epilogue {
    cl_mem gamma, beta, mean, var; /* the BatchNorm's parameters; gamma NULL: none */
    float eps;
    int act;     /* bn_act's code (cl/shared/batchnorm.cl), -1 none */
    float slope; /* leaky ReLU slope for act 2 */
    cl_mem res;  /* residual added before the activation, or NULL */
} conv_epilogue;

/* Whether conv layer l at batch n has a kernel with this epilogue (with a
 * residual when residual is set): CPU style, depthwise or conv_tall_cpu. */
int conv_fold_supported(graft_ctx *ctx, const layer *l, int n, int residual);
/* Inference forward of conv layer l into io->out with the epilogue ep. */
graft_status conv_forward_epilogue(graft_ctx *ctx, layer *l, const fwd_io *io,
                                   const conv_epilogue *ep);

/* A conv node and what folds into it. */
typedef struct fold_chain {
    int conv, bn, add, act; /* node indices; bn, add and act -1 when absent */
    int last;               /* the node whose buffer receives the result */
    int res;                /* the Add's other input node, or -1 */
} fold_chain;

/* Whether node i of m starts a chain that an inference forward at batch n
 * can fold (*fc filled when it does). */
int fold_chain_at(const graft_model *m, int i, int n, fold_chain *fc);
/* Runs the chain: the conv with its epilogue into the last node's buffer;
 * marks the other nodes skipped (no kernel) and stale (buffer not written
 * by this forward). */
graft_status fold_chain_run(graft_model *m, const fold_chain *fc, int n);
#endif
