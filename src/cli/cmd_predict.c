/* graft predict: classify image files (PNG, JPEG) with a trained model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "console.h"
#include "graft_eval.h"
#include "modelcli.h"
#include "predict_table.h"

#define CMD "graft predict"

static void note(void *user, graft_log_level level, const char *msg)
{
    (void)user, (void)level;
    fprintf(stderr, CMD ": %s\n", msg);
}
/* A table row, after the live progress line (if any) is cleared. */
typedef struct row_sink {
    predict_table *table;
    console *con;
} row_sink;

static graft_status row(void *user, const graft_prediction *p)
{
    row_sink *r = user;
    progress_clear(&r->con->pr);
    return predict_table_row(r->table, p);
}

int cmd_predict(int argc, char **argv)
{
    common_opts co = {NULL, 0, 1};
    const char *model = NULL, *csv = NULL;
    int top = 1, batch = 256, skip_bad = 0;
    opt opts[] = {
        {"model", OPT_STRING, &model, "PATH", "model file (required)", 0, 0},
        {"top", OPT_INT, &top, "K", "also show the K most likely classes (default 1)", 1, 1000},
        {"csv", OPT_STRING, &csv, "PATH", "write path,label,prob,rank2_label,rank2_prob,... to PATH "
         "('-': to standard output instead of the table)", 0, 0},
        {"batch", OPT_BATCH, &batch, "N", "images per forward pass, or auto: the largest that fits the device, at most 1024 (default 256)", 1, 65536},
        {"skip-bad", OPT_FLAG, &skip_bad, NULL, "skip unreadable files (counted and reported) "
         "instead of stopping", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft predict --model PATH [OPTIONS] IMAGE... | DIR...",
                     "Classifies images (PNG or JPEG, told by content): each is decoded to the\n"
                     "model's channels, resized (shorter side) and centre-cropped to its input\n"
                     "size, normalised with the model's statistics and run in batches. A\n"
                     "directory stands for every image file below it (.png .jpg .jpeg ...;\n"
                     "recursively, sorted by path); files in formats graft does not read (WebP,\n"
                     "BMP, GIF, TIFF, HEIF) are reported by name. Prints path, predicted label\n"
                     "and probability (and the next K-1 classes with --top K).",
                     opts, (int)(sizeof opts / sizeof opts[0]), 1 << 30};
    char **pos = NULL, **files = NULL, err[4200];
    int npos = 0, nfiles = 0, status = 1, c, h, w, K, bad = 0;
    int rc = args_parse(&spec, argc, argv, &pos, &npos);
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if (!model || npos == 0) {
        fprintf(stderr, CMD ": %s (see --help)\n", !model ? "--model PATH is required" : "give image files or directories");
        free(pos);
        return EXIT_USAGE;
    }
    graft_ctx *ctx = NULL;
    graft_model *m = NULL;
    graft_model_meta meta = {0};
    predict_table s = {&meta, !(csv && !strcmp(csv, "-")), 0, 0, skip_bad, 0, csv, {0}};
    if (graft_image_list((const char *const *)pos, npos, skip_bad, note, NULL, &files, &nfiles, err, sizeof err)) {
        fprintf(stderr, CMD ": %s\n", err);
        goto done;
    }
    if (nfiles == 0) {
        fprintf(stderr, CMD ": no image files found in");
        for (int i = 0; i < npos; i++) fprintf(stderr, " %s", pos[i]);
        fprintf(stderr, " (directories are searched recursively)\n");
        goto done;
    }
    if (cli_open_model(CMD, &co, model, &ctx, &m, &meta)) goto done;
    graft_model_node_shape(m, 0, &c, &h, &w);
    K = cli_model_classes(m);
    if (c != 1 && c != 3) {
        fprintf(stderr, CMD ": %s expects %d input channels; image input needs 1 or 3\n", model, c);
        goto done;
    }
    if (top > K) top = K;
    predict_table_header(&s, files, nfiles, K, top);
    if (batch == 0 && !(batch = cli_auto_batch(CMD, m, 0, GRAFT_OPT_SGD, nfiles, 1024, co.quiet)))
        goto done;
    double t0 = cli_seconds();
    graft_predict_config pc = {batch, top, skip_bad, meta.mean, meta.std};
    console con;
    console_init(&con, CMD, co.quiet, 0, NULL);
    graft_ctx_set_progress(ctx, console_progress, &con);
    row_sink rs = {&s, &con};
    graft_status ps = graft_predict_files(m, (const char *const *)files, nfiles, &pc, row, &rs,
                                          &bad);
    graft_ctx_set_progress(ctx, NULL, NULL);
    progress_clear(&con.pr);
    if (ps) {
        if (bad && !skip_bad) fprintf(stderr, CMD ": stopping at a bad file (use --skip-bad to skip such files)\n");
        else fprintf(stderr, CMD ": %s\n", graft_last_error(ctx));
        goto done;
    }
    double secs = cli_seconds() - t0;
    if (!s.table && s.tb.failed) {
        fprintf(stderr, CMD ": out of memory building the CSV\n");
        goto done;
    }
    if (!s.table) fwrite(s.tb.s, 1, s.tb.len, stdout);
    else if (csv && tb_write(&s.tb, CMD, csv)) goto done;
    if (!co.quiet)
        fprintf(stderr, CMD ": %d images in %.2f s (%.0f images/s)%s%s\n", s.done, secs,
                secs > 0 ? s.done / secs : 0.0, csv && s.table ? "; wrote " : "", csv && s.table ? csv : "");
    if (bad) fprintf(stderr, CMD ": skipped %d bad file%s\n", bad, bad == 1 ? "" : "s");
    status = 0;
done:
    tb_free(&s.tb);
    graft_model_meta_free(&meta);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
    graft_image_list_free(files, nfiles);
    free(pos);
    return status;
}
