/* graft selftrain: self-training with pseudo-labels from an unlabelled
 * pool (graft_selftrain); one line per round, the final model, a JSON log. */
#include <stdio.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "finetune_run.h"
#include "workflow_files.h"

#define CMD "graft selftrain"

int cmd_selftrain(int argc, char **argv)
{
    common_opts co = {NULL, 0, 1};
    train_opts to;
    trainopts_defaults(&to);
    to.data = NULL;
    to.epochs = 15;
    to.batch = 32;
    const char *from = NULL, *out = "selftrained.graft", *pool_spec = NULL, *pool_classes = NULL;
    const char *json = NULL;
    int rounds = 2, cap = 0, pool_per_class = 0;
    float threshold = 0.9f;
    finetune_cli fc;
    finetune_cli_defaults(&fc);
    opt opts[] = {
        {"from", OPT_STRING, &from, "MODEL", "pretrained source model (.graft), required", 0, 0},
        {"unlabelled", OPT_STRING, &pool_spec, "SPEC", "the unlabelled pool (required; any data "
         "form; labels, if any, are only used to report pseudo-label accuracy)", 0, 0},
        {"unlabelled-classes", OPT_STRING, &pool_classes, "LIST", "classes of the pool to use "
         "(default: same as --classes)", 0, 0},
        {"unlabelled-per-class", OPT_INT, &pool_per_class, "N", "seeded sample of N pool images "
         "per class", 1, 100000000},
        {"rounds", OPT_INT, &rounds, "R", "pseudo-labelling rounds after round 0 (default 2)", 0, 1000},
        {"threshold", OPT_FLOAT, &threshold, "T", "keep predictions with a top probability of at "
         "least T (default 0.9; above 1 keeps none)", 0, 1000},
        {"per-class-cap", OPT_INT, &cap, "N", "keep at most N pseudo-labels per class, the most "
         "confident (default 0 = no cap)", 0, 100000000},
        {"json", OPT_STRING, &json, "PATH", "write the per-round results as JSON", 0, 0},
        FINETUNE_OPTS(fc),
        TRAINOPTS_DATA(to),
        TRAINOPTS_TRAIN(to),
        {"out", OPT_STRING, &out, "PATH", "final model file (default selftrained.graft)", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft selftrain --from MODEL --data LABELLED --unlabelled POOL [OPTIONS]",
                     "Self-training: round 0 fine-tunes on the labelled data; every further round\n"
                     "predicts the pool, keeps the confident predictions as pseudo-labels (at most\n"
                     "--per-class-cap per class) and fine-tunes again from the source model on the\n"
                     "labelled data plus the pseudo-labelled images. Each round is evaluated on\n"
                     "--eval-data (default: the test split of an IDX source).",
                     opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int rc = args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if (!from || !to.data || !pool_spec) {
        fprintf(stderr, CMD ": --from, --data and --unlabelled are required (see --help)\n");
        return EXIT_USAGE;
    }
    if (cli_check_data_path(CMD, "--unlabelled", pool_spec)) return 1;
    graft_finetune_params fp;
    transfer_open t;
    if ((rc = transfer_open_all(CMD, from, &to, &co, &fc, &fp, 1, &t))) return rc;
    int status = 1, c, h, w;
    graft_dataset *pool = NULL;
    graft_selftrain_result res = {0};
    graft_selftrain_config cfg = {rounds, threshold, cap, fp, trainopts_opt_params(&to, t.train),
                                  graft_train_default_config(), 0, selftrain_print_round, NULL};
    if (!t.eval) {
        fprintf(stderr, CMD ": no evaluation data: give --eval-data or --val-split\n");
        status = EXIT_USAGE;
        goto done;
    }
    /* A different sampling seed than the labelled set's. */
    graft_dataset_shape(t.train, &c, &h, &w);
    data_request pr = {pool_spec, SPLIT_TRAIN, c, h, w, to.skip_bad,
                       pool_classes ? pool_classes : to.classes, pool_per_class,
                       (uint64_t)co.seed + 7, co.quiet, 0};
    if ((rc = cli_load_data(CMD, &pr, &pool))) {
        status = rc;
        goto done;
    }
    if (!co.quiet)
        printf(CMD ": %s from %s; %d labelled images of %d classes, pool of %d, %s set of %d\n",
               graft_strategy_name(fp.strategy), from, graft_dataset_size(t.train),
               graft_dataset_num_classes(t.train), graft_dataset_size(pool), t.eval_name,
               graft_dataset_size(t.eval));
    round_printer rp = {t.eval_name, graft_dataset_size(t.train), graft_dataset_num_classes(t.train),
                        NULL};
    cfg.user = &rp;
    if (trainopts_config(&to, &co, t.train, &t.meta, NULL, NULL, &cfg.train)) goto done;
    /* The rounds' runs and pool predictions report to the context's sink:
     * the console of cfg.train. */
    rp.con = cfg.train.cb.user;
    graft_ctx_set_progress(t.ctx, cfg.train.cb.progress, cfg.train.cb.user);
    graft_status ss = graft_selftrain(t.src, t.train, pool, t.eval, &cfg, &res);
    graft_ctx_set_progress(t.ctx, NULL, NULL);
    if (ss != GRAFT_OK) {
        fprintf(stderr, CMD ": %s\n", graft_last_error(t.ctx));
        goto done;
    }
    if (graft_model_save(res.model, &t.meta, out) != GRAFT_OK) {
        fprintf(stderr, CMD ": %s\n", graft_last_error(t.ctx));
        goto done;
    }
    if (json && selftrain_write_json(json, &res, threshold, cap, graft_dataset_size(pool),
                           graft_dataset_size(t.train), out))
        goto done;
    printf("final %s accuracy %.2f%%; wrote %s\n", t.eval_name,
           100 * res.rounds[res.nrounds - 1].eval_accuracy, out);
    status = 0;
done:
    trainopts_config_free(&cfg.train);
    graft_selftrain_result_free(&res);
    graft_dataset_free(pool);
    transfer_close(&t);
    return status;
}
