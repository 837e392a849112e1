/* graft train: train a built-in architecture from scratch ("pretraining"). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "interrupt.h"
#include "mpi_comm.h"
#include "outlock.h"
#include "graft_train.h"
#include "trainopts.h"

#define CMD "graft train"

/* Loads the data at the architecture's input size, or (from_data) at the
 * data's own size, at least 32; 0 or an exit status. */
static int load_data(const train_opts *to, const common_opts *co, graft_arch_params *ap,
                     int from_data, graft_dataset **train, graft_dataset **eval,
                     const char **eval_name)
{
    if (from_data) ap->height = ap->width = 0;
    int rc = trainopts_load(CMD, to, co, ap->channels, ap->height, ap->width, train, eval, eval_name);
    if (rc || ap->height) return rc;
    int h, w;
    graft_dataset_shape(*train, NULL, &h, &w);
    ap->height = h < 32 ? 32 : h;
    ap->width = w < 32 ? 32 : w;
    if (ap->height == h && ap->width == w) return 0;
    /* Reload at the architecture's minimum size. */
    graft_dataset_free(*train);
    graft_dataset_free(*eval);
    return trainopts_load(CMD, to, co, ap->channels, ap->height, ap->width, train, eval, eval_name);
}

int cmd_train(int argc, char **argv)
{
    common_opts co = {NULL, 0, 1};
    train_opts to;
    trainopts_defaults(&to);
    const char *arch = "refnet", *out = "model.graft", *resume = NULL;
    float width = 1.0f, dropout = 0.0f;
    int size = 0;
    opt opts[] = {
        {"arch", OPT_STRING, &arch, "NAME", "refnet (28x28 grey), resnet18 or mobilenetv2 (default refnet)", 0, 0},
        TRAINOPTS_DATA(to),
        TRAINOPTS_TRAIN(to),
        {"size", OPT_INT, &size, "N", "input size (default: 28 for refnet, else the data's size, at least 32)", 8, 4096},
        {"width", OPT_FLOAT, &width, "F", "width multiplier for resnet18/mobilenetv2 (default 1)", 0.05, 4},
        {"dropout", OPT_FLOAT, &dropout, "P", "dropout before the classifier (default 0; 0.2 for mobilenetv2)", 0, 0.95},
        {"out", OPT_STRING, &out, "PATH", "model file to write (default model.graft)", 0, 0},
        {"resume", OPT_STRING, &resume, "CKPT", "continue a run from its checkpoint", 0, 0},
        TRAINOPTS_PARALLEL(to),
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft train [OPTIONS]",
                     "Trains a network from scratch on a labelled dataset (pretraining) and writes\n"
                     "a model file holding the graph, weights, class names and normalisation.\n"
                     "Prints per-epoch loss, accuracy, evaluation accuracy and images/s, and logs\n"
                     "every epoch to CSV (or JSON lines when --log ends in .jsonl).",
                     opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int rc = args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if ((rc = trainopts_parallel(CMD, &to, &co))) return rc;
    /* Under mpirun: data parallel across the ranks; rank 0 alone prints
     * and writes files. */
    mpi_comm *mc = mpi_comm_world();
    int rank = mc ? mpi_comm_rank(mc) : 0;
    if (mc) {
        to.comm = mpi_comm_collective(mc);
        if (rank > 0) co.quiet = 1;
    }
    if (strcasecmp(arch, "refnet") && strcasecmp(arch, "resnet18") && strcasecmp(arch, "mobilenetv2")) {
        fprintf(stderr, CMD ": --arch '%s': expected refnet, resnet18 or mobilenetv2\n", arch);
        return EXIT_USAGE;
    }
    to.auto_batch_ok = 1;
    if (trainopts_check(CMD, &to)) return EXIT_USAGE;
    if (rank == 0 && outlock_take(CMD, out)) return 1;

    graft_arch_params ap = graft_arch_default_params(arch);
    if (size) ap.height = ap.width = size;
    graft_dataset *train = NULL, *eval = NULL;
    const char *eval_name = NULL;
    if (load_data(&to, &co, &ap, !size && strcasecmp(arch, "refnet"), &train, &eval, &eval_name)) return 1;
    ap.classes = graft_dataset_num_classes(train);
    ap.width_mult = width;
    if (dropout > 0) ap.dropout = dropout;

    graft_ctx *ctx = cli_open_device(CMD, &co);
    graft_model *m = NULL;
    graft_optimizer *o = NULL;
    graft_model_meta meta = {0};
    graft_train_config cfg = {0};
    graft_train_result res = {0};
    int status = 1;
    if (!ctx) goto done;
    snprintf(meta.arch, sizeof meta.arch, "%s", arch);
    if (trainopts_meta(CMD, &to, train, &meta) || trainopts_config(&to, &co, train, &meta, eval_name, out, &cfg))
        goto done;
    if (graft_model_create(ctx, &m) != GRAFT_OK) goto fail;
    graft_model_set_seed(m, (uint64_t)co.seed);
    if (graft_model_build_arch(m, arch, &ap) != GRAFT_OK) goto fail;
    if (to.batch == 0) {
        graft_opt_kind kind = strcasecmp(to.opt, "adamw") ? GRAFT_OPT_SGD : GRAFT_OPT_ADAMW;
        if (!(to.batch = cli_auto_batch(CMD, m, 1, kind, graft_dataset_size(train), 512, co.quiet)))
            goto done;
        cfg.batch = to.batch;
    }
    if (trainopts_optimizer(&to, m, train, &o) != GRAFT_OK) goto fail;
    if (resume && (status = trainopts_resume(CMD, resume, m, o, &to, graft_dataset_size(train),
                                             co.quiet, &cfg)) != 0)
        goto done;
    status = 1;
    cfg.stop = interrupt_install();
    if (!co.quiet)
        printf("training %s (%zu parameters, %.1f MFLOP/image) on %d images of %d classes, "
               "%d epochs, batch %d\n", arch, graft_model_param_count(m),
               graft_model_flops_per_image(m) / 1e6, graft_dataset_size(train), ap.classes,
               to.epochs, to.batch);
    fflush(stdout); /* before the progress lines on stderr */
    graft_ctx_set_progress(ctx, cfg.cb.progress, cfg.cb.user); /* the evaluation passes */
    graft_status ts = graft_train(m, o, train, eval, &cfg, &res);
    graft_ctx_set_progress(ctx, NULL, NULL);
    if (ts != GRAFT_OK) goto fail;
    trainopts_report_skips(CMD, &res);
    if (res.interrupted) {
        status = interrupt_report(CMD, argc, argv, &res, cfg.ckpt_path, (int)*cfg.stop);
        goto done;
    }
    if (rank > 0) { /* rank 0 writes the model and says so */
        status = 0;
        goto done;
    }
    if (graft_model_save(m, &meta, out) != GRAFT_OK) goto fail;
    if (res.nepochs > 0 && res.hist[res.nepochs - 1].eval_acc >= 0)
        printf("final %s accuracy %.2f%% (best %.2f%% at epoch %d); wrote %s\n", eval_name,
               100 * res.hist[res.nepochs - 1].eval_acc, 100 * res.best_eval_acc, res.best_epoch, out);
    else
        printf("wrote %s\n", out);
    status = 0;
    goto done;
fail:
    fprintf(stderr, CMD ": %s%s\n", mc ? "rank failed: " : "", graft_last_error(ctx));
    /* The other ranks may wait in a collective this rank will not join,
     * unless they agreed to stop with it (a failure inside training):
     * then every rank is here, and waits until all have said why before
     * exiting (mpirun ends the job at the first non-zero exit). */
    if (mc && mpi_comm_stop_agreed(mc)) mpi_comm_barrier(mc);
    else if (mc) mpi_comm_abort(mc, 1);
done:
    graft_train_result_free(&res);
    trainopts_config_free(&cfg);
    graft_optimizer_free(o);
    graft_model_free(m);
    graft_model_meta_free(&meta);
    graft_ctx_destroy(ctx);
    graft_dataset_free(train);
    graft_dataset_free(eval);
    return status;
}
