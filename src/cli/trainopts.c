#include "trainopts.h"
#include "class_match_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "console.h"

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
    t->nan = "stop";
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

static int parse_augment(const char *s, graft_augment *a, int *on)
{
    *a = graft_augment_default();
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

int trainopts_parallel(const char *cmd, train_opts *t, common_opts *co)
{
    if (!t->devices) return 0;
    if (device_list_parse(cmd, t->devices, &t->dl)) return EXIT_USAGE;
    co->device = t->dl.dev[0];
    return 0;
}

int trainopts_check(const char *cmd, const train_opts *t)
{
    graft_schedule_kind k;
    graft_augment a;
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
    if (t->batch == 0 && !t->auto_batch_ok) {
        fprintf(stderr, "%s: --batch auto is not supported by this command yet: give a number\n", cmd);
        return 2;
    }
    if (strcasecmp(t->nan, "stop") && strcasecmp(t->nan, "skip")) {
        fprintf(stderr, "%s: --nan '%s': expected stop or skip\n", cmd, t->nan);
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
                   int w, graft_dataset **train, graft_dataset **eval, const char **eval_name)
{
    *train = *eval = NULL;
    *eval_name = NULL;
    /* Under MPI every rank decodes only the images of its shard. */
    data_request rq = {t->data, SPLIT_TRAIN, c, h, w, t->skip_bad, t->classes, t->per_class,
                       (uint64_t)co->seed, co->quiet, t->comm != NULL};
    int rc = cli_load_data(cmd, &rq, train);
    if (rc) return rc;
    if (t->val_split > 0) {
        graft_dataset *tr, *va;
        char err[512];
        if (graft_dataset_split(*train, t->val_split, (uint64_t)co->seed + 17, &tr, &va, err, sizeof err) !=
            GRAFT_OK) {
            fprintf(stderr, "%s: --val-split: %s\n", cmd, err);
            graft_dataset_free(*train);
            *train = NULL;
            return 1;
        }
        graft_dataset_free(*train);
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
    int tc, th, tw;
    graft_dataset_shape(*train, &tc, &th, &tw);
    data_request er = {espec, split, tc, th, tw, t->skip_bad,
                       t->eval_classes ? t->eval_classes : t->classes, 0, (uint64_t)co->seed,
                       co->quiet, t->comm != NULL};
    rc = cli_load_data(cmd, &er, eval);
    if (rc) {
        graft_dataset_free(*train);
        *train = NULL;
        return rc;
    }
    /* Scores count only when the evaluation labels mean the training
     * classes: match them by name (a test folder may lack some). */
    int K = graft_dataset_num_classes(*train);
    const char **names = malloc((size_t)K * sizeof *names);
    if (!names) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        rc = 1;
    } else {
        for (int k = 0; k < K; k++) names[k] = graft_dataset_class_name(*train, k);
        rc = cli_match_classes(cmd, names, K, "the training data", "the evaluation data", 0, co->quiet, eval);
        free(names);
    }
    if (rc) {
        graft_dataset_free(*train);
        graft_dataset_free(*eval);
        *train = *eval = NULL;
        return rc;
    }
    *eval_name = split == SPLIT_TEST ? "test" : "eval";
    return 0;
}

int trainopts_meta(const char *cmd, const train_opts *t, const graft_dataset *train,
                   graft_model_meta *meta)
{
    char err[256], arch[sizeof meta->arch];
    memcpy(arch, meta->arch, sizeof arch); /* the caller may have named it */
    /* Under MPI each rank sums the statistics of its share only. */
    if (graft_model_meta_from_dataset_ranks(train, NULL, t->comm, meta, err, sizeof err) == GRAFT_OK) {
        memcpy(meta->arch, arch, sizeof arch);
        return 0;
    }
    fprintf(stderr, "%s: %s\n", cmd, err);
    return 1;
}

graft_opt_params trainopts_opt_params(const train_opts *t, const graft_dataset *train)
{
    graft_opt_kind kind = strcasecmp(t->opt, "adamw") ? GRAFT_OPT_SGD : GRAFT_OPT_ADAMW;
    graft_opt_params p = graft_opt_default_params(kind);
    if (t->lr >= 0) p.lr = t->lr;
    if (t->wd >= 0) p.weight_decay = t->wd;
    p.momentum = t->momentum;
    p.nesterov = t->nesterov;
    parse_schedule(t->schedule, &p.schedule);
    graft_opt_fit_run(&p, graft_dataset_size(train), t->batch, t->epochs, t->warmup);
    return p;
}

graft_status trainopts_optimizer(const train_opts *t, graft_model *m, const graft_dataset *train,
                                 graft_optimizer **o)
{
    graft_opt_params p = trainopts_opt_params(t, train);
    return graft_optimizer_create(m, &p, o);
}

/* What a config's callbacks print with, and the paths it names. */
typedef struct run_state {
    console con;
    char log[4096], ckpt[4096], best[4096];
} run_state;

int trainopts_config(const train_opts *t, const common_opts *co, const graft_dataset *train,
                     const graft_model_meta *meta, const char *eval_name, const char *out,
                     graft_train_config *cfg)
{
    *cfg = graft_train_default_config();
    run_state *rs = calloc(1, sizeof *rs);
    if (!rs) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    cfg->epochs = t->epochs;
    cfg->batch = t->batch;
    cfg->label_smoothing = t->label_smoothing;
    cfg->seed = (uint64_t)co->seed;
    cfg->mean = meta->mean;
    cfg->std = meta->std;
    cfg->eval_name = eval_name;
    cfg->meta = meta;
    cfg->patience = t->patience;
    cfg->ckpt_every = t->ckpt_every;
    cfg->stop_after = t->stop_after;
    cfg->stop = t->stop;
    cfg->devices = t->dl.n > 1 ? t->dl.dev : NULL;
    cfg->ndevices = t->dl.n > 1 ? t->dl.n : 0;
    cfg->comm = t->comm;
    cfg->sync_bn = t->sync_bn;
    cfg->overlap_allreduce = !t->no_overlap;
    cfg->on_nan = strcasecmp(t->nan, "skip") ? GRAFT_NAN_STOP : GRAFT_NAN_SKIP;
    const char *aug = t->augment;
    int c, h;
    graft_dataset_shape(train, &c, &h, NULL);
    if (!aug) /* small grey images (MNIST-like) train best unaugmented at these
               * budgets; photos want crops and flips */
        aug = (c == 1 && h <= 28) ? "none" : "crop,flip";
    parse_augment(aug, &cfg->aug, &cfg->augment);
    if (out) {
        path_with_suffix(out, "-log.csv", rs->log, sizeof rs->log);
        path_with_suffix(out, "-ckpt.graft", rs->ckpt, sizeof rs->ckpt);
        path_with_suffix(out, "-best.graft", rs->best, sizeof rs->best);
        cfg->log_path = t->log ? t->log : rs->log;
        cfg->ckpt_path = rs->ckpt;
        cfg->best_path = t->keep_best && eval_name ? rs->best : NULL;
    }
    if (!eval_name && (t->keep_best || t->patience))
        fprintf(stderr, "graft: %s needs evaluation data (--eval-data or --val-split): without it "
                "%s\n", t->keep_best ? "--keep-best" : "--patience",
                t->keep_best ? "no -best file is written" : "training never stops early");
    console_init(&rs->con, "graft", co->quiet, t->epochs, eval_name);
    cfg->cb = console_callbacks(&rs->con);
    return 0;
}

void trainopts_chain_epoch(graft_train_config *cfg, graft_epoch_fn fn, void *user)
{
    run_state *rs = cfg->cb.user;
    rs->con.chain = fn;
    rs->con.chain_user = user;
}

void trainopts_config_free(graft_train_config *cfg)
{
    free(cfg->cb.user);
    cfg->cb.user = NULL;
}

int trainopts_resume(const char *cmd, const char *resume, graft_model *m, graft_optimizer *o,
                     const train_opts *to, int ntrain, int quiet, graft_train_config *cfg)
{
    int epoch = 0;
    if (graft_checkpoint_load(m, o, resume, &epoch) != GRAFT_OK) {
        fprintf(stderr, "%s: --resume: %s\n", cmd, graft_last_error(graft_model_ctx(m)));
        return 1;
    }
    if (epoch == to->epochs)
        fprintf(stderr, "%s: --resume: %s has done all %d epochs: writing its model without "
                "training\n", cmd, resume, epoch);
    if (epoch > to->epochs) {
        fprintf(stderr, "%s: --resume: %s has done %d epochs and --epochs is %d: nothing left to "
                "train (pass --epochs above %d to train on)\n", cmd, resume, epoch, to->epochs,
                epoch);
        return EXIT_USAGE;
    }
    cfg->start_epoch = epoch;
    long steps = graft_optimizer_steps(o), nb = (ntrain + to->batch - 1) / to->batch;
    if (!quiet) {
        if (steps > (long)epoch * nb && steps < (long)(epoch + 1) * nb)
            printf("resuming %s in epoch %d after batch %ld\n", resume, epoch + 1,
                   steps - (long)epoch * nb);
        else
            printf("resuming %s after epoch %d\n", resume, epoch);
    }
    return 0;
}

void trainopts_report_skips(const char *cmd, const graft_train_result *res)
{
    if (res->skipped_steps || res->stats_resets)
        fprintf(stderr, "%s: --nan skip: skipped %ld steps with a non-finite loss; reset "
                "non-finite running statistics after %d epochs\n", cmd, res->skipped_steps,
                res->stats_resets);
}
