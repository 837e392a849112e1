#include "trainopts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void trainopts_defaults(train_opts *t)
{
    memset(t, 0, sizeof *t);
    t->data = "fashion-mnist";
    t->epochs = 5;
    t->batch = 64;
    t->lr = -1; /* per optimizer */
    t->momentum = 0.9f;
    t->wd = -1;
    t->opt = "sgd";
    t->schedule = "cosine";
}

static int parse_schedule(const char *s, graft_schedule_kind *k)
{
    if (!strcasecmp(s, "constant")) *k = GRAFT_SCHED_CONSTANT;
    else if (!strcasecmp(s, "step")) *k = GRAFT_SCHED_STEP;
    else if (!strcasecmp(s, "cosine")) *k = GRAFT_SCHED_COSINE;
    else if (!strcasecmp(s, "onecycle")) *k = GRAFT_SCHED_ONECYCLE;
    else return -1;
    return 0;
}

static int parse_augment(const char *s, augment_opts *a, int *on)
{
    *a = augment_defaults();
    *on = 0;
    if (!strcasecmp(s, "none")) return 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (!strcasecmp(tok, "crop")) a->pad = 4;
        else if (!strcasecmp(tok, "flip")) a->hflip = 1;
        else if (!strcasecmp(tok, "rrc")) a->rrc = 1;
        else return -1;
        *on = 1;
    }
    return 0;
}

int trainopts_check(const char *cmd, const train_opts *t)
{
    graft_schedule_kind k;
    augment_opts a;
    int on;
    if (strcasecmp(t->opt, "sgd") && strcasecmp(t->opt, "adamw")) {
        fprintf(stderr, "%s: --opt '%s': expected sgd or adamw\n", cmd, t->opt);
        return 2;
    }
    if (parse_schedule(t->schedule, &k)) {
        fprintf(stderr, "%s: --schedule '%s': expected constant, step, cosine or onecycle\n", cmd,
                t->schedule);
        return 2;
    }
    if (t->augment && parse_augment(t->augment, &a, &on)) {
        fprintf(stderr, "%s: --augment '%s': expected none or a list of crop,flip,rrc\n", cmd,
                t->augment);
        return 2;
    }
    return 0;
}

int trainopts_load(const char *cmd, const train_opts *t, const common_opts *co, int c, int h,
                   int w, dataset **train, dataset **eval, const char **eval_name)
{
    *train = *eval = NULL;
    *eval_name = NULL;
    data_request rq = {t->data, SPLIT_TRAIN, c, h, w, t->skip_bad, t->classes, t->per_class,
                       (uint64_t)co->seed, co->quiet};
    int rc = cli_load_data(cmd, &rq, train);
    if (rc) return rc;
    if (t->val_split > 0) {
        dataset *tr, *va;
        char err[512];
        if (dataset_split(*train, t->val_split, (uint64_t)co->seed + 17, &tr, &va, err, sizeof err) !=
            GRAFT_OK) {
            fprintf(stderr, "%s: --val-split: %s\n", cmd, err);
            dataset_free(*train);
            *train = NULL;
            return 1;
        }
        dataset_free(*train);
        *train = tr;
        *eval = va;
        *eval_name = "val";
        return 0;
    }
    const char *espec = t->eval_data;
    data_split split = SPLIT_TRAIN;
    if (!espec && cli_has_test_split(t->data)) {
        espec = t->data;
        split = SPLIT_TEST;
    } else if (espec && cli_has_test_split(espec)) {
        split = SPLIT_TEST;
    }
    if (!espec) return 0;
    data_request er = {espec, split, (*train)->c, (*train)->h, (*train)->w, t->skip_bad,
                       t->eval_classes ? t->eval_classes : t->classes, 0, (uint64_t)co->seed,
                       co->quiet};
    rc = cli_load_data(cmd, &er, eval);
    if (rc) {
        dataset_free(*train);
        *train = NULL;
        return rc;
    }
    *eval_name = split == SPLIT_TEST ? "test" : "eval";
    return 0;
}

int trainopts_meta(const char *cmd, const train_opts *t, const dataset *train, graft_model_meta *meta)
{
    (void)t;
    meta->nclasses = train->nclasses;
    meta->class_names = calloc((size_t)train->nclasses, sizeof *meta->class_names);
    if (!meta->class_names) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        return 1;
    }
    for (int i = 0; i < train->nclasses; i++) {
        size_t L = strlen(train->class_names[i]) + 1;
        meta->class_names[i] = malloc(L);
        if (!meta->class_names[i]) {
            fprintf(stderr, "%s: out of memory\n", cmd);
            return 1;
        }
        memcpy(meta->class_names[i], train->class_names[i], L);
    }
    float mean[4] = {0}, std[4] = {1, 1, 1, 1};
    dataset_channel_stats(train, mean, std);
    for (int c = 0; c < 4; c++) {
        meta->mean[c] = c < train->c ? mean[c] : 0.0f;
        meta->std[c] = c < train->c ? std[c] : 1.0f;
    }
    return 0;
}

graft_opt_params trainopts_opt_params(const train_opts *t, const dataset *train)
{
    graft_opt_kind kind = strcasecmp(t->opt, "adamw") ? GRAFT_OPT_SGD : GRAFT_OPT_ADAMW;
    graft_opt_params p = graft_opt_default_params(kind);
    if (t->lr >= 0) p.lr = t->lr;
    if (t->wd >= 0) p.weight_decay = t->wd;
    p.momentum = t->momentum;
    p.nesterov = t->nesterov;
    parse_schedule(t->schedule, &p.schedule);
    long per_epoch = (train->n + t->batch - 1) / t->batch;
    p.total_steps = per_epoch * t->epochs;
    p.step_size = per_epoch * (t->epochs >= 3 ? t->epochs / 3 : 1);
    p.warmup_steps = (long)(t->warmup * (float)per_epoch);
    return p;
}

graft_status trainopts_optimizer(const train_opts *t, graft_model *m, const dataset *train,
                                 graft_optimizer **o)
{
    graft_opt_params p = trainopts_opt_params(t, train);
    return graft_optimizer_create(m, &p, o);
}

void trainopts_config(const train_opts *t, const common_opts *co, const dataset *train,
                      const graft_model_meta *meta, const char *eval_name, const char *out,
                      train_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->epochs = t->epochs;
    cfg->batch = t->batch;
    cfg->label_smoothing = t->label_smoothing;
    cfg->seed = (uint64_t)co->seed;
    cfg->mean = meta->mean;
    cfg->std = meta->std;
    cfg->quiet = co->quiet;
    cfg->eval_name = eval_name;
    cfg->meta = meta;
    cfg->patience = t->patience;
    cfg->ckpt_every = t->ckpt_every;
    cfg->stop_after = t->stop_after;
    const char *aug = t->augment;
    if (!aug) /* small grey images (MNIST-like) train best unaugmented at these
               * budgets; photos want crops and flips */
        aug = (train->c == 1 && train->h <= 28) ? "none" : "crop,flip";
    parse_augment(aug, &cfg->aug, &cfg->augment);
    if (out) {
        char *buf = malloc(3 * 4096);
        if (buf) {
            path_with_suffix(out, "-log.csv", buf, 4096);
            path_with_suffix(out, "-ckpt.graft", buf + 4096, 4096);
            path_with_suffix(out, "-best.graft", buf + 8192, 4096);
            cfg->user = NULL;
            cfg->log_path = t->log ? t->log : buf;
            cfg->ckpt_path = buf + 4096;
            cfg->best_path = t->keep_best ? buf + 8192 : NULL;
            cfg->owned = buf;
        }
    }
}

void trainopts_config_free(train_config *cfg)
{
    free(cfg->owned);
    cfg->owned = NULL;
}
