/* Channels-last stretches in imported graphs (ConvNeXt: Transpose to NHWC,
 * LayerNorm and Linear over the last axis, Transpose back). graft keeps
 * every tensor NCHW and marks the value ONNX_RANK_NHWC instead of moving
 * data; the ops listed here mean the same on either layout (elementwise) or
 * read the mark (LayerNormalization and MatMul over the last axis, which
 * act on the channels). */
#ifndef GRAFT_ONNX_LAYOUT_H
#define GRAFT_ONNX_LAYOUT_H
#include <stddef.h>
#include <stdint.h>

/* 1 when op (of domain: "" or "ai.onnx", or "graft" for the importer's
 * patterns) may read a channels-last value. */
int onnx_layout_free(const char *domain, const char *op);

/* The rank of a Transpose's output with permutation perm[n] of an input of
 * rank `rank` (4, 2 or ONNX_RANK_NHWC); 0 when graft cannot express it. */
int onnx_layout_transpose(int rank, const int64_t *perm, size_t n);
#endif
