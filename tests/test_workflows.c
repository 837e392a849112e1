/* The workflows of graft_transfer.h through the public headers only (this
 * file is built like a user's program): k-fold cv equals running its folds
 * one by one and does not depend on the devices; self-training keeps what
 * its threshold and cap allow; LogME ranks a trained backbone above a
 * random one; compare's runs, target and report files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graft.h"
#include "graft_data.h"
#include "graft_eval.h"
#include "graft_train.h"
#include "graft_transfer.h"

#define FIX GRAFT_DATA_DIR "/fixtures/fmnist512-images-idx3-ubyte.gz"

static int failures;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

static graft_dataset *open_fixture(const char *classes, int per_class, uint64_t seed)
{
    graft_data_spec sp = graft_data_default_spec();
    sp.source = FIX;
    sp.classes = classes;
    sp.per_class = per_class;
    sp.seed = seed;
    graft_dataset *d = NULL;
    char err[1024];
    if (graft_dataset_open(&sp, &d, err, sizeof err) != GRAFT_OK) fprintf(stderr, "%s\n", err);
    return d;
}

/* What the callbacks saw. */
typedef struct seen {
    int calls, last, in_order, logs;
} seen;

static void on_fold(void *user, int fold, const graft_cv_fold *r)
{
    seen *s = user;
    s->in_order += fold == s->calls && r->nheld > 0;
    s->calls++;
}

static void on_round(void *user, const graft_selftrain_round *r)
{
    seen *s = user;
    s->in_order += r->round == s->calls;
    s->calls++;
}

static void on_row(void *user, const graft_score_row *r)
{
    ((seen *)user)->calls += r->dim > 0;
}

static void on_log(void *user, graft_log_level level, const char *msg)
{
    (void)level;
    ((seen *)user)->logs += msg[0] != '\0';
}

static void on_begin(void *user, graft_arm arm, uint64_t seed, int run, int nruns)
{
    (void)arm, (void)seed, (void)nruns;
    ((seen *)user)->last = run;
}

static void on_end(void *user, const graft_compare_run *r)
{
    ((seen *)user)->calls += r->npoints > 0;
}

/* A refnet trained a few epochs on classes 0-4: the source of every workflow. */
static graft_model *train_source(graft_ctx *ctx, graft_model_meta *meta)
{
    char err[1024];
    graft_dataset *d = open_fixture("0-4", 20, 1);
    graft_model *m = NULL;
    graft_optimizer *o = NULL;
    graft_arch_params ap = graft_arch_default_params("refnet");
    ap.classes = 5;
    CHECK(d && graft_model_create(ctx, &m) == GRAFT_OK);
    CHECK(graft_model_build_arch(m, "refnet", &ap) == GRAFT_OK);
    CHECK(graft_model_meta_from_dataset(d, "refnet", meta, err, sizeof err) == GRAFT_OK);
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    graft_opt_fit_run(&op, graft_dataset_size(d), 16, 4, 0);
    CHECK(graft_optimizer_create(m, &op, &o) == GRAFT_OK);
    graft_train_config cfg = graft_train_default_config();
    cfg.epochs = 4;
    cfg.batch = 16;
    cfg.mean = meta->mean;
    cfg.std = meta->std;
    graft_train_result res;
    CHECK(graft_train(m, o, d, NULL, &cfg, &res) == GRAFT_OK);
    graft_train_result_free(&res);
    graft_optimizer_free(o);
    graft_dataset_free(d);
    return m;
}

static graft_train_config run_config(const graft_model_meta *meta)
{
    graft_train_config tc = graft_train_default_config();
    tc.epochs = 1;
    tc.batch = 10;
    tc.mean = meta->mean;
    tc.std = meta->std;
    return tc;
}

static void test_cv(graft_model *src, const graft_model_meta *meta, const char *path)
{
    graft_ctx *ctx = graft_model_ctx(src);
    graft_dataset *d = open_fixture("5-9", 6, 2);
    seen s = {0};
    graft_cv_config cfg = {3, 7, graft_finetune_default_params(),
                           graft_opt_default_params(GRAFT_OPT_SGD), run_config(meta), 0, NULL, 0,
                           NULL, NULL, on_fold, &s};
    cfg.opt.lr = 0.01f;
    graft_cv_result seq, par;
    CHECK(graft_cv(src, d, &cfg, &seq) == GRAFT_OK);
    CHECK(seq.k == 3 && seq.threads == 1 && s.calls == 3 && s.in_order == 3);
    /* The folds one by one: the same split, seeds and evaluation. */
    int n = graft_dataset_size(d), fold[30], idx[2][30];
    CHECK(n == 30 && graft_dataset_kfold(d, 3, 7 + 31, fold, NULL, 0) == GRAFT_OK);
    double mean = 0;
    for (int f = 0; f < 3 && seq.k == 3; f++) {
        int nn[2] = {0, 0};
        for (int i = 0; i < n; i++) idx[fold[i] == f][nn[fold[i] == f]++] = i;
        graft_dataset *tr = NULL, *ho = NULL;
        CHECK(graft_dataset_subset(d, idx[0], nn[0], &tr, NULL, 0) == GRAFT_OK);
        CHECK(graft_dataset_subset(d, idx[1], nn[1], &ho, NULL, 0) == GRAFT_OK);
        graft_train_config tc = cfg.train;
        tc.seed = 7 + (uint64_t)f;
        graft_model *m = NULL;
        graft_train_result tres;
        graft_eval_result er;
        CHECK(graft_finetune(src, tr, NULL, &cfg.finetune, &cfg.opt, &tc, &m, &tres) == GRAFT_OK);
        CHECK(graft_evaluate(m, ho, meta->mean, meta->std, 10, 0, &er) == GRAFT_OK);
        CHECK(seq.folds[f].ntrain == nn[0] && seq.folds[f].nheld == nn[1]);
        CHECK(seq.folds[f].accuracy == er.top1 && seq.folds[f].loss == er.loss);
        mean += er.top1 / 3;
        graft_eval_result_free(&er);
        graft_train_result_free(&tres);
        graft_model_free(m);
        graft_dataset_free(tr);
        graft_dataset_free(ho);
    }
    CHECK(seq.mean_accuracy > mean - 1e-12 && seq.mean_accuracy < mean + 1e-12);
    /* Two threads, two contexts on one device: the same numbers. */
    const char *devs[2] = {"0", "0"};
    cfg.devices = devs;
    cfg.ndevices = 2;
    cfg.source_path = path;
    s = (seen){0};
    CHECK(graft_cv(src, d, &cfg, &par) == GRAFT_OK);
    CHECK(par.threads == 2 && s.calls == 3 && s.in_order == 3);
    for (int f = 0; f < 3 && par.k == 3 && seq.k == 3; f++)
        CHECK(par.folds[f].accuracy == seq.folds[f].accuracy &&
              par.folds[f].loss == seq.folds[f].loss);
    graft_cv_result_free(&par);
    /* More folds than a class allows: refused, naming the empty fold. */
    cfg.k = 31;
    CHECK(graft_cv(src, d, &cfg, &par) == GRAFT_ERR_INVALID_ARG && !par.folds);
    CHECK(strstr(graft_last_error(ctx), "would be empty") != NULL);
    graft_cv_result_free(&seq);
    graft_dataset_free(d);
}

static void test_selftrain(graft_model *src, const graft_model_meta *meta)
{
    graft_dataset *lab = open_fixture("5-9", 4, 3), *pool = open_fixture("5-9", 8, 4),
                  *ev = open_fixture("5-9", 6, 5);
    seen s = {0};
    graft_selftrain_config cfg = {1, 0.0f, 3, graft_finetune_default_params(),
                                  graft_opt_default_params(GRAFT_OPT_SGD), run_config(meta), 0,
                                  on_round, &s};
    cfg.opt.lr = 0.01f;
    graft_selftrain_result r, none;
    CHECK(graft_selftrain(src, lab, pool, ev, &cfg, &r) == GRAFT_OK);
    CHECK(r.nrounds == 2 && r.nclasses == 5 && r.model && s.calls == 2 && s.in_order == 2);
    if (r.nrounds == 2) {
        const graft_selftrain_round *x = &r.rounds[1];
        int cand = 0, kept = 0;
        for (int k = 0; k < 5; k++) {
            cand += x->candidates[k];
            kept += x->per_class[k];
            CHECK(x->per_class[k] == (x->candidates[k] < 3 ? x->candidates[k] : 3));
        }
        /* Threshold 0: every pool image is a candidate; its class names
         * are the labelled ones, so every kept label is checked. */
        CHECK(cand == 40 && kept == x->kept && x->ntrain == 20 + kept && x->retrained);
        CHECK(x->checked == kept && x->correct >= 0 && x->correct <= kept);
        CHECK(r.rounds[0].kept == 0 && r.rounds[0].ntrain == 20 && r.rounds[0].retrained);
    }
    /* Above 1 nothing is kept: round 1 is not retrained. */
    cfg.threshold = 1.5f;
    CHECK(graft_selftrain(src, lab, pool, ev, &cfg, &none) == GRAFT_OK);
    CHECK(none.nrounds == 2 && none.rounds[1].kept == 0 && !none.rounds[1].retrained);
    CHECK(none.rounds[1].eval_accuracy == none.rounds[0].eval_accuracy);
    CHECK(none.rounds[0].eval_accuracy == r.rounds[0].eval_accuracy);
    graft_selftrain_result_free(&none);
    CHECK(graft_selftrain(src, lab, pool, NULL, &cfg, &none) == GRAFT_ERR_INVALID_ARG);
    graft_selftrain_result_free(&r);
    graft_dataset_free(lab);
    graft_dataset_free(pool);
    graft_dataset_free(ev);
}

static void test_score(graft_ctx *ctx, const char *path)
{
    seen s = {0};
    graft_score_config cfg = {graft_data_default_spec(), NULL, 0, 32, 5, on_log, on_row, &s};
    cfg.data.source = FIX;
    cfg.data.classes = "0-4";
    cfg.data.per_class = 20;
    cfg.data.seed = 9;
    graft_score_result r;
    CHECK(graft_score(ctx, &path, 1, &cfg, &r) == GRAFT_OK);
    CHECK(r.nrows == 2 && r.images == 100 && r.classes == 5 && s.calls == 2 && s.logs == 1);
    /* Trained on these classes: its features beat random ones. */
    CHECK(r.nrows == 2 && !r.rows[0].random_init && r.rows[1].random_init);
    CHECK(r.nrows == 2 && r.rows[0].logme > r.rows[1].logme && !r.negative_transfer);
    CHECK(r.nrows == 2 && !strcmp(r.rows[0].layer, r.rows[1].layer) && r.rows[0].dim == 128);
    graft_score_result_free(&r);
    /* An unknown layer fails after the data opened; a bad class list before. */
    const char *layers[] = {"pool1", "nosuch"};
    cfg.layers = layers;
    cfg.nlayers = 2;
    CHECK(graft_score(ctx, &path, 1, &cfg, &r) == GRAFT_ERR_INVALID_ARG && r.images == 100);
    CHECK(strstr(graft_last_error(ctx), "nosuch") != NULL && !r.rows);
    cfg.nlayers = 1;
    cfg.data.classes = "0,x";
    CHECK(graft_score(ctx, &path, 1, &cfg, &r) == GRAFT_ERR_INVALID_ARG && r.images == 0);
}

static void test_compare(graft_model *src, const graft_model_meta *meta, const char *dir)
{
    graft_ctx *ctx = graft_model_ctx(src);
    graft_dataset *tr = open_fixture("5-9", 4, 3), *ev = open_fixture("5-9", 6, 5);
    graft_arm arms[] = {GRAFT_ARM_SCRATCH, GRAFT_ARM_LINEAR_PROBE, GRAFT_ARM_PARTIAL};
    seen s = {0};
    graft_compare_config cfg = {arms, 3, 1, 1, -1, 2, graft_opt_default_params(GRAFT_OPT_SGD),
                                0.01f, 0.1f, 0, run_config(meta), 1, on_begin, on_end, &s};
    cfg.train.epochs = 2;
    cfg.train.cb.log = on_log;
    cfg.train.cb.user = &s;
    graft_compare_result r;
    CHECK(graft_compare(src, tr, ev, &cfg, &r) == GRAFT_OK);
    CHECK(r.narms == 3 && r.nseeds == 1 && s.calls == 3 && s.last == 3 && s.logs == 1);
    CHECK(r.scratch_arm == 0 && r.freeze_until == graft_transfer_default_cut(src));
    CHECK(r.best_arm >= 0 && r.best_arm < 3 && r.nclasses == 5 && r.confusion);
    if (r.narms == 3) {
        CHECK(r.target_accuracy == r.runs[0].best_accuracy && r.runs[0].seconds_to_target >= 0);
        for (int i = 0; i < 3; i++) {
            const graft_compare_run *x = &r.runs[i];
            CHECK(x->arm == arms[i] && x->npoints == 2 && x->seed == 1);
            CHECK(x->final_accuracy == x->points[1].accuracy && x->points[1].seconds > 0);
            CHECK((x->seconds_to_target >= 0) == (x->best_accuracy >= r.target_accuracy));
        }
        long total = 0;
        for (int k = 0; k < 25; k++) total += r.confusion[k];
        CHECK(total == graft_dataset_size(ev));
    }
    graft_compare_summary sum;
    char err[1024], prefix[1100], path[1200], *text = NULL;
    CHECK(graft_compare_summarize(&r, 0, &sum, err, sizeof err) == GRAFT_OK);
    CHECK(sum.nreps == 1 && sum.nreached == 1 && sum.has_saved);
    snprintf(prefix, sizeof prefix, "%s/cmp", dir);
    graft_report_kv kv = {"source", "refnet"};
    CHECK(graft_compare_write_report(&r, "test", &kv, 1, NULL, prefix, err, sizeof err) == GRAFT_OK);
    const char *suffix[] = {".html", ".csv", "-summary.csv"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", prefix, suffix[i]);
        CHECK(access(path, R_OK) == 0);
        unlink(path);
    }
    CHECK(graft_compare_summary_text(&r, &text, err, sizeof err) == GRAFT_OK);
    CHECK(text && strstr(text, "scratch: reaches scratch's best") != NULL);
    graft_free(text);
    graft_compare_result_free(&r);
    /* An arm twice, the partial arm with augmentation: refused. */
    graft_arm twice[] = {GRAFT_ARM_FINETUNE, GRAFT_ARM_FINETUNE};
    cfg.arms = twice;
    cfg.narms = 2;
    CHECK(graft_compare(src, tr, ev, &cfg, &r) == GRAFT_ERR_INVALID_ARG && !r.runs);
    cfg.arms = arms + 2;
    cfg.narms = 1;
    cfg.train.augment = 1;
    CHECK(graft_compare(src, tr, ev, &cfg, &r) == GRAFT_ERR_INVALID_ARG);
    CHECK(strstr(graft_last_error(ctx), "augmentation") != NULL);
    CHECK(graft_arm_parse("Linear-Probe") == GRAFT_ARM_LINEAR_PROBE && graft_arm_parse("x") < 0);
    graft_dataset_free(tr);
    graft_dataset_free(ev);
}

int main(void)
{
    char err[1024];
    graft_ctx_params cp = graft_ctx_default_params();
    graft_ctx *ctx = NULL;
    if (graft_ctx_create(&cp, &ctx, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "no device (%s): skipping\n", err);
        return 77;
    }
    const char *tmp = getenv("TMPDIR");
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/graft-workflows.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/src.graft", dir);
    graft_model_meta meta;
    graft_model *src = train_source(ctx, &meta);
    CHECK(graft_model_save(src, &meta, path) == GRAFT_OK);
    test_cv(src, &meta, path);
    test_selftrain(src, &meta);
    test_score(ctx, path);
    test_compare(src, &meta, dir);
    unlink(path);
    rmdir(dir);
    graft_model_free(src);
    graft_model_meta_free(&meta);
    graft_ctx_destroy(ctx);
    if (failures) fprintf(stderr, "%d checks failed\n", failures);
    return failures ? 1 : 0;
}
