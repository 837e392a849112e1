/* Opening a dataset from a source string: which reader a source needs
 * (IDX, CSV list, class folder), conversion to the wanted image shape,
 * class selection and the per-class sample. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"
#include "error.h"
#include "graft_data.h"

graft_data_spec graft_data_default_spec(void)
{
    graft_data_spec s;
    memset(&s, 0, sizeof s);
    s.split = GRAFT_SPLIT_TRAIN;
    return s;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* IDX: the built-in name, a directory holding IDX files, or an idx3 file. */
static int is_idx_source(const char *src)
{
    if (!strcmp(src, "fashion-mnist")) return 1;
    if (strstr(src, "idx3")) return 1;
    if (is_dir(src)) {
        idx_source s;
        return dataset_resolve(src, 1, &s, NULL, 0) == GRAFT_OK;
    }
    return 0;
}

int graft_data_has_test_split(const char *source)
{
    if (!source || !is_idx_source(source) || strstr(source, "idx3")) return 0;
    idx_source s;
    return dataset_resolve(source, 0, &s, NULL, 0) == GRAFT_OK;
}

/* Index of the class named name[0..len) in d, or -1. */
static int class_by_name(const dataset *d, const char *name, size_t len)
{
    for (int k = 0; k < d->nclasses; k++)
        if (d->class_names[k] && strlen(d->class_names[k]) == len &&
            !strncmp(d->class_names[k], name, len))
            return k;
    return -1;
}

/* Parses a class list of d: comma-separated class names ("cat,rocket"),
 * indices ("5,6,7") and index ranges ("5-9"), mixed; a name wins over an
 * index that reads the same. Fills classes[] and returns the count, or -1
 * after writing why into err. */
int data_parse_class_list(const char *s, const dataset *d, int *classes, int max, char *err,
                          size_t errlen)
{
    int n = 0;
    const char *p = s;
    if (!*p) {
        error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "classes '': empty list");
        return -1;
    }
    while (*p) {
        size_t len = strcspn(p, ",");
        long a = class_by_name(d, p, len), b = a;
        if (a < 0) {
            char *end;
            a = strtol(p, &end, 10);
            if (end != p && *end == '-') {
                const char *q = end + 1;
                b = strtol(q, &end, 10);
                if (end == q) b = -1;
            } else {
                b = a;
            }
            if (end == p || (size_t)(end - p) != len || a < 0 || b < a || b > 1000000) {
                error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                          "classes '%s': '%.*s' is neither a class name of the data (%s%s%s%s) "
                          "nor an index or range such as 5 or 5-9", s, (int)len, p,
                          d->class_names[0], d->nclasses > 1 ? ", " : "",
                          d->nclasses > 1 ? d->class_names[1] : "", d->nclasses > 2 ? ", ..." : "");
                return -1;
            }
        }
        for (long v = a; v <= b; v++) {
            for (int k = 0; k < n; k++)
                if (classes[k] == v) {
                    error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                              "classes '%s': class %ld is named twice", s, v);
                    return -1;
                }
            if (n >= max || v >= d->nclasses) {
                error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                          "classes '%s': class %ld is out of range 0..%d", s, v, d->nclasses - 1);
                return -1;
            }
            classes[n++] = (int)v;
        }
        p += len;
        if (*p == ',') {
            p++;
            if (!*p) {
                error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "classes '%s': trailing comma", s);
                return -1;
            }
        }
    }
    return n;
}

/* Resizes/crops every image to h x w and converts grey <-> RGB; 0 keeps
 * the stored value. Replaces *d. */
static graft_status convert(dataset **d, int c, int h, int w, char *err, size_t errlen)
{
    dataset *src = *d;
    if ((c == 0 || c == src->c) && (h == 0 || h == src->h) && (w == 0 || w == src->w))
        return GRAFT_OK;
    if (c == 0) c = src->c;
    if (h == 0) h = src->h;
    if (w == 0) w = src->w;
    dataset *dst;
    graft_status s = dataset_create(c, h, w, src->nclasses, (const char *const *)src->class_names,
                                    &dst, err, errlen);
    if (s != GRAFT_OK) return s;
    float *tmp = malloc(sizeof(float) * (size_t)src->c * h * w);
    float *img = malloc(sizeof(float) * (size_t)c * h * w);
    if (!tmp || !img) s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of memory converting images");
    size_t hw = (size_t)h * w;
    for (int i = 0; s == GRAFT_OK && i < src->n; i++) {
        preprocess_resize_crop(dataset_image(src, i), src->c, src->h, src->w, tmp, h, w);
        for (int ch = 0; ch < c; ch++) {
            for (size_t k = 0; k < hw; k++) {
                float v;
                if (src->c == c) v = tmp[ch * hw + k];
                else if (src->c == 1) v = tmp[k];
                else v = 0.299f * tmp[k] + 0.587f * tmp[hw + k] + 0.114f * tmp[2 * hw + k];
                img[ch * hw + k] = v;
            }
        }
        s = dataset_append(dst, img, src->y[i], src->paths ? src->paths[i] : NULL, err, errlen);
    }
    free(tmp);
    free(img);
    if (s != GRAFT_OK) {
        dataset_free(dst);
        return s;
    }
    dataset_free(src);
    *d = dst;
    return GRAFT_OK;
}

static void note(const graft_data_spec *sp, const char *msg)
{
    if (sp->log) sp->log(sp->log_user, GRAFT_LOG_WARN, msg);
}

/* IDX labels carry no class count: it is inferred as the largest label
 * + 1 (at least 10). Labels such as 200 and 255 so make a 256-class model;
 * say so, and how to choose classes, rather than refuse: --classes 200,255
 * relabels them 0..1. */
static void note_inferred_classes(const graft_data_spec *sp, const dataset *d)
{
    if (d->nclasses <= 10) return;
    int *counts = calloc((size_t)d->nclasses, sizeof *counts);
    if (!counts) return;
    dataset_class_counts(d, counts);
    int empty = 0;
    for (int k = 0; k < d->nclasses; k++) empty += counts[k] == 0;
    free(counts);
    if (!empty) return;
    char msg[512];
    snprintf(msg, sizeof msg, "%s: labels reach %d, so %d classes were inferred, %d of them without "
             "images; choose the classes present with --classes (relabelled 0..k-1)", sp->source,
             d->nclasses - 1, d->nclasses, empty);
    note(sp, msg);
}

/* Reads the source in its own format; notes what a folder or list load
 * skipped or ignored. */
static graft_status load(const graft_data_spec *sp, dataset **d, char *err, size_t errlen)
{
    const char *src = sp->source;
    data_load_opts o = {sp->channels ? sp->channels : 3, sp->height, sp->width, sp->skip_bad,
                        sp->progress, sp->progress_user, sp->lazy};
    data_report rep = {0};
    graft_status s;
    int folder = 0;
    struct stat st;
    if (strcmp(src, "fashion-mnist") && stat(src, &st) != 0)
        return error_set(err, errlen, GRAFT_ERR_IO, "%s does not exist", src);
    if (is_idx_source(src)) {
        s = dataset_load_spec(src, sp->split == GRAFT_SPLIT_TRAIN, d, err, errlen);
        if (s == GRAFT_OK && !sp->classes) note_inferred_classes(sp, *d);
        return s;
    }
    if (ends_with(src, ".csv")) {
        /* Select first, decode only what is kept. A bad class list keeps
         * every row, and the selection after the load reports it. */
        if (sp->classes || sp->per_class > 0)
            s = dataset_load_csv_selected(src, &o, sp->classes, sp->per_class, sp->seed, &rep, d,
                                          err, errlen);
        else
            s = dataset_load_csv(src, &o, &rep, d, err, errlen);
    } else if (is_dir(src)) {
        s = dataset_load_folder(src, &o, &rep, d, err, errlen);
        folder = 1;
    } else {
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                         "'%s': not 'fashion-mnist', an IDX file or folder, a class folder, nor "
                         "a .csv list", src);
    }
    char msg[4200];
    if (s == GRAFT_OK && rep.bad_skipped) {
        /* the count, and the first file's reason as an example */
        const char *first = rep.messages ? strstr(rep.messages, "skipped ") : NULL;
        int flen = first ? (int)strcspn(first + 8, "\n") : 0;
        char kinds[64] = "";
        if (rep.unsupported_skipped)
            snprintf(kinds, sizeof kinds, " (%d in formats graft does not read)",
                     rep.unsupported_skipped);
        snprintf(msg, sizeof msg, "skipped %d bad file%s%s%s%.*s", rep.bad_skipped,
                 rep.bad_skipped == 1 ? "" : "s", kinds, first ? "; first: " : "", flen,
                 first ? first + 8 : "");
        note(sp, msg);
    }
    if (s == GRAFT_OK && folder && (rep.hidden || rep.empty_classes)) {
        snprintf(msg, sizeof msg, "ignored %d hidden entries and %d empty class folders in %s",
                 rep.hidden, rep.empty_classes, src);
        note(sp, msg);
    }
    data_report_free(&rep);
    return s;
}

/* Puts what before the message in err. */
static void prefix(char *err, size_t errlen, const char *what)
{
    if (!err || !errlen) return;
    char tmp[2048];
    snprintf(tmp, sizeof tmp, "%s", err);
    snprintf(err, errlen, "%s%s", what, tmp);
}

/* Replaces *d by sel. */
static void swap(dataset **d, dataset *sel)
{
    dataset_free(*d);
    *d = sel;
}

graft_status graft_dataset_open(const graft_data_spec *sp, graft_dataset **out, char *err,
                                size_t errlen)
{
    *out = NULL;
    if (!sp || !sp->source)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "no data source given");
    dataset *d = NULL, *sel = NULL;
    graft_status s = load(sp, &d, err, errlen);
    if (s == GRAFT_OK) s = convert(&d, sp->channels, sp->height, sp->width, err, errlen);
    if (s == GRAFT_OK && sp->classes) {
        int cls[1024];
        int k = data_parse_class_list(sp->classes, d, cls, 1024, err, errlen);
        if (k <= 0)
            s = GRAFT_ERR_INVALID_ARG;
        else if ((s = dataset_select_classes(d, cls, k, &sel, err, errlen)) == GRAFT_OK)
            swap(&d, sel);
        if (s != GRAFT_OK && k > 0) prefix(err, errlen, "classes: ");
    }
    if (s == GRAFT_OK && sp->per_class > 0) {
        if ((s = dataset_per_class(d, sp->per_class, sp->seed, &sel, err, errlen)) == GRAFT_OK)
            swap(&d, sel);
        if (s != GRAFT_OK) prefix(err, errlen, "per-class: ");
    }
    if (s == GRAFT_OK && d->n == 0)
        s = error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: no images selected", sp->source);
    if (s != GRAFT_OK) {
        dataset_free(d);
        return s;
    }
    *out = d;
    return GRAFT_OK;
}
