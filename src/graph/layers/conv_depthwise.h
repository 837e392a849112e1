/* CPU-shaped depthwise convolution (cl/cpu/depthwise_cpu.cl): the path
 * conv2d's CPU-style ops take for convs with one input channel per group;
 * the GPU style keeps the one-output-per-item kernels of cl/shared/conv.cl. */
#ifndef GRAFT_CONV_DEPTHWISE_H
#define GRAFT_CONV_DEPTHWISE_H

#include "fold_bn.h"
#include "layer.h"

/* Sizes of a depthwise conv over a batch of n (cout a multiple of cin). */
typedef struct dw_shape {
    int n, cin, h, w, cout, hout, wout, k, stride, pad, dil;
} dw_shape;

/* y = conv(x, w) (+ bias when has_bias; bias must be a valid buffer),
 * then the inference epilogue ep when not NULL (BatchNorm when ep->gamma
 * is set, activation; ep->res must be NULL). */
graft_status conv_depthwise_forward_cpu(graft_ctx *ctx, const dw_shape *s, cl_mem x, cl_mem w,
                                        cl_mem bias, int has_bias, cl_mem y,
                                        const conv_epilogue *ep);

/* dw (when not NULL) = the weight gradient, overwritten; dx (when not NULL)
 * = beta * dx + the input gradient (beta 0 or 1). */
graft_status conv_depthwise_backward_cpu(graft_ctx *ctx, const dw_shape *s, cl_mem dy, cl_mem x,
                                         cl_mem w, cl_mem dw, cl_mem dx, float beta);

#endif
