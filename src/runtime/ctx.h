/* Internal view of a graft context: device, queue, programs, GEMM back end,
 * scratch buffers. Everything device-specific hangs off this struct so that
 * several contexts (one per device) can live in one process. */
#ifndef GRAFT_CTX_H
#define GRAFT_CTX_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <stdarg.h>

#include "cl_error.h"
#include "graft.h"

#define GRAFT_ERRLEN 1024

typedef struct kernel_entry {
    char name[64];
    cl_kernel k;
    double prof_s; /* profile_kernels: seconds and launches */
    long prof_n;
} kernel_entry;

/* Benchmark knobs of the native GEMM (graft_ctx_params.gemm_tuning). */
typedef graft_gemm_tuning gemm_tuning;

struct graft_ctx {
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    cl_program program;
    graft_device_info info;
    graft_gemm_backend gemm;
    /* Configuration, fixed at creation (graft_ctx_params). */
    int cpu_kernels;  /* see ctx_is_cpu */
    int fuse;         /* models fold activations into BatchNorm */
    graft_conv_path conv_path;
    int conv_pointwise; /* 1x1 convs by conv_pointwise_cpu (conv_path AUTO) */
    size_t conv_chunk_bytes;
    graft_conv_winograd conv_winograd;
    int prof_kernels; /* time every launch for graft_ctx_kernel_profile */
    gemm_tuning tune;
    graft_log_fn log;
    void *log_user;
    graft_progress_fn progress; /* graft_ctx_set_progress */
    void *progress_user;
    char cache_dir[1024];
    graft_build_stats stats;

    kernel_entry *kernels;
    int nkernels, capkernels;

    /* Grow-only scratch buffers reused by every layer (im2col columns,
     * transposed gradients), so a training step allocates nothing. */
    cl_mem scratch[6];
    size_t scratch_bytes[6];

    char err[GRAFT_ERRLEN];
};

/* Records a formatted message as the context's last error; returns s. */
graft_status ctx_fail(graft_ctx *ctx, graft_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records an OpenCL failure: "<what>: CL_XXX (code)". Maps allocation
 * codes to GRAFT_ERR_DEVICE_MEMORY. */
graft_status ctx_cl_fail(graft_ctx *ctx, cl_int code, const char *what);


/* Device buffer of bytes; reports the size on failure. */
graft_status ctx_alloc(graft_ctx *ctx, size_t bytes, cl_mem *out, const char *what);
/* An owned buffer *buf of *have bytes grown to at least need (a new
 * buffer, contents not kept; the old one is released, which OpenCL defers
 * until work queued on it completes). *have is 0 after a failure. */
graft_status ctx_grow(graft_ctx *ctx, cl_mem *buf, size_t *have, size_t need, const char *what);
/* Scratch buffer slot (0..5: 0-2 layers, 3-4 GEMM packing, 5 spare) of at least bytes; valid until the next call
 * with the same slot. */
graft_status ctx_scratch(graft_ctx *ctx, int slot, size_t bytes, cl_mem *out);

/* Kernel by name from the context's program (created on first use). */
graft_status ctx_kernel(graft_ctx *ctx, const char *name, cl_kernel *out);

/* One kernel argument: size and pointer to its value. */
typedef struct karg {
    size_t size;
    const void *ptr;
} karg;
#define KA_MEM(m) ((karg){sizeof(cl_mem), &(cl_mem){(m)}})
#define KA_INT(v) ((karg){sizeof(cl_int), &(cl_int){(cl_int)(v)}})
#define KA_FLT(v) ((karg){sizeof(cl_float), &(cl_float){(cl_float)(v)}})
#define KA_LOCAL(bytes) ((karg){(bytes), NULL})

/* Sets args and enqueues name over gws (rounded up to lws when lws given). */
graft_status ctx_launch(graft_ctx *ctx, const char *name, cl_uint dims,
                        const size_t *gws, const size_t *lws,
                        const karg *args, int nargs);
#define LAUNCH(ctx, name, dims, gws, lws, ...)                                 \
    ctx_launch((ctx), (name), (dims), (gws), (lws), (karg[]){__VA_ARGS__},     \
               (int)(sizeof((karg[]){__VA_ARGS__}) / sizeof(karg)))

/* 1-D launch over n items with the default work-group size. */
graft_status ctx_launch1d(graft_ctx *ctx, const char *name, size_t n,
                          const karg *args, int nargs);
#define LAUNCH1D(ctx, name, n, ...)                                            \
    ctx_launch1d((ctx), (name), (n), (karg[]){__VA_ARGS__},                    \
                 (int)(sizeof((karg[]){__VA_ARGS__}) / sizeof(karg)))

/* Fills n floats of buf from offset off (in floats) with value. */
graft_status ctx_fill(graft_ctx *ctx, cl_mem buf, size_t off, size_t n, float value);
/* Blocking host<->device copies of n floats at float offset off. */
graft_status ctx_write(graft_ctx *ctx, cl_mem buf, size_t off, const float *src, size_t n);
graft_status ctx_read(graft_ctx *ctx, cl_mem buf, size_t off, float *dst, size_t n);

/* CPU-style kernels (PoCL and the like): kernels that loop inside few
 * work-items beat wide NDRanges there; GPUs want the opposite. Chosen from
 * the device type unless graft_ctx_params.kernel_style forces one, so that
 * both families are tested on any device. */
static inline int ctx_is_cpu(const graft_ctx *ctx) { return ctx->cpu_kernels; }

/* Passes a formatted message to the context's log sink, if any. */
void ctx_log(const graft_ctx *ctx, graft_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Builds (or loads from the disk cache) the context's program. */
graft_status ctx_build_program(graft_ctx *ctx);
/* Builds an arbitrary source on the context's device (tests of the
 * build-failure path); GRAFT_ERR_BUILD with the log on failure. */
graft_status ctx_build_source_for_test(graft_ctx *ctx, const char *src, char *log, size_t loglen);

/* Fills info for one device. */
void device_query(cl_platform_id plat, cl_device_id dev, int index,
                  graft_device_info *info);

#define CL_TRY(ctx, call, what)                                                \
    do {                                                                       \
        cl_int cl_try_rc_ = (call);                                            \
        if (cl_try_rc_ != CL_SUCCESS) return ctx_cl_fail((ctx), cl_try_rc_, (what)); \
    } while (0)

#define TRY(expr)                                                              \
    do {                                                                       \
        graft_status try_rc_ = (expr);                                         \
        if (try_rc_ != GRAFT_OK) return try_rc_;                               \
    } while (0)

#endif
