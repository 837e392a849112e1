/* Context lifetime and configuration, last-error bookkeeping, logging,
 * buffers, kernel launches and their profile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"

#include "cl_sources.h"
#include "clock.h"
#include "device.h"
#include "error.h"
#include "log.h"
#include "kernel_options.h"
#include "program_cache.h"

#define DEFAULT_LWS 64

const char *graft_status_name(graft_status s)
{
    static const char *names[] = {
        "GRAFT_OK", "GRAFT_ERR_INVALID_ARG", "GRAFT_ERR_SHAPE",
        "GRAFT_ERR_NO_DEVICE", "GRAFT_ERR_OPENCL", "GRAFT_ERR_HOST_MEMORY",
        "GRAFT_ERR_DEVICE_MEMORY", "GRAFT_ERR_BUILD", "GRAFT_ERR_IO",
        "GRAFT_ERR_FORMAT", "GRAFT_ERR_UNSUPPORTED", "GRAFT_ERR_INTERNAL"};
    if ((int)s < 0 || (size_t)s >= sizeof names / sizeof names[0]) return "GRAFT_ERR_UNKNOWN";
    return names[s];
}

void graft_free(void *p) { free(p); }

graft_status ctx_fail(graft_ctx *ctx, graft_status s, const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        error_vset(ctx->err, sizeof ctx->err, s, fmt, ap);
        va_end(ap);
    }
    return s;
}

graft_status ctx_cl_fail(graft_ctx *ctx, cl_int code, const char *what)
{
    graft_status s = GRAFT_ERR_OPENCL;
    if (code == CL_MEM_OBJECT_ALLOCATION_FAILURE || code == CL_OUT_OF_RESOURCES ||
        code == CL_OUT_OF_HOST_MEMORY || code == CL_INVALID_BUFFER_SIZE)
        s = GRAFT_ERR_DEVICE_MEMORY;
    return ctx_fail(ctx, s, "%s: OpenCL error %s (%d)", what, cl_error_name(code), code);
}

const char *graft_last_error(const graft_ctx *ctx)
{
    return ctx ? ctx->err : "no context";
}

const graft_device_info *graft_ctx_device(const graft_ctx *ctx) { return &ctx->info; }
graft_gemm_backend graft_ctx_gemm_backend(const graft_ctx *ctx) { return ctx->gemm; }
graft_build_stats graft_ctx_build_stats(const graft_ctx *ctx) { return ctx->stats; }

graft_ctx_params graft_ctx_default_params(void)
{
    graft_ctx_params p;
    memset(&p, 0, sizeof p);
    p.gemm = GRAFT_GEMM_AUTO;
    p.kernel_style = GRAFT_KERNELS_AUTO;
    p.fuse = 1;
    p.conv_path = GRAFT_CONV_PATH_AUTO;
    p.conv_pointwise = 1;
    p.conv_chunk_bytes = (size_t)32 << 20;
    return p;
}

void ctx_log(const graft_ctx *ctx, graft_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vemit(ctx->log, ctx->log_user, level, fmt, ap);
    va_end(ap);
}

/* The cache directory's default follows the platform convention
 * ($XDG_CACHE_HOME, else ~/.cache): the one place the library reads the
 * environment. */
static void resolve_cache_dir(graft_ctx *ctx, const char *dir)
{
    ctx->cache_dir[0] = '\0';
    if (dir) {
        snprintf(ctx->cache_dir, sizeof ctx->cache_dir, "%s", dir);
        return;
    }
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(ctx->cache_dir, sizeof ctx->cache_dir, "%s/graft", xdg);
    else if (home && *home)
        snprintf(ctx->cache_dir, sizeof ctx->cache_dir, "%s/.cache/graft", home);
}

/* Refuses out-of-range fields before any device work, naming the field. */
static graft_status check_params(const graft_ctx_params *p, char *err, size_t errlen)
{
    if ((unsigned)p->gemm > GRAFT_GEMM_NATIVE)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "graft_ctx_params.gemm: %d is not a "
                         "graft_gemm_backend", (int)p->gemm);
    if ((unsigned)p->kernel_style > GRAFT_KERNELS_GPU)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "graft_ctx_params.kernel_style: %d "
                         "is not a graft_kernel_style", (int)p->kernel_style);
    if (p->fuse != 0 && p->fuse != 1)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "graft_ctx_params.fuse: %d, expected "
                         "0 or 1", p->fuse);
    if ((unsigned)p->conv_path > GRAFT_CONV_PATH_IM2COL)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "graft_ctx_params.conv_path: %d is "
                         "not a graft_conv_path", (int)p->conv_path);
    if (p->conv_pointwise != 0 && p->conv_pointwise != 1)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "graft_ctx_params.conv_pointwise: "
                         "%d, expected 0 or 1", p->conv_pointwise);
    if ((unsigned)p->conv_winograd > GRAFT_CONV_WINOGRAD_OFF)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "graft_ctx_params.conv_winograd: %d "
                         "is not a graft_conv_winograd", (int)p->conv_winograd);
    if (p->conv_chunk_bytes == 0)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "graft_ctx_params.conv_chunk_bytes: "
                         "must be > 0 (start from graft_ctx_default_params)");
    if ((unsigned)p->gemm_tuning.variant > GRAFT_GEMM_VARIANT_DIRECT)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "graft_ctx_params.gemm_tuning.variant:"
                         " %d is not a graft_gemm_variant", (int)p->gemm_tuning.variant);
    return GRAFT_OK;
}

graft_status graft_ctx_create(const graft_ctx_params *p, graft_ctx **out, char *err, size_t errlen)
{
    if (!out) return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "graft_ctx_create: NULL out");
    *out = NULL;
    graft_ctx_params defp = graft_ctx_default_params();
    if (!p) p = &defp;
    graft_status s = check_params(p, err, errlen);
    if (s != GRAFT_OK) return s;

    device_handle *list;
    int n;
    s = device_enumerate(&list, &n, err, errlen);
    if (s != GRAFT_OK) return s;

    const char *spec = p->device;
    int idx = device_select(list, n, spec);
    if (idx < 0) {
        if (err) {
            int off = snprintf(err, errlen, "no OpenCL device matches '%s'; available:", spec);
            for (int i = 0; i < n && off > 0 && (size_t)off < errlen; i++)
                off += snprintf(err + off, errlen - (size_t)off, " [%d] %s (%s)", i,
                                list[i].info.name, device_type_name(list[i].info.type));
        }
        free(list);
        return GRAFT_ERR_NO_DEVICE;
    }

    graft_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        free(list);
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    }
    ctx->platform = list[idx].platform;
    ctx->device = list[idx].device;
    ctx->info = list[idx].info;
    free(list);
    if (p->memory_limit) {
        if (ctx->info.global_mem_bytes > p->memory_limit) ctx->info.global_mem_bytes = p->memory_limit;
        if (ctx->info.max_alloc_bytes > p->memory_limit) ctx->info.max_alloc_bytes = p->memory_limit;
    }
    resolve_cache_dir(ctx, p->cache_dir);

    ctx->cpu_kernels = p->kernel_style == GRAFT_KERNELS_AUTO ? ctx->info.type != GRAFT_DEVICE_GPU
                                                             : p->kernel_style == GRAFT_KERNELS_CPU;
    ctx->fuse = p->fuse;
    ctx->conv_path = p->conv_path;
    ctx->conv_pointwise = p->conv_pointwise;
    ctx->conv_chunk_bytes = p->conv_chunk_bytes;
    ctx->conv_winograd = p->conv_winograd;
    ctx->prof_kernels = p->profile_kernels != 0;
    ctx->tune = p->gemm_tuning;
    ctx->log = p->log;
    ctx->log_user = p->log_user;
    ctx->gemm = p->gemm != GRAFT_GEMM_AUTO ? p->gemm
                : ctx->info.type == GRAFT_DEVICE_GPU ? GRAFT_GEMM_CLBLAST : GRAFT_GEMM_NATIVE;

    cl_int rc;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->platform, 0};
    ctx->context = clCreateContext(props, 1, &ctx->device, NULL, NULL, &rc);
    if (rc == CL_SUCCESS)
        ctx->queue = clCreateCommandQueue(ctx->context, ctx->device, 0, &rc);
    if (rc != CL_SUCCESS) {
        error_set(err, errlen, GRAFT_ERR_OPENCL, "creating an OpenCL context on '%s': %s (%d)",
                  ctx->info.name, cl_error_name(rc), rc);
        graft_ctx_destroy(ctx);
        return GRAFT_ERR_OPENCL;
    }
    s = ctx_build_program(ctx);
    if (s != GRAFT_OK) {
        error_set(err, errlen, s, "%s", ctx->err);
        graft_ctx_destroy(ctx);
        return s;
    }
    *out = ctx;
    return GRAFT_OK;
}


static int by_seconds(const void *a, const void *b)
{
    double x = ((const graft_kernel_stat *)a)->seconds, y = ((const graft_kernel_stat *)b)->seconds;
    return x < y ? 1 : x > y ? -1 : 0;
}

int graft_ctx_kernel_profile(const graft_ctx *ctx, graft_kernel_stat *out, int max)
{
    if (!ctx || !ctx->prof_kernels) return 0;
    int count = 0;
    for (int i = 0; i < ctx->nkernels; i++) count += ctx->kernels[i].prof_n > 0;
    if (count == 0 || !out || max <= 0) return count;
    graft_kernel_stat *all = malloc((size_t)count * sizeof *all);
    if (!all) return 0;
    int k = 0;
    for (int i = 0; i < ctx->nkernels; i++) {
        const kernel_entry *e = &ctx->kernels[i];
        if (!e->prof_n) continue;
        snprintf(all[k].name, sizeof all[k].name, "%s", e->name);
        all[k].calls = e->prof_n;
        all[k].seconds = e->prof_s;
        k++;
    }
    qsort(all, (size_t)count, sizeof *all, by_seconds);
    memcpy(out, all, (size_t)(count < max ? count : max) * sizeof *all);
    free(all);
    return count;
}

/* Appends to a bounded text buffer; *len stays below cap (truncates). */
static void text_add(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void text_add(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (k > 0) *len = *len + (size_t)k < cap ? *len + (size_t)k : cap - 1;
}

/* profile_kernels: the per-kernel totals, slowest first, as one message
 * (tools/bench.sh parses the lines that start with two spaces). */
static void log_kernel_profile(graft_ctx *ctx)
{
    int n = graft_ctx_kernel_profile(ctx, NULL, 0);
    graft_kernel_stat *st = n > 0 ? malloc((size_t)n * sizeof *st) : NULL;
    if (!st) return;
    n = graft_ctx_kernel_profile(ctx, st, n);
    double tot = 0;
    for (int i = 0; i < n; i++) tot += st[i].seconds;
    size_t cap = 1024 + (size_t)n * 160, len = 0;
    char *msg = tot > 0 ? malloc(cap) : NULL;
    if (msg) {
        msg[0] = '\0';
        text_add(msg, cap, &len, "graft kernel profile (%s): %.1f ms in kernels\n", ctx->info.name,
                 1e3 * tot);
        text_add(msg, cap, &len, "  %-28s %8s %10s %9s %6s", "kernel", "calls", "total ms",
                 "ms/call", "share");
        for (int i = 0; i < n; i++)
            text_add(msg, cap, &len, "\n  %-28s %8ld %10.1f %9.3f %5.1f%%", st[i].name,
                     st[i].calls, 1e3 * st[i].seconds, 1e3 * st[i].seconds / (double)st[i].calls,
                     100 * st[i].seconds / tot);
        ctx->log(ctx->log_user, GRAFT_LOG_INFO, msg);
    }
    free(msg);
    free(st);
}

void graft_ctx_destroy(graft_ctx *ctx)
{
    if (!ctx) return;
    if (ctx->queue) clFinish(ctx->queue);
    if (ctx->prof_kernels && ctx->log) log_kernel_profile(ctx);
    for (int i = 0; i < ctx->nkernels; i++) clReleaseKernel(ctx->kernels[i].k);
    free(ctx->kernels);
    for (int i = 0; i < 6; i++)
        if (ctx->scratch[i]) clReleaseMemObject(ctx->scratch[i]);
    if (ctx->program) clReleaseProgram(ctx->program);
    if (ctx->queue) clReleaseCommandQueue(ctx->queue);
    if (ctx->context) clReleaseContext(ctx->context);
    free(ctx);
}

void graft_ctx_set_progress(graft_ctx *ctx, graft_progress_fn fn, void *user)
{
    ctx->progress = fn;
    ctx->progress_user = user;
}

graft_status graft_ctx_finish(graft_ctx *ctx)
{
    CL_TRY(ctx, clFinish(ctx->queue), "clFinish");
    return GRAFT_OK;
}

graft_status ctx_alloc(graft_ctx *ctx, size_t bytes, cl_mem *out, const char *what)
{
    *out = NULL;
    if (bytes == 0) return ctx_fail(ctx, GRAFT_ERR_SHAPE, "%s: zero-size buffer requested", what);
    if (bytes > ctx->info.max_alloc_bytes)
        return ctx_fail(ctx, GRAFT_ERR_DEVICE_MEMORY,
                        "%s: %zu bytes requested, above the device's maximum allocation "
                        "of %llu bytes (%s)", what, bytes,
                        (unsigned long long)ctx->info.max_alloc_bytes, ctx->info.name);
    cl_int rc;
    cl_mem m = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, &rc);
    if (rc != CL_SUCCESS)
        return ctx_fail(ctx, GRAFT_ERR_DEVICE_MEMORY, "%s: allocating %zu bytes failed: %s (%d)",
                        what, bytes, cl_error_name(rc), rc);
    *out = m;
    return GRAFT_OK;
}

graft_status ctx_grow(graft_ctx *ctx, cl_mem *buf, size_t *have, size_t need, const char *what)
{
    if (*have >= need && *buf) return GRAFT_OK;
    if (*buf) clReleaseMemObject(*buf);
    *buf = NULL;
    *have = 0;
    TRY(ctx_alloc(ctx, need, buf, what));
    *have = need;
    return GRAFT_OK;
}

graft_status ctx_scratch(graft_ctx *ctx, int slot, size_t bytes, cl_mem *out)
{
    if (slot < 0 || slot >= 6) return ctx_fail(ctx, GRAFT_ERR_INTERNAL, "bad scratch slot %d", slot);
    TRY(ctx_grow(ctx, &ctx->scratch[slot], &ctx->scratch_bytes[slot], bytes, "scratch buffer"));
    *out = ctx->scratch[slot];
    return GRAFT_OK;
}

static int kernel_index(const graft_ctx *ctx, const char *name)
{
    for (int i = 0; i < ctx->nkernels; i++)
        if (!strcmp(ctx->kernels[i].name, name)) return i;
    return -1;
}

graft_status ctx_kernel(graft_ctx *ctx, const char *name, cl_kernel *out)
{
    int i = kernel_index(ctx, name);
    if (i >= 0) {
        *out = ctx->kernels[i].k;
        return GRAFT_OK;
    }
    if (strlen(name) >= sizeof ctx->kernels[0].name)
        return ctx_fail(ctx, GRAFT_ERR_INTERNAL, "kernel name too long: %s", name);
    cl_int rc;
    cl_kernel k = clCreateKernel(ctx->program, name, &rc);
    if (rc != CL_SUCCESS) {
        char what[128];
        snprintf(what, sizeof what, "creating kernel '%s'", name);
        return ctx_cl_fail(ctx, rc, what);
    }
    if (ctx->nkernels == ctx->capkernels) {
        int cap = ctx->capkernels ? ctx->capkernels * 2 : 32;
        kernel_entry *g = realloc(ctx->kernels, (size_t)cap * sizeof *g);
        if (!g) {
            clReleaseKernel(k);
            return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
        }
        ctx->kernels = g;
        ctx->capkernels = cap;
    }
    memset(&ctx->kernels[ctx->nkernels], 0, sizeof ctx->kernels[0]);
    snprintf(ctx->kernels[ctx->nkernels].name, sizeof ctx->kernels[0].name, "%s", name);
    ctx->kernels[ctx->nkernels].k = k;
    ctx->nkernels++;
    *out = k;
    return GRAFT_OK;
}

graft_status ctx_launch(graft_ctx *ctx, const char *name, cl_uint dims, const size_t *gws,
                        const size_t *lws, const karg *args, int nargs)
{
    cl_kernel k;
    TRY(ctx_kernel(ctx, name, &k));
    for (int i = 0; i < nargs; i++) {
        cl_int rc = clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].ptr);
        if (rc != CL_SUCCESS) {
            char what[128];
            snprintf(what, sizeof what, "setting argument %d of kernel '%s'", i, name);
            return ctx_cl_fail(ctx, rc, what);
        }
    }
    size_t g[3];
    for (cl_uint d = 0; d < dims; d++) {
        if (gws[d] == 0) return GRAFT_OK; /* nothing to do */
        g[d] = lws ? (gws[d] + lws[d] - 1) / lws[d] * lws[d] : gws[d];
    }
    double t0 = 0;
    if (ctx->prof_kernels) {
        clFinish(ctx->queue);
        t0 = now_seconds();
    }
    cl_int rc = clEnqueueNDRangeKernel(ctx->queue, k, dims, NULL, g, lws, 0, NULL, NULL);
    if (rc != CL_SUCCESS) {
        char what[128];
        snprintf(what, sizeof what, "launching kernel '%s'", name);
        return ctx_cl_fail(ctx, rc, what);
    }
    if (ctx->prof_kernels) {
        clFinish(ctx->queue);
        kernel_entry *e = &ctx->kernels[kernel_index(ctx, name)];
        e->prof_s += now_seconds() - t0;
        e->prof_n++;
    }
    return GRAFT_OK;
}

graft_status ctx_launch1d(graft_ctx *ctx, const char *name, size_t n, const karg *args, int nargs)
{
    size_t lws = DEFAULT_LWS;
    return ctx_launch(ctx, name, 1, &n, &lws, args, nargs);
}

graft_status ctx_fill(graft_ctx *ctx, cl_mem buf, size_t off, size_t n, float value)
{
    if (n == 0) return GRAFT_OK;
    return LAUNCH1D(ctx, "fill_f32", n, KA_MEM(buf), KA_INT(off), KA_INT(n), KA_FLT(value));
}

graft_status ctx_write(graft_ctx *ctx, cl_mem buf, size_t off, const float *src, size_t n)
{
    if (n == 0) return GRAFT_OK;
    CL_TRY(ctx, clEnqueueWriteBuffer(ctx->queue, buf, CL_TRUE, off * sizeof(float),
                                     n * sizeof(float), src, 0, NULL, NULL),
           "uploading to the device");
    return GRAFT_OK;
}

graft_status ctx_read(graft_ctx *ctx, cl_mem buf, size_t off, float *dst, size_t n)
{
    if (n == 0) return GRAFT_OK;
    CL_TRY(ctx, clEnqueueReadBuffer(ctx->queue, buf, CL_TRUE, off * sizeof(float),
                                    n * sizeof(float), dst, 0, NULL, NULL),
           "downloading from the device");
    return GRAFT_OK;
}

graft_status ctx_build_program(graft_ctx *ctx)
{
    double t0 = now_seconds();
    char opts[256];
    kernel_build_options(ctx->info.type, opts, sizeof opts);
    program_request rq = {ctx->context, ctx->device, &ctx->info, graft_cl_count, graft_cl_sources,
                          opts, ctx->cache_dir};
    program_result res;
    graft_status s = program_cache_build(&rq, &res, ctx->err, sizeof ctx->err);
    if (s != GRAFT_OK) return s;
    ctx->program = res.program;
    double dt = now_seconds() - t0;
    ctx->stats.build_seconds += dt;
    if (res.from_cache) ctx->stats.programs_from_cache++;
    else ctx->stats.programs_built++;
    if (res.note[0]) ctx_log(ctx, GRAFT_LOG_DEBUG, "graft: %s", res.note);
    ctx_log(ctx, GRAFT_LOG_DEBUG, "graft: kernels %s (%.3f s)",
            res.from_cache ? "loaded from the cache" : "built from source", dt);
    return GRAFT_OK;
}

graft_status ctx_build_source_for_test(graft_ctx *ctx, const char *src, char *log, size_t loglen)
{
    const char *srcs[1] = {src};
    program_request rq = {ctx->context, ctx->device, &ctx->info, 1, srcs, "", NULL};
    program_result res;
    graft_status s = program_cache_build(&rq, &res, ctx->err, sizeof ctx->err);
    if (log && loglen) snprintf(log, loglen, "%s", s == GRAFT_OK ? "" : ctx->err);
    if (s == GRAFT_OK) clReleaseProgram(res.program);
    return s;
}
