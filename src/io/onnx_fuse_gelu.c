/* GELU as torch (opset < 20) writes nn.GELU(): Div(x, sqrt 2) -> Erf ->
 * Add(1) -> Mul(x, .) -> Mul(0.5), the constants in either operand slot.
 * Becomes graft:Gelu(x, sqrt2, one, half); gelu_kind's import checks the
 * three constants' values. */
#include <string.h>

#include "onnx_fuse.h"

/* The operand of binary node nd that is not a constant, with the constant
 * in *c; NULL unless exactly one operand is constant. */
static const char *var_and_const(const onnx_fuse_graph *fg, const Onnx__NodeProto *nd,
                                 const char **c)
{
    const char *a = onnx_fuse_in(nd, 0), *b = onnx_fuse_in(nd, 1);
    int ca = onnx_fuse_is_const(fg, a), cb = onnx_fuse_is_const(fg, b);
    if (ca == cb) return NULL;
    *c = ca ? a : b;
    return ca ? b : a;
}

/* The producer of name if it is op with nin inputs and name has exactly
 * one reader; else -1. */
static int single_use_producer(const onnx_fuse_graph *fg, const char *name, const char *op,
                               int nin)
{
    int p = onnx_fuse_producer(fg, name);
    if (p < 0 || !onnx_fuse_is_op(fg->node[p], op, nin) || onnx_fuse_uses(fg, name) != 1) return -1;
    return p;
}

int onnx_fuse_gelu(onnx_fuse_graph *fg, size_t root)
{
    const Onnx__NodeProto *half_mul = fg->node[root];
    if (!onnx_fuse_is_op(half_mul, "Mul", 2)) return 0;
    const char *half, *m = var_and_const(fg, half_mul, &half);
    int pm = m ? single_use_producer(fg, m, "Mul", 2) : -1;
    if (pm < 0) return 0;
    /* Mul(x, Add(Erf(Div(x, sqrt2)), 1)): find which operand is the Add. */
    for (int side = 0; side < 2; side++) {
        const char *x = onnx_fuse_in(fg->node[pm], (size_t)side);
        const char *sum = onnx_fuse_in(fg->node[pm], (size_t)(1 - side));
        int pa = single_use_producer(fg, sum, "Add", 2);
        const char *one, *e = pa >= 0 ? var_and_const(fg, fg->node[pa], &one) : NULL;
        int pe = e ? single_use_producer(fg, e, "Erf", 1) : -1;
        int pd = pe >= 0 ? single_use_producer(fg, onnx_fuse_in(fg->node[pe], 0), "Div", 2) : -1;
        if (pd < 0 || strcmp(onnx_fuse_in(fg->node[pd], 0), x) ||
            !onnx_fuse_is_const(fg, onnx_fuse_in(fg->node[pd], 1)))
            continue;
        const char *in[4] = {x, onnx_fuse_in(fg->node[pd], 1), one, half};
        Onnx__NodeProto *g = onnx_fuse_new_node(fg, ONNX_FUSE_DOMAIN, "Gelu",
                                                onnx_str(half_mul->name), 4, in,
                                                half_mul->output[0]);
        if (!g) return -1;
        size_t rm[5] = {(size_t)pd, (size_t)pe, (size_t)pa, (size_t)pm, root};
        return onnx_fuse_replace(fg, rm, 5, &g, 1) ? -1 : 1;
    }
    return 0;
}
