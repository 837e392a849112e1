/* Import-time evaluation of constant ONNX sub-graphs: the shape arithmetic
 * torch exports around view/reshape (Shape -> Gather -> Unsqueeze -> Concat
 * -> Reshape, with Div/Mul/Add/Cast between) evaluates to constants, since
 * every size but the batch is static. The batch size stays open: Shape
 * writes ONNX_FOLD_BATCH for it, the copying ops pass it on, arithmetic on
 * it is refused, and a consumer reads it as Reshape's 0 ("keep"). */
#ifndef GRAFT_ONNX_FOLD_H
#define GRAFT_ONNX_FOLD_H
#include <stddef.h>

#include "graft.h"
#include "onnx_common.h"
#include "onnx_map.h"

/* The batch size in a folded shape (an integer no real size reaches). */
#define ONNX_FOLD_BATCH (-9007199254740991.0)

/* A constant with its element kind (integer types divide and cast by
 * truncation). */
typedef struct onnx_fold_value {
    onnx_const v; /* data owned by whoever filled it */
    int is_int;
} onnx_fold_value;

struct onnx_fuse_graph;

/* 1 when op can be evaluated here once all its inputs are constants. */
int onnx_fold_op(const char *op);

/* Which nodes of fg's list the importer will evaluate: those of a fold op
 * whose inputs all are initializers, Constant or Shape outputs, or outputs
 * of nodes evaluated before (through Identity too). A malloc'd flag per
 * node (caller frees), NULL when out of memory. */
unsigned char *onnx_fold_plan(const struct onnx_fuse_graph *fg);

/* Evaluates node nd (op type op) on its nin constant inputs (NULL where an
 * optional input is absent) into *out (caller frees out->v.data). On
 * failure returns GRAFT_ERR_UNSUPPORTED (or GRAFT_ERR_HOST_MEMORY) and
 * writes why into why[whylen]. */
graft_status onnx_fold_eval(const char *op, const Onnx__NodeProto *nd, const onnx_fold_value *in,
                            int nin, onnx_fold_value *out, char *why, size_t whylen);
#endif
