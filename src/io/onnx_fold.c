/* Constant folding for the importer (onnx_fold.h): the ops torch's shape
 * arithmetic uses, on small tensors of doubles. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "onnx_fold.h"
#include "onnx_fuse.h"

static const char *const fold_ops[] = {"Gather", "Unsqueeze", "Squeeze", "Concat", "Cast", "Add",
                                       "Sub", "Mul", "Div", "Slice", NULL};

int onnx_fold_op(const char *op)
{
    for (const char *const *o = fold_ops; *o; o++)
        if (!strcmp(op, *o)) return 1;
    return 0;
}

static const Onnx__AttributeProto *fattr(const Onnx__NodeProto *nd, const char *name)
{
    for (size_t i = 0; i < nd->n_attribute; i++)
        if (!strcmp(onnx_str(nd->attribute[i]->name), name)) return nd->attribute[i];
    return NULL;
}

static int64_t fattr_int(const Onnx__NodeProto *nd, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = fattr(nd, name);
    return a && a->has_i ? a->i : def;
}

static int is_batch(double v) { return v == ONNX_FOLD_BATCH; }

static graft_status refuse(char *why, size_t n, const char *msg)
{
    snprintf(why, n, "%s", msg);
    return GRAFT_ERR_UNSUPPORTED;
}

/* out gets n values and the given shape. */
static graft_status alloc_out(onnx_fold_value *out, size_t n, int ndims, const int64_t *dims,
                              int is_int, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    out->v.data = malloc((n ? n : 1) * sizeof *out->v.data);
    if (!out->v.data) {
        snprintf(why, whylen, "out of host memory");
        return GRAFT_ERR_HOST_MEMORY;
    }
    out->v.n = n;
    out->v.ndims = ndims;
    for (int d = 0; d < ndims; d++) out->v.dims[d] = dims[d];
    out->is_int = is_int;
    return GRAFT_OK;
}

/* Axes from input k (opset 13) or the axes attribute; n of them. */
static int axes_of(const Onnx__NodeProto *nd, const onnx_fold_value *in, int nin, int k,
                   int64_t *axes)
{
    if (k < nin && in[k].v.data) {
        if (in[k].v.n > 8) return -1;
        for (size_t i = 0; i < in[k].v.n; i++) axes[i] = (int64_t)in[k].v.data[i];
        return (int)in[k].v.n;
    }
    const Onnx__AttributeProto *a = fattr(nd, "axes");
    if (!a) return 0;
    if (!a->n_ints && a->has_i) { /* one axis (the importer's own patterns write these) */
        axes[0] = a->i;
        return 1;
    }
    if (a->n_ints > 8) return -1;
    for (size_t i = 0; i < a->n_ints; i++) axes[i] = a->ints[i];
    return (int)a->n_ints;
}

static graft_status fold_unsqueeze(const Onnx__NodeProto *nd, const onnx_fold_value *in, int nin,
                                   onnx_fold_value *out, char *why, size_t wl)
{
    int64_t axes[8], dims[8];
    int na = axes_of(nd, in, nin, 1, axes), r = in[0].v.ndims + (na > 0 ? na : 0);
    if (na <= 0 || r > 8) return refuse(why, wl, "Unsqueeze needs 1 to 8 axes");
    int mark[8] = {0};
    for (int i = 0; i < na; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + r : axes[i];
        if (a < 0 || a >= r || mark[a]) return refuse(why, wl, "Unsqueeze axes out of range");
        mark[a] = 1;
    }
    for (int d = 0, k = 0; d < r; d++) dims[d] = mark[d] ? 1 : in[0].v.dims[k++];
    TRY(alloc_out(out, in[0].v.n, r, dims, in[0].is_int, why, wl));
    memcpy(out->v.data, in[0].v.data, in[0].v.n * sizeof *out->v.data);
    return GRAFT_OK;
}

static graft_status fold_squeeze(const Onnx__NodeProto *nd, const onnx_fold_value *in, int nin,
                                 onnx_fold_value *out, char *why, size_t wl)
{
    int64_t axes[8], dims[8];
    int na = axes_of(nd, in, nin, 1, axes), r = in[0].v.ndims, k = 0;
    if (na < 0) return refuse(why, wl, "Squeeze with more than 8 axes");
    for (int d = 0; d < r; d++) {
        int drop = 0;
        for (int i = 0; i < na; i++) drop |= (axes[i] < 0 ? axes[i] + r : axes[i]) == d;
        if (!na) drop = in[0].v.dims[d] == 1;
        if (drop && in[0].v.dims[d] != 1) return refuse(why, wl, "Squeeze of an axis > 1");
        if (!drop) dims[k++] = in[0].v.dims[d];
    }
    TRY(alloc_out(out, in[0].v.n, k, dims, in[0].is_int, why, wl));
    memcpy(out->v.data, in[0].v.data, in[0].v.n * sizeof *out->v.data);
    return GRAFT_OK;
}

/* Gather along axis 0 of a vector (a Shape's entries). */
static graft_status fold_gather(const Onnx__NodeProto *nd, const onnx_fold_value *in,
                                onnx_fold_value *out, char *why, size_t wl)
{
    int64_t axis = fattr_int(nd, "axis", 0);
    if (in[0].v.ndims != 1 || (axis != 0 && axis != -1))
        return refuse(why, wl, "graft evaluates Gather only on a vector (a Shape's entries)");
    int64_t n = (int64_t)in[0].v.n;
    TRY(alloc_out(out, in[1].v.n, in[1].v.ndims, in[1].v.dims, in[0].is_int, why, wl));
    for (size_t i = 0; i < in[1].v.n; i++) {
        int64_t k = (int64_t)in[1].v.data[i];
        if (k < 0) k += n;
        if (k < 0 || k >= n) {
            free(out->v.data);
            out->v.data = NULL;
            return refuse(why, wl, "Gather index out of range");
        }
        out->v.data[i] = in[0].v.data[k];
    }
    return GRAFT_OK;
}

/* Concat of vectors (axis 0). */
static graft_status fold_concat(const Onnx__NodeProto *nd, const onnx_fold_value *in, int nin,
                                onnx_fold_value *out, char *why, size_t wl)
{
    int64_t axis = fattr_int(nd, "axis", 0);
    size_t n = 0;
    for (int k = 0; k < nin; k++) {
        if (!in[k].v.data || in[k].v.ndims != 1 || (axis != 0 && axis != -1))
            return refuse(why, wl, "graft evaluates Concat only of vectors (shapes)");
        n += in[k].v.n;
    }
    int64_t d = (int64_t)n;
    TRY(alloc_out(out, n, 1, &d, in[0].is_int, why, wl));
    n = 0;
    for (int k = 0; k < nin; k++) {
        memcpy(out->v.data + n, in[k].v.data, in[k].v.n * sizeof *out->v.data);
        n += in[k].v.n;
    }
    return GRAFT_OK;
}

/* Slice of a vector. */
static graft_status fold_slice(const onnx_fold_value *in, int nin, onnx_fold_value *out,
                               char *why, size_t wl)
{
    if (in[0].v.ndims != 1 || nin < 3 || !in[1].v.data || !in[2].v.data || in[1].v.n != 1 ||
        in[2].v.n != 1 || (nin > 3 && in[3].v.data && (in[3].v.n != 1 || in[3].v.data[0] != 0)) ||
        (nin > 4 && in[4].v.data && (in[4].v.n != 1 || in[4].v.data[0] != 1)))
        return refuse(why, wl, "graft evaluates Slice of constants only on vectors, step 1");
    double n = (double)in[0].v.n, b = in[1].v.data[0], e = in[2].v.data[0];
    if (b < 0) b += n;
    if (e < 0) e += n;
    b = b < 0 ? 0 : b > n ? n : b;
    e = e < b ? b : e > n ? n : e;
    int64_t d = (int64_t)(e - b);
    TRY(alloc_out(out, (size_t)d, 1, &d, in[0].is_int, why, wl));
    memcpy(out->v.data, in[0].v.data + (size_t)b, (size_t)d * sizeof *out->v.data);
    return GRAFT_OK;
}

/* Elementwise Add/Sub/Mul/Div with one side a single value or both of one
 * size; integer division truncates as ONNX's does. */
static graft_status fold_arith(const char *op, const onnx_fold_value *in, onnx_fold_value *out,
                               char *why, size_t wl)
{
    const onnx_fold_value *a = &in[0], *b = &in[1];
    if (a->v.n != b->v.n && a->v.n != 1 && b->v.n != 1)
        return refuse(why, wl, "graft evaluates arithmetic on constants of one size or a scalar");
    /* The result has the larger operand's shape (of equal sizes, the
     * higher rank: a scalar and a [1] make a [1]). */
    const onnx_fold_value *big = a->v.n != b->v.n ? (a->v.n > b->v.n ? a : b)
                               : (a->v.ndims >= b->v.ndims ? a : b);
    size_t n = a->v.n > b->v.n ? a->v.n : b->v.n;
    int isint = a->is_int && b->is_int;
    TRY(alloc_out(out, n, big->v.ndims, big->v.dims, isint, why, wl));
    for (size_t i = 0; i < n; i++) {
        double x = a->v.data[a->v.n == 1 ? 0 : i], y = b->v.data[b->v.n == 1 ? 0 : i], r;
        if (is_batch(x) || is_batch(y)) {
            free(out->v.data);
            out->v.data = NULL;
            return refuse(why, wl, "the value depends on the batch size, which graft leaves open");
        }
        if (!strcmp(op, "Add")) r = x + y;
        else if (!strcmp(op, "Sub")) r = x - y;
        else if (!strcmp(op, "Mul")) r = x * y;
        else if (isint && y == 0) {
            free(out->v.data);
            out->v.data = NULL;
            return refuse(why, wl, "integer division by zero");
        } else r = isint ? trunc(x / y) : x / y;
        out->v.data[i] = r;
    }
    return GRAFT_OK;
}

/* Cast: to an integer type truncates; to float, double or bool keeps the
 * value (bool: 0 or 1). */
static graft_status fold_cast(const Onnx__NodeProto *nd, const onnx_fold_value *in,
                              onnx_fold_value *out, char *why, size_t wl)
{
    int64_t to = fattr_int(nd, "to", 0);
    int isint = to == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ||
                to == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ||
                to == ONNX__TENSOR_PROTO__DATA_TYPE__INT16 ||
                to == ONNX__TENSOR_PROTO__DATA_TYPE__INT8 || to == ONNX__TENSOR_PROTO__DATA_TYPE__UINT8;
    int isreal = to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
                 to == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    int isbool = to == ONNX__TENSOR_PROTO__DATA_TYPE__BOOL;
    if (!isint && !isreal && !isbool) return refuse(why, wl, "Cast to an unsupported type");
    TRY(alloc_out(out, in[0].v.n, in[0].v.ndims, in[0].v.dims, !isreal, why, wl));
    for (size_t i = 0; i < in[0].v.n; i++) {
        double x = in[0].v.data[i];
        out->v.data[i] = is_batch(x) || isreal ? x : isbool ? (x != 0) : trunc(x);
    }
    return GRAFT_OK;
}

graft_status onnx_fold_eval(const char *op, const Onnx__NodeProto *nd, const onnx_fold_value *in,
                            int nin, onnx_fold_value *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (nin < 1 || !in[0].v.data) return refuse(why, whylen, "input 1 is missing");
    if (!strcmp(op, "Unsqueeze")) return fold_unsqueeze(nd, in, nin, out, why, whylen);
    if (!strcmp(op, "Squeeze")) return fold_squeeze(nd, in, nin, out, why, whylen);
    if (!strcmp(op, "Concat")) return fold_concat(nd, in, nin, out, why, whylen);
    if (!strcmp(op, "Cast")) return fold_cast(nd, in, out, why, whylen);
    if (!strcmp(op, "Slice")) return fold_slice(in, nin, out, why, whylen);
    if (nin < 2 || !in[1].v.data) return refuse(why, whylen, "input 2 is missing");
    if (!strcmp(op, "Gather")) return fold_gather(nd, in, out, why, whylen);
    return fold_arith(op, in, out, why, whylen);
}

/* Whether value name is constant at import: an initializer, or the output
 * of a node flagged in known[0..upto). */
static int const_value(const onnx_fuse_graph *fg, const unsigned char *known, size_t upto,
                       const char *name)
{
    for (size_t i = 0; i < fg->g->n_initializer; i++)
        if (!strcmp(onnx_str(fg->g->initializer[i]->name), name)) return 1;
    for (size_t i = upto; i-- > 0;)
        for (size_t k = 0; k < fg->node[i]->n_output; k++)
            if (!strcmp(onnx_str(fg->node[i]->output[k]), name)) return known[i];
    return 0;
}

unsigned char *onnx_fold_plan(const onnx_fuse_graph *fg)
{
    /* known[i]: node i's outputs are constants at import (Constant, Shape,
     * Identity of a constant, a fold op of constants); fold[i]: node i is
     * a fold op the importer evaluates. */
    unsigned char *known = calloc(fg->n_node ? fg->n_node : 1, 1);
    unsigned char *fold = calloc(fg->n_node ? fg->n_node : 1, 1);
    if (!known || !fold) {
        free(known);
        free(fold);
        return NULL;
    }
    for (size_t i = 0; i < fg->n_node; i++) {
        const Onnx__NodeProto *nd = fg->node[i];
        const char *op = onnx_str(nd->op_type), *dom = onnx_str(nd->domain);
        if (*dom && strcmp(dom, "ai.onnx")) continue;
        if (!strcmp(op, "Constant") || !strcmp(op, "Shape")) {
            known[i] = 1;
            continue;
        }
        if (!onnx_fold_op(op) && strcmp(op, "Identity")) continue;
        int all = nd->n_input > 0;
        for (size_t k = 0; k < nd->n_input && all; k++)
            if (*onnx_str(nd->input[k])) all = const_value(fg, known, i, nd->input[k]);
        known[i] = (unsigned char)all;
        fold[i] = (unsigned char)(all && strcmp(op, "Identity"));
    }
    free(known);
    return fold;
}
