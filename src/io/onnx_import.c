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
#include "onnx_common.h"

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
} val;

typedef struct imp {
    graft_ctx *ctx;
    graft_model *m;
    const char *path;
    const Onnx__GraphProto *g;
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

static const char *const supported_ops[] = {
    "Conv", "BatchNormalization", "Relu", "Clip", "LeakyRelu", "MaxPool", "AveragePool",
    "GlobalAveragePool", "Add", "Concat", "Flatten", "Reshape", "Gemm", "MatMul", "Softmax",
    "Dropout", "Identity", "Constant", "Pad",
};
#define NSUPPORTED (sizeof supported_ops / sizeof supported_ops[0])

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
static int uses(const imp *im, const char *name)
{
    int n = 0;
    for (size_t i = 0; i < im->g->n_node; i++)
        for (size_t k = 0; k < im->g->node[i]->n_input; k++)
            if (!strcmp(onnx_str(im->g->node[i]->input[k]), name)) n++;
    for (size_t i = 0; i < im->g->n_output; i++)
        if (!strcmp(onnx_str(im->g->output[i]->name), name)) n++;
    return n;
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

/* Input k as a constant (initializer or Constant node), decoded. */
static graft_status in_const(nctx *c, size_t k, cten *out)
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

/* pads [top, left, bottom, right], all equal; auto_pad NOTSET or VALID. */
static graft_status sym_pads(nctx *c, int *pad)
{
    *pad = 0;
    const Onnx__AttributeProto *ap = attr(c->nd, "auto_pad");
    if (ap && ap->has_s && ap->s.len && !(ap->s.len == 6 && !memcmp(ap->s.data, "NOTSET", 6)) &&
        !(ap->s.len == 5 && !memcmp(ap->s.data, "VALID", 5)))
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "auto_pad %.*s is not supported; export with "
                     "explicit pads", (int)ap->s.len, (const char *)ap->s.data);
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
    return push_val(c->im, (val){c->nd->output[0], id, rank, NULL, NULL, 0, -1, 0});
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

/* ---------------------------------------------------------------- operators */

static graft_status op_conv(nctx *c)
{
    val x;
    cten w = {0}, b = {0};
    graft_status s = in_node_pad(c, 0, &x);
    int C, H, W, stride, dil, pad;
    if (s == GRAFT_OK) s = in_const(c, 1, &w);
    if (s == GRAFT_OK) s = square_attr(c, "strides", 1, &stride);
    if (s == GRAFT_OK) s = square_attr(c, "dilations", 1, &dil);
    if (s == GRAFT_OK) s = sym_pads(c, &pad);
    if (s != GRAFT_OK) goto done;
    node_shape(c, &x, &C, &H, &W);
    int64_t group = attr_int(c->nd, "group", 1);
    if (x.rank != 4 || w.ndims != 4 || w.dims[2] != w.dims[3] || group < 1 || group > C ||
        w.dims[1] * group != C || w.dims[0] < 1) {
        s = nfail(c, GRAFT_ERR_SHAPE, "weight of shape [%lld, %lld, %lld, %lld] with group %lld "
                  "does not fit a %dx%dx%d input (graft needs square 2-D kernels)",
                  (long long)w.dims[0], (long long)w.dims[1], (long long)w.dims[2],
                  (long long)w.dims[3], (long long)group, C, H, W);
        goto done;
    }
    int k;
    if ((s = square_attr(c, "kernel_shape", (int)w.dims[2], &k)) != GRAFT_OK) goto done;
    if (k != w.dims[2]) {
        s = nfail(c, GRAFT_ERR_SHAPE, "kernel_shape %d does not match the weight's %lld", k,
                  (long long)w.dims[2]);
        goto done;
    }
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_CONV2D);
    sp.channels = (int)w.dims[0];
    sp.kernel = k;
    sp.stride = stride;
    sp.pad = pad + x.pad;
    sp.dilation = dil;
    sp.groups = (int)group;
    sp.bias = has_input(c, 2);
    if (sp.bias) {
        if ((s = in_const(c, 2, &b)) != GRAFT_OK) goto done;
        if (b.n != (size_t)sp.channels) {
            s = nfail(c, GRAFT_ERR_SHAPE, "bias has %zu values for %d channels", b.n, sp.channels);
            goto done;
        }
    }
    int p0 = graft_model_num_params(c->im->m);
    if ((s = emit(c, &sp, 1, &x.node, 4, NULL)) != GRAFT_OK) goto done;
    s = set_param(c, p0, w.data, w.n);
    if (s == GRAFT_OK && sp.bias) s = set_param(c, p0 + 1, b.data, b.n);
done:
    free(w.data);
    free(b.data);
    return s;
}

static graft_status op_batchnorm(nctx *c)
{
    val x;
    cten p[4];
    memset(p, 0, sizeof p);
    graft_status s = in_node(c, 0, &x);
    int C, H, W;
    if (s != GRAFT_OK) return s;
    node_shape(c, &x, &C, &H, &W);
    for (int i = 0; i < 4 && s == GRAFT_OK; i++) {
        s = in_const(c, (size_t)i + 1, &p[i]);
        if (s == GRAFT_OK && p[i].n != (size_t)C)
            s = nfail(c, GRAFT_ERR_SHAPE, "input %d has %zu values for %d channels", i + 1,
                      p[i].n, C);
    }
    if (s == GRAFT_OK && attr_int(c->nd, "training_mode", 0))
        s = nfail(c, GRAFT_ERR_UNSUPPORTED, "training_mode=1 graphs are not supported");
    if (s == GRAFT_OK) {
        graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_BATCHNORM2D);
        sp.eps = attr_float(c->nd, "epsilon", 1e-5f);
        /* ONNX: running = m*running + (1-m)*batch; graft uses the complement. */
        sp.momentum = 1.0f - attr_float(c->nd, "momentum", 0.9f);
        int p0 = graft_model_num_params(c->im->m);
        s = emit(c, &sp, 1, &x.node, x.rank, NULL);
        for (int i = 0; i < 4 && s == GRAFT_OK; i++) s = set_param(c, p0 + i, p[i].data, p[i].n);
    }
    for (int i = 0; i < 4; i++) free(p[i].data);
    return s;
}

/* Optional scalar input k of Clip (opset >= 11). */
static graft_status clip_bound(nctx *c, size_t k, double *out)
{
    if (!has_input(c, k)) return GRAFT_OK;
    cten t;
    graft_status s = in_const(c, k, &t);
    if (s != GRAFT_OK) return s;
    if (t.n != 1) s = nfail(c, GRAFT_ERR_UNSUPPORTED, "bound %zu is not a scalar", k);
    else *out = t.data[0];
    free(t.data);
    return s;
}

static graft_status op_activation(nctx *c, const char *op)
{
    val x;
    graft_status s = in_node(c, 0, &x);
    if (s != GRAFT_OK) return s;
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_RELU);
    if (!strcmp(op, "LeakyRelu")) {
        sp = graft_layer_default(GRAFT_LAYER_LEAKY_RELU);
        sp.slope = attr_float(c->nd, "alpha", 0.01f);
    } else if (!strcmp(op, "Clip")) {
        double lo = -INFINITY, hi = INFINITY;
        if (c->im->opset < 11) {
            lo = attr_float(c->nd, "min", -FLT_MAX);
            hi = attr_float(c->nd, "max", FLT_MAX);
        } else {
            if ((s = clip_bound(c, 1, &lo)) != GRAFT_OK) return s;
            if ((s = clip_bound(c, 2, &hi)) != GRAFT_OK) return s;
        }
        if (lo == 0 && hi == 6) sp = graft_layer_default(GRAFT_LAYER_RELU6);
        else if (!(lo == 0 && hi >= FLT_MAX))
            return nfail(c, GRAFT_ERR_UNSUPPORTED, "Clip to [%g, %g]; graft maps only [0, 6] "
                         "(ReLU6) and [0, inf) (ReLU)", lo, hi);
    }
    return emit(c, &sp, 1, &x.node, x.rank, NULL);
}

static graft_status op_pool(nctx *c, int is_max)
{
    val x;
    int k, stride, pad, dil, C, H, W;
    graft_status s = is_max ? in_node(c, 0, &x) : in_node_pad(c, 0, &x);
    if (s == GRAFT_OK) s = square_attr(c, "kernel_shape", 0, &k);
    if (s == GRAFT_OK) s = square_attr(c, "strides", 1, &stride);
    if (s == GRAFT_OK) s = square_attr(c, "dilations", 1, &dil);
    if (s == GRAFT_OK) s = sym_pads(c, &pad);
    if (s != GRAFT_OK) return s;
    node_shape(c, &x, &C, &H, &W);
    if (x.rank != 4 || k < 1) return nfail(c, GRAFT_ERR_UNSUPPORTED, "needs a 4-D input and kernel_shape");
    if (dil != 1) return nfail(c, GRAFT_ERR_UNSUPPORTED, "dilated pooling is not supported");
    if (c->nd->n_output > 1 && c->nd->output[1] && c->nd->output[1][0] &&
        uses(c->im, c->nd->output[1]))
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "the Indices output is used");
    if (attr_int(c->nd, "ceil_mode", 0)) {
        /* Fine when ceil and floor give the same size. */
        for (int d = 0; d < 2; d++) {
            int span = (d ? W : H) + 2 * pad - k;
            if (span >= 0 && span % stride)
                return nfail(c, GRAFT_ERR_UNSUPPORTED, "ceil_mode=1 changes the output size "
                             "here; graft pools with floor");
        }
    }
    if (!is_max && pad > 0 && !attr_int(c->nd, "count_include_pad", 0))
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "count_include_pad=0 with padding; graft's "
                     "average pooling counts the padding");
    pad += x.pad; /* a preceding Pad's zeros count, as graft's padding does */
    graft_layer_spec sp = graft_layer_default(is_max ? GRAFT_LAYER_MAXPOOL2D : GRAFT_LAYER_AVGPOOL2D);
    sp.kernel = k;
    sp.stride = stride;
    sp.pad = pad;
    return emit(c, &sp, 1, &x.node, 4, NULL);
}

static graft_status op_global_avgpool(nctx *c)
{
    val x;
    graft_status s = in_node(c, 0, &x);
    if (s != GRAFT_OK) return s;
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_GLOBAL_AVGPOOL);
    return emit(c, &sp, 1, &x.node, 4, NULL);
}

static graft_status op_add(nctx *c)
{
    if (c->nd->n_input != 2) return nfail(c, GRAFT_ERR_FORMAT, "needs 2 inputs");
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
    if (a->node < 0 || b->node < 0) {
        /* MatMul + Add(bias): the bias of the MatMul's linear layer. */
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
    val va = *a, vb = *b;
    int ca, ha, wa, cb, hb, wb;
    node_shape(c, &va, &ca, &ha, &wa);
    node_shape(c, &vb, &cb, &hb, &wb);
    if (ca != cb || ha != hb || wa != wb || va.rank != vb.rank)
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "adds %dx%dx%d and %dx%dx%d; graft adds tensors of "
                     "one shape (no broadcasting)", ca, ha, wa, cb, hb, wb);
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_ADD);
    int ins[2] = {va.node, vb.node};
    return emit(c, &sp, 2, ins, va.rank, NULL);
}

static graft_status op_concat(nctx *c)
{
    int ins[8], n = (int)c->nd->n_input, rank = 0;
    if (n < 2 || n > 8) return nfail(c, GRAFT_ERR_UNSUPPORTED, "%d inputs; graft concatenates 2 to 8", n);
    for (int i = 0; i < n; i++) {
        val v;
        graft_status s = in_node(c, (size_t)i, &v);
        if (s != GRAFT_OK) return s;
        ins[i] = v.node;
        rank = v.rank;
    }
    int64_t axis = attr_int(c->nd, "axis", 1);
    if (!(axis == 1 || axis == 1 - rank))
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "axis %lld; graft concatenates channels (axis 1)",
                     (long long)axis);
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_CONCAT);
    return emit(c, &sp, n, ins, rank, NULL);
}

/* Flatten to N x features: a FLATTEN layer, or nothing when the tensor is
 * already C x 1 x 1. */
static graft_status to_2d(nctx *c, const val *x)
{
    int C, H, W;
    node_shape(c, x, &C, &H, &W);
    if (H == 1 && W == 1) {
        val v = *x;
        v.rank = 2;
        return alias(c, &v);
    }
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_FLATTEN);
    return emit(c, &sp, 1, &x->node, 2, NULL);
}

static graft_status op_flatten(nctx *c)
{
    val x;
    graft_status s = in_node(c, 0, &x);
    if (s != GRAFT_OK) return s;
    int64_t axis = attr_int(c->nd, "axis", 1);
    if (!(axis == 1 || axis == 1 - x.rank))
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "axis %lld; graft flattens at axis 1", (long long)axis);
    return to_2d(c, &x);
}

static graft_status op_reshape(nctx *c)
{
    val x;
    cten t;
    graft_status s = in_node(c, 0, &x);
    if (s == GRAFT_OK) s = in_const(c, 1, &t);
    if (s != GRAFT_OK) return s;
    int C, H, W;
    node_shape(c, &x, &C, &H, &W);
    double f = (double)C * H * W;
    int ok = t.n == 2 && (t.data[1] == -1 || t.data[1] == f) &&
             (t.data[0] == 0 || t.data[0] == -1 || (t.data[0] >= 1 && t.data[1] == f));
    double d0 = t.n > 0 ? t.data[0] : 0, d1 = t.n > 1 ? t.data[1] : 0;
    size_t n = t.n;
    free(t.data);
    if (!ok)
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "reshape of %dx%dx%d to a %zu-D shape (%g, %g, ..); "
                     "graft supports only flattening to [N, %g]", C, H, W, n, d0, d1, f);
    return to_2d(c, &x);
}

/* Gemm (B constant) and MatMul (B constant [in, out]) as a LINEAR layer. */
static graft_status op_linear(nctx *c, int is_gemm)
{
    val x;
    cten B = {0}, Cb = {0};
    graft_status s = in_node(c, 0, &x);
    if (s == GRAFT_OK) s = in_const(c, 1, &B);
    if (s != GRAFT_OK) return s;
    int C, H, W;
    node_shape(c, &x, &C, &H, &W);
    int64_t fin = (int64_t)C * H * W;
    int transB = is_gemm ? (int)attr_int(c->nd, "transB", 0) : 0;
    double alpha = is_gemm ? attr_float(c->nd, "alpha", 1.0f) : 1.0;
    double beta = is_gemm ? attr_float(c->nd, "beta", 1.0f) : 1.0;
    if (is_gemm && attr_int(c->nd, "transA", 0)) {
        s = nfail(c, GRAFT_ERR_UNSUPPORTED, "transA=1 is not supported");
        goto done;
    }
    if (B.ndims != 2 || B.dims[transB ? 1 : 0] != fin) {
        s = nfail(c, GRAFT_ERR_SHAPE, "weight of %d dimensions [%lld, %lld]%s does not take %lld "
                  "input features", B.ndims, (long long)B.dims[0], (long long)B.dims[1],
                  transB ? " (transB)" : "", (long long)fin);
        goto done;
    }
    int nout = (int)B.dims[transB ? 0 : 1];
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_LINEAR);
    sp.channels = nout;
    sp.bias = 1; /* MatMul: zero until an Add supplies it */
    if (is_gemm && has_input(c, 2)) {
        if ((s = in_const(c, 2, &Cb)) != GRAFT_OK) goto done;
        if (Cb.n != (size_t)nout && Cb.n != 1) {
            s = nfail(c, GRAFT_ERR_UNSUPPORTED, "C has %zu values; graft needs a bias of %d "
                      "values (or a scalar)", Cb.n, nout);
            goto done;
        }
    }
    /* graft's weight is [out, in]. */
    double *wt = malloc((size_t)nout * (size_t)fin * sizeof *wt);
    double *bias = calloc((size_t)nout, sizeof *bias);
    if (!wt || !bias) {
        free(wt);
        free(bias);
        s = ctx_fail(c->im->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
        goto done;
    }
    for (int64_t o = 0; o < nout; o++)
        for (int64_t i = 0; i < fin; i++)
            wt[o * fin + i] = alpha * (transB ? B.data[o * fin + i] : B.data[i * nout + o]);
    for (int o = 0; Cb.data && o < nout; o++) bias[o] = beta * Cb.data[Cb.n == 1 ? 0 : o];
    int p0 = graft_model_num_params(c->im->m), id;
    s = emit(c, &sp, 1, &x.node, 2, &id);
    if (s == GRAFT_OK) s = set_param(c, p0, wt, (size_t)nout * (size_t)fin);
    if (s == GRAFT_OK) s = set_param(c, p0 + 1, bias, (size_t)nout);
    if (s == GRAFT_OK && !is_gemm && uses(c->im, c->nd->output[0]) == 1)
        c->im->v[c->im->nv - 1].lin_bias = p0 + 1;
    free(wt);
    free(bias);
done:
    free(B.data);
    free(Cb.data);
    return s;
}

static graft_status op_dropout(nctx *c)
{
    val x;
    graft_status s = in_node(c, 0, &x);
    if (s != GRAFT_OK) return s;
    double ratio = 0.5;
    if (c->im->opset < 12) ratio = attr_float(c->nd, "ratio", 0.5f);
    else if (has_input(c, 1)) {
        cten t;
        if ((s = in_const(c, 1, &t)) != GRAFT_OK) return s;
        if (t.n == 1) ratio = t.data[0];
        free(t.data);
    }
    if (c->nd->n_output > 1 && c->nd->output[1] && c->nd->output[1][0] && uses(c->im, c->nd->output[1]))
        return nfail(c, GRAFT_ERR_UNSUPPORTED, "the mask output is used");
    if (!(ratio > 0)) return alias(c, &x);
    if (!(ratio < 1)) return nfail(c, GRAFT_ERR_UNSUPPORTED, "ratio %g not below 1", ratio);
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_DROPOUT);
    sp.p = (float)ratio;
    return emit(c, &sp, 1, &x.node, x.rank, NULL);
}

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
    val v = {c->nd->output[0], -1, 0, NULL, NULL, 0, -1, 0};
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
    graft_status s = push_val(c->im, v);
    if (s != GRAFT_OK) free(v.cdata);
    return s;
}

static graft_status map_node(nctx *c)
{
    const char *op = onnx_str(c->nd->op_type);
    if (!strcmp(op, "Conv")) return op_conv(c);
    if (!strcmp(op, "BatchNormalization")) return op_batchnorm(c);
    if (!strcmp(op, "Relu") || !strcmp(op, "LeakyRelu") || !strcmp(op, "Clip"))
        return op_activation(c, op);
    if (!strcmp(op, "MaxPool")) return op_pool(c, 1);
    if (!strcmp(op, "AveragePool")) return op_pool(c, 0);
    if (!strcmp(op, "GlobalAveragePool")) return op_global_avgpool(c);
    if (!strcmp(op, "Add")) return op_add(c);
    if (!strcmp(op, "Concat")) return op_concat(c);
    if (!strcmp(op, "Flatten")) return op_flatten(c);
    if (!strcmp(op, "Reshape")) return op_reshape(c);
    if (!strcmp(op, "Gemm")) return op_linear(c, 1);
    if (!strcmp(op, "MatMul")) return op_linear(c, 0);
    if (!strcmp(op, "Dropout")) return op_dropout(c);
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
    const Onnx__GraphProto *g = im->g;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *nd = g->node[i];
        const char *op = onnx_str(nd->op_type), *dom = onnx_str(nd->domain);
        int ok = !*dom || !strcmp(dom, "ai.onnx");
        for (size_t k = 0; ok && k < NSUPPORTED; k++)
            if (!strcmp(op, supported_ops[k])) goto next;
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
    if (!ntypes) return GRAFT_OK;
    return ctx_fail(im->ctx, GRAFT_ERR_UNSUPPORTED, "%s: %d unsupported ONNX operator type%s: %s; "
                    "graft imports Conv, BatchNormalization, Relu, Clip, LeakyRelu, MaxPool, "
                    "AveragePool, GlobalAveragePool, Add, Concat, Flatten, Reshape, Gemm, MatMul, "
                    "Softmax, Dropout, Identity, Constant and Pad", im->path, ntypes,
                    ntypes > 1 ? "s" : "", list);
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
    return push_val(im, (val){in->name, id, 4, NULL, NULL, 0, -1, 0});
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
    TRY(check_ops(im));
    if (im->g->n_output != 1)
        return ctx_fail(im->ctx, GRAFT_ERR_UNSUPPORTED, "%s: the graph has %zu outputs; graft needs "
                        "one (the class scores)", im->path, im->g->n_output);
    for (size_t i = 0; i < im->g->n_initializer; i++)
        TRY(push_val(im, (val){onnx_str(im->g->initializer[i]->name), -1, 0, im->g->initializer[i],
                               NULL, 0, -1, 0}));
    TRY(add_input(im));
    for (size_t i = 0; i < im->g->n_node; i++) {
        nctx c = {im, im->g->node[i], ""};
        node_name(im, c.nd, i, c.name);
        TRY(map_node(&c));
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
    if (!ctx || !path || !out) return GRAFT_ERR_INVALID_ARG;
    *out = NULL;
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
    for (int i = 0; i < im.nv; i++) free(im.v[i].cdata);
    free(im.v);
    onnx__model_proto__free_unpacked(mp, NULL);
    if (s != GRAFT_OK) {
        graft_model_free(im.m);
        return s;
    }
    if (note && notelen) snprintf(note, notelen, "%s", im.note);
    *out = im.m;
    return GRAFT_OK;
}
