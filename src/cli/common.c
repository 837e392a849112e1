#define _POSIX_C_SOURCE 200809L
#include "common.h"
#include "env_params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

graft_ctx *cli_open_device(const char *cmd, const common_opts *co)
{
    graft_ctx_params p = graft_ctx_default_params();
    graft_ctx *ctx = NULL;
    char err[1024];
    if (graft_params_from_env(&p, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        return NULL;
    }
    if (co->device && *co->device) p.device = co->device; /* --device beats $GRAFT_DEVICE */
    p.log = graft_log_stderr; /* the kernel profile table, with GRAFT_PROFILE_KERNELS=1 */
    if (graft_ctx_create(&p, &ctx, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        return NULL;
    }
    if (!co->quiet) {
        const graft_device_info *d = graft_ctx_device(ctx);
        graft_build_stats bs = graft_ctx_build_stats(ctx);
        fprintf(stderr, "%s: device %s (%s), GEMM %s, kernels %s in %.2f s\n", cmd, d->name,
                d->platform, graft_ctx_gemm_backend(ctx) == GRAFT_GEMM_CLBLAST ? "CLBlast" : "native",
                bs.programs_from_cache ? "from cache" : "compiled", bs.build_seconds);
    }
    return ctx;
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
static int is_idx_spec(const char *spec)
{
    if (!strcmp(spec, "fashion-mnist")) return 1;
    if (strstr(spec, "idx3")) return 1;
    if (is_dir(spec)) {
        idx_source src;
        return dataset_resolve(spec, 1, &src, NULL, 0) == GRAFT_OK;
    }
    return 0;
}

int cli_has_test_split(const char *spec)
{
    if (!spec || !is_idx_spec(spec) || strstr(spec, "idx3")) return 0;
    idx_source src;
    return dataset_resolve(spec, 0, &src, NULL, 0) == GRAFT_OK;
}

int parse_class_list(const char *s, int *classes, int max)
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

/* Resizes/crops every image and converts grey <-> RGB. */
static int convert(const char *cmd, dataset **d, int c, int h, int w)
{
    dataset *src = *d;
    if ((c == 0 || c == src->c) && (h == 0 || h == src->h) && (w == 0 || w == src->w)) return 0;
    if (c == 0) c = src->c;
    if (h == 0) h = src->h;
    if (w == 0) w = src->w;
    char err[512];
    dataset *dst;
    if (dataset_create(c, h, w, src->nclasses, (const char *const *)src->class_names, &dst, err,
                       sizeof err) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        return -1;
    }
    float *tmp = malloc(sizeof(float) * (size_t)src->c * h * w);
    float *img = malloc(sizeof(float) * (size_t)c * h * w);
    if (!tmp || !img) {
        free(tmp);
        free(img);
        dataset_free(dst);
        fprintf(stderr, "%s: out of memory converting images\n", cmd);
        return -1;
    }
    size_t hw = (size_t)h * w;
    for (int i = 0; i < src->n; i++) {
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
        if (dataset_append(dst, img, src->y[i], src->paths ? src->paths[i] : NULL, err,
                           sizeof err) != GRAFT_OK) {
            fprintf(stderr, "%s: %s\n", cmd, err);
            free(tmp);
            free(img);
            dataset_free(dst);
            return -1;
        }
    }
    free(tmp);
    free(img);
    dataset_free(src);
    *d = dst;
    return 0;
}

int cli_load_data(const char *cmd, const data_request *rq, dataset **out)
{
    *out = NULL;
    char err[2048] = "";
    dataset *d = NULL;
    graft_status s;
    const char *spec = rq->spec;
    if (is_idx_spec(spec)) {
        s = dataset_load_spec(spec, rq->split == SPLIT_TRAIN, &d, err, sizeof err);
    } else if (ends_with(spec, ".csv")) {
        data_load_opts o = {rq->c ? rq->c : 3, rq->h, rq->w, rq->skip_bad};
        data_report rep = {0};
        s = dataset_load_csv(spec, &o, &rep, &d, err, sizeof err);
        if (s == GRAFT_OK && rep.bad_skipped && !rq->quiet)
            fprintf(stderr, "%s: skipped %d bad files\n", cmd, rep.bad_skipped);
        data_report_free(&rep);
    } else if (is_dir(spec)) {
        data_load_opts o = {rq->c ? rq->c : 3, rq->h, rq->w, rq->skip_bad};
        data_report rep = {0};
        s = dataset_load_folder(spec, &o, &rep, &d, err, sizeof err);
        if (s == GRAFT_OK && !rq->quiet) {
            if (rep.bad_skipped) fprintf(stderr, "%s: skipped %d bad files\n", cmd, rep.bad_skipped);
            if (rep.hidden || rep.empty_classes)
                fprintf(stderr, "%s: ignored %d hidden entries and %d empty class folders in %s\n",
                        cmd, rep.hidden, rep.empty_classes, spec);
        }
        data_report_free(&rep);
    } else {
        fprintf(stderr, "%s: --data '%s': not 'fashion-mnist', an IDX file or folder, a class "
                        "folder, nor a .csv list\n", cmd, spec);
        return 2;
    }
    if (s != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        return 1;
    }
    if (convert(cmd, &d, rq->c, rq->h, rq->w) != 0) {
        dataset_free(d);
        return 1;
    }
    if (rq->classes) {
        int cls[1024];
        int k = parse_class_list(rq->classes, cls, 1024);
        if (k <= 0) {
            fprintf(stderr, "%s: --classes '%s': expected a list such as 5,6,7 or 5-9\n", cmd, rq->classes);
            dataset_free(d);
            return 2;
        }
        dataset *sel;
        if (dataset_select_classes(d, cls, k, &sel, err, sizeof err) != GRAFT_OK) {
            fprintf(stderr, "%s: --classes: %s\n", cmd, err);
            dataset_free(d);
            return 2;
        }
        dataset_free(d);
        d = sel;
    }
    if (rq->per_class > 0) {
        dataset *sel;
        if (dataset_per_class(d, rq->per_class, rq->seed, &sel, err, sizeof err) != GRAFT_OK) {
            fprintf(stderr, "%s: --per-class: %s\n", cmd, err);
            dataset_free(d);
            return 1;
        }
        dataset_free(d);
        d = sel;
    }
    if (d->n == 0) {
        fprintf(stderr, "%s: %s: no images selected\n", cmd, spec);
        dataset_free(d);
        return 1;
    }
    *out = d;
    return 0;
}

void path_with_suffix(const char *path, const char *suffix, char *buf, size_t n)
{
    size_t L = strlen(path);
    if (L > 6 && !strcmp(path + L - 6, ".graft")) L -= 6;
    snprintf(buf, n, "%.*s%s", (int)L, path, suffix);
}
