/* graft compare: does transfer pay off? Trains "arms" on the same target
 * data with the same budget (graft_compare) and writes a report. */
#include <stdio.h>
#include <strings.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "compare_report.h"
#include "finetune_run.h"

#define CMD "graft compare"

int cmd_compare(int argc, char **argv)
{
    common_opts co = {NULL, 0, 1};
    train_opts to;
    trainopts_defaults(&to);
    to.data = NULL;
    to.epochs = 10;
    to.batch = 32;
    const char *from = NULL, *arms_s = "scratch,linear-probe,finetune", *prefix = "compare";
    const char *freeze_s = NULL;
    graft_arm arms[GRAFT_ARM_COUNT];
    float target = 0;
    graft_compare_config cfg = {arms, 0, 1, 0, -1, 2, {0}, 0, 0.1f, 0, {0}, 1, compare_on_begin,
                                compare_on_end, NULL, 0};
    opt opts[] = {
        {"from", OPT_STRING, &from, "MODEL", "pretrained source model (.graft), required", 0, 0},
        {"arms", OPT_STRING, &arms_s, "LIST", "arms to compare: scratch, linear-probe, finetune, "
         "partial, gradual, recipe (default scratch,linear-probe,finetune)", 0, 0},
        {"freeze-until", OPT_STRING, &freeze_s, "LAYER", "partial: the frozen, cached prefix ends "
         "at this layer (name or index, see graft info; a cut of the graph such as a block "
         "output; default: the first half of the conv stages, up to pool1 in refnet)", 0, 0},
        {"target", OPT_FLOAT, &target, "A", "accuracy that time to target is measured to, in "
         "(0, 1] (default: scratch's best)", 0, 1},
        {"seeds", OPT_INT, &cfg.nseeds, "N", "repetitions per arm, seeds --seed .. --seed+N-1 (default 1)", 1, 1000},
        {"lr-probe", OPT_FLOAT, &cfg.lr_probe, "F", "linear-probe learning rate (default 0.1)", 0, 100},
        {"unfreeze-every", OPT_INT, &cfg.unfreeze_every, "E", "gradual: unfreeze one more stage every E "
         "epochs (default 2)", 1, 100000},
        TRAINOPTS_DATA(to),
        TRAINOPTS_TRAIN(to),
        {"out", OPT_STRING, &prefix, "PREFIX", "writes PREFIX.html, PREFIX.csv and "
         "PREFIX-summary.csv (default compare)", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft compare --from MODEL --data TARGET [OPTIONS]",
                     "Measures whether transfer pays off on a target dataset. Every arm trains on\n"
                     "the same data with the same epochs and batch and is evaluated after every\n"
                     "epoch: scratch = the source's architecture freshly initialised, all layers;\n"
                     "linear-probe = only a new head on features computed once; finetune = every\n"
                     "layer from the pretrained weights with a new head; partial = finetune above\n"
                     "a frozen prefix (--freeze-until) whose output is computed once and cached,\n"
                     "so each epoch runs only the layers above it; gradual = unfreezing from the\n"
                     "head down. The target accuracy is --target, else the best evaluation\n"
                     "accuracy of the scratch arm (the lowest over seeds, so every scratch run\n"
                     "reaches it); each arm's time to accuracy is its cumulative training\n"
                     "seconds (evaluation not counted) when it first reaches it; one-off feature\n"
                     "passes over the training images (linear-probe, partial) count. --lr applies\n"
                     "to scratch (default 0.05 sgd) and finetune/partial/gradual (default 0.01\n"
                     "sgd); the probe uses --lr-probe.",
                     opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int rc = args_parse(&spec, argc, argv, NULL, NULL), partial = 0;
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if (!from || !to.data) {
        fprintf(stderr, CMD ": --from and --data are required (see --help)\n");
        return EXIT_USAGE;
    }
    if (compare_parse_arms(CMD, arms_s, arms, &cfg.narms) || trainopts_check(CMD, &to))
        return EXIT_USAGE;
    for (int a = 0; a < cfg.narms; a++) partial |= arms[a] == GRAFT_ARM_PARTIAL;
    if (freeze_s && !partial)
        fprintf(stderr, CMD ": note: --freeze-until applies to the partial arm only\n");
    if (to.val_split > 0) {
        fprintf(stderr, CMD ": --val-split is not supported: compare evaluates on --eval-data\n");
        return EXIT_USAGE;
    }
    if (to.log || to.keep_best || to.ckpt_every)
        fprintf(stderr, CMD ": note: --log, --keep-best and --checkpoint-every are ignored (the "
                        "per-epoch numbers go to PREFIX.csv)\n");
    transfer_open t;
    if (transfer_open_all(CMD, from, &to, &co, NULL, NULL, 1, &t)) return 1;
    int status = 1, adamw = !strcasecmp(to.opt, "adamw");
    graft_compare_result res = {0};
    if (partial && (cfg.freeze_until = compare_partial_cut(CMD, freeze_s, t.src, from)) < 0) goto done;
    if (!t.eval) {
        fprintf(stderr, CMD ": no evaluation data: give --eval-data (only an IDX source such as "
                            "fashion-mnist has a test split)\n");
        goto done;
    }
    int K = graft_dataset_num_classes(t.train);
    if (graft_dataset_num_classes(t.eval) != K) {
        fprintf(stderr, CMD ": the evaluation data has %d classes, the training data %d (see "
                            "--eval-classes)\n", graft_dataset_num_classes(t.eval), K);
        goto done;
    }
    /* Every arm sees the images normalised with the source's statistics. */
    if (trainopts_config(&to, &co, t.train, &t.meta, t.eval_name, NULL, &cfg.train)) goto done;
    if (partial && cfg.train.augment) {
        fprintf(stderr, CMD ": the partial arm caches the frozen layers' outputs, which augmentation "
                            "would change every epoch: use --augment none or drop the arm\n");
        goto done;
    }
    compare_ui ui = {co.quiet, t.eval_name};
    compare_setup cs = {from, t.smeta.arch, &to, co.seed, t.train, t.eval, t.eval_name, t.src,
                        graft_ctx_device(t.ctx)->name};
    if (!co.quiet) compare_print_plan(CMD, &cfg, &cs);
    cfg.user = &ui;
    cfg.seed = (uint64_t)co.seed;
    cfg.target = target;
    cfg.opt = trainopts_opt_params(&to, t.train); /* lr: scratch's */
    cfg.lr_transfer = to.lr >= 0 ? to.lr : adamw ? 3e-4f : 0.01f;
    cfg.warmup_epochs = to.warmup;
    if (graft_compare(t.src, t.train, t.eval, &cfg, &res) != GRAFT_OK) {
        fprintf(stderr, CMD ": %s\n", graft_last_error(t.ctx));
        goto done;
    }
    status = compare_report(CMD, &res, &cs, prefix);
done:
    graft_compare_result_free(&res);
    trainopts_config_free(&cfg.train);
    transfer_close(&t);
    return status;
}
