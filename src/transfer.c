#define _POSIX_C_SOURCE 200809L
#include "transfer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hash.h"
#include "model.h"
#include "progress.h"

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen) snprintf(err, errlen, "%s", msg);
}

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
    CL_TRY(dst->ctx, clEnqueueCopyBuffer(dst->ctx->queue, p->data, q->data, 0, 0,
                                         p->numel * sizeof(float), 0, NULL, NULL),
           "copying a parameter");
    return GRAFT_OK;
}

graft_status transfer_build_target(graft_model *src, int nclasses, int keep_head, uint64_t seed,
                                   graft_model **out)
{
    graft_ctx *ctx = src->ctx;
    *out = NULL;
    int last = src->nnodes - 1;
    const node *head = &src->nodes[last];
    if (head->spec.kind != GRAFT_LAYER_LINEAR)
        return ctx_fail(ctx, GRAFT_ERR_UNSUPPORTED, "the source model's last layer '%s' is a %s; "
                        "fine-tuning needs a linear classifier there", head->name,
                        graft_layer_kind_name(head->spec.kind));
    if (keep_head && head->shape.c != nclasses)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "--keep-head: the source has %d classes, the "
                        "target %d", head->shape.c, nclasses);
    graft_model *m;
    TRY(graft_model_create(ctx, &m));
    graft_model_set_seed(m, seed);
    graft_status s = GRAFT_OK;
    for (int i = 0; i <= last && s == GRAFT_OK; i++) {
        graft_layer_spec sp = src->nodes[i].spec;
        if (i == last) sp.channels = nclasses;
        s = graft_model_add(m, src->nodes[i].name, &sp, src->nodes[i].nin, src->nodes[i].in, NULL);
    }
    /* Parameters line up by index for every node the two share. */
    for (int i = 0; i < src->nparams && s == GRAFT_OK; i++) {
        if (!keep_head && src->params[i].node == last) continue;
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

typedef struct feat_acc {
    int node, C, HW;
    float *buf; /* batch x C x HW */
    float *f;   /* n x C */
} feat_acc;

static graft_status feat_batch(void *user, graft_model *m, const int *y, int n, int offset)
{
    feat_acc *a = user;
    (void)y;
    TRY(graft_model_node_output(m, a->node, a->buf, (size_t)n * a->C * a->HW));
    for (int i = 0; i < n; i++)
        for (int c = 0; c < a->C; c++) {
            double acc = 0;
            const float *p = a->buf + ((size_t)i * a->C + c) * a->HW;
            for (int k = 0; k < a->HW; k++) acc += p[k];
            a->f[(size_t)(offset + i) * a->C + c] = (float)(acc / a->HW);
        }
    return GRAFT_OK;
}

graft_status transfer_features(graft_model *m, const dataset *d, const float *mean,
                               const float *std, int batch, int nodei, float **feats, int *dim,
                               char *err, size_t errlen)
{
    *feats = NULL;
    const node *nd = &m->nodes[nodei];
    feat_acc a = {nodei, nd->shape.c, nd->shape.h * nd->shape.w, NULL, NULL};
    a.f = malloc((size_t)d->n * a.C * sizeof *a.f);
    a.buf = malloc((size_t)batch * a.C * a.HW * sizeof *a.buf);
    if (!a.f || !a.buf) {
        free(a.f);
        free(a.buf);
        set_err(err, errlen, "out of host memory for features");
        return GRAFT_ERR_HOST_MEMORY;
    }
    graft_status s = infer_dataset(m, d, mean, std, batch, feat_batch, &a, err, errlen);
    free(a.buf);
    if (s != GRAFT_OK) {
        free(a.f);
        return s;
    }
    *feats = a.f;
    *dim = a.C;
    return GRAFT_OK;
}

/* Wraps cached features as a dataset of C x 1 x 1 "images". */
static graft_status feature_dataset(const float *f, int n, int dim, const dataset *like,
                                    dataset **out, char *err, size_t errlen)
{
    TRY(dataset_create(dim, 1, 1, like->nclasses, (const char *const *)like->class_names, out, err,
                       errlen));
    for (int i = 0; i < n; i++)
        TRY(dataset_append(*out, f + (size_t)i * dim, like->y[i], NULL, err, errlen));
    return GRAFT_OK;
}

graft_status transfer_linear_probe(graft_model *m, const dataset *train, const dataset *eval,
                                   const train_config *cfg, const graft_opt_params *op,
                                   train_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    double t0 = now_seconds();
    int fnode = transfer_feature_node(m), dim = 0, edim = 0;
    float *ftr = NULL, *fev = NULL;
    dataset *dtr = NULL, *dev = NULL;
    graft_model *head = NULL;
    graft_optimizer *o = NULL;
    graft_status s = transfer_features(m, train, cfg->mean, cfg->std, 256, fnode, &ftr, &dim, err, errlen);
    /* Only the training images' pass is training time; the evaluation
     * set's features stand in for the per-epoch evaluation, which no arm
     * counts. */
    double extract = now_seconds() - t0;
    if (s == GRAFT_OK && eval)
        s = transfer_features(m, eval, cfg->mean, cfg->std, 256, fnode, &fev, &edim, err, errlen);
    if (s == GRAFT_OK) s = feature_dataset(ftr, train->n, dim, train, &dtr, err, errlen);
    if (s == GRAFT_OK && eval) s = feature_dataset(fev, eval->n, dim, eval, &dev, err, errlen);

    /* The head alone: input(dim) -> fc, sharing the classifier's spec. */
    int last = m->nnodes - 1;
    if (s == GRAFT_OK) s = graft_model_create(m->ctx, &head);
    if (s == GRAFT_OK) {
        graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
        in.channels = dim;
        in.height = in.width = 1;
        int zero = 0;
        s = graft_model_add(head, "features", &in, 0, NULL, NULL);
        if (s == GRAFT_OK) s = graft_model_add(head, m->nodes[last].name, &m->nodes[last].spec, 1, &zero, NULL);
        /* Start from the model's (fresh or kept) classifier weights. */
        for (int i = 0; s == GRAFT_OK && i < head->nparams; i++)
            s = copy_param(head, i, m, m->nparams - head->nparams + i);
        if (s != GRAFT_OK) set_err(err, errlen, graft_last_error(m->ctx));
    }
    if (s == GRAFT_OK) {
        graft_opt_params p = *op;
        long per_epoch = (train->n + cfg->batch - 1) / cfg->batch;
        p.total_steps = per_epoch * cfg->epochs;
        s = graft_optimizer_create(head, &p, &o);
        if (s != GRAFT_OK) set_err(err, errlen, graft_last_error(m->ctx));
    }
    if (s == GRAFT_OK) {
        /* Features are already normalised by the backbone's input
         * statistics; the head sees them raw. */
        train_config hc = *cfg;
        hc.mean = hc.std = NULL;
        hc.augment = 0;
        hc.best_path = NULL;
        hc.ckpt_path = NULL;
        s = train_model(head, o, dtr, dev, &hc, res, err, errlen);
        if (res->nepochs > 0) {
            /* Honest accounting: the one-off feature pass is training time. */
            for (int e = 0; e < res->nepochs; e++) res->hist[e].total_train_seconds += extract;
            res->hist[0].train_seconds += extract;
        }
    }
    for (int i = 0; s == GRAFT_OK && i < head->nparams; i++)
        s = copy_param(m, m->nparams - head->nparams + i, head, i);
    graft_optimizer_free(o);
    graft_model_free(head);
    dataset_free(dtr);
    dataset_free(dev);
    free(ftr);
    free(fev);
    return s;
}
