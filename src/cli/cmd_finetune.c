/* graft finetune: adapt a pretrained model to a new (small) target set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "finetune_run.h"

int cmd_finetune(int argc, char **argv)
{
    const char *cmd = "graft finetune";
    common_opts co = {NULL, 0, 1};
    train_opts to;
    trainopts_defaults(&to);
    to.data = NULL;
    to.epochs = 15;
    to.batch = 32;
    const char *from = NULL, *out = "finetuned.graft";
    finetune_cli fc;
    finetune_cli_defaults(&fc);
    opt opts[] = {
        {"from", OPT_STRING, &from, "MODEL", "pretrained source model (.graft), required", 0, 0},
        FINETUNE_OPTS(fc),
        TRAINOPTS_DATA(to),
        TRAINOPTS_TRAIN(to),
        {"out", OPT_STRING, &out, "PATH", "model file to write (default finetuned.graft)", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft finetune --from MODEL --data TARGET [OPTIONS]",
                     "Fine-tunes a pretrained model on a target dataset: the backbone is kept, the\n"
                     "classifier is replaced for the target's classes (unless --keep-head).\n"
                     "linear-probe trains the new head on features computed once; finetune trains\n"
                     "every layer (optionally with a frozen prefix and smaller backbone rates);\n"
                     "gradual unfreezes from the head downwards. Images are converted to the\n"
                     "source model's input shape and normalised with its statistics.",
                     opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int rc = args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if (!from || !to.data) {
        fprintf(stderr, "%s: --from and --data are required (see --help)\n", cmd);
        return EXIT_USAGE;
    }
    finetune_opts fo;
    if (finetune_cli_check(cmd, &fc, &to, &fo)) return EXIT_USAGE;

    graft_ctx *ctx = cli_open_device(cmd, &co);
    if (!ctx) return 1;
    int status = 1;
    graft_model *src = NULL, *m = NULL;
    graft_model_meta smeta, meta;
    memset(&smeta, 0, sizeof smeta);
    memset(&meta, 0, sizeof meta);
    dataset *train = NULL, *eval = NULL;
    train_result res;
    memset(&res, 0, sizeof res);
    const char *eval_name = NULL;

    if (graft_model_load(ctx, from, &src, &smeta) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, graft_last_error(ctx));
        goto done;
    }
    int c, h, w;
    graft_model_node_shape(src, 0, &c, &h, &w);
    if (trainopts_load(cmd, &to, &co, c, h, w, &train, &eval, &eval_name)) goto done;
    if (finetune_meta(cmd, &to, train, &smeta, &meta)) goto done;
    if (finetune_cli_freeze(cmd, &fc, src, from, &fo)) goto done;
    if (!co.quiet)
        printf("%s: %s from %s on %d images of %d classes, %d epochs\n", cmd,
               transfer_strategy_name(fo.strategy), from, train->n, train->nclasses, to.epochs);
    if (finetune_run(cmd, src, train, eval, eval_name, &meta, &fo, fc.keep_head, &to, &co,
                     (uint64_t)co.seed, out, &m, &res))
        goto done;
    graft_model_free(src);
    src = NULL;
    if (graft_model_save(m, &meta, out) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, graft_last_error(ctx));
        goto done;
    }
    if (res.nepochs > 0 && res.hist[res.nepochs - 1].eval_acc >= 0)
        printf("final %s accuracy %.2f%% (best %.2f%% at epoch %d); wrote %s\n", eval_name,
               100 * res.hist[res.nepochs - 1].eval_acc, 100 * res.best_eval_acc, res.best_epoch, out);
    else
        printf("wrote %s\n", out);
    status = 0;
done:
    train_result_free(&res);
    graft_model_free(m);
    graft_model_free(src);
    graft_model_meta_free(&meta);
    graft_model_meta_free(&smeta);
    dataset_free(train);
    dataset_free(eval);
    graft_ctx_destroy(ctx);
    return status;
}
