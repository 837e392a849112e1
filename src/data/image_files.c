/* Single image files for prediction: decoding one to a model's input, and
 * expanding files and directories into the list of images to classify. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "dataset.h"
#include "error.h"
#include "graft_data.h"
#include "image.h"
#include "internal.h"

graft_status graft_image_load(const char *path, int c, int h, int w, float *dst, char *err,
                              size_t errlen)
{
    char why[1024] = "";
    float *pix = NULL;
    int pw = 0, ph = 0;
    /* JPEGs decode at a reduced size that still covers h x w */
    graft_status s = image_decode_file_fit(path, c, w, h, &pix, &pw, &ph, why, sizeof why);
    if (s != GRAFT_OK) {
        /* Name the file unless the decoder's message already does. */
        if (s != GRAFT_ERR_UNSUPPORTED && s != GRAFT_ERR_HOST_MEMORY) s = GRAFT_ERR_FORMAT;
        if (strstr(why, path)) return error_set(err, errlen, s, "%s", why);
        return error_set(err, errlen, s, "%s: %s", path, why[0] ? why : "cannot decode");
    }
    preprocess_resize_crop(pix, c, ph, pw, dst, h, w);
    free(pix);
    return GRAFT_OK;
}

void graft_image_list_free(char **list, int count)
{
    for (int i = 0; i < count; i++) free(list[i]);
    free(list);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory lists the files whose name says image (any format graft
 * recognises, so a WebP is reported rather than passed over in silence);
 * which decoder runs is still decided by the content. */
static int has_image_ext(const char *name)
{
    static const char *const ext[] = {"png", "jpg", "jpeg", "jpe", "jfif", "webp", "bmp",
                                      "gif", "tif", "tiff", "heic", "heif", "avif"};
    const char *dot = strrchr(name, '.');
    if (!dot || strchr(dot, '/')) return 0;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (!strcasecmp(dot + 1, ext[i])) return 1;
    return 0;
}

static graft_status oom(char *err, size_t errlen)
{
    return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of memory listing images");
}

/* Every image file under dir (recursive; hidden entries skipped), sorted. */
static graft_status scan_dir(const char *dir, strlist *pl, int depth, char *err, size_t errlen)
{
    if (depth > 64) return error_set(err, errlen, GRAFT_ERR_IO, "%s: directories nested too deeply", dir);
    DIR *dp = opendir(dir);
    if (!dp) return error_set(err, errlen, GRAFT_ERR_IO, "cannot read directory %s: %s", dir, strerror(errno));
    strlist local = {0};
    struct dirent *e;
    graft_status s = GRAFT_OK;
    while (s == GRAFT_OK && (e = readdir(dp))) {
        if (e->d_name[0] == '.') continue;
        size_t L = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(L);
        if (!p) {
            s = oom(err, errlen);
            break;
        }
        snprintf(p, L, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && (S_ISDIR(st.st_mode) || (S_ISREG(st.st_mode) && has_image_ext(p))) &&
            strlist_add(&local, p))
            s = oom(err, errlen);
        free(p);
    }
    closedir(dp);
    if (s == GRAFT_OK && local.n > 1) qsort(local.v, (size_t)local.n, sizeof *local.v, cmp_str);
    for (int i = 0; i < local.n && s == GRAFT_OK; i++) {
        struct stat st;
        if (stat(local.v[i], &st) == 0 && S_ISDIR(st.st_mode)) s = scan_dir(local.v[i], pl, depth + 1, err, errlen);
        else if (strlist_add(pl, local.v[i])) s = oom(err, errlen);
    }
    graft_image_list_free(local.v, local.n);
    return s;
}

graft_status graft_image_list(const char *const *paths, int n, int skip_missing,
                              graft_log_fn log, void *log_user, char ***out, int *count,
                              char *err, size_t errlen)
{
    *out = NULL;
    *count = 0;
    strlist pl = {0};
    graft_status s = GRAFT_OK;
    for (int i = 0; i < n && s == GRAFT_OK; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            char msg[4200];
            if (errno == ENOENT) snprintf(msg, sizeof msg, "%s does not exist", paths[i]);
            else snprintf(msg, sizeof msg, "%s: %s", paths[i], strerror(errno));
            if (!skip_missing) s = error_set(err, errlen, GRAFT_ERR_IO, "%s", msg);
            else if (log) log(log_user, GRAFT_LOG_WARN, msg);
        } else if (S_ISDIR(st.st_mode)) {
            s = scan_dir(paths[i], &pl, 0, err, errlen);
        } else if (strlist_add(&pl, paths[i])) {
            s = oom(err, errlen);
        }
    }
    if (s != GRAFT_OK) {
        graft_image_list_free(pl.v, pl.n);
        return s;
    }
    *out = pl.v;
    *count = pl.n;
    return GRAFT_OK;
}
