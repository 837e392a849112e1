/* graft score: rank candidate source models for a target dataset by the
 * LogME transferability score of their features, without any training.
 * A randomly initialised copy of the first candidate's architecture is
 * always scored too, as the "no transfer" baseline. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "clock.h"
#include "dataset.h"
#include "train.h"
#include "transfer.h"
#include "logme.h"
#include "modelcli.h"
#include "textbuf.h"
#include "progress.h"

#define CMD "graft score"
#define MAX_LAYERS 32

typedef struct score_row {
    const char *model;  /* borrowed: argv or a literal */
    int random_init;
    char layer[64];
    int dim;
    double logme, seconds;
} score_row;


/* Splits "a,b,c" into at most max pointers into a copy (caller frees *buf). */
static int split_list(const char *s, char **buf, const char **items, int max)
{
    *buf = strdup(s);
    if (!*buf) return -1;
    int n = 0;
    for (char *save = NULL, *t = strtok_r(*buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == max) return -1;
        items[n++] = t;
    }
    return n;
}

/* Node index from a name or a number; -1 when unknown. */
static int node_ref(const graft_model *m, const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s && !*end) return (v >= 0 && v < graft_model_num_nodes(m)) ? (int)v : -1;
    return graft_model_find(m, s);
}

static int cmp_rows(const void *a, const void *b)
{
    const score_row *x = a, *y = b;
    return (x->logme < y->logme) - (x->logme > y->logme);
}

/* Scores every requested layer of m on d; appends rows. Returns 0 or 1. */
static int score_model(graft_model *m, const char *name, int random_init, const dataset *d,
                       const float *mean, const float *std, int batch, const char **layers,
                       int nlayers, score_row *rows, int *nrows, int quiet)
{
    int nodes[MAX_LAYERS];
    int nn = nlayers ? nlayers : 1;
    if (!nlayers) nodes[0] = transfer_feature_node(m);
    for (int i = 0; i < nlayers; i++) {
        nodes[i] = node_ref(m, layers[i]);
        if (nodes[i] <= 0) {
            fprintf(stderr, CMD ": %s: no layer '%s' to take features from (see graft info "
                    "--model %s)\n", name, layers[i], name);
            return 1;
        }
    }
    for (int i = 0; i < nn; i++) {
        char err[1024] = "";
        float *F = NULL;
        int dim = 0;
        double t0 = now_seconds(), s = 0;
        graft_status st = transfer_features(m, d, mean, std, batch, nodes[i], &F, &dim, err, sizeof err);
        if (st == GRAFT_OK) st = logme_score(F, d->n, dim, d->y, d->nclasses, &s, err, sizeof err);
        free(F);
        if (st != GRAFT_OK) {
            fprintf(stderr, CMD ": %s, layer %s: %s\n", name, graft_model_node_name(m, nodes[i]), err);
            return 1;
        }
        score_row *r = &rows[(*nrows)++];
        r->model = name;
        r->random_init = random_init;
        snprintf(r->layer, sizeof r->layer, "%s", graft_model_node_name(m, nodes[i]));
        r->dim = dim;
        r->logme = s;
        r->seconds = now_seconds() - t0;
        if (!quiet)
            fprintf(stderr, CMD ": %s [%s]: LogME %.4f (%d features, %.1f s)\n", name, r->layer,
                    s, dim, r->seconds);
    }
    return 0;
}

static int write_reports(const score_row *rows, int n, const char *data, const dataset *d,
                         int warn, const char *csv, const char *json)
{
    int rc = 0;
    if (csv) {
        textbuf tb = {0};
        tb_printf(&tb, "rank,model,layer,dim,logme,seconds,random_init\n");
        for (int i = 0; i < n; i++) {
            tb_printf(&tb, "%d,", i + 1);
            tb_csv_field(&tb, rows[i].model);
            tb_printf(&tb, ",");
            tb_csv_field(&tb, rows[i].layer);
            tb_printf(&tb, ",%d,%.6f,%.3f,%d\n", rows[i].dim, rows[i].logme, rows[i].seconds,
                      rows[i].random_init);
        }
        rc |= tb_write(&tb, CMD, csv);
        tb_free(&tb);
    }
    if (json) {
        textbuf tb = {0};
        tb_printf(&tb, "{\n  \"data\": ");
        tb_json_str(&tb, data);
        tb_printf(&tb, ",\n  \"images\": %d,\n  \"classes\": %d,\n  \"negative_transfer_warning\": %s,\n"
                  "  \"ranking\": [\n", d->n, d->nclasses, warn ? "true" : "false");
        for (int i = 0; i < n; i++) {
            tb_printf(&tb, "    {\"rank\": %d, \"model\": ", i + 1);
            tb_json_str(&tb, rows[i].model);
            tb_printf(&tb, ", \"random_init\": %s, \"layer\": ", rows[i].random_init ? "true" : "false");
            tb_json_str(&tb, rows[i].layer);
            tb_printf(&tb, ", \"dim\": %d, \"logme\": %.6f, \"seconds\": %.3f}%s\n", rows[i].dim,
                      rows[i].logme, rows[i].seconds, i + 1 < n ? "," : "");
        }
        tb_printf(&tb, "  ]\n}\n");
        rc |= tb_write(&tb, CMD, json);
        tb_free(&tb);
    }
    return rc;
}

int cmd_score(int argc, char **argv)
{
    common_opts co = {NULL, 0, 1};
    const char *data = NULL, *classes = NULL, *layers_s = NULL, *csv = NULL, *json = NULL;
    int per_class = 0, batch = 128, skip_bad = 0;
    opt opts[] = {
        {"data", OPT_STRING, &data, "SPEC", "labelled target data: fashion-mnist, an IDX file or "
         "folder, a class folder root/<class>/*.png, or a path,label .csv (required)", 0, 0},
        {"classes", OPT_STRING, &classes, "LIST", "use only these classes, e.g. 5-9 (relabelled)", 0, 0},
        {"per-class", OPT_INT, &per_class, "N", "seeded sample of N images per class (the same "
         "sample for every candidate)", 1, 100000000},
        {"layers", OPT_STRING, &layers_s, "LIST", "comma-separated layer names (or indices) to "
         "score, e.g. conv4.act,pool2 (default: the classifier's input)", 0, 0},
        {"batch", OPT_INT, &batch, "N", "batch size for feature extraction (default 128)", 1, 65536},
        {"skip-bad", OPT_FLAG, &skip_bad, NULL, "skip unreadable image files", 0, 0},
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
    char **pos = NULL;
    int npos = 0;
    int rc = args_parse(&spec, argc, argv, &pos, &npos);
    if (rc) {
        free(pos);
        return rc == 1 ? 0 : EXIT_USAGE;
    }
    const char *layers[MAX_LAYERS];
    char *layers_buf = NULL;
    int nlayers = 0;
    if (!data || npos < 1) {
        fprintf(stderr, CMD ": --data and at least one MODEL.graft are required (see --help)\n");
        free(pos);
        return EXIT_USAGE;
    }
    if (layers_s) {
        nlayers = split_list(layers_s, &layers_buf, layers, MAX_LAYERS);
        if (nlayers <= 0) {
            fprintf(stderr, CMD ": --layers '%s': expected 1 to %d comma-separated names\n",
                    layers_s, MAX_LAYERS);
            free(layers_buf);
            free(pos);
            return EXIT_USAGE;
        }
    }
    /* Fail before any work when a candidate file is missing. */
    for (int i = 0; i < npos; i++) {
        FILE *f = fopen(pos[i], "rb");
        if (!f) {
            fprintf(stderr, CMD ": %s: cannot open: %s\n", pos[i], strerror(errno));
            free(layers_buf);
            free(pos);
            return 1;
        }
        fclose(f);
    }

    graft_ctx *ctx = cli_open_device(CMD, &co);
    if (!ctx) {
        free(layers_buf);
        free(pos);
        return 1;
    }
    int status = 1, nrows = 0, rc_data = 0;
    int per_model = nlayers ? nlayers : 1;
    score_row *rows = calloc((size_t)(npos + 1) * (size_t)per_model, sizeof *rows);
    dataset *d = NULL;
    graft_model *m = NULL, *rnd = NULL;
    graft_model_meta meta;
    memset(&meta, 0, sizeof meta);
    if (!rows) {
        fprintf(stderr, CMD ": out of memory\n");
        goto done;
    }
    for (int i = 0; i < npos; i++) {
        if (cli_load_model(CMD, ctx, pos[i], &m, &meta)) goto done;
        int c, h, w;
        graft_model_node_shape(m, 0, &c, &h, &w);
        if (d && (d->c != c || d->h != h || d->w != w)) {
            dataset_free(d);
            d = NULL;
        }
        if (!d) {
            /* Same seed: the same images for every candidate. */
            data_request rq = {data, SPLIT_TRAIN, c, h, w, skip_bad, classes, per_class,
                               (uint64_t)co.seed, co.quiet};
            rc_data = cli_load_data(CMD, &rq, &d);
            if (rc_data) goto done;
            if (d->n < 2) {
                fprintf(stderr, CMD ": %s: LogME needs at least 2 images, got %d\n", data, d->n);
                goto done;
            }
            if (!co.quiet)
                fprintf(stderr, CMD ": %d target images of %d classes at %dx%dx%d\n", d->n,
                        d->nclasses, c, h, w);
        }
        if (score_model(m, pos[i], 0, d, meta.mean, meta.std, batch, layers, nlayers, rows, &nrows,
                        co.quiet))
            goto done;
        if (i == 0) {
            /* The baseline: same graph, fresh weights, same normalisation. */
            int K = cli_model_classes(m);
            if (transfer_build_target(m, K, 1, (uint64_t)co.seed, &rnd) != GRAFT_OK ||
                graft_model_reinit(rnd, (uint64_t)co.seed) != GRAFT_OK) {
                fprintf(stderr, CMD ": random initialisation of %s: %s\n", pos[0], graft_last_error(ctx));
                goto done;
            }
            if (score_model(rnd, "random-init", 1, d, meta.mean, meta.std, batch, layers, nlayers,
                            rows, &nrows, co.quiet))
                goto done;
            graft_model_free(rnd);
            rnd = NULL;
        }
        graft_model_free(m);
        m = NULL;
        graft_model_meta_free(&meta);
    }

    qsort(rows, (size_t)nrows, sizeof *rows, cmp_rows);
    double best_cand = -INFINITY, best_rnd = -INFINITY;
    for (int i = 0; i < nrows; i++) {
        double *b = rows[i].random_init ? &best_rnd : &best_cand;
        if (rows[i].logme > *b) *b = rows[i].logme;
    }
    int warn = !(best_cand > best_rnd);

    /* Column width for the model names. */
    int mw = 5;
    for (int i = 0; i < nrows; i++) {
        int l = (int)strlen(rows[i].model);
        if (l > mw) mw = l;
    }
    if (mw > 60) mw = 60;
    printf("LogME ranking on %s: %d images, %d classes (higher is better)\n", data, d->n, d->nclasses);
    printf("%4s  %-*s  %-12s %6s %10s %8s\n", "rank", mw, "model", "layer", "dim", "LogME", "seconds");
    for (int i = 0; i < nrows; i++) {
        char nb[61];
        printf("%4d  %-*s  %-12s %6d %10.4f %8.2f\n", i + 1, mw,
               cli_trunc(rows[i].model, nb, sizeof nb), rows[i].layer, rows[i].dim, rows[i].logme,
               rows[i].seconds);
    }
    if (warn)
        printf("warning: the best candidate does not beat a randomly initialised network: "
               "negative transfer is likely\n");
    if (write_reports(rows, nrows, data, d, warn, csv, json)) goto done;
    status = 0;
done:
    if (rc_data) status = rc_data;
    graft_model_free(rnd);
    graft_model_free(m);
    graft_model_meta_free(&meta);
    dataset_free(d);
    free(rows);
    free(layers_buf);
    free(pos);
    graft_ctx_destroy(ctx);
    return status;
}
