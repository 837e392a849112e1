/* The on-disk program binary cache.
 *
 * Cache entry layout (little-endian host order; the key already pins the
 * device and driver): "GRAFTBIN" | u64 key | u64 size | u64 fnv(binary) |
 * binary. A missing, corrupt or rejected entry is ignored and rebuilt. */
#include "program_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileutil.h"
#include "hash.h"

static const char MAGIC[8] = {'G', 'R', 'A', 'F', 'T', 'B', 'I', 'N'};

static uint64_t cache_key(const program_request *rq)
{
    uint64_t h = FNV64_INIT;
    const graft_device_info *d = rq->info;
    h = fnv64(h, d->name, strlen(d->name) + 1);
    h = fnv64(h, d->vendor, strlen(d->vendor) + 1);
    h = fnv64(h, d->platform, strlen(d->platform) + 1);
    h = fnv64(h, d->driver_version, strlen(d->driver_version) + 1);
    h = fnv64(h, rq->options, strlen(rq->options) + 1);
    for (int i = 0; i < rq->nsources; i++)
        h = fnv64(h, rq->sources[i], strlen(rq->sources[i]) + 1);
    return h;
}

static graft_status build_log_fail(const program_request *rq, cl_program prog, cl_int rc, char *err,
                                   size_t errlen)
{
    size_t len = 0;
    clGetProgramBuildInfo(prog, rq->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &len);
    char *log = malloc(len + 1);
    if (log) {
        log[0] = '\0';
        clGetProgramBuildInfo(prog, rq->device, CL_PROGRAM_BUILD_LOG, len, log, NULL);
        log[len] = '\0';
    }
    error_set(err, errlen, GRAFT_ERR_BUILD,
              "building graft's OpenCL program for '%s' failed: %s (%d)\n%.800s", rq->info->name,
              cl_error_name(rc), rc, log ? log : "");
    free(log);
    return GRAFT_ERR_BUILD;
}

/* Tries the cache; returns a built program or NULL. */
static cl_program load_cached(const program_request *rq, const char *path, uint64_t key)
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
    prog = clCreateProgramWithBinary(rq->context, 1, &rq->device, &binlen, &bin, &status, &rc);
    if (rc != CL_SUCCESS || status != CL_SUCCESS) {
        if (prog) clReleaseProgram(prog);
        prog = NULL;
        goto out;
    }
    if (clBuildProgram(prog, 1, &rq->device, rq->options, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(prog);
        prog = NULL;
    }
out:
    free(buf);
    return prog;
}

/* Returns 0 or the errno of the failed write. */
static int store_cached(const program_request *rq, cl_program prog, const char *path, uint64_t key)
{
    size_t binlen = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof binlen, &binlen, NULL) != CL_SUCCESS ||
        binlen == 0)
        return 0;
    unsigned char *buf = malloc(binlen + 32);
    if (!buf) return 0;
    int e = 0;
    unsigned char *bin = buf + 32;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS) {
        uint64_t size = binlen, sum = fnv64(FNV64_INIT, bin, binlen);
        memcpy(buf, MAGIC, 8);
        memcpy(buf + 8, &key, 8);
        memcpy(buf + 16, &size, 8);
        memcpy(buf + 24, &sum, 8);
        e = mkdir_p(rq->cache_dir);
        if (!e) e = file_write_atomic(path, buf, binlen + 32);
    }
    free(buf);
    return e;
}

graft_status program_cache_build(const program_request *rq, program_result *out, char *err,
                                 size_t errlen)
{
    memset(out, 0, sizeof *out);
    uint64_t key = cache_key(rq);
    char path[1200] = "";
    if (rq->cache_dir && rq->cache_dir[0])
        snprintf(path, sizeof path, "%s/%016llx.bin", rq->cache_dir, (unsigned long long)key);

    if (path[0]) {
        out->program = load_cached(rq, path, key);
        if (out->program) {
            out->from_cache = 1;
            return GRAFT_OK;
        }
    }

    cl_int rc;
    /* OpenCL 1.2 headers take char ** though nothing is written. */
    const char **srcs = malloc((size_t)rq->nsources * sizeof *srcs);
    if (!srcs) {
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    }
    for (int i = 0; i < rq->nsources; i++) srcs[i] = rq->sources[i];
    cl_program prog = clCreateProgramWithSource(rq->context, (cl_uint)rq->nsources, srcs, NULL, &rc);
    free(srcs);
    if (rc != CL_SUCCESS) {
        return error_set(err, errlen, GRAFT_ERR_OPENCL,
                         "clCreateProgramWithSource: OpenCL error %s (%d)", cl_error_name(rc), rc);
    }
    rc = clBuildProgram(prog, 1, &rq->device, rq->options, NULL, NULL);
    if (rc != CL_SUCCESS) {
        graft_status s = build_log_fail(rq, prog, rc, err, errlen);
        clReleaseProgram(prog);
        return s;
    }
    out->program = prog;
    if (path[0]) {
        int e = store_cached(rq, prog, path, key);
        /* A long path may truncate the note; it is informational only (the
         * result is used so that -O0 builds do not flag the truncation). */
        if (e && snprintf(out->note, sizeof out->note, "cannot write kernel cache %s: %s", path,
                          strerror(e)) < 0)
            out->note[0] = '\0';
    }
    return GRAFT_OK;
}
