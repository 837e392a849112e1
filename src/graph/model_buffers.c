/* Where each node's output lives. Training forwards keep every output for
 * the backward pass: one buffer per node. An inference forward needs an
 * output only from the step that writes it to the last step that reads
 * it, so its nodes share buffers (act_plan.h) planned from the forward's
 * actual schedule (which conv chains fold). Node 0 (the input) keeps its
 * own buffer in both layouts, so a forward can be rerun from it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act_plan.h"
#include "fold_bn.h"
#include "model.h"

static size_t node_bytes(const graft_model *m, int i, int n)
{
    return (size_t)n * shape_numel(m->nodes[i].shape) * sizeof(float);
}

/* The node whose buffer holds node i's output: an activation fused into
 * its BatchNorm shares that node's. */
static int value_of(const graft_model *m, int i)
{
    while (m->nodes[i].fused) i = m->nodes[i].in[0];
    return i;
}

static void release_shared(graft_model *m)
{
    for (int s = 0; s < m->nslots; s++) clReleaseMemObject(m->slot_buf[s]);
    free(m->slot_buf);
    free(m->slot_bytes);
    free(m->vals);
    free(m->slot_of);
    m->slot_buf = NULL;
    m->slot_bytes = NULL;
    m->vals = NULL;
    m->slot_of = NULL;
    m->nslots = 0;
    if (!m->full)
        for (int i = 1; i < m->nnodes; i++) m->nodes[i].out = NULL;
}

void model_release_buffers(graft_model *m)
{
    release_shared(m);
    for (int i = 0; i < m->nnodes; i++) {
        node *nd = &m->nodes[i];
        if (nd->out && !nd->fused && (i == 0 || m->full)) clReleaseMemObject(nd->out);
        nd->out = nd->grad = NULL;
    }
    for (int k = 0; k < m->ngpool; k++) clReleaseMemObject(m->gpool[k].buf);
    free(m->gpool);
    m->gpool = NULL;
    m->ngpool = 0;
    m->full = 0;
    m->cap_batch = 0;
    m->last_n = 0; /* the last forward's outputs are gone */
    free(m->chains);
    free(m->skip);
    m->chains = NULL;
    m->skip = NULL;
}

static graft_status alloc_node(graft_model *m, int i, int n)
{
    char what[128];
    snprintf(what, sizeof what, "activations of layer '%s' (batch %d)", m->nodes[i].name, n);
    return ctx_alloc(m->ctx, node_bytes(m, i, n), &m->nodes[i].out, what);
}

/* One buffer per node for cap_batch samples, replacing shared ones. */
graft_status model_make_full(graft_model *m)
{
    if (m->full) return GRAFT_OK;
    release_shared(m);
    m->full = 1;
    for (int i = 1; i < m->nnodes; i++) {
        if (m->nodes[i].fused) {
            m->nodes[i].out = m->nodes[m->nodes[i].in[0]].out;
            continue;
        }
        graft_status s = alloc_node(m, i, m->cap_batch);
        if (s != GRAFT_OK) {
            model_release_buffers(m);
            return s;
        }
    }
    return GRAFT_OK;
}

graft_status model_reserve(graft_model *m, int n, int training)
{
    int want_full = training || m->reuse_off;
    if (n <= m->cap_batch && (m->full || !want_full)) return GRAFT_OK;
    if (n > m->cap_batch) {
        model_release_buffers(m);
        model_plan_fusion(m, n);
        m->chains = calloc((size_t)m->nnodes, sizeof *m->chains);
        m->skip = calloc((size_t)m->nnodes, 1);
        if (!m->chains || !m->skip) {
            model_release_buffers(m);
            return ctx_fail(m->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
        }
        TRY(alloc_node(m, 0, n));
        m->cap_batch = n;
    }
    return want_full ? model_make_full(m) : GRAFT_OK;
}

void model_schedule(const graft_model *m, int n, int fold, fold_chain *chains, unsigned char *skip)
{
    for (int i = 0; i < m->nnodes; i++) {
        chains[i].conv = -1;
        skip[i] = (unsigned char)m->nodes[i].fused;
    }
    for (int i = 1; i < m->nnodes; i++) {
        fold_chain fc;
        if (skip[i] || !fold || !fold_chain_at(m, i, n, &fc)) continue;
        chains[i] = fc;
        const int inner[3] = {fc.bn, fc.add, fc.act};
        for (int k = 0; k < 3; k++)
            if (inner[k] >= 0) skip[inner[k]] = 1;
    }
}

/* Lifetimes of the outputs in a forward with this schedule: a step per
 * node that runs (or chain), a value per node; node 0, the last node and
 * pinned nodes live to the end. */
static void lifetimes(const graft_model *m, const fold_chain *chains, const unsigned char *skip,
                      act_value *v)
{
    int step = 0;
    for (int i = 0; i < m->nnodes; i++) v[i] = (act_value){shape_numel(m->nodes[i].shape), -1, -1};
    for (int i = 1; i < m->nnodes; i++) {
        if (skip[i]) continue;
        step++;
        const node *nd = &m->nodes[i];
        int reads[LAYER_MAX_INPUTS + 1], nr = 0, w = i;
        if (chains[i].conv == i) {
            w = chains[i].last;
            reads[nr++] = nd->in[0];
            if (chains[i].res >= 0) reads[nr++] = chains[i].res;
        } else {
            for (int k = 0; k < nd->nin; k++) reads[nr++] = nd->in[k];
        }
        for (int k = 0; k < nr; k++) {
            int r = value_of(m, reads[k]);
            if (v[r].last < step) v[r].last = step;
        }
        v[value_of(m, w)].def = step;
    }
    step++;
    for (int i = 1; i < m->nnodes; i++) {
        int r = value_of(m, i);
        if (i == m->nnodes - 1 || m->nodes[i].pinned) v[r].last = step;
    }
    v[0].def = -1; /* its own buffer */
    for (int i = 0; i < m->nnodes; i++)
        if (v[i].def >= 0 && v[i].last < v[i].def) v[i].last = v[i].def;
}

/* The shared buffers of the schedule in m->chains / m->skip: planned
 * again only when the lifetimes change (a chain that folds at one batch
 * size but not another, a newly pinned node); buffers of the previous
 * plan that still fit are kept. Points every node's out at its buffer
 * (NULL for outputs this forward does not write). */
graft_status model_share_buffers(graft_model *m)
{
    int N = m->nnodes;
    act_value *v = malloc((size_t)N * sizeof *v);
    int *slot = malloc((size_t)N * sizeof *slot);
    size_t *numel = malloc((size_t)N * sizeof *numel);
    cl_mem *buf = calloc((size_t)N, sizeof *buf);
    size_t *bytes = calloc((size_t)N, sizeof *bytes);
    int ns = -1;
    if (v && slot && numel && buf && bytes) {
        lifetimes(m, m->chains, m->skip, v);
        if (m->vals && !memcmp(v, m->vals, (size_t)N * sizeof *v)) {
            free(v), free(slot), free(numel), free(buf), free(bytes);
            return GRAFT_OK; /* same plan, outs already set */
        }
        ns = act_plan_assign(v, N, slot, numel);
    }
    if (ns < 0) {
        free(v), free(slot), free(numel), free(buf), free(bytes);
        return ctx_fail(m->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    }
    /* Slots take the old buffers that fit (the smallest such), largest
     * slot first (act_plan_assign numbers slots by decreasing size). */
    graft_status st = GRAFT_OK;
    for (int s = 0; s < ns && st == GRAFT_OK; s++) {
        bytes[s] = (size_t)m->cap_batch * numel[s] * sizeof(float);
        int best = -1;
        for (int k = 0; k < m->nslots; k++)
            if (m->slot_buf[k] && m->slot_bytes[k] >= bytes[s] &&
                (best < 0 || m->slot_bytes[k] < m->slot_bytes[best]))
                best = k;
        if (best >= 0) {
            buf[s] = m->slot_buf[best];
            bytes[s] = m->slot_bytes[best];
            m->slot_buf[best] = NULL;
        } else {
            char what[96];
            snprintf(what, sizeof what, "shared activations (batch %d)", m->cap_batch);
            st = ctx_alloc(m->ctx, bytes[s], &buf[s], what);
        }
    }
    for (int k = 0; k < m->nslots; k++)
        if (m->slot_buf[k]) clReleaseMemObject(m->slot_buf[k]);
    free(m->slot_buf);
    free(m->slot_bytes);
    free(m->vals);
    free(m->slot_of);
    free(numel);
    m->slot_buf = buf;
    m->slot_bytes = bytes;
    m->vals = v;
    m->slot_of = slot;
    m->nslots = ns;
    if (st != GRAFT_OK) {
        release_shared(m);
        return st;
    }
    for (int i = 1; i < N; i++) {
        int r = value_of(m, i);
        m->nodes[i].out = slot[r] >= 0 ? buf[slot[r]] : NULL;
    }
    return GRAFT_OK;
}

/* After a forward on shared buffers: the nodes whose buffer a later node
 * wrote. */
void model_mark_reused(graft_model *m)
{
    if (m->full || !m->vals) return;
    for (int i = 1; i < m->nnodes; i++) {
        int r = value_of(m, i), s = m->slot_of[r];
        int later = 0;
        for (int j = 1; j < m->nnodes && s >= 0 && !later; j++)
            later = m->slot_of[j] == s && m->vals[j].def > m->vals[r].def;
        m->nodes[i].reused = later;
    }
}

size_t model_infer_activation_bytes(const graft_model *m, int n)
{
    int N = m->nnodes;
    fold_chain *chains = malloc((size_t)N * sizeof *chains);
    unsigned char *skip = malloc((size_t)N);
    act_value *v = malloc((size_t)N * sizeof *v);
    int *slot = malloc((size_t)N * sizeof *slot);
    size_t *numel = malloc((size_t)N * sizeof *numel);
    size_t total = 0;
    int ns = -1;
    if (chains && skip && v && slot && numel) {
        model_schedule(m, n, m->ctx->fuse && !m->fold_off, chains, skip);
        lifetimes(m, chains, skip, v);
        ns = act_plan_assign(v, N, slot, numel);
    }
    if (ns >= 0) {
        total = shape_numel(m->nodes[0].shape);
        for (int s = 0; s < ns; s++) total += numel[s];
    } else {
        for (int i = 0; i < N; i++) total += shape_numel(m->nodes[i].shape);
    }
    free(chains), free(skip), free(v), free(slot), free(numel);
    return total * (size_t)n * sizeof(float);
}

size_t graft_model_activation_bytes(const graft_model *m)
{
    if (!m || !m->cap_batch) return 0;
    size_t b = node_bytes(m, 0, m->cap_batch);
    if (m->full) {
        for (int i = 1; i < m->nnodes; i++)
            if (!m->nodes[i].fused) b += node_bytes(m, i, m->cap_batch);
    } else {
        for (int s = 0; s < m->nslots; s++) b += m->slot_bytes[s];
    }
    return b;
}

graft_status graft_model_set_buffer_reuse(graft_model *m, int on)
{
    if (!m) return GRAFT_ERR_INVALID_ARG;
    if (m->reuse_off == !on) return GRAFT_OK;
    /* The next forward allocates the layout it needs. */
    if (m->ctx->queue) clFinish(m->ctx->queue);
    model_release_buffers(m);
    m->reuse_off = !on;
    return GRAFT_OK;
}
