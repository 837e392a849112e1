/* Winograd F(WINO_M x WINO_M, 3 x 3) convolution for CPU devices
 * (cl/cpu/winograd_cpu.cl): the path conv2d's CPU-style ops take for
 * stride-1, pad-1, dilation-1 3x3 dense convs where it pays (forward and
 * the input gradient); the GPU style keeps im2col + GEMM. Training
 * transforms the weights on every call; inference keeps them transformed
 * while the weights keep their version (conv_packed.h), which lets batch 1
 * and ResNet-18's 512-channel 7x7 convs take Winograd too
 * (conv_winograd_pays, docs/performance.md "Backbones at 224", items 7
 * and 14). */
#ifndef GRAFT_CONV_WINOGRAD_H
#define GRAFT_CONV_WINOGRAD_H

#include "fold_bn.h"
#include "layer.h"

/* A 3x3 conv, stride 1, pad 1, over a batch of n: nin input channels to
 * nout output channels, both h x w. */
typedef struct wino_shape {
    int n, nin, nout, h, w;
} wino_shape;

/* Whether the kernels take this shape at all (rows up to the local row
 * of winograd_input_cpu, about 1000 pixels wide). */
int conv_winograd_fits(const wino_shape *s);
/* Tiles (4x4 output tiles over the batch) from which Winograd beats
 * conv_tall_cpu, with weights transformed per call and cached. */
#define WINO_MIN_TILES 32
#define WINO_CACHED_MIN_TILES 16

/* Whether Winograd measured faster than conv_tall_cpu for this shape
 * (graft_ctx_params.conv_winograd AUTO), with the weights transformed on
 * every call (cached 0) or once (1: an inference forward, conv_packed.h). */
int conv_winograd_pays(const graft_ctx *ctx, const wino_shape *s, int cached);

/* Bytes of the transformed weights, and their transform into u (flip as
 * for conv_winograd_run). */
size_t conv_winograd_weight_bytes(const wino_shape *s);
graft_status conv_winograd_weights(graft_ctx *ctx, const wino_shape *s, int flip, cl_mem w,
                                   cl_mem u);

/* y = beta * y + conv of x with the weights w (w of the layer: flip 0 the
 * forward, w is nout x nin x 3 x 3; flip 1 the input gradient of a
 * stride-1 conv, x is dy, w is the layer's nin x nout x 3 x 3 and is used
 * transposed and rotated by 180 degrees) + bias (when has_bias; bias must
 * be a valid buffer), then the epilogue ep when not NULL (BatchNorm,
 * residual, activation; only with beta 0). Scratch slots 0 (transformed
 * input, at most conv_chunk_bytes: the batch goes in chunks of images) and
 * 1 (transformed weights, unless packed holds them already: NULL
 * transforms w). */
graft_status conv_winograd_run(graft_ctx *ctx, const wino_shape *s, int flip, cl_mem x, cl_mem w,
                               cl_mem packed, cl_mem bias, int has_bias, cl_mem y, float beta,
                               const conv_epilogue *ep);

#endif
