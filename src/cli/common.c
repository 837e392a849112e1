#define _POSIX_C_SOURCE 200809L
#include "common.h"
#include "console.h"
#include "env_params.h"
#include "graft_train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

int cli_ctx_params(const char *cmd, const char *device, graft_ctx_params *p)
{
    char err[1024];
    *p = graft_ctx_default_params();
    if (graft_cache_env_check(err, sizeof err)) fprintf(stderr, "%s: %s\n", cmd, err);
    if (graft_params_from_env(p, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        return 1;
    }
    if (device && *device) p->device = device; /* --device beats $GRAFT_DEVICE */
    p->log = graft_log_stderr; /* the kernel profile table, with GRAFT_PROFILE_KERNELS=1 */
    return 0;
}

graft_ctx *cli_open_device(const char *cmd, const common_opts *co)
{
    graft_ctx_params p;
    graft_ctx *ctx = NULL;
    char err[1024];
    if (cli_ctx_params(cmd, co->device, &p)) return NULL;
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

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

int cli_check_model_path(const char *cmd, const char *what, const char *path)
{
    struct stat st;
    const char *sp = what && *what ? " " : "";
    if (stat(path, &st) != 0) {
        fprintf(stderr, "%s: %s%s%s does not exist\n", cmd, what ? what : "", sp, path);
        return 1;
    }
    if (S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: %s%s%s is a directory, not a model file\n", cmd, what ? what : "", sp,
                path);
        return 1;
    }
    if (ends_with_ci(path, ".onnx")) {
        size_t L = strlen(path) - 5;
        fprintf(stderr, "%s: %s%s%s is an ONNX model; convert it to a .graft model first:\n"
                        "  graft import %s --out %.*s.graft\n", cmd, what ? what : "", sp, path,
                path, (int)L, path);
        return 1;
    }
    return 0;
}

int cli_check_data_path(const char *cmd, const char *what, const char *spec)
{
    struct stat st;
    if (!spec || !strcmp(spec, "fashion-mnist") || stat(spec, &st) == 0) return 0;
    fprintf(stderr, "%s: %s%s%s does not exist\n", cmd, what ? what : "", what && *what ? " " : "",
            spec);
    return 1;
}

int cli_has_test_split(const char *spec) { return graft_data_has_test_split(spec); }

int cli_auto_batch(const char *cmd, graft_model *m, int training, graft_opt_kind opt, int nimages,
                   int cap, int quiet)
{
    int largest = 0;
    graft_model_check_memory(m, 1, training, opt, &largest);
    if (largest < 1) {
        fprintf(stderr, "%s: --batch auto: %s\n", cmd, graft_last_error(graft_model_ctx(m)));
        return 0;
    }
    int b = largest < cap ? largest : cap;
    if (nimages > 0 && b > nimages) b = nimages;
    if (!quiet)
        fprintf(stderr, "%s: --batch auto: %d (the largest that fits the device: %d)\n", cmd, b,
                largest);
    return b;
}

int cli_exit_status(graft_status s) { return s == GRAFT_ERR_INVALID_ARG ? 2 : 1; }

/* Data notes, as "cmd: ..." on stderr. */
static void data_note(void *user, graft_log_level level, const char *msg)
{
    (void)level;
    fprintf(stderr, "%s: %s\n", (const char *)user, msg);
}

int cli_load_data(const char *cmd, const data_request *rq, graft_dataset **out)
{
    graft_data_spec sp = graft_data_default_spec();
    sp.source = rq->spec;
    sp.split = (graft_split)rq->split;
    sp.channels = rq->c;
    sp.height = rq->h;
    sp.width = rq->w;
    sp.skip_bad = rq->skip_bad;
    sp.classes = rq->classes;
    sp.per_class = rq->per_class;
    sp.seed = rq->seed;
    sp.lazy = rq->lazy;
    sp.log = rq->quiet ? NULL : data_note;
    sp.log_user = (void *)cmd;
    console con; /* the decoding's progress line */
    console_init(&con, cmd, rq->quiet, 0, NULL);
    sp.progress = console_progress;
    sp.progress_user = &con;
    char err[2048] = "";
    graft_status s = graft_dataset_open(&sp, out, err, sizeof err);
    progress_clear(&con.pr);
    if (s == GRAFT_OK) return 0;
    fprintf(stderr, "%s: %s\n", cmd, err);
    return cli_exit_status(s);
}

void path_with_suffix(const char *path, const char *suffix, char *buf, size_t n)
{
    size_t L = strlen(path);
    if (L > 6 && !strcmp(path + L - 6, ".graft")) L -= 6;
    snprintf(buf, n, "%.*s%s", (int)L, path, suffix);
}

double cli_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
