#define _POSIX_C_SOURCE 200809L
#include "transfer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "error.h"
#include "hash.h"
#include "layer_kind.h"
#include "model.h"
#include "clock.h"
#include "rank_gather.h"
#include "rank_status.h"

int transfer_strategy_parse(const char *s)
{
    if (!strcasecmp(s, "linear-probe")) return STRATEGY_LINEAR_PROBE;
    if (!strcasecmp(s, "finetune")) return STRATEGY_FINETUNE;
    if (!strcasecmp(s, "gradual")) return STRATEGY_GRADUAL;
    return -1;
}

const char *transfer_strategy_name(transfer_strategy s)
{
    switch (s) {
    case STRATEGY_LINEAR_PROBE: return "linear-probe";
    case STRATEGY_FINETUNE: return "finetune";
    default: return "gradual";
    }
}

static graft_status copy_param(graft_model *dst, int di, graft_model *src, int si)
{
    param *p = model_param(src, si);
    param *q = model_param(dst, di);
    if (p->numel != q->numel)
        return ctx_fail(dst->ctx, GRAFT_ERR_SHAPE, "parameter '%s': %zu vs %zu values", p->name,
                        p->numel, q->numel);
    param_written(q);
    CL_TRY(dst->ctx, clEnqueueCopyBuffer(dst->ctx->queue, p->data, q->data, 0, 0,
                                         p->numel * sizeof(float), 0, NULL, NULL),
           "copying a parameter");
    return GRAFT_OK;
}

/* A classifier that is a 1x1 conv followed only by activations, dropout,
 * global average pooling and flattening (SqueezeNet: conv, ReLU, GAP):
 * the conv's index, else -1. */
static int conv_classifier(const graft_model *m)
{
    int last = m->nnodes - 1, i = last;
    if (m->nodes[last].shape.h != 1 || m->nodes[last].shape.w != 1) return -1;
    for (; i > 0; i--) {
        const node *nd = &m->nodes[i];
        graft_layer_kind k = nd->spec.kind;
        if (k == GRAFT_LAYER_CONV2D) break;
        if ((k != GRAFT_LAYER_RELU && k != GRAFT_LAYER_RELU6 && k != GRAFT_LAYER_LEAKY_RELU &&
             k != GRAFT_LAYER_SIGMOID && k != GRAFT_LAYER_DROPOUT &&
             k != GRAFT_LAYER_GLOBAL_AVGPOOL && k != GRAFT_LAYER_FLATTEN) ||
            nd->nin != 1 || nd->in[0] != i - 1)
            return -1;
    }
    int kh, kw;
    if (i <= 0) return -1;
    graft_layer_window(&m->nodes[i].spec, &kh, &kw, NULL);
    if (kh != 1 || kw != 1 || m->nodes[i].spec.groups != 1 || m->nodes[i].spec.stride != 1)
        return -1;
    /* The conv's output feeds the tail only. */
    for (int j = i + 1; j <= last; j++)
        for (int k = 0; k < m->nodes[j].nin; k++)
            if (m->nodes[j].in[k] == i && j != i + 1) return -1;
    return i;
}

graft_status transfer_build_target(graft_model *src, int nclasses, int keep_head, uint64_t seed,
                                   graft_model **out)
{
    graft_ctx *ctx = src->ctx;
    *out = NULL;
    int last = src->nnodes - 1;
    const node *head = &src->nodes[last];
    /* A conv classifier becomes global average pooling of its input and a
     * new linear classifier, so every strategy sees the usual head. */
    int conv = head->spec.kind == GRAFT_LAYER_LINEAR || keep_head ? -1 : conv_classifier(src);
    if (head->spec.kind != GRAFT_LAYER_LINEAR && conv < 0)
        return ctx_fail(ctx, GRAFT_ERR_UNSUPPORTED, "the source model's last layer '%s' is a %s; "
                        "fine-tuning needs a linear classifier there%s", head->name,
                        graft_layer_kind_name(head->spec.kind),
                        keep_head ? " (--keep-head)" : " or a 1x1 conv classifier followed by "
                        "activations and global average pooling");
    if (keep_head && head->shape.c != nclasses)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "--keep-head: the source has %d classes, the "
                        "target %d", head->shape.c, nclasses);
    graft_model *m;
    TRY(graft_model_create(ctx, &m));
    graft_model_set_seed(m, seed);
    graft_status s = GRAFT_OK;
    int copied = conv >= 0 ? conv - 1 : last; /* nodes 0..copied keep their specs */
    for (int i = 0; i <= copied && s == GRAFT_OK; i++) {
        graft_layer_spec sp = src->nodes[i].spec;
        if (i == last) sp.channels = nclasses;
        s = graft_model_add(m, src->nodes[i].name, &sp, src->nodes[i].nin, src->nodes[i].in, NULL);
    }
    if (conv >= 0 && s == GRAFT_OK) {
        graft_layer_spec gap = graft_layer_default(GRAFT_LAYER_GLOBAL_AVGPOOL);
        graft_layer_spec fc = graft_layer_default(GRAFT_LAYER_LINEAR);
        fc.channels = nclasses;
        fc.bias = 1;
        int pooled;
        s = graft_model_add(m, head->name, &gap, 1, src->nodes[conv].in, &pooled);
        if (s == GRAFT_OK) s = graft_model_add(m, src->nodes[conv].name, &fc, 1, &pooled, NULL);
    }
    /* Parameters line up by index for every node the two share. */
    for (int i = 0; i < src->nparams && s == GRAFT_OK; i++) {
        int nd = src->params[i].node;
        if ((!keep_head && nd == last) || nd > copied) continue;
        s = copy_param(m, i, src, i);
    }
    if (s != GRAFT_OK) {
        graft_model_free(m);
        return s;
    }
    *out = m;
    return GRAFT_OK;
}

int transfer_feature_node(const graft_model *m)
{
    return m->nnodes >= 2 ? m->nodes[m->nnodes - 1].in[0] : 0;
}

int transfer_stages(const graft_model *m, int *starts, int max)
{
    int n = 0;
    for (int i = 1; i < m->nnodes && n < max; i++) {
        graft_layer_kind k = m->nodes[i].spec.kind;
        if (k == GRAFT_LAYER_CONV2D || k == GRAFT_LAYER_LINEAR) starts[n++] = i;
    }
    return n;
}

/* Stage index (0-based from the input) of node i. */
static int stage_of(const int *starts, int ns, int i)
{
    int s = 0;
    while (s + 1 < ns && starts[s + 1] <= i) s++;
    return s;
}

static void set_node_frozen(graft_model *m, int i, int frozen, int bn_frozen_trainable)
{
    m->nodes[i].trainable = !frozen;
    if (m->nodes[i].spec.kind == GRAFT_LAYER_BATCHNORM2D)
        m->nodes[i].l->bn_frozen = frozen ? 1 : bn_frozen_trainable;
}

graft_status transfer_apply(graft_model *m, const finetune_opts *o)
{
    int starts[4096];
    int ns = transfer_stages(m, starts, 4096);
    int last = m->nnodes - 1;
    for (int i = 1; i <= last; i++) {
        int frozen = 0;
        if (o->strategy == STRATEGY_LINEAR_PROBE || o->strategy == STRATEGY_GRADUAL) frozen = i != last;
        else if (o->freeze_until >= 0) frozen = i <= o->freeze_until;
        set_node_frozen(m, i, frozen, o->bn_frozen);
        float mult = 1.0f;
        if (i != last) {
            int depth = (ns - 1) - stage_of(starts, ns, i); /* stages below the head */
            mult = o->lr_backbone * powf(o->lr_decay, (float)(depth > 0 ? depth - 1 : 0));
        }
        m->nodes[i].lr_mult = mult;
    }
    return GRAFT_OK;
}

int transfer_gradual_step(graft_model *m, const finetune_opts *o, int epochs_done)
{
    if (o->strategy != STRATEGY_GRADUAL || o->unfreeze_every <= 0 || epochs_done <= 0 ||
        epochs_done % o->unfreeze_every)
        return 0;
    int starts[4096];
    int ns = transfer_stages(m, starts, 4096);
    /* Stages ns-1 (head) .. ns-1-k are trainable after k unfreezings. */
    int k = epochs_done / o->unfreeze_every;
    int lowest = ns - 1 - k;
    if (lowest < 0) lowest = 0;
    int changed = 0;
    for (int i = 1; i < m->nnodes; i++) {
        int want = stage_of(starts, ns, i) >= lowest && i >= starts[lowest];
        if (want && !m->nodes[i].trainable) {
            set_node_frozen(m, i, 0, o->bn_frozen);
            changed = 1;
        }
    }
    return changed;
}

/* Collects one node's output per image, either averaged over space (one
 * value per channel) or whole (C x H x W), into a float array or appended
 * to a dataset. */
typedef struct feat_acc {
    int node, C, HW, pool;
    float *buf; /* batch x C x HW */
    float *f;   /* n x C (pooled) or n x C x HW, or NULL */
    dataset *ds; /* or appended here (C x 1 x 1 pooled, else C x H x W) */
    float *row; /* pooled row for ds: C */
} feat_acc;

static graft_status feat_batch(void *user, graft_model *m, const int *y, int n, int offset)
{
    feat_acc *a = user;
    TRY(graft_model_node_output(m, a->node, a->buf, (size_t)n * a->C * a->HW));
    for (int i = 0; i < n; i++) {
        const float *img = a->buf + (size_t)i * a->C * a->HW;
        if (a->pool) {
            float *dst = a->f ? a->f + (size_t)(offset + i) * a->C : a->row;
            for (int c = 0; c < a->C; c++) {
                double acc = 0;
                const float *p = img + (size_t)c * a->HW;
                for (int k = 0; k < a->HW; k++) acc += p[k];
                dst[c] = (float)(acc / a->HW);
            }
            img = dst;
        } else if (a->f) {
            memcpy(a->f + (size_t)(offset + i) * a->C * a->HW, img,
                   sizeof *img * (size_t)a->C * a->HW);
        }
        if (a->ds) {
            char why[256];
            graft_status s = dataset_append(a->ds, img, y[i], NULL, why, sizeof why);
            if (s != GRAFT_OK) return ctx_fail(m->ctx, s, "caching features: %s", why);
        }
    }
    return GRAFT_OK;
}

/* Runs d through m (inference mode) and collects node `nodei`'s outputs
 * into a->f or a->ds (set by the caller); allocates the scratch. */
static graft_status collect_indices(graft_model *m, const dataset *d, const int *idx, int nidx,
                                    const float *mean, const float *std, int batch, feat_acc *a,
                                    const graft_callbacks *cb, char *err, size_t errlen)
{
    a->buf = malloc((size_t)batch * a->C * a->HW * sizeof *a->buf);
    a->row = malloc((size_t)a->C * sizeof *a->row);
    graft_status s = GRAFT_OK;
    if (!a->buf || !a->row) {
        error_set(err, errlen, GRAFT_OK, "out of host memory for features");
        s = GRAFT_ERR_HOST_MEMORY;
    }
    if (s == GRAFT_OK)
        s = infer_dataset_indices(m, d, idx, nidx, mean, std, batch, feat_batch, a, "features",
                                  cb ? cb->progress : NULL, cb ? cb->user : NULL, err, errlen);
    free(a->buf);
    free(a->row);
    a->buf = a->row = NULL;
    return s;
}

static graft_status collect(graft_model *m, const dataset *d, const float *mean, const float *std,
                            int batch, feat_acc *a, const graft_callbacks *cb, char *err,
                            size_t errlen)
{
    return collect_indices(m, d, NULL, 0, mean, std, batch, a, cb, err, errlen);
}

graft_status transfer_features(graft_model *m, const dataset *d, const float *mean,
                               const float *std, int batch, int nodei, float **feats, int *dim,
                               char *err, size_t errlen)
{
    *feats = NULL;
    const node *nd = &m->nodes[nodei];
    feat_acc a = {nodei, nd->shape.c, nd->shape.h * nd->shape.w, 1, NULL, NULL, NULL, NULL};
    a.f = malloc((size_t)d->n * a.C * sizeof *a.f);
    if (!a.f) {
        error_set(err, errlen, GRAFT_OK, "out of host memory for features");
        return GRAFT_ERR_HOST_MEMORY;
    }
    graft_status s = collect(m, d, mean, std, batch, &a, NULL, err, errlen);
    if (s != GRAFT_OK) {
        free(a.f);
        return s;
    }
    *feats = a.f;
    *dim = a.C;
    return GRAFT_OK;
}

/* feature_dataset over several ranks: each rank runs only its contiguous
 * share of d through m (so a lazily opened d decodes only those images),
 * one status round agrees that every share is done (a rank that failed,
 * on a corrupt image say, stops them all there), the shares are gathered
 * so that every rank holds every image's outputs (the same numbers as one
 * process's), and a second round agrees that the gather and the dataset
 * built from it went through. The labels are d's, which every rank has. */
static graft_status feature_dataset_ranks(graft_model *m, const dataset *d, const float *mean,
                                          const float *std, int nodei, int pool,
                                          const graft_callbacks *cb, const graft_collective *comm,
                                          dataset **out, char *err, size_t errlen)
{
    const node *nd = &m->nodes[nodei];
    feat_acc a = {nodei, nd->shape.c, nd->shape.h * nd->shape.w, pool, NULL, NULL, NULL, NULL};
    size_t row = (size_t)a.C * (pool ? 1 : (size_t)a.HW);
    int lo, hi;
    rank_share(d->n, comm->rank, comm->size, &lo, &hi);
    *out = NULL;
    rank_status rs;
    TRY(rank_status_init(&rs, comm, err, errlen));
    float *all = malloc(sizeof *all * row * (size_t)d->n);
    int *idx = malloc(sizeof *idx * (size_t)(hi - lo + 1));
    dataset *ds = NULL;
    graft_status s = all && idx ? GRAFT_OK
                                : error_set(err, errlen, GRAFT_ERR_HOST_MEMORY,
                                            "out of host memory for features");
    for (int i = lo; idx && i < hi; i++) idx[i - lo] = i;
    a.f = all ? all + (size_t)lo * row : NULL;
    if (s == GRAFT_OK && hi > lo)
        s = collect_indices(m, d, idx, hi - lo, mean, std, TRANSFER_EXTRACT_BATCH, &a, cb, err,
                            errlen);
    s = rank_status_round(&rs, s, NULL, 0, err, errlen);
    if (s == GRAFT_OK) {
        s = rank_gather_rows(comm, all, d->n, row, err, errlen);
        if (s == GRAFT_OK)
            s = dataset_create(a.C, pool ? 1 : nd->shape.h, pool ? 1 : nd->shape.w, d->nclasses,
                               (const char *const *)d->class_names, &ds, err, errlen);
        for (int i = 0; s == GRAFT_OK && i < d->n; i++)
            s = dataset_append(ds, all + (size_t)i * row, d->y[i], NULL, err, errlen);
        /* Also a rank out of memory here must not leave the others waiting
         * in the training's first round. */
        s = rank_status_round(&rs, s, NULL, 0, err, errlen);
    }
    if (s != GRAFT_OK) {
        dataset_free(ds);
        ds = NULL;
    }
    rank_status_free(&rs);
    free(idx);
    free(all);
    *out = ds;
    return s;
}

/* Node `nodei`'s outputs for every image of d as a new dataset of the same
 * labels and class names: C x 1 x 1 "images" when pooled, else the node's
 * full C x H x W output. With comm of several ranks, each extracts only
 * its share and every rank gets the whole dataset (feature_dataset_ranks). */
static graft_status feature_dataset(graft_model *m, const dataset *d, const float *mean,
                                    const float *std, int nodei, int pool,
                                    const graft_callbacks *cb, const graft_collective *comm,
                                    dataset **out, char *err, size_t errlen)
{
    if (comm && comm->size > 1)
        return feature_dataset_ranks(m, d, mean, std, nodei, pool, cb, comm, out, err, errlen);
    const node *nd = &m->nodes[nodei];
    feat_acc a = {nodei, nd->shape.c, nd->shape.h * nd->shape.w, pool, NULL, NULL, NULL, NULL};
    *out = NULL;
    TRY(dataset_create(a.C, pool ? 1 : nd->shape.h, pool ? 1 : nd->shape.w, d->nclasses,
                       (const char *const *)d->class_names, &a.ds, err, errlen));
    /* Batches of 64, not 256: a fresh model then first-touches 4x smaller
     * activation and im2col buffers (on a loaded 2-core CPU, 0.3-0.6 s
     * against 0.7-1.2 s for 500 refnet images). */
    graft_status s = collect(m, d, mean, std, TRANSFER_EXTRACT_BATCH, &a, cb, err, errlen);
    if (s != GRAFT_OK) {
        dataset_free(a.ds);
        return s;
    }
    *out = a.ds;
    return GRAFT_OK;
}

graft_status transfer_check_cut(const graft_model *m, int cut, char *err, size_t errlen)
{
    int last = m->nnodes - 1;
    if (cut < 1 || cut >= last) {
        if (err)
            snprintf(err, errlen, "cannot cache the output of '%s': the frozen, cached part must "
                     "end at a layer between the input and the classifier '%s'",
                     cut >= 0 && cut <= last ? m->nodes[cut].name : "?", m->nodes[last].name);
        return GRAFT_ERR_INVALID_ARG;
    }
    for (int j = cut + 1; j <= last; j++)
        for (int k = 0; k < m->nodes[j].nin; k++)
            if (m->nodes[j].in[k] < cut) {
                if (err)
                    snprintf(err, errlen, "cannot cache the output of '%s': it is not a cut of the "
                             "graph, layer '%s' after it also reads '%s' from before it (choose "
                             "a block output such as a layer every later path goes through)",
                             m->nodes[cut].name, m->nodes[j].name,
                             m->nodes[m->nodes[j].in[k]].name);
                return GRAFT_ERR_INVALID_ARG;
            }
    return GRAFT_OK;
}

int transfer_default_cut(const graft_model *m)
{
    /* The first half of the conv stages (S/2 of the S stages below the
     * classifier, rounded down) frozen: the cut is the input of the next
     * stage, or the first cut after it. On the flagship task (refnet,
     * Fashion-MNIST 0-4 -> 5-9) that is pool1; deeper cuts (conv3.act,
     * pool2) fall short of scratch's best accuracy (docs/transfer.md). */
    int starts[4096];
    int ns = transfer_stages(m, starts, 4096) - 1; /* without the classifier */
    int fnode = transfer_feature_node(m);
    if (ns < 2) return -1;
    for (int cut = starts[ns / 2] - 1; cut < fnode; cut++)
        if (cut > 0 && transfer_check_cut(m, cut, NULL, 0) == GRAFT_OK) return cut;
    return -1;
}

/* The top of m as a model of its own: an input node of `in` shape standing
 * for node `cut`, then copies of nodes first..last (inputs remapped; every
 * input of those nodes is `cut` or one of them) with their parameters,
 * running statistics, trainable flags, learning-rate multipliers, BN policy
 * and dropout streams. *p0 is m's index of the first copied parameter:
 * m's parameters p0.. line up with the top's 0.. */
static graft_status build_top(graft_model *m, int cut, int first, layer_shape in,
                              graft_model **out, int *p0)
{
    graft_model *top;
    int last = m->nnodes - 1;
    *out = NULL;
    TRY(graft_model_create(m->ctx, &top));
    graft_model_set_seed(top, m->seed);
    graft_layer_spec is = graft_layer_default(GRAFT_LAYER_INPUT);
    is.channels = in.c;
    is.height = in.h;
    is.width = in.w;
    graft_status s = graft_model_add(top, m->nodes[cut].name, &is, 0, NULL, NULL);
    for (int j = first; s == GRAFT_OK && j <= last; j++) {
        const node *nd = &m->nodes[j];
        int ins[LAYER_MAX_INPUTS];
        for (int k = 0; k < nd->nin; k++) {
            int src = nd->in[k];
            if (src != cut && src < first) {
                s = ctx_fail(m->ctx, GRAFT_ERR_INTERNAL, "layer '%s' reads '%s' below the cut",
                             nd->name, m->nodes[src].name);
                break;
            }
            ins[k] = src == cut ? 0 : 1 + src - first;
        }
        if (s == GRAFT_OK) s = graft_model_add(top, nd->name, &nd->spec, nd->nin, ins, NULL);
        if (s == GRAFT_OK) {
            node *t = &top->nodes[top->nnodes - 1];
            t->trainable = nd->trainable;
            t->lr_mult = nd->lr_mult;
            t->l->bn_frozen = nd->l->bn_frozen;
            t->l->seed = nd->l->seed;
            t->l->calls = nd->l->calls;
        }
    }
    int first_param = m->nparams;
    for (int i = 0; i < m->nparams; i++)
        if (m->params[i].node >= first) {
            first_param = i;
            break;
        }
    if (s == GRAFT_OK && m->nparams - first_param != top->nparams)
        s = ctx_fail(m->ctx, GRAFT_ERR_INTERNAL, "top model: %d parameters, expected %d",
                     top->nparams, m->nparams - first_param);
    for (int i = 0; s == GRAFT_OK && i < top->nparams; i++) s = copy_param(top, i, m, first_param + i);
    if (s != GRAFT_OK) {
        graft_model_free(top);
        return s;
    }
    *out = top;
    *p0 = first_param;
    return GRAFT_OK;
}

/* Shared by the linear probe and the cached fine-tune: node `cut`'s outputs
 * (pooled or whole) are computed once for train (timed: training time) and
 * eval (not timed: it stands in for the per-epoch evaluation, which no arm
 * counts); nodes first..last train on them as a model of their own, then
 * their parameters go back into m. */
static graft_status cached_train(graft_model *m, const dataset *train, const dataset *eval,
                                 const train_config *cfg, const graft_opt_params *op, int cut,
                                 int first, int pool, train_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    double t0 = now_seconds();
    dataset *dtr = NULL, *dev = NULL;
    graft_model *top = NULL;
    graft_optimizer *o = NULL;
    int p0 = 0;
    graft_status s = feature_dataset(m, train, cfg->mean, cfg->std, cut, pool, &cfg->cb,
                                     cfg->comm, &dtr, err, errlen);
    double extract = now_seconds() - t0;
    if (s == GRAFT_OK && eval)
        s = feature_dataset(m, eval, cfg->mean, cfg->std, cut, pool, &cfg->cb, cfg->comm, &dev,
                            err, errlen);
    if (s == GRAFT_OK) {
        layer_shape in = {dtr->c, dtr->h, dtr->w};
        s = build_top(m, cut, first, in, &top, &p0);
        if (s != GRAFT_OK) error_set(err, errlen, GRAFT_OK, "%s", graft_last_error(m->ctx));
    }
    if (s == GRAFT_OK) {
        graft_opt_params p = *op;
        long per_epoch = (train->n + cfg->batch - 1) / cfg->batch;
        p.total_steps = per_epoch * cfg->epochs;
        s = graft_optimizer_create(top, &p, &o);
        if (s != GRAFT_OK) error_set(err, errlen, GRAFT_OK, "%s", graft_last_error(m->ctx));
    }
    if (s == GRAFT_OK) {
        /* The cached outputs are already what the top layers see: no
         * normalisation, no augmentation; the top model's checkpoints or
         * best model would not be m's, so none are written. */
        train_config hc = *cfg;
        hc.mean = hc.std = NULL;
        hc.augment = 0;
        hc.best_path = NULL;
        hc.ckpt_path = NULL;
        s = train_model(top, o, dtr, dev, &hc, res, err, errlen);
        if (res->nepochs > 0) {
            /* Honest accounting: the one-off feature pass is training time. */
            for (int e = 0; e < res->nepochs; e++) res->hist[e].total_train_seconds += extract;
            res->hist[0].train_seconds += extract;
        }
    }
    for (int i = 0; s == GRAFT_OK && i < top->nparams; i++) s = copy_param(m, p0 + i, top, i);
    if (s == GRAFT_OK)
        for (int j = first; j < m->nnodes; j++) m->nodes[j].l->calls = top->nodes[1 + j - first].l->calls;
    else if (top && err && !err[0])
        error_set(err, errlen, GRAFT_OK, "%s", graft_last_error(m->ctx));
    graft_optimizer_free(o);
    graft_model_free(top);
    dataset_free(dtr);
    dataset_free(dev);
    return s;
}

graft_status transfer_linear_probe(graft_model *m, const dataset *train, const dataset *eval,
                                   const train_config *cfg, const graft_opt_params *op,
                                   train_result *res, char *err, size_t errlen)
{
    /* The head alone on pooled features: a cut at the feature node. The
     * probe trains the classifier whatever the flags say. */
    int last = m->nnodes - 1;
    int was = m->nodes[last].trainable;
    m->nodes[last].trainable = 1;
    graft_status s = cached_train(m, train, eval, cfg, op, transfer_feature_node(m), last, 1, res,
                                  err, errlen);
    m->nodes[last].trainable = was;
    return s;
}

graft_status transfer_cached_finetune(graft_model *m, const dataset *train, const dataset *eval,
                                      const train_config *cfg, const graft_opt_params *op, int cut,
                                      train_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    TRY(transfer_check_cut(m, cut, err, errlen));
    if (cfg->augment) {
        error_set(err, errlen, GRAFT_OK, "%s", "cannot cache the frozen layers' outputs with augmentation on (each "
                "epoch would need them for differently augmented images): use --augment none "
                "or train without the cache");
        return GRAFT_ERR_INVALID_ARG;
    }
    /* Everything up to the cut is frozen by construction (it runs once, in
     * inference mode); m's flags say so too. */
    for (int i = 1; i <= cut; i++) set_node_frozen(m, i, 1, 0);
    /* A BatchNorm or conv whose only consumer is an activation may be fused
     * with it, and then its output reads as the activation's: cache the
     * activation's output instead (the same frozen, parameter-free step). */
    for (;;) {
        int next = -1, consumers = 0;
        for (int j = cut + 1; j < m->nnodes; j++)
            for (int k = 0; k < m->nodes[j].nin; k++)
                if (m->nodes[j].in[k] == cut) {
                    consumers++;
                    next = j;
                }
        graft_layer_kind ck = m->nodes[cut].spec.kind;
        if ((ck != GRAFT_LAYER_BATCHNORM2D && ck != GRAFT_LAYER_CONV2D) || consumers != 1 ||
            next >= m->nnodes - 1 || m->nodes[next].nin != 1 ||
            !layer_bn_fusible(&m->nodes[next].spec) ||
            transfer_check_cut(m, next, NULL, 0) != GRAFT_OK)
            break;
        set_node_frozen(m, next, 1, 0);
        cut = next;
    }
    return cached_train(m, train, eval, cfg, op, cut, cut + 1, 0, res, err, errlen);
}
