/* The shape x * G(x) shared by the SiLU and hard-swish patterns: a Mul
 * (the root) of a value x and the output of a one-input gate node of op
 * gate_op reading that same x, in either order, the gate's output read by
 * nothing else. */
#ifndef GRAFT_ONNX_FUSE_GATE_H
#define GRAFT_ONNX_FUSE_GATE_H
#include "onnx_fuse.h"

/* The gate node's index when fg->node[root] is Mul(x, gate_op(x)) or
 * Mul(gate_op(x), x) with the gate's output used only there; else -1. */
int onnx_fuse_gate_of(const onnx_fuse_graph *fg, size_t root, const char *gate_op);
#endif
