/* Class-folder datasets: root/<class>/<image> (PNG or JPEG, by content). */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset.h"
#include "image.h"
#include "clock.h"
#include "internal.h"

void data_report_free(data_report *r)
{
    if (!r) return;
    free(r->messages);
    memset(r, 0, sizeof *r);
}

void data_report_add(data_report *r, const char *fmt, ...)
{
    if (!r) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    size_t old = r->messages ? strlen(r->messages) : 0, add = strlen(line);
    char *p = realloc(r->messages, old + add + 2);
    if (!p) return; /* messages are best effort; the counts stay right */
    memcpy(p + old, line, add);
    p[old + add] = '\n';
    p[old + add + 1] = '\0';
    r->messages = p;
}

graft_status data_append_image(dataset **d, const data_load_opts *o, int nclasses,
                               const char *const *names, const char *path, int label,
                               data_report *r, char *err, size_t errlen)
{
    float *pix = NULL, *rs = NULL;
    int w, h;
    /* JPEGs decode at a reduced size that still covers the target */
    int fw = o->w > 0 ? o->w : *d ? (*d)->w : 0, fh = o->h > 0 ? o->h : *d ? (*d)->h : 0;
    graft_status s = image_decode_file_fit(path, o->c, fw, fh, &pix, &w, &h, err, errlen);
    if ((s == GRAFT_ERR_FORMAT || s == GRAFT_ERR_UNSUPPORTED) && o->skip_bad) {
        if (r) {
            r->bad_skipped++;
            if (s == GRAFT_ERR_UNSUPPORTED) r->unsupported_skipped++;
            data_report_add(r, "skipped %s", err ? err : path);
        }
        return GRAFT_OK;
    }
    if (s) return s;
    if (!*d) {
        int th = o->h > 0 ? o->h : h, tw = o->w > 0 ? o->w : w;
        if ((s = dataset_create(o->c, th, tw, nclasses, names, d, err, errlen))) goto done;
    }
    const float *img = pix;
    if (h != (*d)->h || w != (*d)->w) {
        rs = malloc(dataset_image_size(*d) * sizeof *rs);
        if (!rs) {
            s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", path);
            goto done;
        }
        preprocess_resize_crop(pix, o->c, h, w, rs, (*d)->h, (*d)->w);
        img = rs;
    }
    s = dataset_append(*d, img, label, path, err, errlen);
done:
    free(pix);
    free(rs);
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *p = malloc(na + nb + 2);
    if (!p) return NULL;
    memcpy(p, a, na);
    p[na] = '/';
    memcpy(p + na + 1, b, nb + 1);
    return p;
}

/* Lists dir entries (sorted); want_dirs selects directories or regular
 * files; hidden entries and the other kind are counted into r. */
static graft_status list_dir(const char *dir, int want_dirs, strlist *out, data_report *r, char *err,
                             size_t errlen)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return error_set(err, errlen, GRAFT_ERR_IO, "%s: cannot open directory: %s", dir,
                         strerror(errno));
    graft_status s = GRAFT_OK;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(dp))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (e->d_name[0] == '.') {
            if (r) {
                r->hidden++;
                data_report_add(r, "ignored hidden entry %s/%s", dir, e->d_name);
            }
            continue;
        }
        char *full = join(dir, e->d_name);
        struct stat st;
        if (!full) {
            s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", dir);
            break;
        }
        if (stat(full, &st) != 0) {
            s = error_set(err, errlen, GRAFT_ERR_IO, "%s: cannot stat: %s", full, strerror(errno));
            free(full);
            break;
        }
        free(full);
        int isdir = S_ISDIR(st.st_mode);
        if (want_dirs ? isdir : S_ISREG(st.st_mode)) {
            if (strlist_add(out, e->d_name)) {
                s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", dir);
                break;
            }
        } else if (want_dirs && r) {
            r->stray_files++;
            data_report_add(r, "ignored %s/%s (not a class folder)", dir, e->d_name);
        } else if (!want_dirs && r) {
            data_report_add(r, "ignored %s/%s (not a regular file)", dir, e->d_name);
        }
        errno = 0;
    }
    if (!s && errno)
        s = error_set(err, errlen, GRAFT_ERR_IO, "%s: cannot read directory: %s", dir,
                      strerror(errno));
    closedir(dp);
    if (!s && out->n > 1) qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str);
    return s;
}

graft_status dataset_load_folder(const char *root, const data_load_opts *opts, data_report *report,
                                 dataset **out, char *err, size_t errlen)
{
    *out = NULL;
    if (report) memset(report, 0, sizeof *report);
    if (!opts || (opts->c != 1 && opts->c != 3) || opts->h < 0 || opts->w < 0 || (opts->h == 0) != (opts->w == 0))
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                         "%s: load options need c 1 or 3 and h,w both set or both 0", root);
    strlist classes = {0}, keep = {0};
    strlist *files = NULL;
    dataset *d = NULL;
    graft_status s = list_dir(root, 1, &classes, report, err, errlen);
    if (s) goto done;
    files = calloc((size_t)classes.n + 1, sizeof *files);
    if (!files) {
        s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", root);
        goto done;
    }
    /* list every class first: empty ones are dropped before numbering */
    int nkeep = 0;
    for (int i = 0; i < classes.n; i++) {
        char *cdir = join(root, classes.v[i]);
        if (!cdir) {
            s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", root);
            goto done;
        }
        s = list_dir(cdir, 0, &files[nkeep], report, err, errlen);
        free(cdir);
        if (s) goto done;
        if (files[nkeep].n == 0) {
            if (report) {
                report->empty_classes++;
                data_report_add(report, "ignored empty class folder %s/%s", root, classes.v[i]);
            }
            continue;
        }
        if (strlist_add(&keep, classes.v[i])) {
            s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", root);
            goto done;
        }
        nkeep++;
    }
    if (nkeep == 0) {
        s = error_set(err, errlen, GRAFT_ERR_FORMAT,
                      "%s: no non-empty class folders (expected root/<class>/<image files>)", root);
        goto done;
    }
    long total = 0, done = 0;
    for (int c = 0; c < nkeep; c++) total += files[c].n;
    double t0 = now_seconds();
    for (int c = 0; c < nkeep; c++) {
        char *cdir = join(root, keep.v[c]);
        if (!cdir) {
            s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", root);
            goto done;
        }
        for (int j = 0; j < files[c].n && !s; j++) {
            char *path = join(cdir, files[c].v[j]);
            if (!path) {
                s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", root);
                break;
            }
            s = data_append_lazy(&d, opts, nkeep, (const char *const *)keep.v, path, c, report, err, errlen);
            free(path);
            data_progress(opts, ++done, total, t0);
        }
        free(cdir);
        if (s) goto done;
    }
    if (!d) {
        s = error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: no readable images", root);
        goto done;
    }
    *out = d;
    d = NULL;
done:
    if (files)
        for (int i = 0; i <= classes.n; i++) strlist_free(&files[i]);
    free(files);
    strlist_free(&classes);
    strlist_free(&keep);
    dataset_free(d);
    return s;
}
