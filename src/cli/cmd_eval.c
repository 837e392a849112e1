/* graft eval: accuracy, per-class metrics and confusion matrix of a model
 * on a labelled dataset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "class_match_cli.h"
#include "cli.h"
#include "common.h"
#include "console.h"
#include "eval_report.h"
#include "graft_eval.h"
#include "modelcli.h"

#define CMD "graft eval"

int cmd_eval(int argc, char **argv)
{
    common_opts co = {NULL, 0, 1};
    const char *model = NULL, *data = "fashion-mnist", *classes = NULL, *split = NULL;
    const char *json = NULL, *csv = NULL, *preds = NULL;
    int batch = 256, skip_bad = 0, allow_unknown = 0;
    opt opts[] = {
        {"model", OPT_STRING, &model, "PATH", "model file to evaluate (required)", 0, 0},
        {"data", OPT_STRING, &data, "SPEC", "labelled data: fashion-mnist, an IDX file or folder, "
         "a class folder root/<class>/<images>, or a path,label .csv (default fashion-mnist)", 0, 0},
        {"split", OPT_STRING, &split, "NAME", "train or test split of an IDX source (default: test)", 0, 0},
        {"classes", OPT_STRING, &classes, "LIST", "use only these classes of the data, by name "
         "or index: cat,rocket, 5,6,7 or 5-9 (relabelled 0..k-1 in that order)", 0, 0},
        {"batch", OPT_BATCH, &batch, "N", "inference batch size, or auto: the largest that fits the device, at most 1024 (default 256)", 1, 65536},
        {"json", OPT_STRING, &json, "PATH", "write every metric and the confusion matrix as JSON", 0, 0},
        {"csv", OPT_STRING, &csv, "PATH", "write per-class precision/recall/F1/support as CSV", 0, 0},
        {"predictions", OPT_STRING, &preds, "PATH", "write one CSV row per image: index, path, "
         "label, predicted class and its probability", 0, 0},
        {"skip-bad", OPT_FLAG, &skip_bad, NULL, "skip unreadable image files (reported) instead "
         "of stopping", 0, 0},
        {"allow-unknown", OPT_FLAG, &allow_unknown, NULL, "skip (and count) images of classes the "
         "model lacks instead of stopping", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft eval --model PATH [--data SPEC] [OPTIONS]",
                     "Evaluates a model on labelled data, converted to the model's input shape and\n"
                     "normalised with the model's statistics. Prints top-1 and top-5 accuracy, the\n"
                     "mean loss, per-class precision, recall, F1 and support, and the confusion\n"
                     "matrix. The data's classes are matched to the model's by name (by index only\n"
                     "when one side has no names); a data class the model lacks is an error\n"
                     "(--allow-unknown skips its images), model classes absent from the data are\n"
                     "reported.",
                     opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int rc = args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if (!model) {
        fprintf(stderr, CMD ": --model PATH is required (see --help)\n");
        return EXIT_USAGE;
    }
    if (split && strcmp(split, "train") && strcmp(split, "test")) {
        fprintf(stderr, CMD ": --split '%s': expected train or test\n", split);
        return EXIT_USAGE;
    }
    data_split sp = split && !strcmp(split, "train") ? SPLIT_TRAIN : SPLIT_TEST;
    graft_ctx *ctx;
    graft_model *m;
    graft_model_meta meta;
    if (cli_check_data_path(CMD, "--data", data)) return 1;
    if (cli_open_model(CMD, &co, model, &ctx, &m, &meta)) return 1;
    graft_dataset *d = NULL;
    graft_eval_result er = {0};
    graft_class_metrics *cm = NULL, macro, weighted;
    int status = 1, c, h, w, K = cli_model_classes(m);
    graft_model_node_shape(m, 0, &c, &h, &w);
    data_request rq = {data, sp, c, h, w, skip_bad, classes, 0, (uint64_t)co.seed, co.quiet, 0};
    if ((rc = cli_load_data(CMD, &rq, &d))) {
        status = rc;
        goto done;
    }
    if (cli_match_classes(CMD, cli_model_names(&meta, K), K, "the model", data, allow_unknown, co.quiet, &d))
        goto done;
    int is_split = cli_has_test_split(data);
    const char *split_name = is_split ? (sp == SPLIT_TRAIN ? "train" : "test") : NULL;
    if (split && !is_split && !co.quiet)
        fprintf(stderr, CMD ": note: --split ignored, %s has no train/test splits\n", data);
    if (batch == 0 &&
        !(batch = cli_auto_batch(CMD, m, 0, GRAFT_OPT_SGD, graft_dataset_size(d), 1024, co.quiet)))
        goto done;
    double t0 = cli_seconds();
    console con;
    console_init(&con, CMD, co.quiet, 0, NULL);
    graft_ctx_set_progress(ctx, console_progress, &con);
    graft_status es = graft_evaluate(m, d, meta.mean, meta.std, batch, preds != NULL, &er);
    graft_ctx_set_progress(ctx, NULL, NULL);
    progress_clear(&con.pr);
    if (es != GRAFT_OK) {
        fprintf(stderr, CMD ": %s\n", graft_last_error(ctx));
        goto done;
    }
    double secs = cli_seconds() - t0;
    if (!(cm = calloc((size_t)K, sizeof *cm))) {
        fprintf(stderr, CMD ": out of memory\n");
        goto done;
    }
    graft_eval_class_metrics(&er, cm, &macro, &weighted);
    if (!co.quiet)
        printf("evaluated %s on %d images of %s%s%s (%dx%dx%d) in %.2f s, %.0f images/s\n",
               model, er.n, data, split_name ? ", " : "", split_name ? split_name : "", c, h, w,
               secs, secs > 0 ? er.n / secs : 0.0);
    eval_report e = {model, data, split_name, &er, &meta, cm, &macro, &weighted};
    eval_report_print(&e);
    if ((json && eval_report_json(&e, json)) || (csv && eval_report_csv(&e, csv)) ||
        (preds && eval_report_predictions(&e, d, preds)))
        goto done;
    if (!co.quiet && (json || csv || preds))
        printf("\nwrote%s%s%s%s%s%s\n", json ? " " : "", json ? json : "", csv ? " " : "",
               csv ? csv : "", preds ? " " : "", preds ? preds : "");
    status = 0;
done:
    free(cm);
    graft_eval_result_free(&er);
    graft_dataset_free(d);
    graft_model_meta_free(&meta);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
    return status;
}
