/* Builds graft's OpenCL program for a device, with an on-disk binary cache
 * so that a second process on the same device compiles nothing.
 *
 * Cache entry layout (little-endian host order; the key already pins the
 * device and driver): "GRAFTBIN" | u64 key | u64 size | u64 fnv(binary) |
 * binary. A missing, corrupt or rejected entry is ignored and rebuilt. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl_sources.h"
#include "ctx.h"
#include "fileutil.h"
#include "hash.h"
#include "progress.h"

static const char MAGIC[8] = {'G', 'R', 'A', 'F', 'T', 'B', 'I', 'N'};


static void build_options(const graft_ctx *ctx, char *buf, size_t n)
{
    snprintf(buf, n, "-cl-std=CL1.2 -cl-mad-enable -DGRAFT_DEVICE_%s=1",
             ctx->info.type == GRAFT_DEVICE_GPU ? "GPU" : "CPU");
}

static uint64_t cache_key(const graft_ctx *ctx, const char *opts)
{
    uint64_t h = FNV64_INIT;
    const graft_device_info *d = &ctx->info;
    h = fnv64(h, d->name, strlen(d->name) + 1);
    h = fnv64(h, d->vendor, strlen(d->vendor) + 1);
    h = fnv64(h, d->platform, strlen(d->platform) + 1);
    h = fnv64(h, d->driver_version, strlen(d->driver_version) + 1);
    h = fnv64(h, opts, strlen(opts) + 1);
    for (int i = 0; i < graft_cl_count; i++)
        h = fnv64(h, graft_cl_sources[i], strlen(graft_cl_sources[i]) + 1);
    return h;
}

static graft_status build_log_fail(graft_ctx *ctx, cl_program prog, cl_int rc, const char *how)
{
    size_t len = 0;
    clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &len);
    char *log = malloc(len + 1);
    if (log) {
        log[0] = '\0';
        clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, len, log, NULL);
        log[len] = '\0';
    }
    graft_status s = ctx_fail(ctx, GRAFT_ERR_BUILD,
                              "%s graft's OpenCL program for '%s' failed: %s (%d)\n%.800s", how,
                              ctx->info.name, cl_error_name(rc), rc, log ? log : "");
    free(log);
    return s;
}

/* Tries the cache; returns a built program or NULL. */
static cl_program load_cached(graft_ctx *ctx, const char *path, uint64_t key, const char *opts)
{
    unsigned char *buf;
    size_t n;
    if (file_read_all(path, (size_t)1 << 30, &buf, &n) != 0) return NULL;
    cl_program prog = NULL;
    uint64_t hk, size, sum;
    if (n < 32 || memcmp(buf, MAGIC, 8) != 0) goto out;
    memcpy(&hk, buf + 8, 8);
    memcpy(&size, buf + 16, 8);
    memcpy(&sum, buf + 24, 8);
    if (hk != key || size != n - 32 || fnv64(FNV64_INIT, buf + 32, size) != sum) goto out;
    const unsigned char *bin = buf + 32;
    size_t binlen = (size_t)size;
    cl_int status, rc;
    prog = clCreateProgramWithBinary(ctx->context, 1, &ctx->device, &binlen, &bin, &status, &rc);
    if (rc != CL_SUCCESS || status != CL_SUCCESS) {
        if (prog) clReleaseProgram(prog);
        prog = NULL;
        goto out;
    }
    if (clBuildProgram(prog, 1, &ctx->device, opts, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(prog);
        prog = NULL;
    }
out:
    free(buf);
    return prog;
}

static void store_cached(graft_ctx *ctx, cl_program prog, const char *path, uint64_t key)
{
    size_t binlen = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof binlen, &binlen, NULL) != CL_SUCCESS ||
        binlen == 0)
        return;
    unsigned char *buf = malloc(binlen + 32);
    if (!buf) return;
    unsigned char *bin = buf + 32;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS) {
        uint64_t size = binlen, sum = fnv64(FNV64_INIT, bin, binlen);
        memcpy(buf, MAGIC, 8);
        memcpy(buf + 8, &key, 8);
        memcpy(buf + 16, &size, 8);
        memcpy(buf + 24, &sum, 8);
        int e = mkdir_p(ctx->cache_dir);
        if (!e) e = file_write_atomic(path, buf, binlen + 32);
        if (e && ctx->verbose)
            fprintf(stderr, "graft: cannot write kernel cache %s: %s\n", path, strerror(e));
    }
    free(buf);
}

graft_status program_build(graft_ctx *ctx)
{
    double t0 = now_seconds();
    char opts[256];
    build_options(ctx, opts, sizeof opts);
    uint64_t key = cache_key(ctx, opts);
    char path[1200] = "";
    if (ctx->cache_dir[0])
        snprintf(path, sizeof path, "%s/%016llx.bin", ctx->cache_dir, (unsigned long long)key);

    if (path[0]) {
        ctx->program = load_cached(ctx, path, key, opts);
        if (ctx->program) {
            ctx->stats.programs_from_cache++;
            ctx->stats.build_seconds += now_seconds() - t0;
            if (ctx->verbose)
                fprintf(stderr, "graft: kernels loaded from cache %s (%.3f s)\n", path, now_seconds() - t0);
            return GRAFT_OK;
        }
    }

    cl_int rc;
    /* OpenCL 1.2 headers take char ** though nothing is written. */
    const char **srcs = malloc((size_t)graft_cl_count * sizeof *srcs);
    if (!srcs) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    for (int i = 0; i < graft_cl_count; i++) srcs[i] = graft_cl_sources[i];
    cl_program prog = clCreateProgramWithSource(ctx->context, (cl_uint)graft_cl_count, srcs, NULL, &rc);
    free(srcs);
    if (rc != CL_SUCCESS) return ctx_cl_fail(ctx, rc, "clCreateProgramWithSource");
    rc = clBuildProgram(prog, 1, &ctx->device, opts, NULL, NULL);
    if (rc != CL_SUCCESS) {
        graft_status s = build_log_fail(ctx, prog, rc, "building");
        clReleaseProgram(prog);
        return s;
    }
    ctx->program = prog;
    ctx->stats.programs_built++;
    if (path[0]) store_cached(ctx, prog, path, key);
    ctx->stats.build_seconds += now_seconds() - t0;
    if (ctx->verbose) fprintf(stderr, "graft: kernels built from source (%.3f s)\n", now_seconds() - t0);
    return GRAFT_OK;
}

graft_status program_build_source_for_test(graft_ctx *ctx, const char *src, char *log, size_t loglen);
/* Builds an arbitrary source on the context's device (used by tests of the
 * build-failure path); returns GRAFT_ERR_BUILD with the log on failure. */
graft_status program_build_source_for_test(graft_ctx *ctx, const char *src, char *log, size_t loglen)
{
    cl_int rc;
    cl_program prog = clCreateProgramWithSource(ctx->context, 1, &src, NULL, &rc);
    if (rc != CL_SUCCESS) return ctx_cl_fail(ctx, rc, "clCreateProgramWithSource");
    rc = clBuildProgram(prog, 1, &ctx->device, "", NULL, NULL);
    graft_status s = GRAFT_OK;
    if (rc != CL_SUCCESS) s = build_log_fail(ctx, prog, rc, "building");
    if (log && loglen) snprintf(log, loglen, "%s", ctx->err);
    clReleaseProgram(prog);
    return s;
}
