/* Self-training with pseudo-labels (graft_selftrain). Every round
 * fine-tunes from the source model (not from the previous round's model)
 * on the labelled set plus the current pseudo-labels, so a round's
 * mistakes are not baked into the weights the next round starts from;
 * only the pseudo-labels carry over. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ctx.h"
#include "dataset.h"
#include "graft_transfer.h"
#include "model.h"
#include "pseudolabel.h"

/* labelled + the pseudo-labelled pool images. Caller owns *out. */
static graft_status build_train(const dataset *lab, const dataset *pool,
                                const pseudolabel_result *pl, dataset **out, char *err,
                                size_t errlen)
{
    dataset *d = NULL;
    graft_status s = dataset_create(lab->c, lab->h, lab->w, lab->nclasses,
                                    (const char *const *)lab->class_names, &d, err, errlen);
    for (int i = 0; s == GRAFT_OK && i < lab->n; i++)
        s = dataset_append(d, dataset_image(lab, i), lab->y[i], NULL, err, errlen);
    for (int i = 0; s == GRAFT_OK && i < pl->n; i++)
        s = dataset_append(d, dataset_image(pool, pl->indices[i]), pl->labels[i], NULL, err, errlen);
    if (s != GRAFT_OK) {
        dataset_free(d);
        d = NULL;
    }
    *out = d;
    return s;
}

/* Pseudo-labels of round R from the current model's pool predictions;
 * fills R's counts. truth[i]: the pool image's class among the labelled
 * ones, -1 when it has none. */
static graft_status select_pseudo(graft_model *m, const dataset *pool, const int *truth, int K,
                                  const graft_selftrain_config *cfg, int batch,
                                  graft_selftrain_round *R, pseudolabel_result *pl)
{
    const graft_train_config *tc = &cfg->train;
    graft_eval_result pe = {0};
    char err[GRAFT_ERRLEN] = "";
    graft_status s = graft_evaluate(m, pool, tc->mean, tc->std, batch, 1, &pe);
    if (s != GRAFT_OK) return s;
    /* Above 1 nothing qualifies; pseudolabel_select wants [0, 1]. */
    s = pseudolabel_select(pe.probs, pool->n, K, cfg->threshold > 1.0f ? 1.0f : cfg->threshold,
                           cfg->per_class_cap, pl, err, sizeof err);
    if (s != GRAFT_OK) {
        graft_eval_result_free(&pe);
        return ctx_fail(m->ctx, s, "%s", err);
    }
    if (cfg->threshold > 1.0f) pl->n = 0;
    for (int i = 0; i < pool->n; i++) {
        const float *p = pe.probs + (size_t)i * K;
        int b = 0;
        for (int k = 1; k < K; k++)
            if (p[k] > p[b]) b = k;
        if (p[b] >= cfg->threshold) R->candidates[b]++;
    }
    for (int i = 0; i < pl->n; i++) {
        R->per_class[pl->labels[i]]++;
        int t = truth[pl->indices[i]];
        if (t >= 0) {
            R->checked++;
            R->correct += t == pl->labels[i];
        }
    }
    R->kept = pl->n;
    graft_eval_result_free(&pe);
    return GRAFT_OK;
}

/* Fine-tunes a fresh model from src on train (the config's seed, no
 * callbacks, no files) and evaluates it on eval. */
static graft_status round_model(graft_model *src, const dataset *train, const dataset *eval,
                                const graft_selftrain_config *cfg, int batch, graft_model **out,
                                double *acc)
{
    graft_train_config tc = cfg->train;
    tc.log_path = tc.ckpt_path = tc.best_path = NULL;
    tc.restore_best = 0;
    memset(&tc.cb, 0, sizeof tc.cb);
    graft_train_result tres = {0};
    graft_eval_result er = {0};
    graft_status s = graft_finetune(src, train, NULL, &cfg->finetune, &cfg->opt, &tc, out, &tres);
    graft_train_result_free(&tres);
    if (s != GRAFT_OK) return s;
    if ((s = graft_evaluate(*out, eval, tc.mean, tc.std, batch, 0, &er)) != GRAFT_OK) {
        graft_model_free(*out);
        *out = NULL;
        return s;
    }
    *acc = er.top1;
    graft_eval_result_free(&er);
    return GRAFT_OK;
}

graft_status graft_selftrain(graft_model *src, const graft_dataset *labelled,
                             const graft_dataset *pool, const graft_dataset *eval,
                             const graft_selftrain_config *cfg, graft_selftrain_result *res)
{
    memset(res, 0, sizeof *res);
    graft_ctx *ctx = src->ctx;
    if (!eval) return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "selftrain: no evaluation data");
    if (cfg->rounds < 0 || cfg->per_class_cap < 0 || !(cfg->threshold >= 0))
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "selftrain: rounds %d, threshold %g, cap %d: "
                        "expected rounds >= 0, threshold >= 0, cap >= 0", cfg->rounds,
                        (double)cfg->threshold, cfg->per_class_cap);
    if (pool->c != labelled->c || pool->h != labelled->h || pool->w != labelled->w)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "selftrain: pool images %dx%dx%d, labelled %dx%dx%d",
                        pool->c, pool->h, pool->w, labelled->c, labelled->h, labelled->w);
    int K = labelled->nclasses, batch = cfg->eval_batch > 0 ? cfg->eval_batch : cfg->train.batch;
    int *truth = malloc(sizeof(int) * (size_t)(pool->n ? pool->n : 1));
    res->rounds = calloc((size_t)cfg->rounds + 1, sizeof *res->rounds);
    res->nclasses = K;
    graft_model *m = NULL;
    dataset *mix = NULL;
    pseudolabel_result pl = {0};
    char err[GRAFT_ERRLEN] = "";
    graft_status s = GRAFT_OK;
    if (!truth || !res->rounds) {
        s = ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "selftrain: out of memory");
        goto done;
    }
    /* True pool labels in the labelled set's classes, matched by name. */
    for (int i = 0; i < pool->n; i++) {
        truth[i] = -1;
        for (int k = 0; k < K; k++)
            if (!strcmp(pool->class_names[pool->y[i]], labelled->class_names[k])) truth[i] = k;
    }
    for (int r = 0; r <= cfg->rounds; r++) {
        double t0 = now_seconds();
        graft_selftrain_round *R = &res->rounds[r];
        R->round = r;
        R->per_class = calloc((size_t)K, sizeof *R->per_class);
        R->candidates = calloc((size_t)K, sizeof *R->candidates);
        res->nrounds = r + 1;
        if (!R->per_class || !R->candidates) {
            s = ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "selftrain: out of memory");
            goto done;
        }
        const dataset *train = labelled;
        if (r > 0) {
            pseudolabel_result_free(&pl);
            dataset_free(mix);
            mix = NULL;
            if ((s = select_pseudo(m, pool, truth, K, cfg, batch, R, &pl)) != GRAFT_OK ||
                (s = build_train(labelled, pool, &pl, &mix, err, sizeof err)) != GRAFT_OK) {
                char msg[GRAFT_ERRLEN];
                snprintf(msg, sizeof msg, "%s", err[0] ? err : graft_last_error(ctx));
                s = ctx_fail(ctx, s, "round %d: %s", r, msg);
                goto done;
            }
            train = mix;
        }
        R->ntrain = train->n;
        if (r > 0 && R->kept == 0) {
            /* Same data and seed as round 0: the model would be the same. */
            R->eval_accuracy = res->rounds[r - 1].eval_accuracy;
        } else {
            graft_model *nm = NULL;
            if ((s = round_model(src, train, eval, cfg, batch, &nm, &R->eval_accuracy)) != GRAFT_OK)
                goto done;
            graft_model_free(m);
            m = nm;
            R->retrained = 1;
        }
        R->seconds = now_seconds() - t0;
        if (cfg->on_round) cfg->on_round(cfg->user, R);
    }
    res->model = m;
    m = NULL;
done:
    free(truth);
    pseudolabel_result_free(&pl);
    dataset_free(mix);
    graft_model_free(m);
    if (s != GRAFT_OK) graft_selftrain_result_free(res);
    return s;
}

void graft_selftrain_result_free(graft_selftrain_result *r)
{
    if (!r) return;
    for (int i = 0; r->rounds && i < r->nrounds; i++) {
        free(r->rounds[i].per_class);
        free(r->rounds[i].candidates);
    }
    free(r->rounds);
    graft_model_free(r->model);
    memset(r, 0, sizeof *r);
}
