/* CSV image lists: "path,label" per line. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "internal.h"
#include "dataset.h"
#include "fileutil.h"

#define CSV_MAX_BYTES ((size_t)1 << 30)

void csv_rows_free(csv_rows *r)
{
    if (!r) return;
    free(r->rows);
    free(r->buf);
    memset(r, 0, sizeof *r);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = '\0';
    return s;
}

graft_status csv_parse(const char *text, size_t n, const char *name, csv_rows *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->buf = malloc(n + 1);
    if (!out->buf) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", name);
    memcpy(out->buf, text, n);
    out->buf[n] = '\0';
    if (memchr(text, '\0', n)) {
        csv_rows_free(out);
        return error_set(err, errlen, GRAFT_ERR_FORMAT,
                         "%s: contains a NUL byte (not a text CSV file)", name);
    }
    int cap = 0;
    char *p = out->buf;
    for (int line = 1; *p; line++) {
        char *nl = strchr(p, '\n');
        char *next = nl ? nl + 1 : p + strlen(p);
        if (nl) *nl = '\0';
        char *l = trim(p);
        p = next;
        if (!*l) continue;
        if (line == 1 && strcmp(l, "path,label") == 0) continue;
        char *comma = strrchr(l, ',');
        if (!comma) {
            csv_rows_free(out);
            return error_set(err, errlen, GRAFT_ERR_FORMAT,
                             "%s:%d: expected 'path,label', found no comma", name, line);
        }
        *comma = '\0';
        char *path = trim(l), *label = trim(comma + 1);
        if (!*path || !*label) {
            const char *what = *path ? "label" : "path";
            csv_rows_free(out);
            return error_set(err, errlen, GRAFT_ERR_FORMAT,
                             "%s:%d: expected 'path,label', found an empty %s", name, line, what);
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 64;
            csv_row *r = realloc(out->rows, (size_t)cap * sizeof *r);
            if (!r) {
                csv_rows_free(out);
                return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", name);
            }
            out->rows = r;
        }
        out->rows[out->n].path = path;
        out->rows[out->n].label = label;
        out->rows[out->n].line = line;
        out->n++;
    }
    return GRAFT_OK;
}

/* Non-negative decimal integer below 1<<20, else -1. */
static int parse_index(const char *s)
{
    long v = 0;
    if (!*s) return -1;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s)) return -1;
        v = v * 10 + (*s - '0');
        if (v >= (1 << 20)) return -1;
    }
    return (int)v;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The rows a selection keeps: a dataset of 1x1 images holding each row's
 * index (exact below 2^24 rows) goes through the same class selection and
 * per-class sampling as decoded data would. */
static graft_status rows_kept(const int *labels, int n, int nclasses, const char *const *names,
                              const int *cls, int k, const char *class_list, int per_class,
                              uint64_t seed, unsigned char *keep, char *err, size_t errlen)
{
    if (n >= (1 << 24))
        return error_set(err, errlen, GRAFT_ERR_UNSUPPORTED, "more than 16M rows");
    dataset *ix = NULL, *sel = NULL;
    graft_status s = dataset_create(1, 1, 1, nclasses, names, &ix, err, errlen);
    for (int i = 0; s == GRAFT_OK && i < n; i++) {
        float v = (float)i;
        s = dataset_append(ix, &v, labels[i], NULL, err, errlen);
    }
    int listed[1024];
    if (s == GRAFT_OK && class_list) {
        k = data_parse_class_list(class_list, ix, listed, 1024, NULL, 0);
        if (k < 0) { /* every row; the selection after the load says what is wrong */
            memset(keep, 1, (size_t)n);
            dataset_free(ix);
            return GRAFT_OK;
        }
        cls = listed;
    }
    if (s == GRAFT_OK && k > 0 && (s = dataset_select_classes(ix, cls, k, &sel, err, errlen)) == GRAFT_OK) {
        dataset_free(ix);
        ix = sel;
    }
    if (s == GRAFT_OK && per_class > 0 && (s = dataset_per_class(ix, per_class, seed, &sel, err, errlen)) == GRAFT_OK) {
        dataset_free(ix);
        ix = sel;
    }
    if (s == GRAFT_OK) {
        memset(keep, 0, (size_t)n);
        for (int i = 0; i < ix->n; i++) keep[(int)dataset_image(ix, i)[0]] = 1;
    }
    dataset_free(ix);
    return s;
}

static graft_status load_csv(const char *csv_path, const data_load_opts *opts, const int *cls,
                             int k, const char *class_list, int per_class, uint64_t seed,
                             data_report *report, dataset **out, char *err, size_t errlen);

graft_status dataset_load_csv(const char *csv_path, const data_load_opts *opts,
                              data_report *report, dataset **out, char *err, size_t errlen)
{
    return load_csv(csv_path, opts, NULL, 0, NULL, 0, 0, report, out, err, errlen);
}

graft_status dataset_load_csv_sampled(const char *csv_path, const data_load_opts *opts,
                                      const int *cls, int k, int per_class, uint64_t seed,
                                      data_report *report, dataset **out, char *err, size_t errlen)
{
    return load_csv(csv_path, opts, cls, k, NULL, per_class, seed, report, out, err, errlen);
}

graft_status dataset_load_csv_selected(const char *csv_path, const data_load_opts *opts,
                                       const char *classes, int per_class, uint64_t seed,
                                       data_report *report, dataset **out, char *err,
                                       size_t errlen)
{
    return load_csv(csv_path, opts, NULL, 0, classes, per_class, seed, report, out, err, errlen);
}

static graft_status load_csv(const char *csv_path, const data_load_opts *opts, const int *cls,
                             int k, const char *class_list, int per_class, uint64_t seed,
                             data_report *report, dataset **out, char *err, size_t errlen)
{
    *out = NULL;
    if (report) memset(report, 0, sizeof *report);
    if (!opts || (opts->c != 1 && opts->c != 3) || opts->h < 0 || opts->w < 0 || (opts->h == 0) != (opts->w == 0))
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                         "%s: load options need c 1 or 3 and h,w both set or both 0", csv_path);
    unsigned char *text;
    size_t n;
    int e = file_read_all(csv_path, CSV_MAX_BYTES, &text, &n);
    if (e)
        return error_set(err, errlen, GRAFT_ERR_IO, "%s: cannot read: %s", csv_path, strerror(e));
    csv_rows rows;
    graft_status s = csv_parse((const char *)text, n, csv_path, &rows, err, errlen);
    free(text);
    if (s) return s;
    char **names = NULL, *dir = NULL, *path = NULL;
    int *labels = NULL, nclasses = 0;
    unsigned char *keep = NULL;
    dataset *d = NULL;
    if (rows.n == 0) {
        s = error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: no 'path,label' lines", csv_path);
        goto done;
    }
    labels = malloc((size_t)rows.n * sizeof *labels);
    names = calloc((size_t)rows.n + 10, sizeof *names);
    if (!labels || !names) goto oom;
    int all_int = 1, maxl = -1;
    for (int i = 0; i < rows.n; i++) {
        labels[i] = parse_index(rows.rows[i].label);
        if (labels[i] < 0) all_int = 0;
        else if (labels[i] > maxl) maxl = labels[i];
    }
    if (all_int) {
        nclasses = maxl + 1;
    } else {
        /* distinct names, sorted; borrowed from rows */
        for (int i = 0; i < rows.n; i++) names[i] = rows.rows[i].label;
        qsort(names, (size_t)rows.n, sizeof *names, cmp_str);
        for (int i = 0; i < rows.n; i++)
            if (nclasses == 0 || strcmp(names[nclasses - 1], names[i]) != 0) names[nclasses++] = names[i];
        for (int i = 0; i < rows.n; i++) {
            const char *key = rows.rows[i].label;
            char **hit = bsearch(&key, names, (size_t)nclasses, sizeof *names, cmp_str);
            labels[i] = (int)(hit - names);
        }
    }
    if (k > 0 || class_list || per_class > 0) {
        if (!(keep = malloc((size_t)rows.n))) goto oom;
        s = rows_kept(labels, rows.n, nclasses, all_int ? NULL : (const char *const *)names, cls, k,
                      class_list, per_class, seed, keep, err, errlen);
        if (s) goto done;
    }
    /* directory of the CSV for relative paths */
    const char *slash = strrchr(csv_path, '/');
    size_t dlen = slash ? (size_t)(slash - csv_path) : 1;
    dir = malloc(dlen + 1);
    if (!dir) goto oom;
    if (slash) memcpy(dir, csv_path, dlen);
    else dir[0] = '.';
    dir[dlen] = '\0';
    long total = 0, done = 0;
    for (int i = 0; i < rows.n; i++) total += !keep || keep[i];
    double t0 = now_seconds();
    for (int i = 0; i < rows.n; i++) {
        if (keep && !keep[i]) continue;
        const char *rp = rows.rows[i].path;
        free(path);
        path = malloc(strlen(dir) + strlen(rp) + 2);
        if (!path) goto oom;
        if (rp[0] == '/') strcpy(path, rp);
        else sprintf(path, "%s/%s", dir, rp);
        s = data_append_lazy(&d, opts, nclasses, all_int ? NULL : (const char *const *)names, path, labels[i],
                            report, err, errlen);
        data_progress(opts, ++done, total, t0);
        if (s) {
            /* prefix with the CSV position */
            char tmp[512];
            snprintf(tmp, sizeof tmp, "%s", err ? err : "");
            error_set(err, errlen, s, "%s:%d: %s", csv_path, rows.rows[i].line, tmp);
            goto done;
        }
    }
    if (!d) {
        s = error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: no readable images", csv_path);
        goto done;
    }
    *out = d;
    d = NULL;
    goto done;
oom:
    s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", csv_path);
done:
    dataset_free(d);
    free(labels);
    free(keep);
    free(names);
    free(dir);
    free(path);
    csv_rows_free(&rows);
    return s;
}
