/* The neutral interface through which a layer kind maps itself to and from
 * ONNX (dependency inversion: graph sits below io, so the kinds cannot see
 * the protobuf types). io implements both sides: onnx_import.c hands each
 * ONNX node whose op_type a kind lists to that kind's import callback,
 * onnx_export.c calls each graft node's export callback. No OpenCL here. */
#ifndef GRAFT_ONNX_MAP_H
#define GRAFT_ONNX_MAP_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "graft.h"

/* ---- import: one ONNX node being mapped. */

typedef struct onnx_importer onnx_importer;

/* rank of a 4-D tensor that a Transpose [0, 2, 3, 1] put in channels-last
 * order: the graft node still holds it as NCHW, and only the ops that mean
 * the same on either layout (elementwise, LayerNormalization and MatMul
 * over the last axis, the Transpose back) accept it. */
#define ONNX_RANK_NHWC (-4)

/* An input that is a graft node's output. */
typedef struct onnx_value {
    int node;     /* graft node id */
    int rank;     /* 4 (NCHW), 2 (N x features) or ONNX_RANK_NHWC */
    int pad;      /* zero padding of a Pad node before it, to fold into a Conv/AveragePool */
    int c, h, w;  /* the node's per-sample shape */
    int lin_bias; /* the importer's bookkeeping (a MatMul's pending bias): pass on unchanged */
} onnx_value;

/* A constant input (initializer or Constant node) decoded to doubles; the
 * callback frees data. */
typedef struct onnx_const {
    double *data;
    size_t n;
    int ndims;
    int64_t dims[8];
} onnx_const;

typedef struct onnx_import_api {
    const char *(*op)(onnx_importer *im);
    int (*opset)(onnx_importer *im);
    int (*num_inputs)(onnx_importer *im);
    int (*has_input)(onnx_importer *im, int k);
    /* Input k as a node value; allow_pad 0 refuses one that carries a Pad. */
    graft_status (*input)(onnx_importer *im, int k, int allow_pad, onnx_value *out);
    /* 1 when input k exists and is a constant. */
    int (*input_is_const)(onnx_importer *im, int k);
    graft_status (*constant)(onnx_importer *im, int k, onnx_const *out);
    /* How many nodes and graph outputs read output k. */
    int (*output_uses)(onnx_importer *im, int k);
    int64_t (*attr_int)(onnx_importer *im, const char *name, int64_t def);
    float (*attr_float)(onnx_importer *im, const char *name, float def);
    /* Two equal positive ints (square kernels, strides, dilations), or def. */
    graft_status (*attr_square)(onnx_importer *im, const char *name, int def, int *out);
    /* pads all four alike (auto_pad NOTSET or VALID). */
    graft_status (*attr_pads)(onnx_importer *im, int *pad);
    /* Records "<file>: node '<name>' (<op>): msg" and returns s. */
    graft_status (*fail)(onnx_importer *im, graft_status s, const char *msg);
    /* Adds the graft layer sp fed by ins and names output 0 after it;
     * *param0 (may be NULL) gets the index of its first parameter. */
    graft_status (*emit)(onnx_importer *im, const graft_layer_spec *sp, int nin, const int *ins,
                         int rank, int *param0);
    graft_status (*set_param)(onnx_importer *im, int idx, const double *src, size_t n);
    /* Output 0 is the same tensor as v (no layer). */
    graft_status (*alias)(onnx_importer *im, const onnx_value *v);
    /* The node just emitted is a MatMul's linear layer whose bias (param
     * idx) a following Add of a constant may supply. */
    void (*await_bias)(onnx_importer *im, int idx);
    /* Add of a constant to such a MatMul output: folds it into the bias. */
    graft_status (*fold_bias_add)(onnx_importer *im);
    /* Two positive ints, equal or not (kernel_shape 1x7), or def twice. */
    graft_status (*attr_pair)(onnx_importer *im, const char *name, int def, int out[2]);
    /* pads [top, left, bottom, right], any values >= 0 (auto_pad NOTSET or
     * VALID); zeros when absent. */
    graft_status (*attr_pads4)(onnx_importer *im, int pads[4]);
} onnx_import_api;

struct onnx_importer {
    const onnx_import_api *api;
};

static inline graft_status onnx_fail(onnx_importer *im, graft_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline graft_status onnx_fail(onnx_importer *im, graft_status s, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return im->api->fail(im, s, msg);
}

/* ---- export: one graft node being written. */

typedef struct onnx_exporter onnx_exporter;

typedef struct onnx_export_api {
    /* Name and ONNX rank (4 or 2) of the tensor feeding input k. */
    const char *(*input_name)(onnx_exporter *ex, int k);
    int (*input_rank)(onnx_exporter *ex, int k);
    /* Rank of this node's output (default: that of input 0). */
    void (*set_rank)(onnx_exporter *ex, int rank);
    /* Starts an ONNX node; later in/attr calls apply to it. */
    void (*node)(onnx_exporter *ex, const char *op, const char *name, const char *out);
    void (*in)(onnx_exporter *ex, const char *tensor);
    void (*attr_int)(onnx_exporter *ex, const char *name, int64_t v);
    void (*attr_float)(onnx_exporter *ex, const char *name, float v);
    /* An ints attribute of n copies of v (square kernels, symmetric pads). */
    void (*attr_ints)(onnx_exporter *ex, const char *name, int64_t v, int n);
    /* Initializer "<node>.<suffix>" holding parameter k; its name in out. */
    graft_status (*param)(onnx_exporter *ex, int k, const char *suffix, char *out, size_t outlen);
    /* Scalar float initializer, written once however often asked for. */
    void (*scalar)(onnx_exporter *ex, const char *name, float v);
    /* GRAFT_ERR_UNSUPPORTED: a spatial layer after the first flatten. */
    graft_status (*rank2)(onnx_exporter *ex);
    /* kernel_shape [kh, kw] and pads [top, left, bottom, right] of s's
     * window (graft_layer_window). */
    void (*attr_window)(onnx_exporter *ex, const graft_layer_spec *s);
    /* Per-sample shape of the tensor feeding input k. */
    void (*input_shape)(onnx_exporter *ex, int k, int *c, int *h, int *w);
    /* 1-D int64 initializer of n values (shapes, axes), written once. */
    void (*ints)(onnx_exporter *ex, const char *name, const int64_t *v, int n);
    /* An ints attribute of the n values v (perm, axes). */
    void (*attr_list)(onnx_exporter *ex, const char *name, const int64_t *v, int n);
} onnx_export_api;

struct onnx_exporter {
    const onnx_export_api *api;
};
#endif
