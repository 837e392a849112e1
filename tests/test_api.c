/* The public workflow API end to end, as a user of include/ sees it (this
 * file is built with the public headers only): open the fixture with a
 * class list and a per-class sample, train a small network with callbacks,
 * evaluate it, fine-tune it to other classes, predict files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

typedef struct counts {
    int progress, epochs, logs, last_epoch;
    long last_done, last_total;
} counts;

static void on_progress(void *user, const graft_progress *p)
{
    counts *c = user;
    c->progress++;
    c->last_done = p->done;
    c->last_total = p->total;
}

static int on_epoch(void *user, const graft_epoch_stats *st)
{
    counts *c = user;
    c->epochs++;
    c->last_epoch = st->epoch;
    return 0;
}

static void on_log(void *user, graft_log_level level, const char *msg)
{
    (void)level, (void)msg;
    ((counts *)user)->logs++;
}

static graft_status count_prediction(void *user, const graft_prediction *p)
{
    counts *c = user;
    if (p->error) c->logs++;
    else c->progress++;
    return GRAFT_OK;
}

static graft_dataset *open_fixture(const char *classes, int per_class, graft_split split)
{
    graft_data_spec sp = graft_data_default_spec();
    sp.source = FIX;
    sp.classes = classes;
    sp.per_class = per_class;
    sp.split = split;
    sp.seed = 3;
    graft_dataset *d = NULL;
    char err[1024];
    if (graft_dataset_open(&sp, &d, err, sizeof err) != GRAFT_OK) fprintf(stderr, "%s\n", err);
    return d;
}

int main(void)
{
    char err[1024];
    /* Data: a class list relabels, the per-class sample takes 8 of each. */
    graft_dataset *d = open_fixture("0-4", 8, GRAFT_SPLIT_TRAIN);
    CHECK(d != NULL);
    if (!d) return 1;
    int c, h, w, counts5[5];
    graft_dataset_shape(d, &c, &h, &w);
    CHECK(graft_dataset_size(d) == 40 && graft_dataset_num_classes(d) == 5);
    CHECK(c == 1 && h == 28 && w == 28);
    graft_dataset_class_counts(d, counts5);
    for (int k = 0; k < 5; k++) CHECK(counts5[k] == 8);
    CHECK(graft_dataset_class_name(d, 0) != NULL && graft_dataset_class_name(d, 5) == NULL);
    graft_data_spec bad = graft_data_default_spec();
    bad.source = FIX;
    bad.classes = "3,x";
    graft_dataset *none = NULL;
    CHECK(graft_dataset_open(&bad, &none, err, sizeof err) == GRAFT_ERR_INVALID_ARG && !none);
    CHECK(strstr(err, "3,x") != NULL);
    graft_dataset *tr = NULL, *va = NULL;
    CHECK(graft_dataset_split(d, 0.25, 1, &tr, &va, err, sizeof err) == GRAFT_OK);
    CHECK(graft_dataset_size(tr) == 30 && graft_dataset_size(va) == 10);

    graft_ctx_params cp = graft_ctx_default_params();
    graft_ctx *ctx = NULL;
    if (graft_ctx_create(&cp, &ctx, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "no device (%s): skipping the rest\n", err);
        return failures ? 1 : 77;
    }
    /* Training with callbacks: every batch and every epoch reported. */
    graft_model *m = NULL;
    graft_arch_params ap = graft_arch_default_params("refnet");
    ap.classes = 5;
    CHECK(graft_model_create(ctx, &m) == GRAFT_OK);
    CHECK(graft_model_build_arch(m, "refnet", &ap) == GRAFT_OK);
    graft_model_meta meta;
    CHECK(graft_model_meta_from_dataset(tr, "refnet", &meta, err, sizeof err) == GRAFT_OK);
    CHECK(meta.nclasses == 5 && meta.std[0] > 0);
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    graft_opt_fit_run(&op, graft_dataset_size(tr), 10, 2, 0);
    CHECK(op.total_steps == 6);
    graft_optimizer *o = NULL;
    CHECK(graft_optimizer_create(m, &op, &o) == GRAFT_OK);
    counts n = {0};
    graft_train_config cfg = graft_train_default_config();
    cfg.epochs = 2;
    cfg.batch = 10;
    cfg.mean = meta.mean;
    cfg.std = meta.std;
    cfg.restore_best = 1;
    cfg.cb = (graft_callbacks){on_progress, on_epoch, on_log, &n};
    graft_train_result res;
    CHECK(graft_train(m, o, tr, va, &cfg, &res) == GRAFT_OK);
    CHECK(res.nepochs == 2 && n.epochs == 2 && n.last_epoch == 2);
    CHECK(n.progress == 6 && n.last_done == 3 && n.last_total == 3);
    CHECK(res.hist[1].eval_acc >= 0 && res.best_epoch >= 1);
    CHECK((res.restored_epoch != 0) == (n.logs == 1));
    graft_train_result_free(&res);

    /* Evaluation and per-class metrics agree on the totals. */
    graft_eval_result er;
    CHECK(graft_evaluate(m, va, meta.mean, meta.std, 4, 1, &er) == GRAFT_OK);
    graft_class_metrics pc[5], ma, we;
    graft_eval_class_metrics(&er, pc, &ma, &we);
    long sup = 0;
    for (int k = 0; k < 5; k++) sup += pc[k].support;
    CHECK(er.n == 10 && sup == 10 && ma.support == 10 && er.probs != NULL);
    CHECK(er.top1 >= 0 && er.top1 <= er.top5 && er.top5 <= 1);
    graft_eval_result_free(&er);

    /* Fine-tuning to the other five classes: a linear probe in one call. */
    graft_dataset *t = open_fixture("5-9", 6, GRAFT_SPLIT_TRAIN);
    graft_finetune_params fp = graft_finetune_default_params();
    fp.strategy = GRAFT_STRATEGY_LINEAR_PROBE;
    CHECK(graft_strategy_parse("linear-probe") == GRAFT_STRATEGY_LINEAR_PROBE);
    graft_model *ft = NULL;
    counts f = {0};
    cfg.cb = (graft_callbacks){NULL, on_epoch, NULL, &f};
    cfg.restore_best = 0;
    op.lr = 0.1f;
    CHECK(t && graft_finetune(m, t, NULL, &fp, &op, &cfg, &ft, &res) == GRAFT_OK);
    CHECK(ft && res.nepochs == 2 && f.epochs == 2 && res.hist[0].eval_acc < 0);
    graft_train_result_free(&res);

    /* Prediction: a file that is no PNG stops the run unless skipped. */
    const char *bogus = GRAFT_DATA_DIR "/fixtures/fmnist512-labels-idx1-ubyte.gz";
    graft_predict_config pcfg = {8, 3, 0, meta.mean, meta.std};
    counts p = {0};
    int nbad = 0;
    CHECK(graft_predict_files(m, &bogus, 1, &pcfg, count_prediction, &p, &nbad) == GRAFT_ERR_FORMAT);
    CHECK(nbad == 1 && p.logs == 1 && p.progress == 0);
    pcfg.skip_bad = 1;
    CHECK(graft_predict_files(m, &bogus, 1, &pcfg, count_prediction, &p, &nbad) == GRAFT_OK);
    CHECK(nbad == 1 && p.logs == 2);
    char **list = NULL;
    int nlist = -1;
    const char *missing = "no/such/dir";
    CHECK(graft_image_list(&missing, 1, 0, NULL, NULL, &list, &nlist, err, sizeof err) == GRAFT_ERR_IO);
    CHECK(graft_image_list(&missing, 1, 1, on_log, &p, &list, &nlist, err, sizeof err) == GRAFT_OK);
    CHECK(nlist == 0 && p.logs == 3);
    graft_image_list_free(list, nlist);

    graft_model_free(ft);
    graft_optimizer_free(o);
    graft_model_free(m);
    graft_model_meta_free(&meta);
    graft_dataset_free(t);
    graft_dataset_free(tr);
    graft_dataset_free(va);
    graft_dataset_free(d);
    graft_ctx_destroy(ctx);
    if (failures) fprintf(stderr, "%d checks failed\n", failures);
    return failures ? 1 : 0;
}
