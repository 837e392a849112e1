/* ONNX import: parses a ModelProto with protobuf-c and rebuilds its graph
 * with graft layers, copying the weights. ONNX graphs are topologically
 * sorted, so one pass in node order suffices. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "error.h"
#include "fileutil.h"
#include "layer_kind.h"
#include "onnx_card.h"
#include "onnx_record.h"
#include "onnx_common.h"
#include "onnx_fold.h"
#include "onnx_fuse.h"
#include "onnx_layout.h"
#include "pass_progress.h"

/* A named value of the ONNX graph: the output of a graft node, or a
 * constant (initializer or Constant node). */
typedef struct val {
    const char *name;              /* borrowed from the proto */
    int node;                      /* graft node id; -1 for a constant */
    int rank;                      /* node values: 4 (NCHW) or 2 (N x features) */
    const Onnx__TensorProto *t;    /* constant: tensor in the proto, or */
    double *cdata;                 /* constant: owned values (scalar Constant attributes) */
    size_t cn;
    int lin_bias;                  /* >= 0: bias param of a MatMul awaiting its Add */
    int pad;                       /* zero padding of a Pad node, folded into its consumer */
    int shaped;                    /* constant folded at import: cdata has shape cdims */
    int cndims;
    int64_t cdims[8];
    int cint;                      /* owned constant of an integer type */
} val;

typedef struct imp {
    graft_ctx *ctx;
    graft_model *m;
    const char *path;
    const Onnx__GraphProto *g;
    onnx_fuse_graph fg; /* g's nodes after the patterns (onnx_fuse.h): what is mapped */
    int opset;
    val *v;
    int nv, capv;
    char note[512];
} imp;

/* Constant tensor decoded to doubles (caller frees data). */
typedef struct cten {
    double *data;
    size_t n;
    int ndims;
    int64_t dims[8];
} cten;

/* ONNX ops the importer maps itself: they make no layer (constants,
 * aliases, padding folded into the consumer, the final Softmax). Every
 * other supported op belongs to a layer kind (layer_kind.h: onnx_ops). */
static const char *const graph_ops[] = {"Softmax", "Identity", "Constant", "Pad", "Shape",
                                        "Transpose"};
#define NGRAPH_OPS (sizeof graph_ops / sizeof graph_ops[0])

static void add_note(imp *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_note(imp *im, const char *fmt, ...)
{
    size_t used = strlen(im->note);
    if (used + 3 >= sizeof im->note) return;
    if (used) {
        strcpy(im->note + used, "; ");
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(im->note + used, sizeof im->note - used, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- values */

static val *find_val(imp *im, const char *name)
{
    name = onnx_str(name);
    for (int i = im->nv - 1; i >= 0; i--)
        if (!strcmp(im->v[i].name, name)) return &im->v[i];
    return NULL;
}

static graft_status push_val(imp *im, val v)
{
    /* protobuf-c leaves absent strings NULL; values are looked up by name. */
    v.name = onnx_str(v.name);
    if (im->nv == im->capv) {
        int cap = im->capv ? 2 * im->capv : 64;
        val *nv = realloc(im->v, (size_t)cap * sizeof *nv);
        if (!nv) return ctx_fail(im->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
        im->v = nv;
        im->capv = cap;
    }
    im->v[im->nv++] = v;
    return GRAFT_OK;
}

/* Number of node inputs and graph outputs that read the value name. */
static int uses(const imp *im, const char *name) { return onnx_fuse_uses(&im->fg, name); }

/* The kind that imports node nd: by op type in the default domain, by
 * "graft:<op>" for the patterns' synthetic nodes; NULL when none. */
static const layer_kind *kind_for(const Onnx__NodeProto *nd)
{
    const char *op = onnx_str(nd->op_type), *dom = onnx_str(nd->domain);
    if (!*dom || !strcmp(dom, "ai.onnx")) return layer_kind_for_onnx(op);
    if (strcmp(dom, ONNX_FUSE_DOMAIN) || strlen(op) > 60) return NULL;
    char key[80];
    snprintf(key, sizeof key, "%s:%s", ONNX_FUSE_DOMAIN, op);
    return layer_kind_for_onnx(key);
}

static graft_status decode_tensor(imp *im, const char *what, const Onnx__TensorProto *t, cten *c)
{
    memset(c, 0, sizeof *c);
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return ctx_fail(im->ctx, GRAFT_ERR_UNSUPPORTED, "%s: tensor '%s' keeps its data in an "
                        "external file; save the model with weights inline", im->path, what);
    if (t->n_dims > 8)
        return ctx_fail(im->ctx, GRAFT_ERR_UNSUPPORTED, "%s: tensor '%s' has %zu dimensions",
                        im->path, what, t->n_dims);
    size_t n = 1;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0 || t->dims[d] > (1LL << 31) || (t->dims[d] && n > (SIZE_MAX >> 32)))
            return ctx_fail(im->ctx, GRAFT_ERR_FORMAT, "%s: tensor '%s' has a bad dimension %lld",
                            im->path, what, (long long)t->dims[d]);
        n *= (size_t)t->dims[d];
        c->dims[d] = t->dims[d];
    }
    c->ndims = (int)t->n_dims;
    int dt = t->has_data_type ? t->data_type : 0;
    size_t esz = dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ? 4
               : dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE || dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? 8
               : 0;
    if (!esz)
        return ctx_fail(im->ctx, GRAFT_ERR_UNSUPPORTED, "%s: tensor '%s' has data type %d; graft "
                        "reads float, double, int32 and int64 tensors", im->path, what, dt);
    size_t have = t->has_raw_data ? t->raw_data.len / esz
                : dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ? t->n_float_data
                : dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ? t->n_int32_data
                : dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ? t->n_double_data
                : t->n_int64_data;
    if (have != n || (t->has_raw_data && t->raw_data.len != n * esz))
        return ctx_fail(im->ctx, GRAFT_ERR_FORMAT, "%s: tensor '%s' holds %zu values, its shape "
                        "needs %zu", im->path, what, have, n);
    c->data = malloc((n ? n : 1) * sizeof *c->data);
    if (!c->data) return ctx_fail(im->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    c->n = n;
    for (size_t i = 0; i < n; i++) {
        double x;
        if (t->has_raw_data) { /* little-endian, as the host */
            const uint8_t *p = t->raw_data.data + i * esz;
            if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) { float f; memcpy(&f, p, 4); x = f; }
            else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32) { int32_t k; memcpy(&k, p, 4); x = k; }
            else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) memcpy(&x, p, 8);
            else { int64_t k; memcpy(&k, p, 8); x = (double)k; }
        } else {
            x = dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ? t->float_data[i]
              : dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ? t->int32_data[i]
              : dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ? t->double_data[i]
              : (double)t->int64_data[i];
        }
        c->data[i] = x;
    }
    return GRAFT_OK;
}

/* ---------------------------------------------------------------- attributes */

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *nd, const char *name)
{
    for (size_t i = 0; i < nd->n_attribute; i++)
        if (!strcmp(onnx_str(nd->attribute[i]->name), name)) return nd->attribute[i];
    return NULL;
}

static int64_t attr_int(const Onnx__NodeProto *nd, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = attr(nd, name);
    return a && a->has_i ? a->i : def;
}

static float attr_float(const Onnx__NodeProto *nd, const char *name, float def)
{
    const Onnx__AttributeProto *a = attr(nd, name);
    return a && a->has_f ? a->f : def;
}

/* ---------------------------------------------------------------- node helpers */

typedef struct nctx {
    onnx_importer base; /* first: layer kinds see this node through it */
    imp *im;
    const Onnx__NodeProto *nd;
    char name[64]; /* graft node name */
} nctx;

static graft_status nfail(nctx *c, graft_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static graft_status nfail(nctx *c, graft_status s, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    error_vset(msg, sizeof msg, s, fmt, ap);
    va_end(ap);
    return ctx_fail(c->im->ctx, s, "%s: node '%s' (%s): %s", c->im->path, c->name,
                    onnx_str(c->nd->op_type), msg);
}

static int has_input(const nctx *c, size_t k)
{
    return k < c->nd->n_input && c->nd->input[k] && c->nd->input[k][0];
}

/* Input k as a graft node value (copied: the table may move), which may
 * carry the zero padding of a Pad node. */
static graft_status in_node_pad(nctx *c, size_t k, val *out)
{
    if (!has_input(c, k)) return nfail(c, GRAFT_ERR_FORMAT, "input %zu is missing", k);
    val *v = find_val(c->im, c->nd->input[k]);
    if (!v)
        return nfail(c, GRAFT_ERR_FORMAT, "input '%s' is produced by no earlier node, "
                     "initializer or graph input", c->nd->input[k]);
    if (v->node < 0)
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "input '%s' is a constant; graft needs a computed "
                     "tensor here", c->nd->input[k]);
    if (v->rank == ONNX_RANK_NHWC &&
        !onnx_layout_free(onnx_str(c->nd->domain), onnx_str(c->nd->op_type)))
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "input '%s' is in channels-last order (a Transpose "
                     "[0, 2, 3, 1] before it); graft takes such a tensor only into elementwise "
                     "ops, LayerNormalization, MatMul and the Transpose back", c->nd->input[k]);
    *out = *v;
    return GRAFT_OK;
}

static graft_status in_node(nctx *c, size_t k, val *out)
{
    graft_status s = in_node_pad(c, k, out);
    if (s == GRAFT_OK && out->pad)
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "input '%s' comes from a Pad; graft folds Pad "
                     "only into a following Conv or AveragePool", c->nd->input[k]);
    return s;
}

/* Input k as a constant (initializer, Constant node or folded value),
 * decoded; a folded shape may hold ONNX_FOLD_BATCH. */
static graft_status in_const_raw(nctx *c, size_t k, cten *out)
{
    memset(out, 0, sizeof *out);
    if (!has_input(c, k)) return nfail(c, GRAFT_ERR_FORMAT, "input %zu is missing", k);
    val *v = find_val(c->im, c->nd->input[k]);
    if (!v)
        return nfail(c, GRAFT_ERR_FORMAT, "input '%s' is produced by no earlier node, "
                     "initializer or graph input", c->nd->input[k]);
    if (v->node >= 0)
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "input '%s' is computed; graft needs a constant "
                     "(initializer) here", c->nd->input[k]);
    if (v->t) return decode_tensor(c->im, v->name, v->t, out);
    out->data = malloc((v->cn ? v->cn : 1) * sizeof *out->data);
    if (!out->data) return ctx_fail(c->im->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    memcpy(out->data, v->cdata, v->cn * sizeof *out->data);
    out->n = v->cn;
    out->ndims = 1;
    out->dims[0] = (int64_t)v->cn;
    if (v->shaped) {
        out->ndims = v->cndims;
        memcpy(out->dims, v->cdims, sizeof out->dims);
    }
    return GRAFT_OK;
}

/* Input k as a constant for a layer: the open batch size of a folded shape
 * reads as 0 in the first entry of a vector (Reshape's "keep this
 * dimension") and is refused anywhere else. */
static graft_status in_const(nctx *c, size_t k, cten *out)
{
    TRY(in_const_raw(c, k, out));
    for (size_t i = 0; i < out->n; i++) {
        if (out->data[i] != ONNX_FOLD_BATCH) continue;
        if (i == 0 && out->ndims == 1) {
            out->data[0] = 0;
            continue;
        }
        free(out->data);
        out->data = NULL;
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "input '%s' depends on the batch size, which "
                     "graft leaves open", c->nd->input[k]);
    }
    return GRAFT_OK;
}

/* A two-valued ints attribute with equal values (square kernels, strides,
 * dilations), or def when absent. */
static graft_status square_attr(nctx *c, const char *name, int def, int *out)
{
    const Onnx__AttributeProto *a = attr(c->nd, name);
    *out = def;
    if (!a || !a->n_ints) return GRAFT_OK;
    if (a->n_ints != 2 || a->ints[0] != a->ints[1] || a->ints[0] < 1 || a->ints[0] > 4096)
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "%s has %zu values (%lld, %lld); graft needs two "
                     "equal positive values (2-D, square)", name, a->n_ints,
                     (long long)a->ints[0], (long long)(a->n_ints > 1 ? a->ints[1] : 0));
    *out = (int)a->ints[0];
    return GRAFT_OK;
}

/* auto_pad NOTSET or VALID (explicit pads). */
static graft_status explicit_pads_only(nctx *c)
{
    const Onnx__AttributeProto *ap = attr(c->nd, "auto_pad");
    if (ap && ap->has_s && ap->s.len && !(ap->s.len == 6 && !memcmp(ap->s.data, "NOTSET", 6)) &&
        !(ap->s.len == 5 && !memcmp(ap->s.data, "VALID", 5)))
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "auto_pad %.*s is not supported; export with "
                     "explicit pads", (int)ap->s.len, (const char *)ap->s.data);
    return GRAFT_OK;
}

/* pads [top, left, bottom, right], all equal; auto_pad NOTSET or VALID. */
static graft_status sym_pads(nctx *c, int *pad)
{
    *pad = 0;
    TRY(explicit_pads_only(c));
    const Onnx__AttributeProto *a = attr(c->nd, "pads");
    if (!a || !a->n_ints) return GRAFT_OK;
    if (a->n_ints != 4 || a->ints[0] != a->ints[1] || a->ints[0] != a->ints[2] ||
        a->ints[0] != a->ints[3] || a->ints[0] < 0 || a->ints[0] > 4096)
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "pads [%lld, %lld, %lld, %lld] are not symmetric "
                     "and square; graft pads all four sides alike",
                     (long long)a->ints[0], (long long)(a->n_ints > 1 ? a->ints[1] : 0),
                     (long long)(a->n_ints > 2 ? a->ints[2] : 0),
                     (long long)(a->n_ints > 3 ? a->ints[3] : 0));
    *pad = (int)a->ints[0];
    return GRAFT_OK;
}

/* A two-valued ints attribute of positive values (kernel_shape 1x7), or
 * def twice when absent. */
static graft_status pair_attr(nctx *c, const char *name, int def, int out[2])
{
    const Onnx__AttributeProto *a = attr(c->nd, name);
    out[0] = out[1] = def;
    if (!a || !a->n_ints) return GRAFT_OK;
    if (a->n_ints != 2 || a->ints[0] < 1 || a->ints[0] > 4096 || a->ints[1] < 1 ||
        a->ints[1] > 4096)
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "%s has %zu values (%lld, %lld); graft needs two "
                     "positive values (2-D)", name, a->n_ints, (long long)a->ints[0],
                     (long long)(a->n_ints > 1 ? a->ints[1] : 0));
    out[0] = (int)a->ints[0];
    out[1] = (int)a->ints[1];
    return GRAFT_OK;
}

/* pads [top, left, bottom, right], each side its own; auto_pad NOTSET or
 * VALID. */
static graft_status side_pads(nctx *c, int pads[4])
{
    TRY(explicit_pads_only(c));
    for (int i = 0; i < 4; i++) pads[i] = 0;
    const Onnx__AttributeProto *a = attr(c->nd, "pads");
    if (!a || !a->n_ints) return GRAFT_OK;
    if (a->n_ints != 4)
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "pads has %zu values; graft needs 4 (2-D)",
                     a->n_ints);
    for (int i = 0; i < 4; i++) {
        if (a->ints[i] < 0 || a->ints[i] > 4096)
            return nfail(c, GRAFT_ERR_UNSUPPORTED, "pads [%lld, %lld, %lld, %lld]: negative or "
                         "huge", (long long)a->ints[0], (long long)a->ints[1],
                         (long long)a->ints[2], (long long)a->ints[3]);
        pads[i] = (int)a->ints[i];
    }
    return GRAFT_OK;
}

static graft_status set_param(nctx *c, int idx, const double *src, size_t n)
{
    float *f = malloc((n ? n : 1) * sizeof *f);
    if (!f) return ctx_fail(c->im->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < n; i++) f[i] = (float)src[i];
    graft_status s = graft_model_param_set(c->im->m, idx, f, n);
    free(f);
    return s;
}

/* Adds the graft layer for this node and names output 0 after it. */
static graft_status emit(nctx *c, const graft_layer_spec *sp, int nin, const int *ins, int rank,
                         int *id_out)
{
    int id;
    graft_status s = graft_model_add(c->im->m, c->name, sp, nin, ins, &id);
    if (s != GRAFT_OK) {
        char why[GRAFT_ERRLEN];
        snprintf(why, sizeof why, "%s", graft_last_error(c->im->ctx));
        return nfail(c, s, "%s", why);
    }
    if (c->nd->n_output < 1 || !c->nd->output[0] || !c->nd->output[0][0])
        return nfail(c, GRAFT_ERR_FORMAT, "has no output");
    if (id_out) *id_out = id;
    return push_val(c->im,
                    (val){.name = c->nd->output[0], .node = id, .rank = rank, .lin_bias = -1});
}

/* Output 0 is the same tensor as src (Identity, dropped Softmax, ...). */
static graft_status alias(nctx *c, const val *src)
{
    if (c->nd->n_output < 1 || !c->nd->output[0] || !c->nd->output[0][0])
        return nfail(c, GRAFT_ERR_FORMAT, "has no output");
    val v = *src;
    v.name = c->nd->output[0];
    v.cdata = NULL; /* only constants own data; aliases are node values */
    return push_val(c->im, v);
}

static void node_shape(const nctx *c, const val *v, int *ch, int *h, int *w)
{
    graft_model_node_shape(c->im->m, v->node, ch, h, w);
}

/* Add of a constant to a tensor: supported as the bias of a MatMul (the
 * linear layer left its bias parameter in lin_bias). */
static graft_status fold_bias_add(nctx *c)
{
    val *a = find_val(c->im, onnx_str(c->nd->input[0]));
    val *b = find_val(c->im, onnx_str(c->nd->input[1]));
    if (!a || !b)
        return nfail(c, GRAFT_ERR_FORMAT, "input '%s' is produced by no earlier node",
                     onnx_str(c->nd->input[a ? 1 : 0]));
    if (a->node < 0 && b->node < 0)
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "adds two constants");
    if (a->pad || b->pad)
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "an input comes from a Pad; graft folds Pad only "
                     "into a following Conv or AveragePool");
    size_t kc = a->node < 0 ? 0 : 1;
    val lin = a->node < 0 ? *b : *a;
    if (lin.lin_bias < 0)
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "adds a constant to a tensor; graft supports "
                     "that only as the bias of a MatMul");
    int ch, h, w;
    node_shape(c, &lin, &ch, &h, &w);
    cten t;
    graft_status s = in_const(c, kc, &t);
    if (s != GRAFT_OK) return s;
    if (t.n != (size_t)ch && t.n != 1) {
        free(t.data);
        return nfail(c, GRAFT_ERR_SHAPE, "bias has %zu values for %d outputs", t.n, ch);
    }
    double *bias = malloc((size_t)ch * sizeof *bias);
    if (!bias) s = ctx_fail(c->im->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    for (int i = 0; s == GRAFT_OK && i < ch; i++) bias[i] = t.data[t.n == 1 ? 0 : i];
    if (s == GRAFT_OK) s = set_param(c, lin.lin_bias, bias, (size_t)ch);
    free(bias);
    free(t.data);
    lin.lin_bias = -1;
    return s == GRAFT_OK ? alias(c, &lin) : s;
}

/* ---------------------------------------------------------------- the kinds' view */

static nctx *nc(onnx_importer *im) { return (nctx *)im; }

static const char *api_op(onnx_importer *im) { return onnx_str(nc(im)->nd->op_type); }
static int api_opset(onnx_importer *im) { return nc(im)->im->opset; }
static int api_num_inputs(onnx_importer *im) { return (int)nc(im)->nd->n_input; }
static int api_has_input(onnx_importer *im, int k) { return k >= 0 && has_input(nc(im), (size_t)k); }

static graft_status api_input(onnx_importer *im, int k, int allow_pad, onnx_value *out)
{
    nctx *c = nc(im);
    val v;
    TRY(allow_pad ? in_node_pad(c, (size_t)k, &v) : in_node(c, (size_t)k, &v));
    out->node = v.node;
    out->rank = v.rank;
    out->pad = v.pad;
    out->lin_bias = v.lin_bias;
    node_shape(c, &v, &out->c, &out->h, &out->w);
    return GRAFT_OK;
}

static int api_input_is_const(onnx_importer *im, int k)
{
    nctx *c = nc(im);
    if (!has_input(c, (size_t)k)) return 0;
    const val *v = find_val(c->im, c->nd->input[k]);
    return v && v->node < 0;
}

static graft_status api_constant(onnx_importer *im, int k, onnx_const *out)
{
    cten t;
    graft_status s = in_const(nc(im), (size_t)k, &t);
    memset(out, 0, sizeof *out);
    if (s != GRAFT_OK) return s;
    out->data = t.data;
    out->n = t.n;
    out->ndims = t.ndims;
    memcpy(out->dims, t.dims, sizeof out->dims);
    return GRAFT_OK;
}

static int api_output_uses(onnx_importer *im, int k)
{
    const Onnx__NodeProto *nd = nc(im)->nd;
    if (k < 0 || (size_t)k >= nd->n_output || !nd->output[k] || !nd->output[k][0]) return 0;
    return uses(nc(im)->im, nd->output[k]);
}

static int64_t api_attr_int(onnx_importer *im, const char *name, int64_t def)
{
    return attr_int(nc(im)->nd, name, def);
}

static float api_attr_float(onnx_importer *im, const char *name, float def)
{
    return attr_float(nc(im)->nd, name, def);
}

static graft_status api_attr_square(onnx_importer *im, const char *name, int def, int *out)
{
    return square_attr(nc(im), name, def, out);
}

static graft_status api_attr_pads(onnx_importer *im, int *pad) { return sym_pads(nc(im), pad); }

static graft_status api_attr_pair(onnx_importer *im, const char *name, int def, int out[2])
{
    return pair_attr(nc(im), name, def, out);
}

static graft_status api_attr_pads4(onnx_importer *im, int pads[4])
{
    return side_pads(nc(im), pads);
}

static graft_status api_fail(onnx_importer *im, graft_status s, const char *msg)
{
    return nfail(nc(im), s, "%s", msg);
}

static graft_status api_emit(onnx_importer *im, const graft_layer_spec *sp, int nin,
                             const int *ins, int rank, int *param0)
{
    nctx *c = nc(im);
    if (param0) *param0 = graft_model_num_params(c->im->m);
    return emit(c, sp, nin, ins, rank, NULL);
}

static graft_status api_set_param(onnx_importer *im, int idx, const double *src, size_t n)
{
    return set_param(nc(im), idx, src, n);
}

static graft_status api_alias(onnx_importer *im, const onnx_value *v)
{
    val src = {.node = v->node, .rank = v->rank, .lin_bias = v->lin_bias, .pad = v->pad};
    return alias(nc(im), &src);
}

static void api_await_bias(onnx_importer *im, int idx)
{
    imp *p = nc(im)->im;
    p->v[p->nv - 1].lin_bias = idx;
}

static graft_status api_fold_bias_add(onnx_importer *im) { return fold_bias_add(nc(im)); }

static const onnx_import_api import_api = {
    api_op, api_opset, api_num_inputs, api_has_input, api_input, api_input_is_const,
    api_constant, api_output_uses, api_attr_int, api_attr_float, api_attr_square, api_attr_pads,
    api_fail, api_emit, api_set_param, api_alias, api_await_bias, api_fold_bias_add,
    api_attr_pair, api_attr_pads4,
};

/* Pad with zeros on H and W alike: remembered on the value and added to
 * the pads of the Conv or AveragePool that reads it. */
static graft_status op_pad(nctx *c)
{
    val x;
    graft_status s = in_node_pad(c, 0, &x);
    if (s != GRAFT_OK) return s;
    const Onnx__AttributeProto *mode = attr(c->nd, "mode");
    if (mode && mode->has_s && !(mode->s.len == 8 && !memcmp(mode->s.data, "constant", 8)))
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "mode %.*s; graft folds only constant (zero) "
                     "padding", (int)mode->s.len, (const char *)mode->s.data);
    double p[8] = {0}, value = 0;
    size_t np = 0;
    if (c->im->opset < 11) {
        const Onnx__AttributeProto *a = attr(c->nd, "pads");
        np = a ? a->n_ints : 0;
        for (size_t i = 0; i < np && i < 8; i++) p[i] = (double)a->ints[i];
        value = attr_float(c->nd, "value", 0.0f);
    } else {
        cten t;
        if ((s = in_const(c, 1, &t)) != GRAFT_OK) return s;
        np = t.n;
        for (size_t i = 0; i < np && i < 8; i++) p[i] = t.data[i];
        free(t.data);
        if (has_input(c, 2)) {
            if ((s = in_const(c, 2, &t)) != GRAFT_OK) return s;
            value = t.n ? t.data[0] : 0;
            free(t.data);
        }
    }
    if (np != 8 || value != 0 || p[0] || p[1] || p[4] || p[5] || p[2] != p[3] || p[2] != p[6] ||
        p[2] != p[7] || p[2] < 0 || p[2] > 4096 || x.rank != 4)
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "graft folds only zero padding of H and W, equal on "
                     "all four sides (pads [0, 0, p, p, 0, 0, p, p])");
    x.pad += (int)p[2];
    return alias(c, &x);
}

static graft_status op_constant(nctx *c)
{
    if (c->nd->n_output < 1 || !c->nd->output[0] || !c->nd->output[0][0])
        return nfail(c, GRAFT_ERR_FORMAT, "has no output");
    val v = {.name = c->nd->output[0], .node = -1, .lin_bias = -1};
    const Onnx__AttributeProto *a;
    if ((a = attr(c->nd, "value")) && a->t) {
        v.t = a->t;
        return push_val(c->im, v);
    }
    size_t n = 0;
    const float *fs = NULL;
    const int64_t *is = NULL;
    float f1;
    int64_t i1;
    if ((a = attr(c->nd, "value_float")) && a->has_f) { f1 = a->f; fs = &f1; n = 1; }
    else if ((a = attr(c->nd, "value_floats"))) { fs = a->floats; n = a->n_floats; }
    else if ((a = attr(c->nd, "value_int")) && a->has_i) { i1 = a->i; is = &i1; n = 1; }
    else if ((a = attr(c->nd, "value_ints"))) { is = a->ints; n = a->n_ints; }
    else return nfail(c, GRAFT_ERR_UNSUPPORTED, "no tensor, float or int value");
    v.cdata = malloc((n ? n : 1) * sizeof *v.cdata);
    if (!v.cdata) return ctx_fail(c->im->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < n; i++) v.cdata[i] = fs ? fs[i] : (double)is[i];
    v.cn = n;
    v.cint = is != NULL;
    graft_status s = push_val(c->im, v);
    if (s != GRAFT_OK) free(v.cdata);
    return s;
}

/* How many inputs the ONNX operators graft imports take (the ONNX
 * operator specification, opsets ONNX_MIN_OPSET..ONNX_MAX_OPSET). An extra
 * input would otherwise be ignored: a Relu reading its own output (a
 * cycle) imported as a plain Relu. */
static const struct {
    const char *op;
    int min, max;
} onnx_arity[] = {
    {"Relu", 1, 1}, {"LeakyRelu", 1, 1}, {"Sigmoid", 1, 1}, {"Clip", 1, 3},
    {"BatchNormalization", 5, 5}, {"Conv", 2, 3}, {"Dropout", 1, 3}, {"Flatten", 1, 1},
    {"Reshape", 1, 2}, {"Gemm", 2, 3}, {"MatMul", 2, 2}, {"Add", 2, 2}, {"Concat", 1, 1 << 30},
    {"MaxPool", 1, 1}, {"AveragePool", 1, 1}, {"GlobalAveragePool", 1, 1}, {"Softmax", 1, 1},
    {"Identity", 1, 1}, {"Pad", 1, 4}, {"Constant", 0, 0},
    {"HardSigmoid", 1, 1}, {"HardSwish", 1, 1},
};

/* Refuses a node with more or fewer inputs than its operator takes, or
 * one that reads its own output. */
static graft_status check_inputs(nctx *c, const char *op)
{
    int n = (int)c->nd->n_input;
    for (size_t i = 0; i < sizeof onnx_arity / sizeof onnx_arity[0]; i++)
        if (!strcmp(op, onnx_arity[i].op) && (n < onnx_arity[i].min || n > onnx_arity[i].max))
            return nfail(c, GRAFT_ERR_FORMAT, "%d inputs; %s takes %d to %d", n, op,
                         onnx_arity[i].min, onnx_arity[i].max);
    for (size_t k = 0; k < c->nd->n_input; k++)
        for (size_t o = 0; o < c->nd->n_output; o++)
            if (c->nd->input[k] && c->nd->output[o] && c->nd->input[k][0] &&
                !strcmp(c->nd->input[k], c->nd->output[o]))
                return nfail(c, GRAFT_ERR_FORMAT, "input %zu is the node's own output '%s' (a "
                             "cycle)", k + 1, c->nd->output[o]);
    return GRAFT_OK;
}

/* An owned constant pushed as output 0: folded values and shapes. */
static graft_status push_folded(nctx *c, onnx_fold_value *f)
{
    if (c->nd->n_output < 1 || !c->nd->output[0] || !c->nd->output[0][0]) {
        free(f->v.data);
        return nfail(c, GRAFT_ERR_FORMAT, "has no output");
    }
    val v = {.name = c->nd->output[0], .node = -1, .cdata = f->v.data, .cn = f->v.n,
             .lin_bias = -1};
    v.shaped = 1;
    v.cndims = f->v.ndims;
    memcpy(v.cdims, f->v.dims, sizeof v.cdims);
    v.cint = f->is_int;
    graft_status s = push_val(c->im, v);
    if (s != GRAFT_OK) free(f->v.data);
    return s;
}

/* Whether constant input v holds an integer type. */
static int const_is_int(const val *v)
{
    const Onnx__TensorProto *t = v->t;
    if (!t) return v->cint;
    return t->has_data_type && (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ||
                                t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT32);
}

/* 1 when every input the node has is a constant. */
static int all_inputs_const(const nctx *c)
{
    for (size_t k = 0; k < c->nd->n_input; k++) {
        if (!has_input(c, k)) continue;
        const val *v = find_val(c->im, c->nd->input[k]);
        if (!v || v->node >= 0) return 0;
    }
    return c->nd->n_input > 0;
}

/* A node whose inputs are all constants, evaluated now (onnx_fold.h). */
static graft_status op_fold(nctx *c, const char *op)
{
    onnx_fold_value in[8];
    int nin = (int)c->nd->n_input;
    if (nin > 8) return nfail(c, GRAFT_ERR_UNSUPPORTED, "more than 8 inputs to evaluate");
    memset(in, 0, sizeof in);
    graft_status s = GRAFT_OK;
    for (int k = 0; k < nin && s == GRAFT_OK; k++) {
        if (!has_input(c, (size_t)k)) continue;
        cten t;
        if ((s = in_const_raw(c, (size_t)k, &t)) != GRAFT_OK) break;
        in[k].v.data = t.data;
        in[k].v.n = t.n;
        in[k].v.ndims = t.ndims;
        memcpy(in[k].v.dims, t.dims, sizeof t.dims);
        in[k].is_int = const_is_int(find_val(c->im, c->nd->input[k]));
    }
    onnx_fold_value out;
    char why[200];
    if (s == GRAFT_OK) {
        s = onnx_fold_eval(op, c->nd, in, nin, &out, why, sizeof why);
        if (s != GRAFT_OK) s = nfail(c, s, "%s", why);
    }
    for (int k = 0; k < nin; k++) free(in[k].v.data);
    return s == GRAFT_OK ? push_folded(c, &out) : s;
}

/* Shape of a node value: static sizes, the batch left open. */
static graft_status op_shape(nctx *c)
{
    val x;
    TRY(in_node(c, 0, &x));
    if (attr(c->nd, "start") || attr(c->nd, "end"))
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "Shape with start/end is not supported");
    int ch, h, w;
    node_shape(c, &x, &ch, &h, &w);
    double nchw[4] = {ONNX_FOLD_BATCH, ch, h, w}, nhwc[4] = {ONNX_FOLD_BATCH, h, w, ch};
    int64_t n = x.rank == 2 ? 2 : 4;
    onnx_fold_value f = {{malloc(4 * sizeof(double)), (size_t)n, 1, {n}}, 1};
    if (!f.v.data) return ctx_fail(c->im->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    memcpy(f.v.data, x.rank == ONNX_RANK_NHWC ? nhwc : nchw, (size_t)n * sizeof(double));
    return push_folded(c, &f);
}

/* Transpose to channels-last and back: a mark on the value, no data moved
 * (onnx_layout.h). */
static graft_status op_transpose(nctx *c)
{
    val x;
    TRY(in_node(c, 0, &x));
    const Onnx__AttributeProto *a = attr(c->nd, "perm");
    int64_t rev[4] = {3, 2, 1, 0};
    const int64_t *perm = a && a->n_ints ? a->ints : rev + (x.rank == 2 ? 2 : 0);
    size_t n = a && a->n_ints ? a->n_ints : x.rank == 2 ? 2 : 4;
    int rank = onnx_layout_transpose(x.rank, perm, n);
    if (!rank)
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "graft supports Transpose only to channels-last "
                     "(perm [0, 2, 3, 1]) and back ([0, 3, 1, 2]), and inside a channel shuffle");
    x.rank = rank;
    return alias(c, &x);
}

static graft_status map_node(nctx *c)
{
    const char *op = onnx_str(c->nd->op_type);
    TRY(check_inputs(c, op));
    int dflt = !*onnx_str(c->nd->domain) || !strcmp(onnx_str(c->nd->domain), "ai.onnx");
    if (dflt && !strcmp(op, "Shape")) return op_shape(c);
    if (dflt && onnx_fold_op(op) && all_inputs_const(c)) return op_fold(c, op);
    if (dflt && !strcmp(op, "Transpose")) return op_transpose(c);
    const layer_kind *kd = kind_for(c->nd);
    if (dflt && !kd && onnx_fold_op(op))
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "graft evaluates %s only on constants (shape "
                     "arithmetic); here it reads a computed tensor", op);
    if (kd) return kd->onnx_import(&c->base);
    if (!strcmp(op, "Constant")) return op_constant(c);
    if (!strcmp(op, "Pad")) return op_pad(c);
    val *cv = c->nd->n_input ? find_val(c->im, onnx_str(c->nd->input[0])) : NULL;
    if (!strcmp(op, "Identity") && cv && cv->node < 0 && c->nd->n_output && c->nd->output[0]) {
        val v = *cv; /* Identity of a constant */
        v.name = c->nd->output[0];
        if (cv->cdata) {
            v.cdata = malloc((cv->cn ? cv->cn : 1) * sizeof *v.cdata);
            if (!v.cdata) return ctx_fail(c->im->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
            memcpy(v.cdata, cv->cdata, cv->cn * sizeof *v.cdata);
        }
        graft_status s = push_val(c->im, v);
        if (s != GRAFT_OK) free(v.cdata);
        return s;
    }
    val x;
    graft_status s = in_node(c, 0, &x);
    if (s != GRAFT_OK) return s;
    if (!strcmp(op, "Softmax")) {
        /* Only as the model's output: graft's loss applies its own softmax. */
        int is_out = 0;
        for (size_t i = 0; i < c->im->g->n_output; i++)
            if (c->nd->n_output && !strcmp(onnx_str(c->im->g->output[i]->name), onnx_str(c->nd->output[0])))
                is_out = 1;
        if (!is_out || uses(c->im, onnx_str(c->nd->output[0])) != 1)
            return nfail(c, GRAFT_ERR_UNSUPPORTED, "Softmax is supported only as the final node "
                         "(it is dropped; graft outputs logits)");
        add_note(c->im, "dropped the final Softmax '%s' (graft outputs logits)", c->name);
    }
    return alias(c, &x); /* Identity, Softmax */
}

/* ---------------------------------------------------------------- graph */

/* Graft node name from the ONNX node name: [A-Za-z0-9_.-], at most 63
 * characters, unique; op_type and index when the node has no name. */
static void node_name(imp *im, const Onnx__NodeProto *nd, size_t idx, char out[64])
{
    char base[64];
    const char *src = onnx_str(nd->name);
    size_t j = 0;
    for (const char *p = src; *p && j < 52; p++) {
        char ch = *p;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '.' || ch == '-';
        if (!ok) ch = '_';
        if (ch == '_' && (j == 0 || base[j - 1] == '_')) continue; /* no leading/double '_' */
        base[j++] = ch;
    }
    while (j > 0 && base[j - 1] == '_') j--;
    base[j] = 0;
    if (!j) {
        snprintf(base, sizeof base, "%.40s_%zu", onnx_str(nd->op_type), idx);
        for (char *p = base; *p; p++)
            if (*p >= 'A' && *p <= 'Z') *p = (char)(*p - 'A' + 'a');
    }
    snprintf(out, 64, "%s", base);
    for (int k = 2; graft_model_find(im->m, out) >= 0; k++) snprintf(out, 64, "%.52s_%d", base, k);
}

/* All operators graft cannot map, in one message. */
static graft_status check_ops(imp *im)
{
    char list[GRAFT_ERRLEN] = "";
    size_t used = 0;
    int ntypes = 0;
    const onnx_fuse_graph *g = &im->fg;
    /* Shape arithmetic on constants is evaluated at import, not a layer. */
    unsigned char *plan = onnx_fold_plan(g);
    if (!plan) return ctx_fail(im->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *nd = g->node[i];
        const char *op = onnx_str(nd->op_type), *dom = onnx_str(nd->domain);
        int ok = !*dom || !strcmp(dom, "ai.onnx");
        if (kind_for(nd) || (ok && plan[i])) goto next;
        for (size_t k = 0; ok && k < NGRAPH_OPS; k++)
            if (!strcmp(op, graph_ops[k])) goto next;
        /* First node of this type: list it with every node of that type. */
        for (size_t j = 0; j < i; j++)
            if (!strcmp(onnx_str(g->node[j]->op_type), op) && !strcmp(onnx_str(g->node[j]->domain), dom))
                goto next;
        ntypes++;
        int w = snprintf(list + used, sizeof list - used, "%s%s%s%s (", ntypes > 1 ? ", " : "",
                         *dom ? dom : "", *dom ? ":" : "", op);
        if (w > 0 && (size_t)w < sizeof list - used) used += (size_t)w;
        int nn = 0;
        for (size_t j = i; j < g->n_node; j++) {
            if (strcmp(onnx_str(g->node[j]->op_type), op) || strcmp(onnx_str(g->node[j]->domain), dom))
                continue;
            char nm[64];
            const char *raw = onnx_str(g->node[j]->name);
            snprintf(nm, sizeof nm, "%s", *raw ? raw : "(unnamed)");
            w = snprintf(list + used, sizeof list - used, "%snode '%s'", nn++ ? ", " : "", nm);
            if (w > 0 && (size_t)w < sizeof list - used) used += (size_t)w;
        }
        w = snprintf(list + used, sizeof list - used, ")");
        if (w > 0 && (size_t)w < sizeof list - used) used += (size_t)w;
    next:;
    }
    free(plan);
    if (!ntypes) return GRAFT_OK;
    /* What graft imports: the layer kinds' ops, then the graph-level ones
     * (the patterns' synthetic "graft:" ops are named by the patterns). */
    char known[1024] = "";
    size_t kn = 0;
    for (int k = 0; k < GRAFT_LAYER_KIND_COUNT; k++) {
        const layer_kind *kd = layer_kind_of((graft_layer_kind)k);
        for (const char *const *o = kd ? kd->onnx_ops : NULL; o && *o; o++) {
            if (!strncmp(*o, ONNX_FUSE_DOMAIN ":", sizeof ONNX_FUSE_DOMAIN)) continue;
            int w = snprintf(known + kn, sizeof known - kn, "%s%s", kn ? ", " : "", *o);
            if (w > 0 && (size_t)w < sizeof known - kn) kn += (size_t)w;
        }
    }
    for (size_t k = 0; k < NGRAPH_OPS; k++) {
        int w = snprintf(known + kn, sizeof known - kn, "%s%s", k + 1 < NGRAPH_OPS ? ", " : " and ",
                         graph_ops[k]);
        if (w > 0 && (size_t)w < sizeof known - kn) kn += (size_t)w;
    }
    for (int k = 0; onnx_fuse_pattern_describe(k); k++) {
        int w = snprintf(known + kn, sizeof known - kn, "%s%s", k ? "; " : ", and the patterns ",
                         onnx_fuse_pattern_describe(k));
        if (w > 0 && (size_t)w < sizeof known - kn) kn += (size_t)w;
    }
    return ctx_fail(im->ctx, GRAFT_ERR_UNSUPPORTED, "%s: %d unsupported ONNX operator type%s: %s; "
                    "graft imports %s", im->path, ntypes, ntypes > 1 ? "s" : "", list, known);
}

static int is_initializer(const imp *im, const char *name)
{
    for (size_t i = 0; i < im->g->n_initializer; i++)
        if (!strcmp(onnx_str(im->g->initializer[i]->name), name)) return 1;
    return 0;
}

/* The one non-initializer graph input, [N, C, H, W] with static C, H, W. */
static graft_status add_input(imp *im)
{
    const Onnx__ValueInfoProto *in = NULL;
    int n = 0;
    for (size_t i = 0; i < im->g->n_input; i++)
        if (!is_initializer(im, onnx_str(im->g->input[i]->name))) {
            in = im->g->input[i];
            n++;
        }
    if (n != 1)
        return ctx_fail(im->ctx, GRAFT_ERR_UNSUPPORTED, "%s: the graph has %d data inputs; graft "
                        "needs exactly one image input", im->path, n);
    const Onnx__TypeProto *tp = in->type;
    const Onnx__TensorShapeProto *sh = tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE &&
                                       tp->tensor_type ? tp->tensor_type->shape : NULL;
    int64_t d[4] = {0, 0, 0, 0};
    if (sh && sh->n_dim == 4)
        for (int k = 1; k < 4; k++)
            if (sh->dim[k]->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
                d[k] = sh->dim[k]->dim_value;
    if (!sh || sh->n_dim != 4 || d[1] < 1 || d[2] < 1 || d[3] < 1 || d[1] > 4096 || d[2] > 65536 ||
        d[3] > 65536)
        return ctx_fail(im->ctx, GRAFT_ERR_UNSUPPORTED, "%s: input '%s' needs a 4-D shape [N, C, "
                        "H, W] with fixed C, H and W", im->path, onnx_str(in->name));
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_INPUT);
    sp.channels = (int)d[1];
    sp.height = (int)d[2];
    sp.width = (int)d[3];
    Onnx__NodeProto fake = ONNX__NODE_PROTO__INIT;
    fake.name = in->name;
    fake.op_type = (char *)"input";
    char nm[64];
    node_name(im, &fake, 0, nm);
    int id;
    graft_status s = graft_model_add(im->m, nm, &sp, 0, NULL, &id);
    if (s != GRAFT_OK) return s;
    return push_val(im, (val){.name = in->name, .node = id, .rank = 4, .lin_bias = -1});
}

static graft_status import_graph(imp *im, const Onnx__ModelProto *mp)
{
    im->opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const char *dom = onnx_str(mp->opset_import[i]->domain);
        if ((!*dom || !strcmp(dom, "ai.onnx")) && mp->opset_import[i]->has_version)
            im->opset = (int)mp->opset_import[i]->version;
    }
    if (im->opset < 0) im->opset = 1; /* no default-domain opset: ancient */
    if (im->opset < ONNX_MIN_OPSET || im->opset > ONNX_MAX_OPSET)
        return ctx_fail(im->ctx, GRAFT_ERR_UNSUPPORTED, "%s: opset %d; graft imports opsets %d "
                        "to %d (re-export with one of those)", im->path, im->opset,
                        ONNX_MIN_OPSET, ONNX_MAX_OPSET);
    if (!mp->graph || !mp->graph->n_node)
        return ctx_fail(im->ctx, GRAFT_ERR_FORMAT, "%s: the model has no graph or no nodes", im->path);
    im->g = mp->graph;
    char err[GRAFT_ERRLEN];
    if (onnx_fuse_run(&im->fg, im->g, err, sizeof err) != GRAFT_OK)
        return ctx_fail(im->ctx, GRAFT_ERR_HOST_MEMORY, "%s: %s", im->path, err);
    TRY(check_ops(im));
    if (im->g->n_output != 1)
        return ctx_fail(im->ctx, GRAFT_ERR_UNSUPPORTED, "%s: the graph has %zu outputs; graft needs "
                        "one (the class scores)", im->path, im->g->n_output);
    for (size_t i = 0; i < im->g->n_initializer; i++)
        TRY(push_val(im, (val){.name = onnx_str(im->g->initializer[i]->name), .node = -1,
                               .t = im->g->initializer[i], .lin_bias = -1}));
    TRY(add_input(im));
    /* Mapping a node uploads its weights: the long part of a large import. */
    pass_progress pp;
    pass_progress_begin(&pp, im->ctx, NULL, NULL, "import", (long)im->fg.n_node);
    for (size_t i = 0; i < im->fg.n_node; i++) {
        nctx c = {{&import_api}, im, im->fg.node[i], ""};
        node_name(im, c.nd, i, c.name);
        TRY(map_node(&c));
        pass_progress_report(&pp, (long)i + 1, 0);
    }
    const char *oname = onnx_str(im->g->output[0]->name);
    val *o = find_val(im, oname);
    int last = graft_model_num_nodes(im->m) - 1;
    if (!o || o->node != last)
        return ctx_fail(im->ctx, GRAFT_ERR_UNSUPPORTED, "%s: the graph output '%s' is not computed "
                        "by the last node; graft needs the output to come last", im->path, oname);
    if (graft_model_node_spec(im->m, last)->kind != GRAFT_LAYER_LINEAR)
        add_note(im, "the last layer '%s' is a %s, not a linear classifier: finetune cannot "
                 "replace its head", graft_model_node_name(im->m, last),
                 graft_layer_kind_name(graft_model_node_spec(im->m, last)->kind));
    return GRAFT_OK;
}

graft_status graft_onnx_import(graft_ctx *ctx, const char *path, graft_model **out, char *note,
                               size_t notelen)
{
    return graft_onnx_import_meta(ctx, path, out, NULL, NULL, note, notelen);
}

graft_status graft_onnx_import_meta(graft_ctx *ctx, const char *path, graft_model **out,
                                    graft_model_meta *meta, int *card_keys, char *note,
                                    size_t notelen)
{
    if (!ctx || !path || !out) return GRAFT_ERR_INVALID_ARG;
    *out = NULL;
    if (card_keys) *card_keys = 0;
    if (meta) {
        memset(meta, 0, sizeof *meta);
        snprintf(meta->arch, sizeof meta->arch, "custom");
        for (int c = 0; c < 4; c++) meta->std[c] = 1.0f;
    }
    if (note && notelen) note[0] = 0;
    unsigned char *buf = NULL;
    size_t n = 0;
    int e = file_read_all(path, ONNX_MAX_FILE_BYTES, &buf, &n);
    if (e)
        return ctx_fail(ctx, GRAFT_ERR_IO, "%s: %s", path,
                        e == EFBIG ? "larger than the 2 GiB limit" : strerror(e));
    Onnx__ModelProto *mp = n ? onnx__model_proto__unpack(NULL, n, buf) : NULL;
    free(buf);
    if (!mp)
        return ctx_fail(ctx, GRAFT_ERR_FORMAT, "%s: not a valid ONNX model (the protobuf data is "
                        "truncated or corrupt)", path);
    imp im;
    memset(&im, 0, sizeof im);
    im.ctx = ctx;
    im.path = path;
    graft_status s = graft_model_create(ctx, &im.m);
    if (s == GRAFT_OK) s = import_graph(&im, mp);
    if (s == GRAFT_OK && meta) {
        int k = onnx_card_read(mp, meta), c, h, w;
        if (k < 0) s = ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "%s: out of host memory", path);
        else if (card_keys) *card_keys = k;
        graft_model_node_shape(im.m, 0, &c, &h, &w);
        if (s == GRAFT_OK && !(meta->meta_json = onnx_record_json(mp, path, im.opset, c, h, w)))
            s = ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "%s: out of host memory", path);
    }
    for (int i = 0; i < im.nv; i++) free(im.v[i].cdata);
    free(im.v);
    onnx_fuse_free(&im.fg);
    onnx__model_proto__free_unpacked(mp, NULL);
    if (s != GRAFT_OK) {
        graft_model_free(im.m);
        if (meta) graft_model_meta_free(meta);
        return s;
    }
    if (note && notelen) snprintf(note, notelen, "%s", im.note);
    *out = im.m;
    return GRAFT_OK;
}
