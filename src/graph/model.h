/* Internal layout of a model: a DAG of nodes in insertion (= topological)
 * order. Node 0 is the INPUT node. */
#ifndef GRAFT_MODEL_H
#define GRAFT_MODEL_H
#include "layer.h"

typedef struct node {
    char name[LAYER_NAME_LEN];
    graft_layer_spec spec;
    layer *l;                    /* NULL for the INPUT node */
    int nin;
    int in[LAYER_MAX_INPUTS];
    layer_shape shape;           /* per-sample output shape */
    cl_mem out;                  /* cap_batch samples; owned unless fused */
    int fused;                   /* activation folded into its input BatchNorm:
                                  * runs no kernel, out is that node's buffer */
    int fold_skip, stale;        /* last forward: folded into a conv's epilogue
                                  * (src/graph/fold_bn.c), so no kernel ran;
                                  * stale: out not written by it */
    cl_mem grad;                 /* dL/dout, borrowed from the gradient pool
                                  * while backward needs it, else NULL */
    int trainable;               /* node's learnable params get updates */
    float lr_mult;
    double prof_fwd, prof_bwd;   /* seconds, when profiling */
    long prof_nfwd, prof_nbwd;
} node;

typedef struct grad_slot {
    cl_mem buf;   /* owned */
    size_t bytes;
    int busy;
} grad_slot;

typedef struct param_ref {
    int node, idx;
} param_ref;

struct graft_model {
    graft_ctx *ctx; /* borrowed */
    node *nodes;
    int nnodes, capnodes;
    int cap_batch;  /* samples the activation buffers hold */
    int last_n;     /* batch size of the last forward */
    int last_training;
    uint64_t seed;
    rng init_rng;
    param_ref *params;
    int nparams;
    int profile;    /* synchronise after every layer and time it */
    int fold_off;   /* no inference folding (an inner node's output was read) */
    /* Per-backward scratch: which node gradients are wanted / written. */
    unsigned char *want, *written;
    /* Output-gradient buffers are only live from the first consumer's
     * backward to the node's own, so backward borrows them from a pool
     * instead of keeping one per node: refnet holds 8 pooled buffers with
     * 35% of the bytes of its 19 per-node ones (about 170 MiB less at
     * batch 256). */
    grad_slot *gpool;
    int ngpool;
    /* Called during backward with k when nodes k..nnodes-1 have finished
     * theirs (their parameter gradients are final), from k = nnodes down
     * to k = 1; non-GRAFT_OK stops the backward. Data parallel training
     * starts summing a bucket of gradients over the ranks there. NULL =
     * none. */
    graft_status (*bwd_done)(void *user, int k);
    void *bwd_done_user;
};

/* The param struct behind public parameter index i. */
param *model_param(graft_model *m, int i);
/* Ensures activation buffers for n samples. */
graft_status model_reserve(graft_model *m, int n);
/* Forward from input already on the device in node 0's buffer. */
graft_status model_forward_device(graft_model *m, int n, int training);
#endif
