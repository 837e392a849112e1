/* graft cv: stratified k-fold cross-validation of fine-tuning on a target
 * set (graft_cv), optionally with folds run concurrently on several devices. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "device_list.h"
#include "finetune_run.h"
#include "workflow_files.h"

#define CMD "graft cv"

int cmd_cv(int argc, char **argv)
{
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
         "per listed device, e.g. 0,1 or all (default: --device, sequentially)", 0, 0},
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
    device_list dl = {0};
    const char *dev1[1] = {co.device};
    const char *const *dev = dev1;
    int ndev = 1;
    if (devices) {
        if (device_list_parse(CMD, devices, &dl)) return EXIT_USAGE;
        dev = dl.dev;
        ndev = dl.n;
        co.device = dev[0];
    }
    graft_finetune_params fp;
    transfer_open t;
    if ((rc = transfer_open_all(CMD, from, &to, &co, &fc, &fp, 0, &t))) return rc;
    int status = 1, nthreads = ndev < k ? ndev : k;
    if (!co.quiet)
        printf(CMD ": %d folds of %d images (%d classes), %s from %s, %d epochs, %d device%s\n", k,
               graft_dataset_size(t.train), graft_dataset_num_classes(t.train),
               graft_strategy_name(fp.strategy), from, to.epochs, nthreads, nthreads > 1 ? "s" : "");
    printf("fold    train  held-out  accuracy  seconds\n");
    fflush(stdout);
    graft_cv_config cfg = {k, (uint64_t)co.seed, fp, trainopts_opt_params(&to, t.train),
                           graft_train_default_config(), 0, dev, ndev, from, NULL, cv_print_fold, NULL};
    graft_cv_result res = {0};
    graft_model *m = NULL;
    graft_train_result tres = {0};
    if (trainopts_config(&to, &co, t.train, &t.meta, NULL, NULL, &cfg.train)) goto done;
    /* The fold runs (on this context; not those on other devices) report
     * their epochs and evaluations to its sink: the console of cfg.train. */
    cfg.user = cfg.train.cb.user;
    graft_ctx_set_progress(t.ctx, cfg.train.cb.progress, cfg.train.cb.user);
    graft_status cs = graft_cv(t.src, t.train, &cfg, &res);
    graft_ctx_set_progress(t.ctx, NULL, NULL);
    if (cs != GRAFT_OK) {
        /* "k=K: ..." is about --folds. */
        const char *e = graft_last_error(t.ctx);
        char kk[32];
        int n = snprintf(kk, sizeof kk, "k=%d: ", k);
        if (!strncmp(e, kk, (size_t)n)) fprintf(stderr, CMD ": --folds %d: %s\n", k, e + n);
        else fprintf(stderr, CMD ": %s\n", e);
        goto done;
    }
    printf("mean accuracy: %.2f%% \xc2\xb1 %.2f%%\n", 100 * res.mean_accuracy, 100 * res.std_accuracy);
    if (cv_write_files(csv, json, &res, graft_strategy_name(fp.strategy), t.train, co.seed)) goto done;
    if (refit) {
        if (!co.quiet) printf(CMD ": refitting on all %d images\n", graft_dataset_size(t.train));
        if (finetune_run(CMD, t.src, t.train, NULL, NULL, &t.meta, &fp, &to, &co,
                         (uint64_t)co.seed, out, &m, &tres))
            goto done;
        if (graft_model_save(m, &t.meta, out) != GRAFT_OK) {
            fprintf(stderr, CMD ": %s\n", graft_last_error(t.ctx));
            goto done;
        }
        printf("wrote %s\n", out);
    }
    status = 0;
done:
    trainopts_config_free(&cfg.train);
    graft_cv_result_free(&res);
    graft_train_result_free(&tres);
    graft_model_free(m);
    transfer_close(&t);
    return status;
}
