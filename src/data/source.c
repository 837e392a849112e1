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

/* Parses "5,6,7" or "5-9" (mixed) into classes[]; count, or -1 when it does
 * not parse, repeats a class or holds more than max. */
static int parse_class_list(const char *s, int *classes, int max)
{
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10);
        if (end == p || a < 0 || a > 1000000) return -1;
        long b = a;
        if (*end == '-') {
            p = end + 1;
            b = strtol(p, &end, 10);
            if (end == p || b < a || b > 1000000) return -1;
        }
        for (long v = a; v <= b; v++) {
            if (n >= max) return -1;
            for (int k = 0; k < n; k++)
                if (classes[k] == v) return -1;
            classes[n++] = (int)v;
        }
        if (*end == ',') end++;
        else if (*end) return -1;
        p = end;
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
    data_load_opts o = {sp->channels ? sp->channels : 3, sp->height, sp->width, sp->skip_bad};
    data_report rep = {0};
    graft_status s;
    int folder = 0;
    if (is_idx_source(src)) {
        s = dataset_load_spec(src, sp->split == GRAFT_SPLIT_TRAIN, d, err, errlen);
        if (s == GRAFT_OK && !sp->classes) note_inferred_classes(sp, *d);
        return s;
    }
    if (ends_with(src, ".csv")) {
        /* Select first, decode only what is kept. A bad class list falls
         * through to the full load, whose selection reports it. */
        int cls[1024], k = sp->classes ? parse_class_list(sp->classes, cls, 1024) : 0;
        if (k >= 0 && (k > 0 || sp->per_class > 0))
            s = dataset_load_csv_sampled(src, &o, cls, k, sp->per_class, sp->seed, &rep, d, err,
                                         errlen);
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
        snprintf(msg, sizeof msg, "skipped %d bad files", rep.bad_skipped);
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
        int k = parse_class_list(sp->classes, cls, 1024);
        if (k <= 0)
            s = error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                          "classes '%s': expected a list such as 5,6,7 or 5-9", sp->classes);
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
