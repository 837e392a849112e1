/* Pointwise convolution (cl/cpu/pointwise_cpu.cl): the path conv2d's
 * CPU-style ops take for 1x1, stride-1, pad-0, ungrouped convs when
 * graft_ctx_params.conv_path is AUTO and conv_pointwise is on; a plain
 * GEMM per image on NCHW (no padded copy, no layout pass). The GPU style
 * keeps im2col + GEMM. */
#ifndef GRAFT_CONV_POINTWISE_H
#define GRAFT_CONV_POINTWISE_H

#include "fold_bn.h"
#include "layer.h"

/* Sizes of a pointwise conv over a batch of n: P = pixels per plane. */
typedef struct pw_shape {
    int n, cin, cout, P;
} pw_shape;

/* y = conv(x, w) (+ bias when has_bias; bias must be a valid buffer), then
 * the inference epilogue ep when not NULL (BatchNorm when ep->gamma is set,
 * residual ep->res when not NULL, activation). */
graft_status conv_pointwise_forward_cpu(graft_ctx *ctx, const pw_shape *s, cl_mem x, cl_mem w,
                                        cl_mem bias, int has_bias, cl_mem y,
                                        const conv_epilogue *ep);

/* dx = beta * dx + W^T dy (beta 0 or 1): the input gradient. */
graft_status conv_pointwise_backward_data_cpu(graft_ctx *ctx, const pw_shape *s, cl_mem dy,
                                              cl_mem w, cl_mem dx, float beta);

#endif
