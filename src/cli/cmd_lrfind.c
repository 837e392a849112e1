/* graft lr-find: the learning-rate range test for fine-tuning a pretrained
 * model on a target dataset. */
#include <stdio.h>
#include <stdlib.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "finetune_run.h"
#include "graft_transfer.h"

#define CMD "graft lr-find"

int cmd_lrfind(int argc, char **argv)
{
    common_opts co = {NULL, 0, 1};
    train_opts to;
    trainopts_defaults(&to);
    to.data = NULL;
    to.batch = 32;
    to.epochs = 15; /* phase 1 as long as finetune's default run */
    const char *from = NULL, *out = "lr-find";
    finetune_cli fc;
    finetune_cli_defaults(&fc);
    fc.strategy = "recipe";
    graft_lr_find_config lc = graft_lr_find_default_config();
    int rows = 20;
    opt opts[] = {
        {"from", OPT_STRING, &from, "MODEL", "pretrained source model (.graft), required", 0, 0},
        {"data", OPT_STRING, &to.data, "SPEC", "training data (as for finetune), required", 0, 0},
        {"classes", OPT_STRING, &to.classes, "LIST", "use only these classes, e.g. 5-9", 0, 0},
        {"per-class", OPT_INT, &to.per_class, "N", "seeded sample of N images per class", 1, 100000000},
        {"strategy", OPT_STRING, &fc.strategy, "NAME", "the fine-tuning whose --lr to find: recipe "
         "(default: after its phase 1, the rate of phase 2), finetune, linear-probe", 0, 0},
        {"head-epochs", OPT_INT, &fc.head_epochs, "E", "recipe: epochs of phase 1 before the "
         "sweep (default: 15, as finetune's)", 1, 100000},
        {"bn", OPT_STRING, &fc.bn, "MODE", "frozen or train (default: as finetune)", 0, 0},
        {"lr-min", OPT_FLOAT, &lc.lr_min, "F", "lowest learning rate (default 1e-06)", 1e-12, 100},
        {"lr-max", OPT_FLOAT, &lc.lr_max, "F", "highest learning rate (default 10)", 1e-12, 1000},
        {"steps", OPT_INT, &lc.steps, "N", "batches of the sweep (default 100)", 5, 100000},
        {"batch", OPT_INT, &to.batch, "N", "batch size (default 32)", 1, 65536},
        {"opt", OPT_STRING, &to.opt, "NAME", "sgd or adamw (default sgd)", 0, 0},
        {"augment", OPT_STRING, &to.augment, "LIST", "as for finetune", 0, 0},
        {"rows", OPT_INT, &rows, "N", "rows of the printed curve (default 20)", 2, 1000},
        {"out", OPT_STRING, &out, "PREFIX", "writes PREFIX.csv and PREFIX.html (default lr-find)", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft lr-find --from MODEL --data TARGET [OPTIONS]",
                     "LR range test: a throw-away copy of the target model that finetune would\n"
                     "train trains for --steps batches while the learning rate grows exponentially\n"
                     "from --lr-min to --lr-max (stopping when the loss blows up). Prints the loss\n"
                     "curve and the suggested rate for finetune's --lr: a tenth of the highest\n"
                     "rate whose smoothed loss stays within 1.5x its minimum (the rate just before\n"
                     "training blows up); writes the curve as CSV and HTML.",
                     opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int rc = args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if (!(lc.lr_min < lc.lr_max)) {
        fprintf(stderr, CMD ": --lr-min %g must be below --lr-max %g\n", (double)lc.lr_min,
                (double)lc.lr_max);
        return EXIT_USAGE;
    }
    graft_finetune_params fp;
    transfer_open t;
    if ((rc = transfer_open_all(CMD, from, &to, &co, &fc, &fp, 0, &t))) return rc;
    graft_train_config cfg;
    graft_lr_find_result res = {0};
    char err[4200], *table = NULL;
    int status = 1;
    if (trainopts_config(&to, &co, t.train, &t.meta, NULL, NULL, &cfg)) goto done;
    lc.train = cfg;
    lc.train.seed = (uint64_t)co.seed;
    graft_opt_params op = trainopts_opt_params(&to, t.train);
    if (!co.quiet)
        printf(CMD ": %s from %s on %d images of %d classes, lr %g .. %g over %d steps\n",
               graft_strategy_name(fp.strategy), from, graft_dataset_size(t.train),
               graft_dataset_num_classes(t.train), (double)lc.lr_min, (double)lc.lr_max, lc.steps);
    fflush(stdout);
    rc = graft_lr_find(t.src, t.train, &fp, &op, &lc, &res) != GRAFT_OK;
    trainopts_config_free(&cfg);
    if (rc) {
        fprintf(stderr, CMD ": %s\n", graft_last_error(t.ctx));
        goto done;
    }
    if (graft_lr_find_table(&res, rows, &table, err, sizeof err) != GRAFT_OK ||
        graft_lr_find_write(&res, out, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, CMD ": %s\n", err);
        goto done;
    }
    fputs(table, stdout);
    printf("wrote %s.csv and %s.html; use it as graft finetune --lr %.3g\n", out, out,
           (double)res.suggested);
    status = 0;
done:
    graft_free(table);
    graft_lr_find_result_free(&res);
    transfer_close(&t);
    return status;
}
