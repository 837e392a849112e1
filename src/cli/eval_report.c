#include "eval_report.h"

#include <stdio.h>
#include <string.h>

#include "modelcli.h"
#include "textbuf.h"

#define CMD "graft eval"

static int digits(long v)
{
    int d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

void eval_report_print(const eval_report *e)
{
    const graft_eval_result *r = e->r;
    const graft_model_meta *meta = e->meta;
    const graft_class_metrics *cm = e->per_class, *macro = e->macro, *weighted = e->weighted;
    int K = r->classes;
    char nb[32], tb[32];
    printf("top-1 accuracy: %.2f%%\n", 100 * r->top1);
    if (K > 5) /* with 5 classes or fewer it is 100% by definition */
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

static void json_metrics(textbuf *tb, const graft_class_metrics *m)
{
    tb_printf(tb, "{\"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f, \"support\": %ld}",
              m->precision, m->recall, m->f1, m->support);
}

int eval_report_json(const eval_report *e, const char *path)
{
    const graft_eval_result *r = e->r;
    const graft_model_meta *meta = e->meta;
    const graft_class_metrics *cm = e->per_class, *macro = e->macro, *weighted = e->weighted;
    const char *model = e->model, *data = e->data, *split = e->split;
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
int eval_report_predictions(const eval_report *e, const graft_dataset *d, const char *path)
{
    const graft_eval_result *r = e->r;
    const graft_model_meta *meta = e->meta;
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
        const char *ip = graft_dataset_path(d, i);
        tb_csv_field(&tb, ip ? ip : "");
        tb_printf(&tb, ",");
        tb_csv_field(&tb, cli_class_name(meta, graft_dataset_labels(d)[i], nb, sizeof nb));
        tb_printf(&tb, ",");
        tb_csv_field(&tb, cli_class_name(meta, arg, nb, sizeof nb));
        tb_printf(&tb, ",%.6f\n", (double)p[arg]);
    }
    int rc = tb_write(&tb, CMD, path);
    tb_free(&tb);
    return rc;
}

int eval_report_csv(const eval_report *e, const char *path)
{
    const graft_eval_result *r = e->r;
    const graft_model_meta *meta = e->meta;
    const graft_class_metrics *cm = e->per_class;
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
