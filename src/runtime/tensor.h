/* Internal layout of a public device tensor. */
#ifndef GRAFT_TENSOR_H
#define GRAFT_TENSOR_H
#include "ctx.h"

struct graft_tensor {
    graft_ctx *ctx; /* borrowed */
    cl_mem buf;     /* owned */
    int ndim;
    int shape[GRAFT_MAX_DIMS];
    size_t numel;
};
#endif
