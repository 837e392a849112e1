/* Internal layer interface. Every layer kind implements layer_ops (one
 * table per kernel style when it has style-specific kernels); the
 * model (model.c) owns layers, wires their buffers and runs them in
 * topological order forward and in reverse order backward.
 *
 * Conventions:
 *  - Activations are float32 NCHW; a layer sees a batch of n samples and the
 *    per-sample shapes in l->in[] / l->out (vectors are C x 1 x 1).
 *  - forward writes io->out completely (never reads it first).
 *  - backward computes, for each input i with io->din[i] != NULL,
 *      din[i] = din_beta[i] * din[i] + dL/din[i]
 *    (din_beta is 0 or 1: the model accumulates the gradients of nodes that
 *    feed several consumers), and when io->param_grads is set, overwrites
 *    every learnable parameter's grad buffer with dL/dparam.
 *  - All device work is enqueued on ctx's queue; no host synchronisation
 *    inside forward/backward unless unavoidable.
 *  - Errors go through ctx_fail/ctx_cl_fail, naming the layer (l->name).
 */
#ifndef GRAFT_LAYER_H
#define GRAFT_LAYER_H
#include "ctx.h"
#include "rng.h"

/* DenseNet-121's widest concat has 25 inputs (DenseNet-201's 49). */
#define LAYER_MAX_INPUTS 64
#define LAYER_MAX_PARAMS 4
#define LAYER_NAME_LEN 64

typedef struct layer_shape {
    int c, h, w;
} layer_shape;

static inline size_t shape_numel(layer_shape s) { return (size_t)s.c * s.h * s.w; }

typedef struct param {
    char name[LAYER_NAME_LEN + 16]; /* "<layer>.<suffix>", e.g. "conv1.weight" */
    int ndim;
    int shape[GRAFT_MAX_DIMS];
    size_t numel;
    cl_mem data;   /* owned */
    cl_mem grad;   /* owned; NULL for buffers such as running statistics */
    int learnable; /* 1: weights/biases/affine (has grad); 0: running stats */
    /* Bumped by every write of data from outside the layer's own kernels
     * (param_written), so that copies derived from it (a conv's packed
     * weights, conv_packed.h) know they are stale. BatchNorm's running
     * statistics, which its training forward updates, have no such copy. */
    unsigned long version;
} param;

/* Records a write of p->data (call it wherever the values are written:
 * initialisation, loading, setting, an optimizer step, a replica's copy). */
static inline void param_written(param *p) { p->version++; }

typedef struct layer layer;

/* Synchronised BatchNorm (data parallel with sync_bn; set on the BatchNorm
 * layers of every replica by src/transfer/data_parallel.c): sums of
 * per-channel vectors over all replicas. NULL = statistics of the local
 * batch. */
typedef struct bn_sync {
    /* Whether this step synchronises (every replica has images). */
    int (*active)(void *user);
    /* Sums v[0..n) over the replicas in place, each member's vector
     * multiplied first by its share of the global batch when weighted. */
    graft_status (*sum)(void *user, double *v, int n, int weighted);
    void *user;
} bn_sync;

typedef struct fwd_io {
    int n;
    cl_mem in[LAYER_MAX_INPUTS];
    cl_mem out;
    int training;
    /* The layer's parameters get no update after this forward (inference,
     * or a frozen node in training): copies derived from them may be kept
     * (conv_packed.h). */
    int frozen;
} fwd_io;

typedef struct bwd_io {
    int n;
    cl_mem in[LAYER_MAX_INPUTS];  /* forward inputs */
    cl_mem out;                   /* forward output */
    cl_mem dout;                  /* dL/dout */
    cl_mem din[LAYER_MAX_INPUTS]; /* NULL: gradient not needed */
    float din_beta[LAYER_MAX_INPUTS];
    int param_grads;
} bwd_io;

typedef struct layer_ops {
    /* Checks spec and input shapes (l->in, l->nin), sets l->out and
     * declares parameters with layer_add_param. Allocates nothing else. */
    graft_status (*setup)(graft_ctx *ctx, layer *l);
    /* Writes initial parameter values (from r) to the device. */
    graft_status (*init)(graft_ctx *ctx, layer *l, rng *r);
    graft_status (*forward)(graft_ctx *ctx, layer *l, const fwd_io *io);
    graft_status (*backward)(graft_ctx *ctx, layer *l, const bwd_io *io);
    /* Frees l->priv and anything it holds (may be NULL). */
    void (*destroy)(layer *l);
    /* Forward FLOP per sample (2 per multiply-add); NULL = 0. */
    double (*flops)(const layer *l);
} layer_ops;

struct layer {
    char name[LAYER_NAME_LEN];
    graft_layer_spec spec;
    const layer_ops *ops;
    int nin;
    layer_shape in[LAYER_MAX_INPUTS];
    layer_shape out;
    param params[LAYER_MAX_PARAMS];
    int nparams;
    int bn_frozen;       /* batchnorm: use/keep running stats in training */
    int fused_act;       /* batchnorm, conv2d: 0, or 1 + the cl/shared/batchnorm.cl act
                          * code of the activation the model folded into it */
    float fused_slope;   /* batchnorm, conv2d: leaky slope of that activation */
    uint64_t seed;       /* dropout: base seed */
    uint64_t calls;      /* dropout: training forward count (mask stream) */
    const bn_sync *sync; /* batchnorm: cross-replica statistics; NULL = local */
    void *priv;          /* kind-specific state, freed by ops->destroy */
};

/* Ops of a kind for the context's kernel style (ctx_is_cpu), or NULL when
 * the kind has no implementation. Each kind's descriptor (layer_kind.h)
 * holds one table per style; layer_create picks one here, once. */
const layer_ops *layer_ops_for(graft_ctx *ctx, graft_layer_kind kind);

/* Sets a conv or pool spec's window (pads: top, left, bottom, right) in
 * its plainest form: kernel and pad alone when square and symmetric, so
 * such specs stay as they always were (graft_layer_window reads it back). */
void layer_spec_set_window(graft_layer_spec *s, int kh, int kw, const int pads[4]);

/* Declares parameter l->params[l->nparams++] named "<l->name>.<suffix>" and
 * allocates its data (and grad when learnable, not initialised: the model
 * zeroes it before first use) on the device. */
graft_status layer_add_param(graft_ctx *ctx, layer *l, const char *suffix, int ndim,
                             const int *shape, int learnable);

/* Creates a layer: copies spec/name, runs setup. Caller owns *out
 * (layer_free). in[] are the per-sample input shapes. */
graft_status layer_create(graft_ctx *ctx, const char *name, const graft_layer_spec *spec,
                          int nin, const layer_shape *in, layer **out);
void layer_free(layer *l);

/* Helpers for kernels shared by several layers (cl/shared/util.cl). */
/* db[c] (+)= sum over n and spatial of dy[n, c, s]; beta 0 or 1. */
graft_status reduce_bias_grad(graft_ctx *ctx, cl_mem dy, int n, int c, int spatial, cl_mem db,
                              float beta);

/* He-normal initialisation of a parameter: std = sqrt(2 / fan_in). */
graft_status param_init_normal(graft_ctx *ctx, param *p, rng *r, double std);
graft_status param_init_const(graft_ctx *ctx, param *p, float v);
#endif
