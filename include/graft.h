/* graft: transfer-learning image classification on OpenCL.
 *
 * Conventions used throughout this header:
 *  - Every function that can fail returns a graft_status. GRAFT_OK is 0.
 *  - After a failure, graft_last_error(ctx) holds a human-readable message
 *    naming the value or file at fault. Functions without a context take an
 *    explicit error buffer instead.
 *  - Handles are opaque. "Caller owns" means the caller must release the
 *    object with the matching _free or _destroy function; "borrowed" means the
 *    pointer stays valid only as long as the object it came from.
 *  - Thread safety: one graft_ctx (and everything made from it) must be used
 *    by one thread at a time. Different contexts are fully independent: the
 *    library has no global mutable state, so one context per device and one
 *    thread per context is the model for multi-device work.
 *  - Tensors are float32, NCHW, row-major.
 */
#ifndef GRAFT_H
#define GRAFT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GRAFT_VERSION_MAJOR 0
#define GRAFT_VERSION_MINOR 1
#define GRAFT_VERSION_PATCH 0

typedef enum graft_status {
    GRAFT_OK = 0,
    GRAFT_ERR_INVALID_ARG,   /* a parameter value is out of range or NULL */
    GRAFT_ERR_SHAPE,         /* tensor shapes do not fit together */
    GRAFT_ERR_NO_DEVICE,     /* no OpenCL platform/device, or none matches */
    GRAFT_ERR_OPENCL,        /* an OpenCL call failed (message has its name) */
    GRAFT_ERR_HOST_MEMORY,   /* malloc failed */
    GRAFT_ERR_DEVICE_MEMORY, /* device allocation failed or is above the max */
    GRAFT_ERR_BUILD,         /* an OpenCL program failed to compile */
    GRAFT_ERR_IO,            /* a file could not be opened, read or written */
    GRAFT_ERR_FORMAT,        /* a file is truncated, corrupt or of a wrong kind */
    GRAFT_ERR_UNSUPPORTED,   /* valid request that graft does not implement */
    GRAFT_ERR_INTERNAL       /* a bug in graft */
} graft_status;

/* Short constant name of a status ("GRAFT_ERR_SHAPE"). Never NULL. */
const char *graft_status_name(graft_status s);

/* ---------------------------------------------------------------- devices */

typedef enum graft_device_type {
    GRAFT_DEVICE_CPU = 1,
    GRAFT_DEVICE_GPU = 2,
    GRAFT_DEVICE_ACCELERATOR = 4,
    GRAFT_DEVICE_OTHER = 8
} graft_device_type;

typedef struct graft_device_info {
    int index;                 /* position in graft's device list */
    char name[256];
    char vendor[128];
    char platform[256];
    char driver_version[128];
    char opencl_c_version[64];
    graft_device_type type;
    unsigned compute_units;
    uint64_t global_mem_bytes;
    uint64_t max_alloc_bytes;
    int fp16;                  /* cl_khr_fp16 present */
    int fp64;                  /* cl_khr_fp64 present */
} graft_device_info;

/* Lists every OpenCL device of every platform, in platform order.
 * On success *out is a caller-owned array (free with graft_free) of *count
 * entries. With no platform at all, returns GRAFT_ERR_NO_DEVICE and writes a
 * message (which package to install) into err. err may be NULL. */
graft_status graft_devices_list(graft_device_info **out, int *count,
                                char *err, size_t errlen);

/* Releases memory graft handed to the caller (device lists, strings). */
void graft_free(void *p);

/* ---------------------------------------------------------------- context */

typedef struct graft_ctx graft_ctx;

/* Configuration. A context reads its graft_ctx_params once, in
 * graft_ctx_create; nothing is looked up later. The library reads no
 * GRAFT_* environment variable: the graft tool and the developer tools map
 * them onto these fields (docs/cli.md). The only environment it consults is
 * the platform convention $XDG_CACHE_HOME / $HOME for the default
 * cache_dir. Always start from graft_ctx_default_params(): a zeroed struct
 * is not the default (fuse and conv_chunk_bytes would be off/invalid). */

typedef enum graft_gemm_backend {
    GRAFT_GEMM_AUTO = 0,  /* CLBlast on GPUs, graft's native kernels elsewhere */
    GRAFT_GEMM_CLBLAST,
    GRAFT_GEMM_NATIVE
} graft_gemm_backend;

/* Shape of the kernels: CPU-shaped ones loop inside few work-items (best
 * on PoCL), GPU-shaped ones use wide NDRanges and work-group reductions.
 * AUTO picks from the device type; forcing one runs both families on any
 * device (the test suite does). */
typedef enum graft_kernel_style {
    GRAFT_KERNELS_AUTO = 0,
    GRAFT_KERNELS_CPU,
    GRAFT_KERNELS_GPU
} graft_kernel_style;

/* How stride-1 convolutions run with CPU-shaped kernels: AUTO = implicit
 * GEMM kernels where they pay off (docs/performance.md, items 7-8),
 * IMPLICIT = wherever they apply, IM2COL = im2col + GEMM everywhere. */
typedef enum graft_conv_path {
    GRAFT_CONV_PATH_AUTO = 0,
    GRAFT_CONV_PATH_IMPLICIT,
    GRAFT_CONV_PATH_IM2COL
} graft_conv_path;

/* Winograd F(4x4, 3x3) for stride-1, pad-1 3x3 dense convolutions with
 * CPU-shaped kernels (forward and input gradient; docs/performance.md,
 * "Backbones at 224"): AUTO = on the layer sizes where it measured faster
 * than the implicit GEMM (and only with conv_path AUTO), ON = wherever it
 * applies, OFF = never. Results differ from the direct convolution only
 * by rounding (F(4x4) rounds more: about 1e-6 .. 1e-5 of the largest
 * output on random data, tests/test_conv_winograd.c). */
typedef enum graft_conv_winograd {
    GRAFT_CONV_WINOGRAD_AUTO = 0,
    GRAFT_CONV_WINOGRAD_ON,
    GRAFT_CONV_WINOGRAD_OFF
} graft_conv_winograd;

/* Native GEMM kernel variant (benchmark knob). */
typedef enum graft_gemm_variant {
    GRAFT_GEMM_VARIANT_AUTO = 0, /* packing of A chosen from the size */
    GRAFT_GEMM_VARIANT_V1,       /* the first kernel, both operands packed */
    GRAFT_GEMM_VARIANT_PACKA,    /* always pack A */
    GRAFT_GEMM_VARIANT_DIRECT    /* always read A in place */
} graft_gemm_variant;

/* Tuning of the native GEMM back end: benchmark knobs, documented in
 * docs/performance.md. 0 (every field's default) = graft's tuned choice;
 * results are the same for any value, only speed changes. */
typedef struct graft_gemm_tuning {
    int nr;    /* block width, 16 or 32 */
    int kc;    /* K chunk, 8..256 */
    int pc;    /* panels per work-item (tuned default 64) */
    int qc;    /* column stripes per work-item */
    int qdim;  /* which NDRange dimension walks the stripes */
    int lws0, lws1; /* work-group size */
    graft_gemm_variant variant;
} graft_gemm_tuning;

/* Log messages: levels, most important first. */
typedef enum graft_log_level {
    GRAFT_LOG_WARN = 0,
    GRAFT_LOG_INFO = 1,  /* the run's own story; the kernel profile table at destroy */
    GRAFT_LOG_DEBUG = 2  /* kernel builds and cache hits */
} graft_log_level;
/* Receives one message (one or more lines, no trailing newline; borrowed
 * for the call only). Called on the thread using the context. */
typedef void (*graft_log_fn)(void *user, graft_log_level level, const char *msg);

typedef struct graft_ctx_params {
    /* Device selector: NULL/"" = the first GPU, else the first CPU. A
     * decimal number is an index into graft_devices_list; otherwise a
     * case-insensitive substring matched against name, vendor, platform
     * and type ("pocl", "nvidia", "gpu"). Borrowed during create only. */
    const char *device;
    /* GEMM back end. Default AUTO. */
    graft_gemm_backend gemm;
    /* Directory of the program binary cache. NULL (default) =
     * $XDG_CACHE_HOME/graft or ~/.cache/graft. "" disables the disk cache.
     * Borrowed during create only. */
    const char *cache_dir;
    /* Kernel shapes. Default AUTO. */
    graft_kernel_style kernel_style;
    /* 1 (default): models run an activation that follows a BatchNorm inside
     * the BatchNorm's kernel (CPU-style kernels: also one that follows a
     * conv, inside the conv's; such a node's output reads as its
     * activation's), and (CPU-style kernels) inference forwards
     * run conv [-> BatchNorm] [-> residual Add] [-> activation] chains as
     * one conv kernel (docs/engine.md, "Inference folding"); 0: every
     * layer as its own kernels. Same results. */
    int fuse;
    /* Convolution path on CPU-shaped kernels. Default AUTO. */
    graft_conv_path conv_path;
    /* 1 (default): with conv_path AUTO and CPU-shaped kernels, 1x1
     * stride-1 ungrouped convs run as a GEMM per image on NCHW
     * (cl/cpu/pointwise_cpu.cl; docs/performance.md "Backbones at 224");
     * 0: they take the implicit GEMM like other convs (A/B knob). Same
     * results up to rounding. */
    int conv_pointwise;
    /* Cap in bytes on each of the im2col path's scratch buffers; the batch
     * goes through in chunks of images that fit (at least one image).
     * Default 32 MiB; must be > 0. */
    size_t conv_chunk_bytes;
    /* 1: synchronise and time every kernel launch (slower) for
     * graft_ctx_kernel_profile. Default 0. */
    int profile_kernels;
    /* Native GEMM benchmark knobs. Default all 0. */
    graft_gemm_tuning gemm_tuning;
    /* Log sink and its user pointer; NULL (default) = silent. The library
     * never prints: this is its only way to say anything besides errors. */
    graft_log_fn log;
    void *log_user;
    /* Device memory graft may plan for, in bytes: lowers the device's
     * reported global memory and max allocation (graft_device_info) to at
     * most this, e.g. to share a GPU. 0 (default) = as reported. */
    uint64_t memory_limit;
    /* Winograd convolutions on CPU-shaped kernels. Default AUTO. */
    graft_conv_winograd conv_winograd;
} graft_ctx_params;

/* The defaults listed at each field above. */
graft_ctx_params graft_ctx_default_params(void);

/* Creates a context (device, queue, compiled programs) on the selected
 * device; p NULL = the defaults. On success the caller owns *out
 * (graft_ctx_destroy). On failure *out is NULL and err (if not NULL) holds
 * the reason; an out-of-range field gives GRAFT_ERR_INVALID_ARG naming it. */
graft_status graft_ctx_create(const graft_ctx_params *p, graft_ctx **out,
                              char *err, size_t errlen);
/* Waits for queued work and releases everything. With profile_kernels on
 * and a log sink set, first logs the per-kernel table (GRAFT_LOG_INFO, the
 * format of docs/performance.md). NULL is a no-op. */
void graft_ctx_destroy(graft_ctx *ctx);

/* Message for the last failure in this context; borrowed, never NULL. */
const char *graft_last_error(const graft_ctx *ctx);

/* Info on the context's device; borrowed. */
const graft_device_info *graft_ctx_device(const graft_ctx *ctx);
/* Which GEMM back end this context uses (never AUTO). */
graft_gemm_backend graft_ctx_gemm_backend(const graft_ctx *ctx);

/* Statistics on program builds of this context, for tests and reports. */
typedef struct graft_build_stats {
    int programs_built;       /* compiled from source */
    int programs_from_cache;  /* loaded from the disk cache */
    double build_seconds;     /* wall time spent building/loading */
} graft_build_stats;
graft_build_stats graft_ctx_build_stats(const graft_ctx *ctx);

/* Time spent in one kernel (profile_kernels on). */
typedef struct graft_kernel_stat {
    char name[64];
    long calls;
    double seconds; /* launch to completion, summed */
} graft_kernel_stat;
/* Kernels launched at least once since the context was created, slowest
 * first: copies min(count, max) entries into out (caller-owned; out may be
 * NULL when max is 0) and returns count. Always 0 with profile_kernels
 * off. */
int graft_ctx_kernel_profile(const graft_ctx *ctx, graft_kernel_stat *out, int max);

/* Blocks until all queued device work is done. */
graft_status graft_ctx_finish(graft_ctx *ctx);

/* Progress within one pass over data (an epoch, a feature extraction, an
 * evaluation, a prediction run, an import). */
typedef struct graft_progress {
    const char *label;   /* "epoch 3/10", "features", "eval", "predict", "import";
                          * borrowed for the call */
    int epoch, epochs;   /* 1-based epoch of epochs; 0, 0 outside an epoch */
    long done, total;    /* batches (steps, nodes) done of total in this pass */
    long images;         /* images done in this pass */
    double loss;         /* running mean training loss; < 0 when not training */
    double accuracy;     /* running training accuracy in [0, 1]; < 0 when not training */
    double images_per_s; /* over this pass so far */
    double elapsed_s;    /* seconds since this pass began */
} graft_progress;
typedef void (*graft_progress_fn)(void *user, const graft_progress *p);

/* The context's progress sink (fn NULL = none, the default): every long
 * pass of a call on this context that has no progress callback of its own
 * reports here after each batch (the receiver throttles): graft_evaluate,
 * graft_features, graft_predict_files, graft_onnx_import, graft_lr_find,
 * the evaluations and feature passes inside graft_train/graft_finetune,
 * and the training epochs of workflows whose callbacks are off (the runs
 * of graft_cv, graft_selftrain). Called on the thread using the context. */
void graft_ctx_set_progress(graft_ctx *ctx, graft_progress_fn fn, void *user);

/* ---------------------------------------------------------------- tensors */

typedef struct graft_tensor graft_tensor;

#define GRAFT_MAX_DIMS 4

/* Device tensor of float32. Caller owns *out (graft_tensor_free). Fails
 * with GRAFT_ERR_SHAPE for a zero or negative dimension and with
 * GRAFT_ERR_DEVICE_MEMORY (naming the byte size) when the device refuses. */
graft_status graft_tensor_create(graft_ctx *ctx, int ndim, const int *shape,
                                 graft_tensor **out);
void graft_tensor_free(graft_tensor *t);
int graft_tensor_ndim(const graft_tensor *t);
int graft_tensor_dim(const graft_tensor *t, int i);
size_t graft_tensor_numel(const graft_tensor *t);
/* Copies n floats between host and device; n must equal numel. Blocking. */
graft_status graft_tensor_upload(graft_tensor *t, const float *src, size_t n);
graft_status graft_tensor_download(const graft_tensor *t, float *dst, size_t n);

/* Row-major single-precision GEMM on device tensors viewed as matrices:
 * C[M,N] = alpha * op(A) op(B) + beta * C, op = transpose when trans != 0.
 * A is M x K (K x M when transA), B is K x N (N x K when transB). Uses the
 * context's GEMM back end. Exposed for tests and benchmarks. */
graft_status graft_gemm(graft_ctx *ctx, int transA, int transB, int M, int N,
                        int K, float alpha, const graft_tensor *A,
                        const graft_tensor *B, float beta, graft_tensor *C);

/* ---------------------------------------------------------------- layers */

typedef enum graft_layer_kind {
    GRAFT_LAYER_INPUT = 0,
    GRAFT_LAYER_CONV2D,
    GRAFT_LAYER_BATCHNORM2D,
    GRAFT_LAYER_RELU,
    GRAFT_LAYER_RELU6,
    GRAFT_LAYER_LEAKY_RELU,
    GRAFT_LAYER_MAXPOOL2D,
    GRAFT_LAYER_AVGPOOL2D,
    GRAFT_LAYER_GLOBAL_AVGPOOL,
    GRAFT_LAYER_LINEAR,
    GRAFT_LAYER_DROPOUT,
    GRAFT_LAYER_ADD,
    GRAFT_LAYER_CONCAT,
    GRAFT_LAYER_FLATTEN,
    GRAFT_LAYER_SIGMOID,
    GRAFT_LAYER_HARD_SIGMOID,  /* clamp(alpha * x + beta, 0, 1) */
    GRAFT_LAYER_HARD_SWISH,    /* x * hard_sigmoid(x) */
    GRAFT_LAYER_SILU,          /* x * sigmoid(x) (swish) */
    GRAFT_LAYER_MUL,           /* a * b, b of a's shape or C x 1 x 1 (squeeze-excitation) */
    GRAFT_LAYER_CHANNEL_SLICE,
    GRAFT_LAYER_CHANNEL_SHUFFLE,
    GRAFT_LAYER_LAYER_NORM,
    GRAFT_LAYER_GELU,
    GRAFT_LAYER_KIND_COUNT
} graft_layer_kind;

/* Name used in files and printouts ("conv2d"); NULL for an unknown kind. */
const char *graft_layer_kind_name(graft_layer_kind k);

/* Hyper-parameters of one layer. Fields a kind does not use are ignored.
 * Start from graft_layer_default(kind) and set what differs. */
typedef struct graft_layer_spec {
    graft_layer_kind kind;
    int channels;       /* INPUT: C; CONV2D: output channels; LINEAR: outputs;
                           CHANNEL_SLICE: channels kept */
    int height, width;  /* INPUT only */
    int kernel;         /* CONV2D, pools: square kernel size */
    int stride;         /* CONV2D, pools */
    int pad;            /* CONV2D, pools; CHANNEL_SLICE: channels cut off the front */
    int dilation;       /* CONV2D */
    int groups;         /* CONV2D: 1 = dense, C = depthwise; CHANNEL_SHUFFLE: groups */
    int bias;           /* CONV2D, LINEAR: 1 = has bias */
    float eps;          /* BATCHNORM2D, LAYER_NORM */
    float momentum;     /* BATCHNORM2D: running = (1-m)*running + m*batch */
    float slope;        /* LEAKY_RELU; HARD_SIGMOID, HARD_SWISH: alpha, the ramp's slope
                         * (default 1/6, PyTorch's) */
    float p;            /* DROPOUT: drop probability; HARD_SIGMOID, HARD_SWISH: beta, the
                         * ramp's value at 0 (default 0.5) */
    /* Non-square windows and per-side pads (CONV2D, pools), e.g. a 1x7
     * kernel with pads 0 above/below and 3 left/right. 0 means "as kernel"
     * / "as pad", so specs that only set kernel and pad keep their meaning;
     * for a zero side next to nonzero ones set pad = 0 and the sides. */
    int kernel_h, kernel_w;
    int pad_top, pad_left, pad_bottom, pad_right;
    int ceil_mode;         /* MAXPOOL2D, AVGPOOL2D: 1 = output sizes round up */
    int exclude_pad;       /* AVGPOOL2D: 0 = padding counts in the divisor
                            * (ONNX count_include_pad=1); 1 = only pixels of
                            * the image count */
} graft_layer_spec;

graft_layer_spec graft_layer_default(graft_layer_kind kind);

/* The window of a CONV2D or pool spec with the defaults applied: kernel
 * height/width in *kh, *kw (may be NULL) and pads[4] (may be NULL) as
 * top, left, bottom, right. */
void graft_layer_window(const graft_layer_spec *s, int *kh, int *kw, int pads[4]);

/* ---------------------------------------------------------------- models */

typedef struct graft_model graft_model;

/* An empty model (a DAG of named layers) on ctx. Caller owns *out
 * (graft_model_free), which must be freed before ctx. */
graft_status graft_model_create(graft_ctx *ctx, graft_model **out);
void graft_model_free(graft_model *m);
/* The context m lives on (borrowed): where its calls report errors. */
graft_ctx *graft_model_ctx(const graft_model *m);

/* Appends a layer fed by the nodes in inputs[0..ninputs-1] (node ids
 * returned by earlier calls; none for INPUT, two or more for ADD and CONCAT,
 * two for MUL, one otherwise). Infers and checks shapes now: a mismatch returns
 * GRAFT_ERR_SHAPE naming the layer. Parameters are allocated on the device
 * and initialised (He-normal for conv/linear, from seed via
 * graft_model_set_seed). name must be unique; it is copied. The new node's
 * id is written to *out_id (may be NULL). */
graft_status graft_model_add(graft_model *m, const char *name,
                             const graft_layer_spec *spec, int ninputs,
                             const int *inputs, int *out_id);

/* Seed for parameter initialisation, dropout masks and anything random. */
void graft_model_set_seed(graft_model *m, uint64_t seed);

/* Re-initialises every layer's parameters (and BatchNorm running
 * statistics) as graft_model_add would with this seed: each node draws
 * from a stream seeded by seed and its name. The graph, shapes, trainable
 * flags and learning-rate multipliers are kept; the model's seed becomes
 * seed. A fresh model built with seed s and one re-initialised with s have
 * identical parameters. */
graft_status graft_model_reinit(graft_model *m, uint64_t seed);

int graft_model_num_nodes(const graft_model *m);
/* Node id by name, or -1. */
int graft_model_find(const graft_model *m, const char *name);
/* Borrowed info about node i. */
const char *graft_model_node_name(const graft_model *m, int i);
const graft_layer_spec *graft_model_node_spec(const graft_model *m, int i);
/* Per-sample output shape (C, H, W; H = W = 1 for vectors). */
void graft_model_node_shape(const graft_model *m, int i, int *c, int *h, int *w);
int graft_model_node_inputs(const graft_model *m, int i, const int **inputs);
/* Number of scalars in the node's parameters (weights, bias, BN affine). */
size_t graft_model_node_param_count(const graft_model *m, int i);
size_t graft_model_param_count(const graft_model *m);
/* Forward multiply-adds x2 per image (conv, linear), in FLOP. */
double graft_model_flops_per_image(const graft_model *m);
/* Node i's share of graft_model_flops_per_image (0 for kinds not counted
 * and for an index out of range). */
double graft_model_node_flops(const graft_model *m, int i);

/* Named parameter tensors (weights, biases, BN gamma/beta and running
 * statistics). Index order is stable for a given architecture. */
int graft_model_num_params(const graft_model *m);
const char *graft_model_param_name(const graft_model *m, int i);
size_t graft_model_param_numel(const graft_model *m, int i);
int graft_model_param_shape(const graft_model *m, int i, int shape[GRAFT_MAX_DIMS]);
/* Whether the optimizer updates it (running statistics are never trainable). */
int graft_model_param_is_trainable(const graft_model *m, int i);
graft_status graft_model_param_get(graft_model *m, int i, float *dst, size_t n);
graft_status graft_model_param_set(graft_model *m, int i, const float *src, size_t n);

/* Freezing and per-layer learning rates, by node. A frozen node gets no
 * gradient work; nodes below the lowest trainable node get no backward pass
 * at all. */
graft_status graft_model_set_trainable(graft_model *m, int node, int trainable);
graft_status graft_model_set_lr_mult(graft_model *m, int node, float mult);
/* BatchNorm statistics policy for training-mode forward passes:
 * 0 = update running statistics (normal), 1 = frozen: use and keep the
 * running statistics, as in inference. */
graft_status graft_model_set_bn_frozen(graft_model *m, int node, int frozen);

/* Forward pass on a host batch x[n, C, H, W] of the INPUT node's shape.
 * training != 0 uses batch statistics and dropout. The output node is the
 * last one added. logits (optional) receives n x classes floats. */
graft_status graft_model_forward(graft_model *m, const float *x, int n,
                                 int training, float *logits);
/* Softmax cross-entropy on the last forward's output against labels[n] in
 * [0, classes), then the backward pass through every trainable parameter.
 * Gradients overwrite (not accumulate). loss/correct are optional outputs
 * (mean loss, count of arg-max hits). label_smoothing in [0, 1). */
graft_status graft_model_backward(graft_model *m, const int *labels,
                                  float label_smoothing, float *loss,
                                  int *correct);
/* Per-layer timing: when on, every layer's forward and backward is
 * synchronised and timed (slower; for benchmarks). Turning it on resets
 * the counters. graft_model_node_profile gives mean seconds per call and
 * returns the number of forward calls timed. */
void graft_model_set_profiling(graft_model *m, int on);
int graft_model_node_profile(const graft_model *m, int i, double *fwd_s, double *bwd_s);

/* Gradient of parameter i after graft_model_backward (for tests). */
graft_status graft_model_param_grad(graft_model *m, int i, float *dst, size_t n);
/* Output of node i from the last forward, n x numel(node) floats. When
 * that forward folded node i into a conv (an inference forward, see
 * graft_ctx_params.fuse), it is run again unfolded first and later
 * forwards of m no longer fold. When it was an inference forward on shared
 * buffers (graft_model_set_buffer_reuse) and a later node reused node i's
 * buffer, it is run again keeping node i, as later forwards of m do. */
graft_status graft_model_node_output(graft_model *m, int node, float *dst, size_t n);

/* Activation buffers. Training forwards keep one buffer per node (the
 * backward reads them all). With reuse on (the default) an inference
 * forward lets nodes whose outputs are not needed at the same time share
 * buffers, planned from the nodes that forward runs, unless m already
 * holds one buffer per node for at least that batch (after training).
 * Outputs are bit-identical either way. Off: one buffer per node always.
 * Changing it releases m's activation buffers (the next forward allocates
 * them). */
graft_status graft_model_set_buffer_reuse(graft_model *m, int on);
/* Bytes of the activation buffers m holds now (node outputs only: not
 * parameters, gradients or scratch); 0 before the first forward. */
size_t graft_model_activation_bytes(const graft_model *m);

/* ----------------------------------------------------------- model files */

/* What a .graft file carries beside the graph and the weights. */
typedef struct graft_model_meta {
    char arch[32];       /* "refnet", "resnet18", "mobilenetv2" or "custom" */
    int nclasses;
    char **class_names;  /* nclasses strings; owned by the struct */
    float mean[4], std[4]; /* per-channel input normalisation */
    char *meta_json;     /* free-form JSON (training settings); owned; may be NULL */
} graft_model_meta;

/* Releases what meta owns and zeroes it. */
void graft_model_meta_free(graft_model_meta *meta);

/* Writes the graph, every parameter and running statistic, and meta to
 * path atomically (temp file, fsync, rename): on failure an existing file
 * is left as it was. meta is borrowed. */
graft_status graft_model_save(graft_model *m, const graft_model_meta *meta, const char *path);

/* Reads a .graft file, validates it completely (magic, version, size,
 * checksum, graph, tensor shapes) and rebuilds the model on ctx. On success
 * the caller owns *out and, when meta is not NULL, *meta
 * (graft_model_meta_free). On failure nothing is allocated and
 * graft_last_error(ctx) names the file and the problem. */
graft_status graft_model_load(graft_ctx *ctx, const char *path, graft_model **out,
                              graft_model_meta *meta);

/* ------------------------------------------------------------------ ONNX */

/* Imports an ONNX model (opsets 9 to 17; the operators docs/onnx.md lists)
 * as a graft model on ctx: one graft node per ONNX node that computes
 * something, named after the ONNX node. A final Gemm/MatMul becomes the
 * LINEAR classifier that finetune replaces; a final Softmax is dropped.
 * Unsupported operators are all listed in one GRAFT_ERR_UNSUPPORTED
 * message; a truncated or corrupt file gives GRAFT_ERR_FORMAT. On success
 * the caller owns *out; note (may be NULL) receives a one-line summary of
 * what was dropped or adapted. */
graft_status graft_onnx_import(graft_ctx *ctx, const char *path, graft_model **out,
                               char *note, size_t notelen);

/* graft_onnx_import that also reads the model card graft_onnx_export_meta
 * writes (ONNX metadata_props "class_names", "mean", "std", "arch") into
 * *meta (may be NULL): arch "custom", no class names, mean 0 and std 1
 * where the file has none. *card_keys (may be NULL) counts the keys read
 * (0: no card). Malformed values are ignored. meta->meta_json receives the
 * import record: {"source":"onnx","file":NAME,"opset":N,"producer":"P V",
 * "input":[C,H,W]} (producer only when the file names one). On success the
 * caller owns *out and *meta (graft_model_meta_free). */
graft_status graft_onnx_import_meta(graft_ctx *ctx, const char *path, graft_model **out,
                                    graft_model_meta *meta, int *card_keys, char *note,
                                    size_t notelen);

/* Writes m as an ONNX model (opset 13) to path atomically. fold_bn folds
 * each BatchNorm whose input is a conv feeding only that BatchNorm into
 * the conv's weights and bias. */
graft_status graft_onnx_export(graft_model *m, const char *path, int fold_bn);
/* graft_onnx_export plus a model card in the file's metadata_props, so a
 * deployment can feed the network as graft predict does (docs/onnx.md):
 * "graft.card" "1", "arch", "class_names" (JSON string array), "mean" and
 * "std" (JSON number arrays, one per input channel), "input_shape"
 * ("[C, H, W]"), "colour_mode" ("RGB" or "grey"), "pixel_scale" ("1/255":
 * 8-bit samples / 255 before normalisation), "resize"
 * ("shorter_side_bilinear_centre_crop": the shorter side scaled to cover H x
 * W, bilinear, then a centre crop) and "output" ("logits": softmax not in
 * the graph). meta is borrowed; NULL writes no card. */
graft_status graft_onnx_export_meta(graft_model *m, const graft_model_meta *meta, const char *path,
                                    int fold_bn);

/* ------------------------------------------------------------ optimizers */

typedef enum graft_opt_kind { GRAFT_OPT_SGD = 0, GRAFT_OPT_ADAMW } graft_opt_kind;

typedef enum graft_schedule_kind {
    GRAFT_SCHED_CONSTANT = 0,
    GRAFT_SCHED_STEP,      /* lr *= gamma every step_size steps */
    GRAFT_SCHED_COSINE,    /* cosine from lr to lr*min_factor over total_steps */
    GRAFT_SCHED_ONECYCLE   /* up to lr over pct_start, then cosine down */
} graft_schedule_kind;

typedef struct graft_opt_params {
    graft_opt_kind kind;
    float lr;
    float momentum;      /* SGD */
    int nesterov;        /* SGD */
    float weight_decay;  /* SGD: L2 added to the gradient; AdamW: decoupled */
    float beta1, beta2, eps; /* AdamW */
    graft_schedule_kind schedule;
    long total_steps;    /* COSINE, ONECYCLE */
    long step_size;      /* STEP */
    float gamma;         /* STEP */
    float min_factor;    /* COSINE: final lr = lr * min_factor */
    float pct_start;     /* ONECYCLE: fraction of steps spent rising */
    long warmup_steps;   /* linear warm-up from 0, applies to every schedule */
} graft_opt_params;

graft_opt_params graft_opt_default_params(graft_opt_kind kind);

/* Learning rate at step (0-based) under p's schedule; pure function. */
float graft_schedule_lr(const graft_opt_params *p, long step);

typedef struct graft_optimizer graft_optimizer;

/* Optimizer over m's trainable parameters; allocates its state on the
 * device. Caller owns *out, which must be freed before m. */
graft_status graft_optimizer_create(graft_model *m, const graft_opt_params *p,
                                    graft_optimizer **out);
void graft_optimizer_free(graft_optimizer *o);
/* Applies one update from the gradients of the last backward pass, with
 * the scheduled learning rate times each node's multiplier. */
graft_status graft_optimizer_step(graft_optimizer *o);
long graft_optimizer_steps(const graft_optimizer *o);
float graft_optimizer_current_lr(const graft_optimizer *o);

/* ---------------------------------------------------------- architectures */

typedef struct graft_arch_params {
    int classes;
    int channels, height, width; /* input */
    float width_mult;            /* resnet18, mobilenetv2 */
    float dropout;               /* before the classifier; 0 = none */
} graft_arch_params;

graft_arch_params graft_arch_default_params(const char *arch);

/* Builds a named architecture ("refnet", "resnet18", "mobilenetv2") into an
 * empty model. The classifier is the last node, named "fc". */
graft_status graft_model_build_arch(graft_model *m, const char *arch,
                                    const graft_arch_params *p);

#ifdef __cplusplus
}
#endif
#endif
