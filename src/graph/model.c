/* The layer graph: construction with shape inference, forward in insertion
 * order, backward in reverse order with gradient accumulation for nodes that
 * feed several consumers, and no work at all below the lowest trainable
 * node. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "layer_kind.h"
#include "loss.h"
#include "fold_bn.h"
#include "model.h"
#include "clock.h"

graft_status graft_model_create(graft_ctx *ctx, graft_model **out)
{
    if (!ctx || !out) return GRAFT_ERR_INVALID_ARG;
    graft_model *m = calloc(1, sizeof *m);
    if (!m) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    m->ctx = ctx;
    m->seed = 1;
    m->init_rng.s = 1;
    *out = m;
    return GRAFT_OK;
}

/* Lends node i a gradient buffer for cap_batch samples: the smallest free
 * pooled buffer that fits, else a new one. */
static graft_status grad_acquire(graft_model *m, int i)
{
    node *nd = &m->nodes[i];
    size_t bytes = (size_t)m->cap_batch * shape_numel(nd->shape) * sizeof(float);
    int best = -1;
    for (int k = 0; k < m->ngpool; k++)
        if (!m->gpool[k].busy && m->gpool[k].bytes >= bytes &&
            (best < 0 || m->gpool[k].bytes < m->gpool[best].bytes))
            best = k;
    if (best < 0) {
        grad_slot *g = realloc(m->gpool, (size_t)(m->ngpool + 1) * sizeof *g);
        if (!g) return ctx_fail(m->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
        m->gpool = g;
        char what[128];
        snprintf(what, sizeof what, "gradients of layer '%s' (batch %d)", nd->name, m->cap_batch);
        cl_mem b = NULL;
        TRY(ctx_alloc(m->ctx, bytes, &b, what));
        best = m->ngpool++;
        m->gpool[best] = (grad_slot){b, bytes, 0};
    }
    m->gpool[best].busy = 1;
    nd->grad = m->gpool[best].buf;
    return GRAFT_OK;
}

/* Returns node i's gradient buffer to the pool. The queue is in order, so
 * kernels enqueued later that reuse the buffer run after those that read it. */
static void grad_release(graft_model *m, int i)
{
    for (int k = 0; k < m->ngpool; k++)
        if (m->gpool[k].buf == m->nodes[i].grad) m->gpool[k].busy = 0;
    m->nodes[i].grad = NULL;
}

static void grad_release_all(graft_model *m)
{
    for (int i = 0; i < m->nnodes; i++) m->nodes[i].grad = NULL;
    for (int k = 0; k < m->ngpool; k++) m->gpool[k].busy = 0;
}

void graft_model_free(graft_model *m)
{
    if (!m) return;
    if (m->ctx && m->ctx->queue) clFinish(m->ctx->queue);
    model_release_buffers(m);
    for (int i = 0; i < m->nnodes; i++) layer_free(m->nodes[i].l);
    free(m->nodes);
    free(m->params);
    free(m->want);
    free(m->written);
    free(m);
}

void graft_model_set_seed(graft_model *m, uint64_t seed)
{
    m->seed = seed;
    m->init_rng.s = seed;
}

/* Each node draws from its own stream, seeded by the model seed and the
 * node's name, so that adding a layer does not change the initialisation
 * of the others and a re-initialisation repeats the original one. */
static graft_status node_init(graft_model *m, layer *l, const char *name)
{
    rng r = {m->seed ^ fnv64(FNV64_INIT, name, strlen(name))};
    l->seed = rng_next(&r);
    l->calls = 0;
    return l->ops->init ? l->ops->init(m->ctx, l, &r) : GRAFT_OK;
}

graft_status graft_model_reinit(graft_model *m, uint64_t seed)
{
    if (!m) return GRAFT_ERR_INVALID_ARG;
    graft_model_set_seed(m, seed);
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].l) TRY(node_init(m, m->nodes[i].l, m->nodes[i].name));
    return GRAFT_OK;
}

graft_status graft_model_add(graft_model *m, const char *name, const graft_layer_spec *spec,
                             int ninputs, const int *inputs, int *out_id)
{
    if (!m || !spec) return GRAFT_ERR_INVALID_ARG;
    if (!name || !*name)
        return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "layer '%s': a name is required",
                        name ? name : "(null)");
    if (strlen(name) >= LAYER_NAME_LEN)
        return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "layer '%s': name longer than 63 characters",
                        name);
    if (graft_model_find(m, name) >= 0)
        return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "layer '%s': name already used", name);
    if ((int)spec->kind < 0 || spec->kind >= GRAFT_LAYER_KIND_COUNT)
        return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "layer '%s': unknown layer kind", name);
    int is_input = spec->kind == GRAFT_LAYER_INPUT;
    if (is_input != (m->nnodes == 0))
        return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "layer '%s': %s", name,
                        is_input ? "only one input node, added first, is supported"
                                 : "the first node must be an input node");
    const layer_kind *kd = layer_kind_of(spec->kind);
    if (!kd) return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "layer '%s': unknown layer kind", name);
    if (ninputs < kd->min_inputs || ninputs > kd->max_inputs) {
        char want[32];
        if (kd->min_inputs == kd->max_inputs) snprintf(want, sizeof want, "%d", kd->min_inputs);
        else snprintf(want, sizeof want, "%d to %d", kd->min_inputs, kd->max_inputs);
        return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "layer '%s' (%s): %d inputs given, expected %s",
                        name, kd->name, ninputs, want);
    }
    layer_shape in[LAYER_MAX_INPUTS];
    for (int i = 0; i < ninputs; i++) {
        if (!inputs || inputs[i] < 0 || inputs[i] >= m->nnodes)
            return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "layer '%s': input %d refers to node %d, "
                            "but only nodes 0..%d exist", name, i, inputs ? inputs[i] : -1,
                            m->nnodes - 1);
        in[i] = m->nodes[inputs[i]].shape;
    }

    if (m->nnodes == m->capnodes) {
        int cap = m->capnodes ? 2 * m->capnodes : 32;
        node *g = realloc(m->nodes, (size_t)cap * sizeof *g);
        if (!g) return ctx_fail(m->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
        m->nodes = g;
        m->capnodes = cap;
    }
    node nd;
    memset(&nd, 0, sizeof nd);
    snprintf(nd.name, sizeof nd.name, "%s", name);
    nd.spec = *spec;
    nd.nin = ninputs;
    for (int i = 0; i < ninputs; i++) nd.in[i] = inputs[i];
    nd.trainable = 1;
    nd.lr_mult = 1.0f;

    if (is_input) {
        if (spec->channels <= 0 || spec->height <= 0 || spec->width <= 0)
            return ctx_fail(m->ctx, GRAFT_ERR_SHAPE, "input '%s': shape %dx%dx%d must be positive",
                            name, spec->channels, spec->height, spec->width);
        nd.shape = (layer_shape){spec->channels, spec->height, spec->width};
    } else {
        TRY(layer_create(m->ctx, name, spec, ninputs, in, &nd.l));
        nd.shape = nd.l->out;
        graft_status s = node_init(m, nd.l, name);
        param_ref *pr = realloc(m->params, (size_t)(m->nparams + nd.l->nparams) * sizeof *pr + 1);
        if (s == GRAFT_OK && !pr) s = ctx_fail(m->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
        if (s != GRAFT_OK) {
            layer_free(nd.l);
            return s;
        }
        m->params = pr;
        for (int i = 0; i < nd.l->nparams; i++) m->params[m->nparams++] = (param_ref){m->nnodes, i};
        m->grads_zeroed = 0; /* the new node's are not */
    }
    unsigned char *w = realloc(m->want, (size_t)m->nnodes + 1);
    if (w) m->want = w;
    unsigned char *wr = realloc(m->written, (size_t)m->nnodes + 1);
    if (wr) m->written = wr;
    if (!w || !wr) {
        layer_free(nd.l);
        return ctx_fail(m->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    }
    /* Buffers are sized for the old node count: reallocate on next use. */
    model_release_buffers(m);
    m->nodes[m->nnodes] = nd;
    if (out_id) *out_id = m->nnodes;
    m->nnodes++;
    return GRAFT_OK;
}

int graft_model_num_nodes(const graft_model *m) { return m->nnodes; }

int graft_model_find(const graft_model *m, const char *name)
{
    if (!name) return -1;
    for (int i = 0; i < m->nnodes; i++)
        if (!strcmp(m->nodes[i].name, name)) return i;
    return -1;
}

static int valid_node(const graft_model *m, int i) { return i >= 0 && i < m->nnodes; }

const char *graft_model_node_name(const graft_model *m, int i)
{
    return valid_node(m, i) ? m->nodes[i].name : NULL;
}

const graft_layer_spec *graft_model_node_spec(const graft_model *m, int i)
{
    return valid_node(m, i) ? &m->nodes[i].spec : NULL;
}

void graft_model_node_shape(const graft_model *m, int i, int *c, int *h, int *w)
{
    layer_shape s = valid_node(m, i) ? m->nodes[i].shape : (layer_shape){0, 0, 0};
    if (c) *c = s.c;
    if (h) *h = s.h;
    if (w) *w = s.w;
}

int graft_model_node_inputs(const graft_model *m, int i, const int **inputs)
{
    if (!valid_node(m, i)) return 0;
    if (inputs) *inputs = m->nodes[i].in;
    return m->nodes[i].nin;
}

size_t graft_model_node_param_count(const graft_model *m, int i)
{
    if (!valid_node(m, i) || !m->nodes[i].l) return 0;
    size_t n = 0;
    for (int k = 0; k < m->nodes[i].l->nparams; k++)
        if (m->nodes[i].l->params[k].learnable) n += m->nodes[i].l->params[k].numel;
    return n;
}

size_t graft_model_param_count(const graft_model *m)
{
    size_t n = 0;
    for (int i = 0; i < m->nnodes; i++) n += graft_model_node_param_count(m, i);
    return n;
}

double graft_model_node_flops(const graft_model *m, int i)
{
    /* The usual convention: multiply-adds of conv and linear layers only
     * (elementwise layers are memory-bound and conventionally left out);
     * the kind's descriptor says whether it counts. */
    if (!valid_node(m, i) || !m->nodes[i].l) return 0;
    const layer_kind *kd = layer_kind_of(m->nodes[i].spec.kind);
    const layer *l = m->nodes[i].l;
    return kd && kd->counts_flops && l->ops->flops ? l->ops->flops(l) : 0;
}

double graft_model_flops_per_image(const graft_model *m)
{
    double f = 0;
    for (int i = 0; i < m->nnodes; i++) f += graft_model_node_flops(m, i);
    return f;
}

param *model_param(graft_model *m, int i)
{
    if (i < 0 || i >= m->nparams) return NULL;
    return &m->nodes[m->params[i].node].l->params[m->params[i].idx];
}

int graft_model_num_params(const graft_model *m) { return m->nparams; }

const char *graft_model_param_name(const graft_model *m, int i)
{
    param *p = model_param((graft_model *)m, i);
    return p ? p->name : NULL;
}

size_t graft_model_param_numel(const graft_model *m, int i)
{
    param *p = model_param((graft_model *)m, i);
    return p ? p->numel : 0;
}

int graft_model_param_shape(const graft_model *m, int i, int shape[GRAFT_MAX_DIMS])
{
    param *p = model_param((graft_model *)m, i);
    if (!p) return 0;
    for (int d = 0; d < GRAFT_MAX_DIMS; d++) shape[d] = d < p->ndim ? p->shape[d] : 1;
    return p->ndim;
}

int graft_model_param_is_trainable(const graft_model *m, int i)
{
    param *p = model_param((graft_model *)m, i);
    return p && p->learnable && m->nodes[m->params[i].node].trainable;
}

static graft_status param_io_check(graft_model *m, int i, size_t n, param **p, const void *ptr)
{
    *p = model_param(m, i);
    if (!*p || !ptr)
        return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "parameter index %d out of range 0..%d", i,
                        m->nparams - 1);
    if (n != (*p)->numel)
        return ctx_fail(m->ctx, GRAFT_ERR_SHAPE, "parameter '%s' has %zu values, %zu given",
                        (*p)->name, (*p)->numel, n);
    return GRAFT_OK;
}

graft_status graft_model_param_get(graft_model *m, int i, float *dst, size_t n)
{
    param *p;
    TRY(param_io_check(m, i, n, &p, dst));
    return ctx_read(m->ctx, p->data, 0, dst, n);
}

graft_status graft_model_param_set(graft_model *m, int i, const float *src, size_t n)
{
    param *p;
    TRY(param_io_check(m, i, n, &p, src));
    param_written(p);
    return ctx_write(m->ctx, p->data, 0, src, n);
}

graft_status model_grads_zeroed(graft_model *m)
{
    if (m->grads_zeroed) return GRAFT_OK;
    for (int i = 0; i < m->nparams; i++) {
        param *p = model_param(m, i);
        if (p->grad) TRY(ctx_fill(m->ctx, p->grad, 0, p->numel, 0.0f));
    }
    m->grads_zeroed = 1;
    return GRAFT_OK;
}

graft_status graft_model_param_grad(graft_model *m, int i, float *dst, size_t n)
{
    param *p;
    TRY(param_io_check(m, i, n, &p, dst));
    TRY(model_grads_zeroed(m));
    if (!p->grad)
        return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "parameter '%s' has no gradient", p->name);
    return ctx_read(m->ctx, p->grad, 0, dst, n);
}

static graft_status node_check(graft_model *m, int node)
{
    if (!valid_node(m, node))
        return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "node %d out of range 0..%d", node, m->nnodes - 1);
    return GRAFT_OK;
}

graft_status graft_model_set_trainable(graft_model *m, int node, int trainable)
{
    TRY(node_check(m, node));
    m->nodes[node].trainable = trainable != 0;
    return GRAFT_OK;
}

graft_status graft_model_set_lr_mult(graft_model *m, int node, float mult)
{
    TRY(node_check(m, node));
    if (!(mult >= 0.0f))
        return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "learning-rate multiplier %g must be >= 0",
                        (double)mult);
    m->nodes[node].lr_mult = mult;
    return GRAFT_OK;
}

graft_status graft_model_set_bn_frozen(graft_model *m, int node, int frozen)
{
    TRY(node_check(m, node));
    if (m->nodes[node].spec.kind != GRAFT_LAYER_BATCHNORM2D)
        return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "node '%s' is not a batchnorm layer",
                        m->nodes[node].name);
    m->nodes[node].l->bn_frozen = frozen != 0;
    return GRAFT_OK;
}

/* Folds each activation its kind calls fusible (layer_bn_fusible: ReLU,
 * ReLU6, leaky ReLU with slope >= 0) whose input is a BatchNorm with no
 * other consumer into that BatchNorm: one pass over the data instead of
 * two each way, and no buffer of its own. The BatchNorm node's output then
 * reads as the activation's. Likewise into a conv with no other consumer
 * whose kernel at batch n has a store epilogue (conv_fold_supported: an
 * imported graph's conv with its BatchNorm in the weights), in training
 * too: the conv applies the activation as it stores its output and, in
 * backward, its derivative to dy, recovered from that output. */
void model_plan_fusion(graft_model *m, int n)
{
    for (int i = 0; i < m->nnodes; i++) {
        m->nodes[i].fused = 0;
        if (m->nodes[i].l) m->nodes[i].l->fused_act = 0;
    }
    if (!m->ctx->fuse) return;
    for (int i = 1; i < m->nnodes; i++) {
        node *nd = &m->nodes[i];
        int code = layer_bn_fusible(&nd->spec);
        int b = nd->in[0];
        if (!code || b <= 0 || m->nodes[b].l->fused_act) continue;
        graft_layer_kind into = m->nodes[b].spec.kind;
        if (into != GRAFT_LAYER_BATCHNORM2D &&
            !(into == GRAFT_LAYER_CONV2D && conv_fold_supported(m->ctx, m->nodes[b].l, n, 0)))
            continue;
        int consumers = 0;
        for (int j = b + 1; j < m->nnodes; j++)
            for (int k2 = 0; k2 < m->nodes[j].nin; k2++) consumers += m->nodes[j].in[k2] == b;
        if (consumers != 1) continue;
        m->nodes[b].l->fused_act = code;
        m->nodes[b].l->fused_slope = nd->spec.slope;
        nd->fused = 1;
    }
}

void graft_model_set_profiling(graft_model *m, int on)
{
    m->profile = on != 0;
    for (int i = 0; i < m->nnodes; i++) {
        m->nodes[i].prof_fwd = m->nodes[i].prof_bwd = 0;
        m->nodes[i].prof_nfwd = m->nodes[i].prof_nbwd = 0;
    }
}

int graft_model_node_profile(const graft_model *m, int i, double *fwd_s, double *bwd_s)
{
    if (!valid_node(m, i)) return 0;
    const node *nd = &m->nodes[i];
    if (fwd_s) *fwd_s = nd->prof_nfwd ? nd->prof_fwd / (double)nd->prof_nfwd : 0;
    if (bwd_s) *bwd_s = nd->prof_nbwd ? nd->prof_bwd / (double)nd->prof_nbwd : 0;
    return (int)nd->prof_nfwd;
}

/* Per-layer profiling (graft_model_set_profiling): waits for the layer's
 * kernels, then adds the time since t0 to *total and counts the call. */
static void profile_add(const graft_model *m, double t0, double *total, long *calls)
{
    if (!m->profile) return;
    clFinish(m->ctx->queue);
    *total += now_seconds() - t0;
    (*calls)++;
}

static int any_stale(const graft_model *m)
{
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].stale) return 1;
    return 0;
}
static graft_status refresh_for_backward(graft_model *m);

graft_status model_forward_device(graft_model *m, int n, int training)
{
    if (m->profile) clFinish(m->ctx->queue);
    for (int i = 0; i < m->nnodes; i++)
        m->nodes[i].fold_skip = m->nodes[i].stale = m->nodes[i].reused = 0;
    int fold = !training && m->ctx->fuse && !m->fold_off;
    model_schedule(m, n, fold, m->chains, m->skip);
    if (!m->full) TRY(model_share_buffers(m));
    for (int i = 1; i < m->nnodes; i++) {
        node *nd = &m->nodes[i];
        if (m->skip[i]) continue; /* an earlier node writes the output */
        double t0 = m->profile ? now_seconds() : 0;
        if (m->chains[i].conv == i) {
            TRY(fold_chain_run(m, &m->chains[i], n));
        } else {
            fwd_io io;
            memset(&io, 0, sizeof io);
            io.n = n;
            io.training = training;
            io.frozen = !training || !nd->trainable;
            io.out = nd->out;
            for (int k = 0; k < nd->nin; k++) io.in[k] = m->nodes[nd->in[k]].out;
            TRY(nd->l->ops->forward(m->ctx, nd->l, &io));
        }
        profile_add(m, t0, &nd->prof_fwd, &nd->prof_nfwd);
    }
    model_mark_reused(m);
    m->last_n = n;
    m->last_training = training;
    return GRAFT_OK;
}

graft_status graft_model_forward(graft_model *m, const float *x, int n, int training, float *logits)
{
    if (!m || !x) return GRAFT_ERR_INVALID_ARG;
    if (m->nnodes < 2) return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "model has no layers");
    if (n <= 0) return ctx_fail(m->ctx, GRAFT_ERR_SHAPE, "forward: batch size %d must be positive", n);
    TRY(model_reserve(m, n, training));
    TRY(ctx_write(m->ctx, m->nodes[0].out, 0, x, (size_t)n * shape_numel(m->nodes[0].shape)));
    TRY(model_forward_device(m, n, training));
    if (logits) {
        node *last = &m->nodes[m->nnodes - 1];
        TRY(ctx_read(m->ctx, last->out, 0, logits, (size_t)n * shape_numel(last->shape)));
    }
    return GRAFT_OK;
}

static int node_has_trainable(const graft_model *m, int i)
{
    const node *nd = &m->nodes[i];
    if (!nd->l || !nd->trainable) return 0;
    for (int k = 0; k < nd->l->nparams; k++)
        if (nd->l->params[k].learnable) return 1;
    return 0;
}

graft_status graft_model_backward(graft_model *m, const int *labels, float label_smoothing,
                                  float *loss, int *correct)
{
    if (!m || !labels) return GRAFT_ERR_INVALID_ARG;
    if (m->last_n <= 0)
        return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "backward called before a forward pass");
    if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f))
        return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "label smoothing %g outside [0, 1)",
                        (double)label_smoothing);
    int n = m->last_n, last = m->nnodes - 1;
    TRY(refresh_for_backward(m)); /* backward after an inference forward */
    node *out = &m->nodes[last];
    if (out->shape.h != 1 || out->shape.w != 1)
        return ctx_fail(m->ctx, GRAFT_ERR_SHAPE, "the last layer '%s' outputs %dx%dx%d; the loss "
                        "needs class scores (C x 1 x 1)", out->name, out->shape.c, out->shape.h,
                        out->shape.w);
    float l = 0;
    int c = 0;
    TRY(model_grads_zeroed(m)); /* frozen and unreached nodes keep zeros */
    grad_release_all(m); /* in case an earlier backward stopped on an error */
    TRY(grad_acquire(m, last));
    TRY(loss_softmax_ce(m->ctx, out->out, labels, n, out->shape.c, label_smoothing, out->grad, &l, &c));
    if (m->profile) clFinish(m->ctx->queue);
    if (loss) *loss = l;
    if (correct) *correct = c;

    /* want[i]: the gradient w.r.t. node i's output is useful, i.e. some
     * trainable parameter lies at or below node i. */
    for (int i = 0; i < m->nnodes; i++) {
        int w = node_has_trainable(m, i);
        for (int k = 0; k < m->nodes[i].nin && !w; k++) w = m->want[m->nodes[i].in[k]];
        m->want[i] = (unsigned char)w;
        m->written[i] = 0;
    }
    m->written[last] = 1;
    for (int i = last; i >= 1; i--) {
        node *nd = &m->nodes[i];
        if (m->bwd_done) TRY(m->bwd_done(m->bwd_done_user, i + 1));
        if (!m->want[i]) continue;
        if (!m->written[i]) {
            /* A branch that does not reach the output: zero gradient. */
            TRY(grad_acquire(m, i));
            TRY(ctx_fill(m->ctx, nd->grad, 0, (size_t)n * shape_numel(nd->shape), 0.0f));
            m->written[i] = 1;
        }
        if (nd->fused) {
            /* Its BatchNorm applies the activation's derivative: hand the
             * gradient down unchanged (that node has no other consumer). */
            int b = nd->in[0];
            if (m->want[b]) {
                m->nodes[b].grad = nd->grad;
                nd->grad = NULL;
                m->written[b] = 1;
            } else {
                grad_release(m, i);
            }
            continue;
        }
        bwd_io io;
        memset(&io, 0, sizeof io);
        io.n = n;
        io.out = nd->out;
        io.dout = nd->grad;
        io.param_grads = node_has_trainable(m, i);
        int any = io.param_grads;
        for (int k = 0; k < nd->nin; k++) {
            int j = nd->in[k];
            io.in[k] = m->nodes[j].out;
            if (j > 0 && m->want[j]) {
                if (!m->written[j]) TRY(grad_acquire(m, j));
                io.din[k] = m->nodes[j].grad;
                io.din_beta[k] = m->written[j] ? 1.0f : 0.0f;
                m->written[j] = 1;
                any = 1;
            }
        }
        if (any) {
            double t0 = m->profile ? now_seconds() : 0;
            TRY(nd->l->ops->backward(m->ctx, nd->l, &io));
            profile_add(m, t0, &nd->prof_bwd, &nd->prof_nbwd);
        }
        grad_release(m, i);
    }
    grad_release_all(m);
    if (m->bwd_done) TRY(m->bwd_done(m->bwd_done_user, 1));
    return GRAFT_OK;
}

/* Before a backward: the last forward again when it left outputs the
 * backward reads unwritten (folded) or on shared buffers, this time
 * unfolded on one buffer per node (its input is still in node 0's). */
static graft_status refresh_for_backward(graft_model *m)
{
    if (m->full && !any_stale(m)) return GRAFT_OK;
    TRY(model_make_full(m));
    int off = m->fold_off;
    m->fold_off = 1;
    graft_status s = model_forward_device(m, m->last_n, m->last_training);
    m->fold_off = off;
    return s;
}

graft_status graft_model_node_output(graft_model *m, int nodei, float *dst, size_t n)
{
    TRY(node_check(m, nodei));
    size_t want = (size_t)m->last_n * shape_numel(m->nodes[nodei].shape);
    if (m->last_n <= 0 || n != want)
        return ctx_fail(m->ctx, GRAFT_ERR_SHAPE, "node output: %zu values requested, %zu available",
                        n, want);
    node *nd = &m->nodes[nodei];
    if (nd->stale || nd->reused) {
        /* Features read from a buffer a later node reused, or from inside
         * a folded chain: the forward runs again keeping the node (and, if
         * it was folded, unfolded), as later forwards of m do, so only
         * this batch pays a second pass. */
        nd->pinned = 1;
        if (nd->stale) m->fold_off = 1;
        TRY(model_forward_device(m, m->last_n, m->last_training));
    }
    return ctx_read(m->ctx, nd->out, 0, dst, n);
}

graft_ctx *graft_model_ctx(const graft_model *m) { return m->ctx; }
