/* graft cv: stratified k-fold cross-validation of fine-tuning on a target
 * set, optionally with folds run concurrently on several devices. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "clock.h"
#include "dataset.h"
#include "train.h"
#include "transfer.h"
#include "finetune_run.h"
#include "textbuf.h"
#include "progress.h"

#define MAX_DEVICES 16

typedef struct fold_result {
    int ntrain, nheld;
    double acc, loss, seconds;
    int done;
} fold_result;

/* Read-only inputs shared by all workers, plus the mutex-guarded queue. */
typedef struct cv_job {
    const char *cmd, *from;
    const dataset *data;
    const int *fold;
    int k;
    const graft_model_meta *meta;
    const graft_finetune_params *fo;
    int keep_head;
    const train_opts *to;
    const common_opts *co; /* quiet is forced for the fold runs */
    fold_result *res;
    pthread_mutex_t mu;
    int next, next_print, failed;
} cv_job;

typedef struct cv_worker {
    cv_job *job;
    const char *device;
    graft_model *src; /* NULL: the worker opens its own context and model */
    int status;
} cv_worker;


/* Seed of fold f: independent of which device or thread runs it. */
static uint64_t fold_seed(const common_opts *co, int f) { return (uint64_t)co->seed + (uint64_t)f; }

/* Trains on every fold but f and evaluates on f. */
static int run_fold(cv_job *j, graft_model *src, int f, fold_result *r)
{
    double t0 = now_seconds();
    const dataset *d = j->data;
    int *tr = malloc(sizeof(int) * (size_t)d->n), *ho = malloc(sizeof(int) * (size_t)d->n);
    dataset *train = NULL, *held = NULL;
    graft_model *m = NULL;
    train_result tres;
    memset(&tres, 0, sizeof tres);
    eval_result er;
    memset(&er, 0, sizeof er);
    char err[1024] = "";
    int status = 1;
    if (!tr || !ho) {
        fprintf(stderr, "%s: out of memory\n", j->cmd);
        goto done;
    }
    int ntr = 0, nho = 0;
    for (int i = 0; i < d->n; i++) {
        if (j->fold[i] == f) ho[nho++] = i;
        else tr[ntr++] = i;
    }
    if (dataset_subset(d, tr, ntr, &train, err, sizeof err) != GRAFT_OK ||
        dataset_subset(d, ho, nho, &held, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "%s: fold %d: %s\n", j->cmd, f + 1, err);
        goto done;
    }
    common_opts co = *j->co;
    co.quiet = 1;
    if (finetune_run(j->cmd, src, train, NULL, NULL, j->meta, j->fo, j->to, &co,
                     fold_seed(j->co, f), NULL, &m, &tres))
        goto done;
    if (evaluate(m, held, j->meta->mean, j->meta->std, j->to->batch, 0, &er, err, sizeof err) !=
        GRAFT_OK) {
        fprintf(stderr, "%s: fold %d: %s\n", j->cmd, f + 1, err);
        goto done;
    }
    r->ntrain = ntr;
    r->nheld = nho;
    r->acc = er.top1;
    r->loss = er.loss;
    r->seconds = now_seconds() - t0;
    status = 0;
done:
    eval_result_free(&er);
    train_result_free(&tres);
    graft_model_free(m);
    dataset_free(train);
    dataset_free(held);
    free(tr);
    free(ho);
    return status;
}

static void print_row(int f, const fold_result *r)
{
    printf("%4d  %7d  %8d  %7.2f%%  %7.1f\n", f + 1, r->ntrain, r->nheld, 100 * r->acc, r->seconds);
    fflush(stdout);
}

static void *worker_main(void *arg)
{
    cv_worker *w = arg;
    cv_job *j = w->job;
    graft_ctx *ctx = NULL;
    graft_model *src = w->src;
    w->status = 1;
    if (!src) {
        common_opts co = *j->co;
        co.device = w->device;
        co.quiet = 1;
        ctx = cli_open_device(j->cmd, &co);
        if (!ctx) goto done;
        graft_model_meta sm;
        memset(&sm, 0, sizeof sm);
        if (graft_model_load(ctx, j->from, &src, &sm) != GRAFT_OK) {
            fprintf(stderr, "%s: %s\n", j->cmd, graft_last_error(ctx));
            goto done;
        }
        graft_model_meta_free(&sm);
    }
    for (;;) {
        pthread_mutex_lock(&j->mu);
        int f = j->failed ? j->k : j->next++;
        pthread_mutex_unlock(&j->mu);
        if (f >= j->k) break;
        fold_result r;
        memset(&r, 0, sizeof r);
        int rc = run_fold(j, src, f, &r);
        pthread_mutex_lock(&j->mu);
        if (rc) {
            j->failed = 1;
        } else {
            r.done = 1;
            j->res[f] = r;
            /* Rows in fold order, each as soon as all earlier ones are done. */
            while (j->next_print < j->k && j->res[j->next_print].done) {
                print_row(j->next_print, &j->res[j->next_print]);
                j->next_print++;
            }
        }
        pthread_mutex_unlock(&j->mu);
        if (rc) goto done;
    }
    w->status = 0;
done:
    if (src != w->src) graft_model_free(src);
    if (ctx) graft_ctx_destroy(ctx);
    return NULL;
}

/* Splits "0,1" into selectors (pointers into buf). */
static int parse_devices(char *buf, const char **dev, int max)
{
    int n = 0;
    for (char *p = buf;;) {
        char *c = strchr(p, ',');
        if (c) *c = '\0';
        if (!*p || n >= max) return -1;
        dev[n++] = p;
        if (!c) break;
        p = c + 1;
    }
    return n;
}

static int write_csv(const char *cmd, const char *path, const fold_result *r, int k)
{
    textbuf tb = {0};
    tb_printf(&tb, "fold,train,heldout,accuracy,seconds\n");
    for (int f = 0; f < k; f++)
        tb_printf(&tb, "%d,%d,%d,%.6f,%.3f\n", f + 1, r[f].ntrain, r[f].nheld, r[f].acc,
                  r[f].seconds);
    int rc = tb_write(&tb, cmd, path);
    tb_free(&tb);
    return rc;
}

static int write_json(const char *cmd, const char *path, const fold_result *r, int k,
                      const char *strategy, const dataset *d, int seed, int ndev, double mean,
                      double sd)
{
    textbuf tb = {0};
    tb_printf(&tb, "{\"command\":\"cv\",\"strategy\":");
    tb_json_str(&tb, strategy);
    tb_printf(&tb, ",\"k\":%d,\"seed\":%d,\"images\":%d,\"classes\":%d,\"devices\":%d,\"folds\":[",
              k, seed, d->n, d->nclasses, ndev);
    for (int f = 0; f < k; f++)
        tb_printf(&tb, "%s{\"fold\":%d,\"train\":%d,\"heldout\":%d,\"accuracy\":%.6f,\"loss\":%.9g,"
                  "\"seconds\":%.3f}",
                  f ? "," : "", f + 1, r[f].ntrain, r[f].nheld, r[f].acc, r[f].loss, r[f].seconds);
    tb_printf(&tb, "],\"mean_accuracy\":%.6f,\"std_accuracy\":%.6f}\n", mean, sd);
    int rc = tb_write(&tb, cmd, path);
    tb_free(&tb);
    return rc;
}

int cmd_cv(int argc, char **argv)
{
    const char *cmd = "graft cv";
    common_opts co = {NULL, 0, 1};
    train_opts to;
    trainopts_defaults(&to);
    to.data = NULL;
    to.epochs = 15;
    to.batch = 32;
    const char *from = NULL, *out = "cv.graft", *devices = NULL, *csv = NULL, *json = NULL;
    int k = 5, refit = 0;
    finetune_cli fc;
    finetune_cli_defaults(&fc);
    opt opts[] = {
        {"from", OPT_STRING, &from, "MODEL", "pretrained source model (.graft), required", 0, 0},
        {"data", OPT_STRING, &to.data, "SPEC", "target data, split into the folds (required; "
         "same forms as graft finetune --data)", 0, 0},
        {"classes", OPT_STRING, &to.classes, "LIST", "use only these classes, e.g. 5,6,7 or 5-9", 0, 0},
        {"per-class", OPT_INT, &to.per_class, "N", "seeded sample of N images per class (few-shot)", 1, 100000000},
        {"skip-bad", OPT_FLAG, &to.skip_bad, NULL, "skip unreadable image files", 0, 0},
        {"folds", OPT_INT, &k, "K", "number of stratified folds (default 5)", 2, 1000},
        FINETUNE_OPTS(fc),
        TRAINOPTS_TRAIN(to),
        {"devices", OPT_STRING, &devices, "LIST", "run folds concurrently, one thread and context "
         "per listed device, e.g. 0,1 (default: --device, sequentially)", 0, 0},
        {"csv", OPT_STRING, &csv, "PATH", "write the per-fold results as CSV", 0, 0},
        {"json", OPT_STRING, &json, "PATH", "write the results as JSON", 0, 0},
        {"refit", OPT_FLAG, &refit, NULL, "finally fine-tune on all the data and write --out", 0, 0},
        {"out", OPT_STRING, &out, "PATH", "model file written by --refit (default cv.graft)", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft cv --from MODEL --data TARGET [--folds K] [OPTIONS]",
                     "Estimates how well fine-tuning transfers: the target set is split into K\n"
                     "stratified folds; for each fold a fresh target model is fine-tuned from the\n"
                     "source on the other K-1 folds and evaluated on the held-out one. Fold f is\n"
                     "seeded with --seed + f - 1, so results do not depend on --devices. The\n"
                     "log, checkpoint and best-model options apply to the --refit run only.",
                     opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int rc = args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if (!from || !to.data) {
        fprintf(stderr, "%s: --from and --data are required (see --help)\n", cmd);
        return EXIT_USAGE;
    }
    graft_finetune_params fo;
    if (finetune_cli_check(cmd, &fc, &to, &fo)) return EXIT_USAGE;
    char devbuf[1024];
    const char *dev[MAX_DEVICES];
    int ndev = 1;
    dev[0] = co.device;
    if (devices) {
        snprintf(devbuf, sizeof devbuf, "%s", devices);
        ndev = parse_devices(devbuf, dev, MAX_DEVICES);
        if (ndev < 0) {
            fprintf(stderr, "%s: --devices '%s': expected a comma-separated list of at most %d "
                            "device selectors\n", cmd, devices, MAX_DEVICES);
            return EXIT_USAGE;
        }
    }
    common_opts mco = co;
    mco.device = dev[0];
    graft_ctx *ctx = cli_open_device(cmd, &mco);
    if (!ctx) return 1;
    int status = 1;
    graft_model *src = NULL, *m = NULL;
    graft_model_meta smeta, meta;
    memset(&smeta, 0, sizeof smeta);
    memset(&meta, 0, sizeof meta);
    dataset *data = NULL;
    int *fold = NULL;
    fold_result *res = NULL;
    cv_worker *w = NULL;
    pthread_t *th = NULL;
    train_result tres;
    memset(&tres, 0, sizeof tres);
    char err[1024] = "";
    int mu_ok = 0;
    cv_job job;
    memset(&job, 0, sizeof job);

    if (graft_model_load(ctx, from, &src, &smeta) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, graft_last_error(ctx));
        goto done;
    }
    int c, h, wd;
    graft_model_node_shape(src, 0, &c, &h, &wd);
    data_request rq = {to.data, SPLIT_TRAIN, c, h, wd, to.skip_bad, to.classes, to.per_class,
                       (uint64_t)co.seed, co.quiet};
    rc = cli_load_data(cmd, &rq, &data);
    if (rc) {
        status = rc;
        goto done;
    }
    if (finetune_meta(cmd, &to, data, &smeta, &meta)) goto done;
    if (finetune_cli_freeze(cmd, &fc, src, from, &fo)) goto done;
    fold = malloc(sizeof(int) * (size_t)data->n);
    res = calloc((size_t)k, sizeof *res);
    if (!fold || !res) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        goto done;
    }
    if (dataset_kfold(data, k, (uint64_t)co.seed + 31, fold, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "%s: --folds %d: %s\n", cmd, k, err);
        goto done;
    }
    for (int f = 0; f < k; f++) {
        int nh = 0;
        for (int i = 0; i < data->n; i++) nh += fold[i] == f;
        if (nh == 0 || nh == data->n) {
            fprintf(stderr, "%s: --folds %d: fold %d would be empty (only %d images)\n", cmd, k,
                    f + 1, data->n);
            goto done;
        }
    }
    int nthreads = ndev < k ? ndev : k;
    if (!co.quiet)
        printf("%s: %d folds of %d images (%d classes), %s from %s, %d epochs, %d device%s\n", cmd,
               k, data->n, data->nclasses, graft_strategy_name(fo.strategy), from, to.epochs,
               nthreads, nthreads > 1 ? "s" : "");
    printf("fold    train  held-out  accuracy  seconds\n");
    fflush(stdout);

    job = (cv_job){cmd, from, data, fold, k, &meta, &fo, fo.keep_head, &to, &co, res,
                   PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};
    if (pthread_mutex_init(&job.mu, NULL)) {
        fprintf(stderr, "%s: cannot create a mutex\n", cmd);
        goto done;
    }
    mu_ok = 1;
    w = calloc((size_t)nthreads, sizeof *w);
    th = calloc((size_t)nthreads, sizeof *th);
    if (!w || !th) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        goto done;
    }
    if (nthreads == 1) {
        /* One device: sequentially, on the context already open. */
        w[0] = (cv_worker){&job, dev[0], src, 1};
        worker_main(&w[0]);
        if (w[0].status) goto done;
    } else {
        /* One thread per device, each with its own context and models. */
        int started = 0;
        for (int t = 0; t < nthreads; t++) {
            w[t] = (cv_worker){&job, dev[t], NULL, 1};
            if (pthread_create(&th[t], NULL, worker_main, &w[t])) {
                fprintf(stderr, "%s: cannot start a thread\n", cmd);
                pthread_mutex_lock(&job.mu);
                job.failed = 1;
                pthread_mutex_unlock(&job.mu);
                break;
            }
            started++;
        }
        int bad = started < nthreads;
        for (int t = 0; t < started; t++) {
            pthread_join(th[t], NULL);
            bad |= w[t].status;
        }
        if (bad) goto done;
    }
    double mean = 0, var = 0;
    for (int f = 0; f < k; f++) mean += res[f].acc;
    mean /= k;
    for (int f = 0; f < k; f++) var += (res[f].acc - mean) * (res[f].acc - mean);
    double sd = sqrt(var / (k - 1));
    printf("mean accuracy: %.2f%% \xc2\xb1 %.2f%%\n", 100 * mean, 100 * sd);
    if (csv && write_csv(cmd, csv, res, k)) goto done;
    if (json && write_json(cmd, json, res, k, graft_strategy_name(fo.strategy), data, co.seed,
                           nthreads, mean, sd))
        goto done;
    if (refit) {
        if (!co.quiet) printf("%s: refitting on all %d images\n", cmd, data->n);
        if (finetune_run(cmd, src, data, NULL, NULL, &meta, &fo, &to, &co,
                         (uint64_t)co.seed, out, &m, &tres))
            goto done;
        if (graft_model_save(m, &meta, out) != GRAFT_OK) {
            fprintf(stderr, "%s: %s\n", cmd, graft_last_error(ctx));
            goto done;
        }
        printf("wrote %s\n", out);
    }
    status = 0;
done:
    if (mu_ok) pthread_mutex_destroy(&job.mu);
    free(w);
    free(th);
    train_result_free(&tres);
    graft_model_free(m);
    graft_model_free(src);
    graft_model_meta_free(&meta);
    graft_model_meta_free(&smeta);
    dataset_free(data);
    free(fold);
    free(res);
    graft_ctx_destroy(ctx);
    return status;
}
