/* Ranking candidate source models for a target dataset by the LogME of
 * their features, without training (graft_score). A randomly initialised
 * copy of the first candidate is scored too, as the "no transfer"
 * baseline. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ctx.h"
#include "dataset.h"
#include "graft_transfer.h"
#include "log.h"
#include "logme.h"
#include "model.h"

static void say(const graft_score_config *cfg, graft_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(const graft_score_config *cfg, graft_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vemit(cfg->log, cfg->user, level, fmt, ap);
    va_end(ap);
}

static int cmp_rows(const void *a, const void *b)
{
    const graft_score_row *x = a, *y = b;
    return (x->logme < y->logme) - (x->logme > y->logme);
}

/* Scores every requested layer of m (named name) on d; appends rows. */
static graft_status score_model(graft_model *m, const char *name, int random_init,
                                const dataset *d, const graft_model_meta *meta,
                                const graft_score_config *cfg, graft_score_result *res)
{
    graft_ctx *ctx = m->ctx;
    int nn = cfg->nlayers > 0 ? cfg->nlayers : 1;
    for (int i = 0; i < nn; i++) {
        int node = graft_transfer_feature_node(m);
        if (cfg->nlayers > 0 && (node = graft_model_node_ref(m, cfg->layers[i])) <= 0)
            return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "%s: no layer '%s' to take features from",
                            name, cfg->layers[i]);
        char err[GRAFT_ERRLEN] = "";
        float *F = NULL;
        int dim = 0;
        double t0 = now_seconds(), v = 0;
        graft_status s = graft_features(m, d, meta->mean, meta->std, cfg->batch, node, &F, &dim);
        if (s != GRAFT_OK) snprintf(err, sizeof err, "%s", graft_last_error(ctx));
        else s = logme_score(F, d->n, dim, d->y, d->nclasses, &v, err, sizeof err);
        graft_free(F);
        if (s != GRAFT_OK)
            return ctx_fail(ctx, s, "%s, layer %s: %s", name, graft_model_node_name(m, node), err);
        graft_score_row *r = &res->rows[res->nrows++];
        r->model = name;
        r->random_init = random_init;
        snprintf(r->layer, sizeof r->layer, "%s", graft_model_node_name(m, node));
        r->dim = dim;
        r->logme = v;
        r->seconds = now_seconds() - t0;
        if (cfg->on_row) cfg->on_row(cfg->user, r);
    }
    return GRAFT_OK;
}

/* Loads a candidate; the message names its file. */
static graft_status load_candidate(graft_ctx *ctx, const char *path, const graft_score_config *cfg,
                                   graft_model **m, graft_model_meta *meta)
{
    graft_status s = graft_model_load(ctx, path, m, meta);
    if (s != GRAFT_OK) {
        char e[GRAFT_ERRLEN];
        snprintf(e, sizeof e, "%s", graft_last_error(ctx));
        if (!strstr(e, path)) ctx_fail(ctx, s, "%s: %s", path, e);
        return s;
    }
    int k = 0;
    graft_model_node_shape(*m, graft_model_num_nodes(*m) - 1, &k, NULL, NULL);
    if (meta->nclasses != k)
        say(cfg, GRAFT_LOG_WARN, "warning: %s names %d classes but its classifier has %d outputs",
            path, meta->nclasses, k);
    return GRAFT_OK;
}

/* (Re)opens the target data at m's input shape unless *d already has it. */
static graft_status open_data(graft_ctx *ctx, graft_model *m, const graft_score_config *cfg,
                              dataset **d, graft_score_result *res)
{
    int c, h, w;
    graft_model_node_shape(m, 0, &c, &h, &w);
    if (*d && (*d)->c == c && (*d)->h == h && (*d)->w == w) return GRAFT_OK;
    dataset_free(*d);
    *d = NULL;
    graft_data_spec sp = cfg->data;
    sp.channels = c;
    sp.height = h;
    sp.width = w;
    char err[2048] = "";
    graft_status s = graft_dataset_open(&sp, d, err, sizeof err);
    if (s != GRAFT_OK) return ctx_fail(ctx, s, "%s", err);
    res->images = (*d)->n;
    res->classes = (*d)->nclasses;
    if ((*d)->n < 2)
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "%s: LogME needs at least 2 images, got %d",
                        sp.source, (*d)->n);
    say(cfg, GRAFT_LOG_INFO, "%d target images of %d classes at %dx%dx%d", (*d)->n,
        (*d)->nclasses, c, h, w);
    return GRAFT_OK;
}

graft_status graft_score(graft_ctx *ctx, const char *const *paths, int nmodels,
                         const graft_score_config *cfg, graft_score_result *res)
{
    memset(res, 0, sizeof *res);
    if (nmodels < 1 || cfg->batch < 1 || cfg->nlayers < 0 || (cfg->nlayers > 0 && !cfg->layers))
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "score: %d models, batch %d, %d layers: "
                        "expected at least one model and a batch >= 1", nmodels, cfg->batch,
                        cfg->nlayers);
    int per_model = cfg->nlayers > 0 ? cfg->nlayers : 1;
    res->rows = calloc((size_t)(nmodels + 1) * (size_t)per_model, sizeof *res->rows);
    if (!res->rows) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "score: out of memory");
    dataset *d = NULL;
    graft_model *m = NULL, *rnd = NULL;
    graft_model_meta meta = {0};
    graft_status s = GRAFT_OK;
    for (int i = 0; i < nmodels && s == GRAFT_OK; i++) {
        if ((s = load_candidate(ctx, paths[i], cfg, &m, &meta)) != GRAFT_OK ||
            (s = open_data(ctx, m, cfg, &d, res)) != GRAFT_OK ||
            (s = score_model(m, paths[i], 0, d, &meta, cfg, res)) != GRAFT_OK)
            break;
        if (i == 0) {
            /* The baseline: same graph, fresh weights, same normalisation. */
            int K = 0;
            graft_model_node_shape(m, graft_model_num_nodes(m) - 1, &K, NULL, NULL);
            if ((s = graft_transfer_target(m, K, 1, cfg->seed, &rnd)) != GRAFT_OK ||
                (s = graft_model_reinit(rnd, cfg->seed)) != GRAFT_OK) {
                char e[GRAFT_ERRLEN];
                snprintf(e, sizeof e, "%s", graft_last_error(ctx));
                s = ctx_fail(ctx, s, "random initialisation of %s: %s", paths[0], e);
                break;
            }
            s = score_model(rnd, "random-init", 1, d, &meta, cfg, res);
            graft_model_free(rnd);
            rnd = NULL;
        }
        graft_model_free(m);
        m = NULL;
        graft_model_meta_free(&meta);
    }
    graft_model_free(rnd);
    graft_model_free(m);
    graft_model_meta_free(&meta);
    dataset_free(d);
    if (s != GRAFT_OK) {
        /* Keep how far the data got: callers tell a bad data request
         * (images 0) from a failure after it. */
        int images = res->images, classes = res->classes;
        graft_score_result_free(res);
        res->images = images;
        res->classes = classes;
        return s;
    }
    qsort(res->rows, (size_t)res->nrows, sizeof *res->rows, cmp_rows);
    double best_cand = -INFINITY, best_rnd = -INFINITY;
    for (int i = 0; i < res->nrows; i++) {
        double *b = res->rows[i].random_init ? &best_rnd : &best_cand;
        if (res->rows[i].logme > *b) *b = res->rows[i].logme;
    }
    res->negative_transfer = !(best_cand > best_rnd);
    return GRAFT_OK;
}

void graft_score_result_free(graft_score_result *r)
{
    if (!r) return;
    free(r->rows);
    memset(r, 0, sizeof *r);
}
