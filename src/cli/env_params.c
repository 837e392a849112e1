#include "env_params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The value of name, or NULL when unset or empty. */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* "NAME='value': expected ..." (the CLI sees only public headers, so not
 * base/error.h). */
static graft_status refuse(char *err, size_t errlen, const char *name, const char *value,
                           const char *expected)
{
    if (err && errlen) snprintf(err, errlen, "%s='%s': expected %s", name, value, expected);
    return GRAFT_ERR_INVALID_ARG;
}

graft_status graft_params_from_env(graft_ctx_params *p, char *err, size_t errlen)
{
    const char *v = env("GRAFT_DEVICE");
    if (v) p->device = v;

    if ((v = env("GRAFT_GEMM"))) {
        if (!strcasecmp(v, "clblast")) p->gemm = GRAFT_GEMM_CLBLAST;
        else if (!strcasecmp(v, "native")) p->gemm = GRAFT_GEMM_NATIVE;
        else return refuse(err, errlen, "GRAFT_GEMM", v, "'clblast' or 'native'");
    }
    if ((v = env("GRAFT_KERNEL_STYLE"))) {
        if (!strcasecmp(v, "cpu")) p->kernel_style = GRAFT_KERNELS_CPU;
        else if (!strcasecmp(v, "gpu")) p->kernel_style = GRAFT_KERNELS_GPU;
        else return refuse(err, errlen, "GRAFT_KERNEL_STYLE", v, "'cpu' or 'gpu'");
    }
    if ((v = env("GRAFT_FUSE"))) {
        if (!strcmp(v, "0")) p->fuse = 0;
        else if (!strcmp(v, "1")) p->fuse = 1;
        else return refuse(err, errlen, "GRAFT_FUSE", v, "0 or 1");
    }
    if ((v = env("GRAFT_MEMORY_LIMIT"))) {
        char *end;
        double x = strtod(v, &end);
        double unit = !strcasecmp(end, "k") ? 1024.0 : !strcasecmp(end, "m") ? 1048576.0
                      : !strcasecmp(end, "g") ? 1073741824.0 : !*end ? 1.0 : -1.0;
        if (end == v || unit < 0 || !(x > 0) || x * unit > 1e18)
            return refuse(err, errlen, "GRAFT_MEMORY_LIMIT", v, "bytes, optionally with K, M or G");
        p->memory_limit = (uint64_t)(x * unit);
    }
    /* Benchmark switches: anything but the listed values means the default. */
    if ((v = env("GRAFT_PROFILE_KERNELS")) && !strcmp(v, "1")) p->profile_kernels = 1;
    if ((v = env("GRAFT_CONV_IMPLICIT"))) {
        if (!strcmp(v, "0")) p->conv_path = GRAFT_CONV_PATH_IM2COL;
        else if (!strcmp(v, "1")) p->conv_path = GRAFT_CONV_PATH_IMPLICIT;
    }
    return GRAFT_OK;
}

void graft_log_stderr(void *user, graft_log_level level, const char *msg)
{
    (void)user;
    if (level <= GRAFT_LOG_INFO) fprintf(stderr, "%s\n", msg);
}
