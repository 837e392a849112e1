/* The .graft container for models and checkpoints: a host-only description
 * of a model (architecture DAG, class names, input normalisation, named
 * tensors, optional training state) and its versioned binary encoding.
 * Nothing here touches OpenCL; model.c converts to and from graft_model.
 *
 * Byte layout, format version 1 (all integers little-endian, floats as
 * their IEEE-754 bit pattern in a little-endian u32):
 *
 *   header   "GRAFTMDL"  u32 version (=1)  u32 flags  u64 file_size
 *            flags bit 0: checkpoint (a STAT section follows); other bits 0
 *   sections u8[4] tag  u64 payload_len  payload[payload_len]
 *   trailer  u32 crc32 (zlib) of every byte before it
 *
 * A string is u32 length + bytes (no terminator, no NUL inside). A tensor is
 * str name, u32 ndim, u32 shape[ndim], u64 numel, f32 data[numel].
 *
 *   ARCH  str arch, u32 channels, height, width, f32 mean[4], f32 std[4],
 *         u32 nnodes, then per node: str name, str kind ("conv2d"),
 *         i32 channels height width kernel stride pad dilation groups bias,
 *         f32 eps momentum slope p, u32 ninputs, u32 inputs[ninputs]
 *   CLAS  u32 nclasses, str name[nclasses]
 *   TENS  u32 ntensors, tensor[ntensors]
 *   STAT  i64 epoch, i64 step, u64 rng_state[4], u32 nstate, tensor[nstate]
 *   JSON  bytes (the whole payload is the meta JSON text)
 *   GEOM  u32 count, per entry: u32 node, i32 kernel_h kernel_w pad_top
 *         pad_left pad_bottom pad_right ceil_mode exclude_pad (the spec
 *         fields added later; written only for nodes where one is nonzero,
 *         and only when some node has one)
 *
 * ARCH, CLAS and TENS are required, STAT exactly when flag bit 0 is set,
 * JSON and GEOM are optional; each at most once, in any order except that
 * GEOM follows ARCH. Unknown tags are refused: a layout change means a new
 * version number or, for additions older files do without, a new optional
 * section (an older reader refuses exactly the files that use it). */
#ifndef GRAFT_MODELFILE_H
#define GRAFT_MODELFILE_H
#include <stddef.h>
#include <stdint.h>

#include "graft.h"

#define MF_FORMAT_VERSION 1u
#define MF_MAGIC "GRAFTMDL"
#define MF_FLAG_CHECKPOINT 1u

#define MF_NAME_LEN 64          /* node names, incl. terminator */
#define MF_TENSOR_NAME_LEN 96   /* tensor names, incl. terminator */
#define MF_ARCH_LEN 32
#define MF_MAX_INPUTS 64         /* = LAYER_MAX_INPUTS (DenseNet concats) */
#define MF_MAX_CHANNELS 4       /* mean/std slots */
/* Caps that bound what a hostile file can make the parser allocate; each
 * count is also checked against the bytes actually left. */
#define MF_MAX_NODES 100000
#define MF_MAX_TENSORS 1000000
#define MF_MAX_CLASSES 1000000
#define MF_MAX_CLASS_NAME 4096  /* bytes */
#define MF_MAX_DIM (1 << 24)    /* input height/width/channels of a spec */

typedef struct mf_node {
    char name[MF_NAME_LEN];
    graft_layer_spec spec;
    int ninputs;
    int inputs[MF_MAX_INPUTS];  /* indices of earlier nodes */
} mf_node;

typedef struct mf_tensor {
    char name[MF_TENSOR_NAME_LEN];
    int ndim;                   /* 1..GRAFT_MAX_DIMS */
    int shape[GRAFT_MAX_DIMS];
    float *data;                /* owned, numel floats, all finite */
} mf_tensor;

typedef struct mf_model {
    char arch[MF_ARCH_LEN];     /* "refnet", "resnet18", "mobilenetv2", "custom" */
    int nnodes;
    mf_node *nodes;             /* owned; the DAG in topological order */
    int nclasses;
    char **class_names;         /* owned array of owned UTF-8 strings */
    int channels, height, width; /* input */
    float mean[MF_MAX_CHANNELS], std[MF_MAX_CHANNELS];
    int ntensors;
    mf_tensor *tensors;         /* owned; parameters and running statistics */
    /* Checkpoint part; has_state = 0 for a plain model (then the rest of
     * this block is ignored when writing and zero after reading). */
    int has_state;
    int64_t epoch, step;
    uint64_t rng_state[4];
    int nstate;
    mf_tensor *state;           /* owned; optimizer moments ("conv1.weight.m") */
    char *meta_json;            /* owned, may be NULL; free-form JSON text */
} mf_model;

/* A zeroed mf_model (memset 0) is a valid empty value for every function. */

/* Frees everything m owns and zeroes it; m itself is not freed. NULL ok. */
void mf_model_free(mf_model *m);

/* Number of elements of t (product of its shape); 0 if ndim is invalid. */
size_t mf_tensor_numel(const mf_tensor *t);

/* Checks that m is self-consistent: names non-empty, terminated and unique,
 * known layer kinds, node inputs referring to earlier nodes (none for
 * input, two or more for add/concat, one otherwise), positive tensor shapes
 * with data, finite values, normalisation std > 0. The writer and the
 * reader both apply it, so whatever mf_write accepts mf_read accepts.
 * Returns GRAFT_OK or GRAFT_ERR_FORMAT with a message in err (may be NULL),
 * or GRAFT_ERR_HOST_MEMORY. */
graft_status mf_validate(const mf_model *m, char *err, size_t errlen);

/* Encodes m. On success *buf is a caller-owned malloc'd buffer (free()) of
 * *n bytes. Fails with GRAFT_ERR_FORMAT when mf_validate does, or
 * GRAFT_ERR_HOST_MEMORY. m stays owned by the caller. */
graft_status mf_serialize(const mf_model *m, unsigned char **buf, size_t *n, char *err,
                          size_t errlen);

/* Decodes n bytes into *out (previous contents are overwritten, not freed).
 * Never reads outside buf, never trusts a count before checking it against
 * the bytes left, so it allocates at most a small multiple of n bytes. On
 * success the caller owns *out (mf_model_free); on failure *out is zeroed
 * and err says what is wrong: GRAFT_ERR_FORMAT, or GRAFT_ERR_HOST_MEMORY. */
graft_status mf_parse(const unsigned char *buf, size_t n, mf_model *out, char *err,
                      size_t errlen);

/* Serialises m and replaces path atomically (temp file, fsync, rename): on
 * failure an existing file at path is untouched. GRAFT_ERR_IO names the
 * path and the system error. */
graft_status mf_write(const mf_model *m, const char *path, char *err, size_t errlen);

/* Reads and parses path into *out (ownership as mf_parse). Messages start
 * with the path. GRAFT_ERR_IO when the file cannot be opened or read,
 * GRAFT_ERR_FORMAT when its content is not a valid .graft file. */
graft_status mf_read(const char *path, mf_model *out, char *err, size_t errlen);

/* Whether a and b have the same architecture: arch name, nodes (name, kind,
 * every hyper-parameter, inputs) and tensors (names and shapes, not
 * values). Used to refuse loading weights into a different network.
 * Float hyper-parameters (eps, momentum, slope, dropout p) must match
 * bit for bit too; input normalisation, classes and state are not compared
 * (class names may differ as long as the classifier shape agrees). Both
 * models must be valid (as after mf_read). GRAFT_OK when they match;
 * otherwise GRAFT_ERR_FORMAT and err names the first differing node or
 * tensor, describing a's value then b's. */
graft_status mf_check_compatible(const mf_model *a, const mf_model *b, char *err,
                                 size_t errlen);

#endif
