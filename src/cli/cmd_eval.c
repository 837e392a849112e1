/* graft eval: accuracy, per-class metrics and confusion matrix of a model
 * on a labelled dataset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "modelcli.h"
#include "textbuf.h"
#include "train.h"

#define CMD "graft eval"

typedef struct class_metrics {
    double precision, recall, f1;
    long support, predicted;
} class_metrics;

static void compute_metrics(const eval_result *r, class_metrics *cm, class_metrics *macro,
                            class_metrics *weighted)
{
    int K = r->classes, present = 0;
    memset(macro, 0, sizeof *macro);
    memset(weighted, 0, sizeof *weighted);
    for (int c = 0; c < K; c++) {
        long tp = r->confusion[(size_t)c * K + c], row = 0, col = 0;
        for (int k = 0; k < K; k++) {
            row += r->confusion[(size_t)c * K + k];
            col += r->confusion[(size_t)k * K + c];
        }
        class_metrics *m = &cm[c];
        /* No predictions / no samples: 0, as scikit-learn reports it. */
        m->precision = col ? (double)tp / col : 0;
        m->recall = row ? (double)tp / row : 0;
        m->f1 = m->precision + m->recall > 0
                    ? 2 * m->precision * m->recall / (m->precision + m->recall) : 0;
        m->support = row;
        m->predicted = col;
        if (row) {
            present++;
            macro->precision += m->precision;
            macro->recall += m->recall;
            macro->f1 += m->f1;
            weighted->precision += m->precision * row;
            weighted->recall += m->recall * row;
            weighted->f1 += m->f1 * row;
        }
        macro->support += row;
    }
    /* Averages over the classes that occur in the data. */
    if (present) {
        macro->precision /= present;
        macro->recall /= present;
        macro->f1 /= present;
    }
    if (macro->support) {
        weighted->precision /= (double)macro->support;
        weighted->recall /= (double)macro->support;
        weighted->f1 /= (double)macro->support;
    }
    weighted->support = macro->support;
}

static int digits(long v)
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

static void print_report(const eval_result *r, const graft_model_meta *meta,
                         const class_metrics *cm, const class_metrics *macro,
                         const class_metrics *weighted)
{
    int K = r->classes;
    char nb[32], tb[32];
    printf("top-1 accuracy: %.2f%%\n", 100 * r->top1);
    printf("top-5 accuracy: %.2f%%\n", 100 * r->top5);
    printf("mean loss: %.4f\n\n", r->loss);

    printf("%-3s %-20s %9s %7s %7s %8s\n", "#", "class", "precision", "recall", "f1", "support");
    for (int c = 0; c < K; c++)
        printf("%-3d %-20s %8.2f%% %6.2f%% %6.2f%% %8ld\n", c,
               cli_trunc(cli_class_name(meta, c, nb, sizeof nb), tb, 21), 100 * cm[c].precision,
               100 * cm[c].recall, 100 * cm[c].f1, cm[c].support);
    printf("%-24s %8.2f%% %6.2f%% %6.2f%% %8ld\n", "macro avg", 100 * macro->precision,
           100 * macro->recall, 100 * macro->f1, macro->support);
    printf("%-24s %8.2f%% %6.2f%% %6.2f%% %8ld\n\n", "weighted avg", 100 * weighted->precision,
           100 * weighted->recall, 100 * weighted->f1, weighted->support);

    /* Confusion matrix: columns headed by class index, rows by index and a
     * name cut to 12 characters; cell width fits the largest count. */
    long mx = K - 1;
    for (size_t i = 0; i < (size_t)K * K; i++)
        if (r->confusion[i] > mx) mx = r->confusion[i];
    int w = digits(mx) + 1;
    printf("confusion matrix (rows: true class, columns: predicted class)\n");
    printf("%-3s %-12s", "", "");
    for (int c = 0; c < K; c++) printf("%*d", w, c);
    printf("\n");
    for (int t = 0; t < K; t++) {
        printf("%-3d %-12s", t, cli_trunc(cli_class_name(meta, t, nb, sizeof nb), tb, 13));
        for (int c = 0; c < K; c++) printf("%*d", w, r->confusion[(size_t)t * K + c]);
        printf("\n");
    }
}

static void json_metrics(textbuf *tb, const class_metrics *m)
{
    tb_printf(tb, "{\"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f, \"support\": %ld}",
              m->precision, m->recall, m->f1, m->support);
}

static int write_json(const char *path, const char *model, const char *data, const char *split,
                      const eval_result *r, const graft_model_meta *meta,
                      const class_metrics *cm, const class_metrics *macro,
                      const class_metrics *weighted)
{
    int K = r->classes;
    char nb[32];
    textbuf tb = {0};
    tb_printf(&tb, "{\n  \"model\": ");
    tb_json_str(&tb, model);
    tb_printf(&tb, ",\n  \"data\": ");
    tb_json_str(&tb, data);
    tb_printf(&tb, ",\n  \"split\": ");
    if (split) tb_json_str(&tb, split);
    else tb_printf(&tb, "null");
    tb_printf(&tb, ",\n  \"images\": %d,\n  \"classes\": %d,\n  \"class_names\": [", r->n, K);
    for (int c = 0; c < K; c++) {
        tb_printf(&tb, c ? ", " : "");
        tb_json_str(&tb, cli_class_name(meta, c, nb, sizeof nb));
    }
    tb_printf(&tb, "],\n  \"top1\": %.6f,\n  \"top5\": %.6f,\n  \"loss\": %.6f,\n  \"macro\": ",
              r->top1, r->top5, r->loss);
    json_metrics(&tb, macro);
    tb_printf(&tb, ",\n  \"weighted\": ");
    json_metrics(&tb, weighted);
    tb_printf(&tb, ",\n  \"per_class\": [\n");
    for (int c = 0; c < K; c++) {
        tb_printf(&tb, "    {\"index\": %d, \"name\": ", c);
        tb_json_str(&tb, cli_class_name(meta, c, nb, sizeof nb));
        tb_printf(&tb, ", \"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f, \"support\": %ld, "
                       "\"predicted\": %ld}%s\n", cm[c].precision, cm[c].recall, cm[c].f1,
                  cm[c].support, cm[c].predicted, c + 1 < K ? "," : "");
    }
    tb_printf(&tb, "  ],\n  \"confusion\": [\n");
    for (int t = 0; t < K; t++) {
        tb_printf(&tb, "    [");
        for (int c = 0; c < K; c++)
            tb_printf(&tb, "%s%d", c ? ", " : "", r->confusion[(size_t)t * K + c]);
        tb_printf(&tb, "]%s\n", t + 1 < K ? "," : "");
    }
    tb_printf(&tb, "  ]\n}\n");
    int rc = tb_write(&tb, CMD, path);
    tb_free(&tb);
    return rc;
}

/* One row per image: index, path (when known), true and predicted class. */
static int write_predictions(const char *path, const dataset *d, const eval_result *r,
                             const graft_model_meta *meta)
{
    char nb[32];
    int K = r->classes;
    textbuf tb = {0};
    tb_printf(&tb, "index,path,label,predicted,prob\n");
    for (int i = 0; i < r->n; i++) {
        const float *p = r->probs + (size_t)i * K;
        int arg = 0;
        for (int c = 1; c < K; c++)
            if (p[c] > p[arg]) arg = c;
        tb_printf(&tb, "%d,", i);
        tb_csv_field(&tb, d->paths && d->paths[i] ? d->paths[i] : "");
        tb_printf(&tb, ",");
        tb_csv_field(&tb, cli_class_name(meta, d->y[i], nb, sizeof nb));
        tb_printf(&tb, ",");
        tb_csv_field(&tb, cli_class_name(meta, arg, nb, sizeof nb));
        tb_printf(&tb, ",%.6f\n", (double)p[arg]);
    }
    int rc = tb_write(&tb, CMD, path);
    tb_free(&tb);
    return rc;
}

static int write_csv(const char *path, const eval_result *r, const graft_model_meta *meta,
                     const class_metrics *cm)
{
    char nb[32];
    textbuf tb = {0};
    tb_printf(&tb, "class,name,precision,recall,f1,support,predicted\n");
    for (int c = 0; c < r->classes; c++) {
        tb_printf(&tb, "%d,", c);
        tb_csv_field(&tb, cli_class_name(meta, c, nb, sizeof nb));
        tb_printf(&tb, ",%.6f,%.6f,%.6f,%ld,%ld\n", cm[c].precision, cm[c].recall, cm[c].f1,
                  cm[c].support, cm[c].predicted);
    }
    int rc = tb_write(&tb, CMD, path);
    tb_free(&tb);
    return rc;
}

/* Reports differing class names; the labels are used as indices anyway. */
static void compare_classes(const dataset *d, const graft_model_meta *meta, int quiet)
{
    int differ = 0;
    for (int c = 0; c < d->nclasses && c < meta->nclasses; c++) {
        const char *a = d->class_names ? d->class_names[c] : NULL;
        const char *b = meta->class_names ? meta->class_names[c] : NULL;
        if (!a || !b || !strcmp(a, b)) continue;
        if (!differ && !quiet)
            fprintf(stderr, CMD ": note: the data's class names differ from the model's; "
                            "labels are taken as class indices:\n");
        if (!quiet && differ < 5)
            fprintf(stderr, "  class %d: data '%s', model '%s'\n", c, a, b);
        differ++;
    }
    if (differ > 5 && !quiet) fprintf(stderr, "  ... %d classes differ in all\n", differ);
    if (d->nclasses < meta->nclasses && !quiet)
        fprintf(stderr, CMD ": note: the data has %d of the model's %d classes\n", d->nclasses,
                meta->nclasses);
}

int cmd_eval(int argc, char **argv)
{
    common_opts co = {NULL, 0, 1};
    const char *model = NULL, *data = "fashion-mnist", *classes = NULL, *split = NULL;
    const char *json = NULL, *csv = NULL, *preds = NULL;
    int batch = 256, skip_bad = 0;
    opt opts[] = {
        {"model", OPT_STRING, &model, "PATH", "model file to evaluate (required)", 0, 0},
        {"data", OPT_STRING, &data, "SPEC", "labelled data: fashion-mnist, an IDX file or folder, "
         "a class folder root/<class>/*.png, or a path,label .csv (default fashion-mnist)", 0, 0},
        {"split", OPT_STRING, &split, "NAME", "train or test split of an IDX source (default test)", 0, 0},
        {"classes", OPT_STRING, &classes, "LIST", "use only these classes of the data, e.g. 5,6,7 "
         "or 5-9 (relabelled 0..k-1 in that order)", 0, 0},
        {"batch", OPT_INT, &batch, "N", "inference batch size (default 256)", 1, 65536},
        {"json", OPT_STRING, &json, "PATH", "write every metric and the confusion matrix as JSON", 0, 0},
        {"csv", OPT_STRING, &csv, "PATH", "write per-class precision/recall/F1/support as CSV", 0, 0},
        {"predictions", OPT_STRING, &preds, "PATH", "write one CSV row per image: index, path, "
         "label, predicted class and its probability", 0, 0},
        {"skip-bad", OPT_FLAG, &skip_bad, NULL, "skip unreadable image files (reported) instead "
         "of stopping", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft eval --model PATH [--data SPEC] [OPTIONS]",
                     "Evaluates a model on labelled data, converted to the model's input shape and\n"
                     "normalised with the model's statistics. Prints top-1 and top-5 accuracy, the\n"
                     "mean loss, per-class precision, recall, F1 and support, and the confusion\n"
                     "matrix. Labels are class indices of the model; differing class names are\n"
                     "reported.",
                     opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int rc = args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if (!model) {
        fprintf(stderr, CMD ": --model PATH is required (see --help)\n");
        return EXIT_USAGE;
    }
    data_split sp = SPLIT_TEST;
    if (split && !strcmp(split, "train")) sp = SPLIT_TRAIN;
    else if (split && strcmp(split, "test")) {
        fprintf(stderr, CMD ": --split '%s': expected train or test\n", split);
        return EXIT_USAGE;
    }

    graft_ctx *ctx = cli_open_device(CMD, &co);
    if (!ctx) return 1;
    graft_model *m = NULL;
    graft_model_meta meta;
    dataset *d = NULL;
    eval_result er;
    memset(&er, 0, sizeof er);
    class_metrics *cm = NULL;
    int status = 1;
    if (cli_load_model(CMD, ctx, model, &m, &meta)) goto done;
    int c, h, w;
    graft_model_node_shape(m, 0, &c, &h, &w);
    data_request rq = {data, sp, c, h, w, skip_bad, classes, 0, (uint64_t)co.seed, co.quiet};
    rc = cli_load_data(CMD, &rq, &d);
    if (rc) {
        status = rc;
        goto done;
    }
    int K = cli_model_classes(m);
    if (d->nclasses > K) {
        fprintf(stderr, CMD ": %s has %d classes but the model %s only %d (choose some with "
                        "--classes)\n", data, d->nclasses, model, K);
        goto done;
    }
    compare_classes(d, &meta, co.quiet);
    int is_split = cli_has_test_split(data);
    const char *split_name = is_split ? (sp == SPLIT_TRAIN ? "train" : "test") : NULL;
    if (split && !is_split && !co.quiet)
        fprintf(stderr, CMD ": note: --split ignored, %s has no train/test splits\n", data);
    char err[2048] = "";
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (evaluate(m, d, meta.mean, meta.std, batch, preds != NULL, &er, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, CMD ": %s\n", err);
        goto done;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    cm = calloc((size_t)K, sizeof *cm);
    if (!cm) {
        fprintf(stderr, CMD ": out of memory\n");
        goto done;
    }
    class_metrics macro, weighted;
    compute_metrics(&er, cm, &macro, &weighted);
    if (!co.quiet)
        printf("evaluated %s on %d images of %s%s%s (%dx%dx%d) in %.2f s, %.0f images/s\n",
               model, er.n, data, split_name ? ", " : "", split_name ? split_name : "", c, h, w,
               secs, secs > 0 ? er.n / secs : 0.0);
    print_report(&er, &meta, cm, &macro, &weighted);
    if (json && write_json(json, model, data, split_name, &er, &meta, cm, &macro, &weighted))
        goto done;
    if (csv && write_csv(csv, &er, &meta, cm)) goto done;
    if (preds && write_predictions(preds, d, &er, &meta)) goto done;
    if (!co.quiet && (json || csv || preds))
        printf("\nwrote%s%s%s%s%s%s\n", json ? " " : "", json ? json : "", csv ? " " : "",
               csv ? csv : "", preds ? " " : "", preds ? preds : "");
    status = 0;
done:
    free(cm);
    eval_result_free(&er);
    dataset_free(d);
    if (m) graft_model_meta_free(&meta);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
    return status;
}
