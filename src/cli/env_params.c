#define _XOPEN_SOURCE 700
#include "env_params.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Set by graft_cache_env_check when the caches' directory is unusable. */
static int caches_off;
static char private_pocl_dir[4096];

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
    if (caches_off) p->cache_dir = "";

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
    if ((v = env("GRAFT_CONV_POINTWISE"))) {
        if (!strcmp(v, "0")) p->conv_pointwise = 0;
        else if (!strcmp(v, "1")) p->conv_pointwise = 1;
    }
    if ((v = env("GRAFT_CONV_WINOGRAD"))) {
        if (!strcmp(v, "0")) p->conv_winograd = GRAFT_CONV_WINOGRAD_OFF;
        else if (!strcmp(v, "1")) p->conv_winograd = GRAFT_CONV_WINOGRAD_ON;
    }
    return GRAFT_OK;
}

double graft_progress_interval_from_env(void)
{
    const char *v = env("GRAFT_PROGRESS_INTERVAL");
    char *end;
    double d = v ? strtod(v, &end) : -1;
    return v && !*end && d >= 0 && d < 1e6 ? d : 15.0;
}

void graft_log_stderr(void *user, graft_log_level level, const char *msg)
{
    (void)user;
    if (level <= GRAFT_LOG_INFO) fprintf(stderr, "%s\n", msg);
}

/* 0 when dir exists (created if needed, with its parents) and a file can
 * be created in it, else an errno value. */
static int dir_usable(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s", dir);
    for (char *q = path + 1; *q; q++)
        if (*q == '/') {
            *q = '\0';
            if (mkdir(path, 0755) && errno != EEXIST) return errno;
            *q = '/';
        }
    if (mkdir(path, 0755) && errno != EEXIST) return errno;
    snprintf(path, sizeof path, "%s/.graft-probe.%ld", dir, (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) return errno;
    close(fd);
    unlink(path);
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void remove_private_pocl_dir(void)
{
    if (private_pocl_dir[0]) nftw(private_pocl_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int graft_cache_env_check(char *warn, size_t len)
{
    static int checked;
    if (checked) return 0;
    checked = 1;
    char base[4096], dir[4200];
    const char *xdg = env("XDG_CACHE_HOME"), *home = env("HOME"), *pocl = env("POCL_CACHE_DIR");
    if (xdg) snprintf(base, sizeof base, "%s", xdg);
    else if (home) snprintf(base, sizeof base, "%s/.cache", home);
    else return 0;
    snprintf(dir, sizeof dir, "%s/graft", base);
    int e = dir_usable(dir);
    const char *bad = dir;
    if (!e && pocl) e = dir_usable(bad = pocl);
    if (!e) return 0;
    /* PoCL cannot even list its device without a usable cache directory:
     * give it a private one, removed at exit, and keep nothing. */
    caches_off = 1;
    const char *tmp = env("TMPDIR");
    snprintf(private_pocl_dir, sizeof private_pocl_dir, "%s/graft-pocl-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(private_pocl_dir)) {
        setenv("POCL_CACHE_DIR", private_pocl_dir, 1);
        atexit(remove_private_pocl_dir);
    } else {
        private_pocl_dir[0] = '\0';
    }
    setenv("POCL_KERNEL_CACHE", "0", 1);
    snprintf(warn, len, "warning: the cache directory %s is unusable (%s): running without the "
             "kernel caches (programs are compiled at every start)", bad, strerror(e));
    return 1;
}

int graft_mpi_world_size_from_env(void)
{
    const char *v = getenv("OMPI_COMM_WORLD_SIZE");
    if (!v || !*v) v = getenv("PMI_SIZE");
    int n = v && *v ? atoi(v) : 1;
    return n > 1 ? n : 1;
}
