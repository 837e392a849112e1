/* What graft cv, selftrain and score print and write around their library
 * calls: per-fold / per-round / per-score lines, the ranking table, and the
 * CSV and JSON result files (formats documented in docs/cli.md). */
#include "workflow_files.h"

#include <stdio.h>
#include <string.h>

#include "modelcli.h"
#include "textbuf.h"

void cv_print_fold(void *user, int f, const graft_cv_fold *r)
{
    if (user) progress_clear(&((console *)user)->pr); /* the live line, if any */
    printf("%4d  %7d  %8d  %7.2f%%  %7.1f\n", f + 1, r->ntrain, r->nheld, 100 * r->accuracy,
           r->seconds);
    fflush(stdout);
}

int cv_write_files(const char *csv, const char *json, const graft_cv_result *r,
                   const char *strategy, const graft_dataset *d, int seed)
{
    textbuf c = {0}, j = {0};
    tb_printf(&c, "fold,train,heldout,accuracy,seconds\n");
    tb_printf(&j, "{\"command\":\"cv\",\"strategy\":");
    tb_json_str(&j, strategy);
    tb_printf(&j, ",\"k\":%d,\"seed\":%d,\"images\":%d,\"classes\":%d,\"devices\":%d,\"folds\":[",
              r->k, seed, graft_dataset_size(d), graft_dataset_num_classes(d), r->threads);
    for (int f = 0; f < r->k; f++) {
        const graft_cv_fold *x = &r->folds[f];
        tb_printf(&c, "%d,%d,%d,%.6f,%.3f\n", f + 1, x->ntrain, x->nheld, x->accuracy, x->seconds);
        tb_printf(&j, "%s{\"fold\":%d,\"train\":%d,\"heldout\":%d,\"accuracy\":%.6f,\"loss\":%.9g,"
                  "\"seconds\":%.3f}", f ? "," : "", f + 1, x->ntrain, x->nheld, x->accuracy,
                  x->loss, x->seconds);
    }
    tb_printf(&j, "],\"mean_accuracy\":%.6f,\"std_accuracy\":%.6f}\n", r->mean_accuracy,
              r->std_accuracy);
    int rc = (csv && tb_write(&c, "graft cv", csv)) || (json && tb_write(&j, "graft cv", json));
    tb_free(&c);
    tb_free(&j);
    return rc;
}

void selftrain_print_round(void *user, const graft_selftrain_round *r)
{
    const round_printer *p = user;
    if (p->con) progress_clear(&p->con->pr);
    if (r->round == 0) {
        printf("round 0: %d labelled, %s accuracy %.2f%%  (%.1f s)\n", p->nlabelled, p->eval_name,
               100 * r->eval_accuracy, r->seconds);
    } else {
        printf("round %d: kept %d pseudo-labels [", r->round, r->kept);
        for (int k = 0; k < p->nclasses; k++) printf("%s%d", k ? " " : "", r->per_class[k]);
        printf("]");
        if (r->checked)
            printf(", %d/%d correct (%.1f%%)", r->correct, r->checked,
                   100.0 * r->correct / r->checked);
        printf(", train %d, %s accuracy %.2f%%  (%.1f s)\n", r->ntrain, p->eval_name,
               100 * r->eval_accuracy, r->seconds);
    }
    fflush(stdout);
}

static void json_ints(textbuf *tb, const char *key, const int *v, int n)
{
    tb_printf(tb, "\"%s\":[", key);
    for (int c = 0; c < n; c++) tb_printf(tb, "%s%d", c ? "," : "", v[c]);
    tb_printf(tb, "],");
}

int selftrain_write_json(const char *path, const graft_selftrain_result *r, float threshold,
                         int cap, int npool, int nlab, const char *out)
{
    textbuf tb = {0};
    tb_printf(&tb, "{\"command\":\"selftrain\",\"labelled\":%d,\"pool\":%d,\"threshold\":%g,"
                   "\"per_class_cap\":%d,\"rounds\":[", nlab, npool, (double)threshold, cap);
    for (int i = 0; i < r->nrounds; i++) {
        const graft_selftrain_round *x = &r->rounds[i];
        tb_printf(&tb, "%s{\"round\":%d,\"kept\":%d,", i ? "," : "", i, x->kept);
        json_ints(&tb, "per_class", x->per_class, r->nclasses);
        json_ints(&tb, "candidates", x->candidates, r->nclasses);
        tb_printf(&tb, "\"checked\":%d,\"correct\":%d,", x->checked, x->correct);
        if (x->checked) tb_printf(&tb, "\"pseudo_accuracy\":%.6f,", (double)x->correct / x->checked);
        else tb_printf(&tb, "\"pseudo_accuracy\":null,");
        tb_printf(&tb, "\"train\":%d,\"test_accuracy\":%.6f,\"seconds\":%.3f}", x->ntrain,
                  x->eval_accuracy, x->seconds);
    }
    tb_printf(&tb, "],\"final_test_accuracy\":%.6f,\"out\":",
              r->nrounds ? r->rounds[r->nrounds - 1].eval_accuracy : 0.0);
    tb_json_str(&tb, out);
    tb_printf(&tb, "}\n");
    int rc = tb_write(&tb, "graft selftrain", path);
    tb_free(&tb);
    return rc;
}

void score_on_log(void *user, graft_log_level level, const char *msg)
{
    console *c = user;
    if (level != GRAFT_LOG_WARN && c->quiet) return;
    progress_clear(&c->pr);
    fprintf(stderr, "graft score: %s\n", msg);
}

void score_on_row(void *user, const graft_score_row *r)
{
    console *c = user;
    progress_clear(&c->pr);
    if (!c->quiet)
        fprintf(stderr, "graft score: %s [%s]: LogME %.4f (%d features, %.1f s)\n", r->model,
                r->layer, r->logme, r->dim, r->seconds);
}

int score_write_files(const graft_score_result *r, const char *data, const char *csv,
                      const char *json)
{
    textbuf c = {0}, j = {0};
    tb_printf(&c, "rank,model,layer,dim,logme,seconds,random_init\n");
    tb_printf(&j, "{\n  \"data\": ");
    tb_json_str(&j, data);
    tb_printf(&j, ",\n  \"images\": %d,\n  \"classes\": %d,\n  \"negative_transfer_warning\": %s,\n"
              "  \"ranking\": [\n", r->images, r->classes, r->negative_transfer ? "true" : "false");
    for (int i = 0; i < r->nrows; i++) {
        const graft_score_row *x = &r->rows[i];
        tb_printf(&c, "%d,", i + 1);
        tb_csv_field(&c, x->model);
        tb_printf(&c, ",");
        tb_csv_field(&c, x->layer);
        tb_printf(&c, ",%d,%.6f,%.3f,%d\n", x->dim, x->logme, x->seconds, x->random_init);
        tb_printf(&j, "    {\"rank\": %d, \"model\": ", i + 1);
        tb_json_str(&j, x->model);
        tb_printf(&j, ", \"random_init\": %s, \"layer\": ", x->random_init ? "true" : "false");
        tb_json_str(&j, x->layer);
        tb_printf(&j, ", \"dim\": %d, \"logme\": %.6f, \"seconds\": %.3f}%s\n", x->dim, x->logme,
                  x->seconds, i + 1 < r->nrows ? "," : "");
    }
    tb_printf(&j, "  ]\n}\n");
    int rc = (csv && tb_write(&c, "graft score", csv)) | (json && tb_write(&j, "graft score", json));
    tb_free(&c);
    tb_free(&j);
    return rc;
}

/* Width of a column that holds s from every row: at least min, at most max
 * (longer names are shortened with cli_trunc). */
static int score_col_width(const graft_score_result *r, int layer, int min, int max)
{
    int w = min;
    for (int i = 0; i < r->nrows; i++) {
        int L = (int)strlen(layer ? r->rows[i].layer : r->rows[i].model);
        if (L > w) w = L;
    }
    return w < max ? w : max;
}

void score_print_table(const graft_score_result *r, const char *data)
{
    enum { MODEL_MAX = 60, LAYER_MAX = 40 };
    int mw = score_col_width(r, 0, 5, MODEL_MAX), lw = score_col_width(r, 1, 5, LAYER_MAX);
    printf("LogME ranking on %s: %d images, %d classes (higher is better)\n", data, r->images,
           r->classes);
    printf("%4s  %-*s  %-*s %6s %10s %8s\n", "rank", mw, "model", lw, "layer", "dim", "LogME",
           "seconds");
    for (int i = 0; i < r->nrows; i++) {
        char nb[MODEL_MAX + 1], lb[LAYER_MAX + 1];
        printf("%4d  %-*s  %-*s %6d %10.4f %8.2f\n", i + 1, mw,
               cli_trunc(r->rows[i].model, nb, sizeof nb), lw,
               cli_trunc(r->rows[i].layer, lb, sizeof lb), r->rows[i].dim, r->rows[i].logme,
               r->rows[i].seconds);
    }
    if (r->negative_transfer)
        printf("warning: the best candidate does not beat a randomly initialised network: "
               "negative transfer is likely\n");
}
