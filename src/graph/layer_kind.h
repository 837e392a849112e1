/* One descriptor per layer kind: everything the rest of graft needs to know
 * about a kind (its name in files, arity, the ops tables of both kernel
 * styles, FLOP convention, BatchNorm fusion, ONNX mapping). Each kind's
 * descriptor lives in its layer file (src/graph/layers/); layer_kinds.def
 * registers them, one line each. No OpenCL in this header, so host-only
 * code (modelfile.c) can use it. */
#ifndef GRAFT_LAYER_KIND_H
#define GRAFT_LAYER_KIND_H
#include "graft.h"
#include "onnx_map.h"

struct layer_ops;

typedef struct layer_kind {
    graft_layer_kind kind;
    const char *name;       /* in .graft files and printouts; never rename */
    int min_inputs, max_inputs;
    /* Ops of the CPU-shaped and GPU-shaped kernel styles (the same table
     * when the kind has no style-specific kernels); layer_create picks one
     * from the context's style. NULL for INPUT, which has no layer. */
    const struct layer_ops *ops_cpu, *ops_gpu;
    /* Counted by graft_model_flops_per_image / graft_model_node_flops (the
     * convention: the multiply-adds of conv and linear layers). */
    int counts_flops;
    /* An activation a preceding BatchNorm can apply itself: 1 + its act
     * code in cl/shared/batchnorm.cl for this spec, or 0. NULL: never. */
    int (*bn_fusible)(const graft_layer_spec *s);
    /* ONNX: op types the importer hands to onnx_import (NULL-terminated;
     * NULL: none), and the writer of one graft node (NULL: no mapping). */
    const char *const *onnx_ops;
    graft_status (*onnx_import)(onnx_importer *im);
    graft_status (*onnx_export)(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                                int nin);
} layer_kind;

/* Descriptor of kind k; NULL for a value outside graft_layer_kind. */
const layer_kind *layer_kind_of(graft_layer_kind k);
/* Descriptor by file name ("conv2d"); NULL when none. */
const layer_kind *layer_kind_named(const char *name);
/* Descriptor whose onnx_ops list op; NULL when none. */
const layer_kind *layer_kind_for_onnx(const char *op);
/* 1 + the BatchNorm act code when a node of spec s folds into a preceding
 * BatchNorm, else 0. */
int layer_bn_fusible(const graft_layer_spec *s);
#endif
