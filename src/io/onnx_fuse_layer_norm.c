/* LayerNorm over the last axis as torch (opset < 17) writes it:
 *   m = ReduceMean(x, [-1]); d = Sub(x, m); v = ReduceMean(Pow(d, 2), [-1]);
 *   y = Add(Mul(Div(d, Sqrt(Add(v, eps))), weight), bias)
 * (torchvision ConvNeXt's LayerNorm on its channels-last view), or the same
 * over axis 1 of an NCHW tensor with [C, 1, 1] weight and bias (the
 * channels_first LayerNorm of the original ConvNeXt code). Becomes
 * graft:LayerNormalization(x, weight, bias, eps, two), with axis 1 for the
 * second form, which layer_norm_kind imports (reading epsilon from input 3
 * and checking that input 4, the exponent, is 2). */
#include <string.h>

#include "onnx_fuse.h"

/* Operand of binary nd that is not constant, the constant in *c. */
static const char *var_and_const(const onnx_fuse_graph *fg, const Onnx__NodeProto *nd,
                                 const char **c)
{
    const char *a = onnx_fuse_in(nd, 0), *b = onnx_fuse_in(nd, 1);
    int ca = onnx_fuse_is_const(fg, a), cb = onnx_fuse_is_const(fg, b);
    if (ca == cb) return NULL;
    *c = ca ? a : b;
    return ca ? b : a;
}

/* Producer of name if it is op with nin inputs and name has `uses`
 * readers; else -1. */
static int producer_of(const onnx_fuse_graph *fg, const char *name, const char *op, int nin,
                       int uses)
{
    int p = name ? onnx_fuse_producer(fg, name) : -1;
    if (p < 0 || !onnx_fuse_is_op(fg->node[p], op, nin) || onnx_fuse_uses(fg, name) != uses)
        return -1;
    return p;
}

/* The one axis (-1 or 1) a ReduceMean keeps and averages over; 0 when it
 * is not such a node. */
static int mean_axis(const onnx_fuse_graph *fg, int p)
{
    if (p < 0) return 0;
    const Onnx__AttributeProto *a = onnx_fuse_attr(fg->node[p], "axes");
    if (!a || a->n_ints != 1 || (a->ints[0] != -1 && a->ints[0] != 1) ||
        onnx_fuse_attr_int(fg->node[p], "keepdims", 1) != 1)
        return 0;
    return (int)a->ints[0];
}

int onnx_fuse_layer_norm(onnx_fuse_graph *fg, size_t root)
{
    const Onnx__NodeProto *nd = fg->node[root];
    if (!onnx_fuse_is_op(nd, "Add", 2)) return 0;
    const char *bias, *weight, *eps, *two;
    const char *t = var_and_const(fg, nd, &bias);
    int pmul = producer_of(fg, t, "Mul", 2, 1);
    t = pmul >= 0 ? var_and_const(fg, fg->node[pmul], &weight) : NULL;
    int pdiv = producer_of(fg, t, "Div", 2, 1);
    if (pdiv < 0) return 0;
    const char *d = onnx_fuse_in(fg->node[pdiv], 0);
    int psqrt = producer_of(fg, onnx_fuse_in(fg->node[pdiv], 1), "Sqrt", 1, 1);
    int peps = psqrt >= 0 ? producer_of(fg, onnx_fuse_in(fg->node[psqrt], 0), "Add", 2, 1) : -1;
    t = peps >= 0 ? var_and_const(fg, fg->node[peps], &eps) : NULL;
    int pvar = producer_of(fg, t, "ReduceMean", 1, 1);
    int ppow = pvar >= 0 ? producer_of(fg, onnx_fuse_in(fg->node[pvar], 0), "Pow", 2, 1) : -1;
    int axis = mean_axis(fg, pvar);
    if (ppow < 0 || !axis || strcmp(onnx_fuse_in(fg->node[ppow], 0), d) ||
        !onnx_fuse_is_const(fg, two = onnx_fuse_in(fg->node[ppow], 1)))
        return 0;
    /* d = Sub(x, ReduceMean(x)), read by the Pow and the Div only. */
    int psub = producer_of(fg, d, "Sub", 2, 2);
    if (psub < 0) return 0;
    const char *x = onnx_fuse_in(fg->node[psub], 0);
    int pmean = producer_of(fg, onnx_fuse_in(fg->node[psub], 1), "ReduceMean", 1, 1);
    if (mean_axis(fg, pmean) != axis || strcmp(onnx_fuse_in(fg->node[pmean], 0), x)) return 0;
    const char *in[5] = {x, weight, bias, eps, two};
    Onnx__NodeProto *ln = onnx_fuse_new_node(fg, ONNX_FUSE_DOMAIN, "LayerNormalization",
                                             onnx_str(nd->name), 5, in, nd->output[0]);
    if (!ln) return -1;
    if (axis == 1) onnx_fuse_set_int(fg, ln, "axis", 1);
    size_t rm[9] = {(size_t)pmean, (size_t)psub, (size_t)ppow, (size_t)pvar, (size_t)peps,
                    (size_t)psqrt, (size_t)pdiv, (size_t)pmul, root};
    return onnx_fuse_replace(fg, rm, 9, &ln, 1) ? -1 : 1;
}
