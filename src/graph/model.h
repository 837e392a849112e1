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
    int reused;                  /* last forward (inference, shared buffers):
                                  * out then received a later node's output */
    int pinned;                  /* output read (graft_model_node_output): shared
                                  * buffers keep it to the end of the forward */
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
    int grads_zeroed; /* parameter gradients zeroed (model_grads_zeroed) */
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
    /* Node 0's buffer is owned by the model in both layouts. Training
     * forwards need one buffer per node (full, owned by the nodes);
     * inference forwards share buffers between nodes whose outputs are
     * not needed at the same time (act_plan.h), unless reuse_off or a
     * full set large enough is already held. */
    int full;
    int reuse_off;
    /* The last forward's schedule: chains[i].conv == i when a folded
     * chain starts at node i (fold_bn.h); skip[i]: node i runs no kernel. */
    struct fold_chain *chains;
    unsigned char *skip;
    /* Shared buffers: the plan's values (one per node), each node's slot
     * and the slots' buffers (owned, slot_bytes each). */
    struct act_value *vals;
    int *slot_of;
    int nslots;
    cl_mem *slot_buf;
    size_t *slot_bytes;
};

/* The param struct behind public parameter index i. */
param *model_param(graft_model *m, int i);
/* Zeroes every parameter gradient the first time anything needs them (a
 * backward, creating an optimizer, reading one): layer_add_param leaves
 * them unwritten, so inference never makes their pages resident. */
graft_status model_grads_zeroed(graft_model *m);
/* Ensures activation buffers for a forward of n samples: one per node for
 * training (or with reuse off), else node 0's, the rest being shared per
 * forward. */
graft_status model_reserve(graft_model *m, int n, int training);
/* Releases every activation and gradient buffer (the next forward
 * allocates them again); the last forward's outputs are gone. */
void model_release_buffers(graft_model *m);
/* Switches to one buffer per node (keeps node 0's and its contents). */
graft_status model_make_full(graft_model *m);
/* Folds each fusible activation into the BatchNorm or conv before it
 * (model.c); n: the batch the buffers are reserved for. */
void model_plan_fusion(graft_model *m, int n);
/* What a forward at batch n runs (fold: inference folding allowed):
 * chains[i].conv == i when a folded chain starts at node i, else -1;
 * skip[i] when node i runs no kernel (fused, or inside a chain). */
struct fold_chain;
void model_schedule(const graft_model *m, int n, int fold, struct fold_chain *chains,
                    unsigned char *skip);
/* Points the nodes' outputs at shared buffers for the schedule in
 * m->chains and m->skip (planned again when lifetimes change). */
graft_status model_share_buffers(graft_model *m);
/* After a forward on shared buffers: sets each node's reused flag. */
void model_mark_reused(graft_model *m);
/* Bytes of the activation buffers an inference forward of m at batch n
 * holds with shared buffers (node 0's included). */
size_t model_infer_activation_bytes(const graft_model *m, int n);
/* Forward from input already on the device in node 0's buffer. */
graft_status model_forward_device(graft_model *m, int n, int training);
#endif
