/* graft score: rank candidate source models for a target dataset by the
 * LogME transferability score of their features, without any training
 * (graft_score), with a random-init baseline row. */
#include <stdio.h>
#include <stdlib.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "console.h"
#include "graft_transfer.h"
#include "workflow_files.h"

#define CMD "graft score"
#define MAX_LAYERS 32

int cmd_score(int argc, char **argv)
{
    common_opts co = {NULL, 0, 1};
    graft_score_config cfg = {graft_data_default_spec(), NULL, 0, 128, 0, score_on_log, score_on_row, NULL};
    const char *layers_s = NULL, *csv = NULL, *json = NULL;
    opt opts[] = {
        {"data", OPT_STRING, &cfg.data.source, "SPEC", "labelled target data: fashion-mnist, an IDX "
         "file or folder, a class folder root/<class>/*.png, or a path,label .csv (required)", 0, 0},
        {"classes", OPT_STRING, &cfg.data.classes, "LIST", "use only these classes, e.g. 5-9 (relabelled)", 0, 0},
        {"per-class", OPT_INT, &cfg.data.per_class, "N", "seeded sample of N images per class (the "
         "same sample for every candidate)", 1, 100000000},
        {"layers", OPT_STRING, &layers_s, "LIST", "comma-separated layer names (or indices) to "
         "score, e.g. conv4.act,pool2 (default: the classifier's input)", 0, 0},
        {"batch", OPT_INT, &cfg.batch, "N", "batch size for feature extraction (default 128)", 1, 65536},
        {"skip-bad", OPT_FLAG, &cfg.data.skip_bad, NULL, "skip unreadable image files", 0, 0},
        {"csv", OPT_STRING, &csv, "PATH", "write the ranking as CSV", 0, 0},
        {"json", OPT_STRING, &json, "PATH", "write the ranking as JSON", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft score --data TARGET [OPTIONS] MODEL.graft...",
                     "Ranks pretrained candidate models for a target dataset by LogME (You et al.,\n"
                     "2021): the evidence of a linear model on each candidate's features for the\n"
                     "target labels, computed without any training. Higher is better. The images\n"
                     "are converted to each model's input shape and normalised with its statistics.\n"
                     "Spatial feature maps are averaged per channel. A randomly initialised network\n"
                     "of the first candidate's architecture is always scored as a baseline; a\n"
                     "warning is printed when no candidate beats it.",
                     opts, (int)(sizeof opts / sizeof opts[0]), 1 << 20};
    char **pos = NULL, layers_buf[4096];
    const char *layers[MAX_LAYERS];
    int npos = 0, status = EXIT_USAGE, rc = args_parse(&spec, argc, argv, &pos, &npos);
    if (rc) {
        free(pos);
        return rc == 1 ? 0 : EXIT_USAGE;
    }
    if (!cfg.data.source || npos < 1) {
        fprintf(stderr, CMD ": --data and at least one MODEL.graft are required (see --help)\n");
        goto done;
    }
    if (layers_s) {
        snprintf(layers_buf, sizeof layers_buf, "%s", layers_s);
        if ((cfg.nlayers = args_split_list(layers_buf, layers, MAX_LAYERS)) <= 0) {
            fprintf(stderr, CMD ": --layers '%s': expected 1 to %d comma-separated names\n",
                    layers_s, MAX_LAYERS);
            goto done;
        }
        cfg.layers = layers;
    }
    status = 1;
    /* Fail before the device opens (it compiles kernels) on a missing path. */
    if (cli_check_data_path(CMD, "--data", cfg.data.source)) goto done;
    for (int i = 0; i < npos; i++)
        if (cli_check_model_path(CMD, "", pos[i])) goto done;
    graft_ctx *ctx = cli_open_device(CMD, &co);
    if (!ctx) goto done;
    console con; /* per-score lines and the feature passes' progress */
    console_init(&con, CMD, co.quiet, 0, NULL);
    cfg.user = &con;
    cfg.seed = cfg.data.seed = (uint64_t)co.seed; /* the same images for every candidate */
    cfg.data.log = co.quiet ? NULL : score_on_log;
    cfg.data.log_user = &con;
    graft_score_result res = {0};
    graft_ctx_set_progress(ctx, console_progress, &con);
    graft_status s = graft_score(ctx, (const char *const *)pos, npos, &cfg, &res);
    graft_ctx_set_progress(ctx, NULL, NULL);
    progress_clear(&con.pr);
    if (s != GRAFT_OK) {
        fprintf(stderr, CMD ": %s\n", graft_last_error(ctx));
        /* A bad data request is a usage error, as in every command. */
        if (res.images == 0) status = cli_exit_status(s);
    } else {
        score_print_table(&res, cfg.data.source);
        status = score_write_files(&res, cfg.data.source, csv, json);
    }
    graft_score_result_free(&res);
    graft_ctx_destroy(ctx);
done:
    free(pos);
    return status;
}
