/* graft finetune: adapt a pretrained model to a new (small) target set. */
#include <stdio.h>

#include "args.h"
#include "cli.h"
#include "outlock.h"
#include "common.h"
#include "finetune_run.h"
#include "interrupt.h"
#include "mpi_comm.h"

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
    fc.strategy = "recipe";
    opt opts[] = {
        {"from", OPT_STRING, &from, "MODEL", "pretrained source model (.graft), required", 0, 0},
        FINETUNE_OPTS(fc),
        TRAINOPTS_DATA(to),
        TRAINOPTS_TRAIN(to),
        TRAINOPTS_PARALLEL(to),
        {"out", OPT_STRING, &out, "PATH", "model file to write (default finetuned.graft)", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft finetune --from MODEL --data TARGET [OPTIONS]",
                     "Fine-tunes a pretrained model on a target dataset: the backbone is kept, the\n"
                     "classifier is replaced for the target's classes (unless --keep-head).\n"
                     "recipe (the default) trains the new head on cached features (as many\n"
                     "epochs as --epochs, at the cost of about one forward pass), then every\n"
                     "layer for --epochs with the backbone at lr/10 (top) to lr/100 (input), one\n"
                     "epoch of warm-up and, below 250 images per class, the source's BatchNorm\n"
                     "statistics; linear-probe trains only the head on features\n"
                     "computed once; finetune trains every layer (optionally with a frozen prefix\n"
                     "and smaller backbone rates); gradual unfreezes from the head downwards.\n"
                     "Images are converted to the source model's input shape and normalised with\n"
                     "its statistics. graft lr-find suggests a learning rate.",
                     opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int rc = args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if ((rc = trainopts_parallel(cmd, &to, &co))) return rc;
    /* Under mpirun: data parallel across the ranks; rank 0 alone prints
     * and writes files. */
    mpi_comm *mc = mpi_comm_world();
    int rank = mc ? mpi_comm_rank(mc) : 0;
    if (mc) {
        to.comm = mpi_comm_collective(mc);
        if (rank > 0) co.quiet = 1;
    }
    graft_finetune_params fp;
    transfer_open t;
    if (rank == 0 && outlock_take(cmd, out)) return 1;
    if ((rc = transfer_open_all(cmd, from, &to, &co, &fc, &fp, 1, &t))) return rc;
    graft_model *m = NULL;
    graft_train_result res = {0};
    int status = 1;
    int head = graft_recipe_head_epochs(&fp, to.epochs);
    if (!co.quiet && head)
        printf("%s: recipe from %s on %d images of %d classes, %d epochs of the head, then %d "
               "of every layer\n", cmd, from, graft_dataset_size(t.train),
               graft_dataset_num_classes(t.train), head, to.epochs);
    else if (!co.quiet)
        printf("%s: %s from %s on %d images of %d classes, %d epochs\n", cmd,
               graft_strategy_name(fp.strategy), from, graft_dataset_size(t.train),
               graft_dataset_num_classes(t.train), to.epochs);
    to.stop = interrupt_install();
    if (finetune_run(cmd, t.src, t.train, t.eval, t.eval_name, &t.meta, &fp, &to, &co,
                     (uint64_t)co.seed, out, &m, &res)) {
        /* The other ranks may wait in a collective this rank will not join,
         * unless they agreed to stop with it (a failure inside training):
         * then every rank is here, and waits until all have said why
         * (mpirun ends the job at the first non-zero exit). */
        if (mc && mpi_comm_stop_agreed(mc)) mpi_comm_barrier(mc);
        else if (mc) mpi_comm_abort(mc, 1);
        goto done;
    }
    if (res.interrupted) { /* finetune has no --resume: nothing half-trained is written */
        fprintf(stderr, "%s: interrupted in epoch %d after batch %ld; %s not written (rerun the "
                "command to fine-tune again)\n", cmd, res.interrupted_epoch,
                res.interrupted_batch, out);
        status = interrupt_exit_status((int)*to.stop);
        goto done;
    }
    if (rank > 0) { /* rank 0 writes the model and says so */
        status = 0;
        goto done;
    }
    if (graft_model_save(m, &t.meta, out) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, graft_last_error(t.ctx));
        goto done;
    }
    if (res.nepochs > 0 && res.hist[res.nepochs - 1].eval_acc >= 0)
        printf("final %s accuracy %.2f%% (best %.2f%% at epoch %d); wrote %s\n", t.eval_name,
               100 * res.hist[res.nepochs - 1].eval_acc, 100 * res.best_eval_acc, res.best_epoch, out);
    else
        printf("wrote %s\n", out);
    status = 0;
done:
    graft_train_result_free(&res);
    graft_model_free(m);
    transfer_close(&t);
    return status;
}
