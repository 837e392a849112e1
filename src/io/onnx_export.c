/* ONNX export: one ONNX node (or a short chain) per graft node, weights as
 * raw float initializers, packed with protobuf-c and written atomically. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "fileutil.h"
#include "layer_kind.h"
#include "model.h"
#include "onnx_card.h"
#include "onnx_common.h"

typedef struct exp_ {
    onnx_exporter base; /* first: the kinds' export callbacks see this */
    int cur;            /* graft node being exported */
    Onnx__NodeProto *open; /* ONNX node the kinds' in/attr calls go to */
    graft_model *m;
    graft_ctx *ctx;
    void **mem; /* everything allocated for the proto, freed at the end */
    size_t nmem, capmem;
    Onnx__GraphProto *g;
    Onnx__NodeProto **nodes;
    size_t nnodes, capnodes;
    Onnx__TensorProto **inits;
    size_t ninits, capinits;
    int *rank;          /* ONNX rank of each graft node's output: 4 or 2 */
    int *fold_into;     /* BN node -> conv node folded into it, else -1 */
    int *folded_conv;   /* conv nodes emitted at their BN */
    int oom;
} exp_;

static void *ar(exp_ *e, size_t n)
{
    if (e->oom) return NULL;
    if (e->nmem == e->capmem) {
        size_t cap = e->capmem ? 2 * e->capmem : 256;
        void **nm = realloc(e->mem, cap * sizeof *nm);
        if (!nm) { e->oom = 1; return NULL; }
        e->mem = nm;
        e->capmem = cap;
    }
    void *p = calloc(1, n ? n : 1);
    if (!p) { e->oom = 1; return NULL; }
    e->mem[e->nmem++] = p;
    return p;
}

static char *ar_str(exp_ *e, const char *s)
{
    char *p = ar(e, strlen(s) + 1);
    if (p) strcpy(p, s);
    return p;
}

/* Appends p to a growable pointer array. */
static void push_ptr(exp_ *e, void ***arr, size_t *n, size_t *cap, void *p)
{
    if (!p || e->oom) { e->oom = 1; return; }
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        void **na = realloc(*arr, c * sizeof *na);
        if (!na) { e->oom = 1; return; }
        *arr = na;
        *cap = c;
    }
    (*arr)[(*n)++] = p;
}

/* Inputs of one ONNX node: a Concat takes every input of its layer. */
#define NODE_MAX_INPUTS (LAYER_MAX_INPUTS > 8 ? LAYER_MAX_INPUTS : 8)

static Onnx__NodeProto *add_node(exp_ *e, const char *op, const char *name, const char *out)
{
    Onnx__NodeProto *nd = ar(e, sizeof *nd);
    char **o = ar(e, sizeof *o);
    if (!nd || !o) return NULL;
    onnx__node_proto__init(nd);
    nd->op_type = ar_str(e, op);
    nd->name = ar_str(e, name);
    o[0] = ar_str(e, out);
    nd->output = o;
    nd->n_output = 1;
    nd->input = ar(e, NODE_MAX_INPUTS * sizeof *nd->input);
    nd->attribute = ar(e, 8 * sizeof *nd->attribute);
    push_ptr(e, (void ***)&e->nodes, &e->nnodes, &e->capnodes, nd);
    return e->oom ? NULL : nd;
}

static void node_in(exp_ *e, Onnx__NodeProto *nd, const char *name)
{
    if (!nd || nd->n_input >= NODE_MAX_INPUTS) { e->oom = 1; return; }
    nd->input[nd->n_input++] = ar_str(e, name);
}

static Onnx__AttributeProto *new_attr(exp_ *e, Onnx__NodeProto *nd, const char *name)
{
    if (!nd || nd->n_attribute >= 8) { e->oom = 1; return NULL; }
    Onnx__AttributeProto *a = ar(e, sizeof *a);
    if (!a) return NULL;
    onnx__attribute_proto__init(a);
    a->name = ar_str(e, name);
    a->has_type = 1;
    nd->attribute[nd->n_attribute++] = a;
    return a;
}

static void attr_i(exp_ *e, Onnx__NodeProto *nd, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = new_attr(e, nd, name);
    if (!a) return;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
}

static void attr_f(exp_ *e, Onnx__NodeProto *nd, const char *name, float v)
{
    Onnx__AttributeProto *a = new_attr(e, nd, name);
    if (!a) return;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->has_f = 1;
    a->f = v;
}

/* ints attribute of n copies of v (kernel_shape, strides, pads, ...). */
static void attr_rep(exp_ *e, Onnx__NodeProto *nd, const char *name, int64_t v, int n)
{
    Onnx__AttributeProto *a = new_attr(e, nd, name);
    int64_t *x = ar(e, (size_t)n * sizeof *x);
    if (!a || !x) return;
    for (int i = 0; i < n; i++) x[i] = v;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->ints = x;
    a->n_ints = (size_t)n;
}

/* kernel_shape [kh, kw] and pads [top, left, bottom, right] of a conv or
 * pool spec. */
static void attr_window(exp_ *e, Onnx__NodeProto *nd, const graft_layer_spec *s)
{
    int kh, kw, pads[4];
    graft_layer_window(s, &kh, &kw, pads);
    Onnx__AttributeProto *k = new_attr(e, nd, "kernel_shape");
    int64_t *kv = ar(e, 2 * sizeof *kv);
    if (!k || !kv) return;
    kv[0] = kh, kv[1] = kw;
    k->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    k->ints = kv;
    k->n_ints = 2;
    Onnx__AttributeProto *p = new_attr(e, nd, "pads");
    int64_t *pv = ar(e, 4 * sizeof *pv);
    if (!p || !pv) return;
    for (int i = 0; i < 4; i++) pv[i] = pads[i];
    p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    p->ints = pv;
    p->n_ints = 4;
}

/* Float initializer of the given shape (data copied). */
static void add_init(exp_ *e, const char *name, int ndim, const int64_t *dims, const float *data,
                     size_t n)
{
    Onnx__TensorProto *t = ar(e, sizeof *t);
    int64_t *d = ar(e, (size_t)(ndim ? ndim : 1) * sizeof *d);
    uint8_t *raw = ar(e, n * sizeof(float));
    if (!t || !d || !raw) return;
    onnx__tensor_proto__init(t);
    t->name = ar_str(e, name);
    for (int i = 0; i < ndim; i++) d[i] = dims[i];
    t->dims = d;
    t->n_dims = (size_t)ndim;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    memcpy(raw, data, n * sizeof(float)); /* little-endian host, as ONNX raw_data */
    t->has_raw_data = 1;
    t->raw_data.data = raw;
    t->raw_data.len = n * sizeof(float);
    push_ptr(e, (void ***)&e->inits, &e->ninits, &e->capinits, t);
}

/* Parameter k of node i (malloc'd copy, *n values) or NULL. */
static float *param_of(exp_ *e, int node, int k, size_t *n, int shape[GRAFT_MAX_DIMS], int *ndim)
{
    for (int p = 0; p < e->m->nparams; p++) {
        if (e->m->params[p].node != node || e->m->params[p].idx != k) continue;
        *n = graft_model_param_numel(e->m, p);
        *ndim = graft_model_param_shape(e->m, p, shape);
        float *x = malloc(*n * sizeof *x);
        if (!x) { e->oom = 1; return NULL; }
        if (graft_model_param_get(e->m, p, x, *n) != GRAFT_OK) {
            free(x);
            return NULL;
        }
        return x;
    }
    return NULL;
}

/* Initializer "<node>.<suffix>" from param k; 0 on success. */
static int param_init(exp_ *e, int node, int k, const char *suffix, char *name, size_t namelen)
{
    size_t n;
    int shape[GRAFT_MAX_DIMS], nd;
    float *x = param_of(e, node, k, &n, shape, &nd);
    if (!x) return -1;
    int64_t dims[GRAFT_MAX_DIMS];
    for (int i = 0; i < nd; i++) dims[i] = shape[i];
    snprintf(name, namelen, "%s.%s", e->m->nodes[node].name, suffix);
    add_init(e, name, nd, dims, x, n);
    free(x);
    return 0;
}

static graft_status fail(exp_ *e, graft_status s, const char *what)
{
    if (e->oom) return ctx_fail(e->ctx, GRAFT_ERR_HOST_MEMORY, "export: out of host memory");
    if (s == GRAFT_OK) s = GRAFT_ERR_INTERNAL;
    return ctx_fail(e->ctx, s, "export: %s", what);
}

/* Conv node i with BN node bn folded into its weights (the exporter's own
 * rewrite; an unfolded conv is conv2d_kind's onnx_export). Output tensor
 * out. */
static graft_status emit_conv(exp_ *e, int i, int bn, const char *out)
{
    const node *nd = &e->m->nodes[i];
    const graft_layer_spec *s = &nd->spec;
    char wn[LAYER_NAME_LEN + 16], bname[LAYER_NAME_LEN + 16];
    int has_bias = s->bias;
    {
        size_t nw, nb = 0, nbn[4];
        int shape[GRAFT_MAX_DIMS], ndim, sh2[GRAFT_MAX_DIMS], nd2;
        float *w = param_of(e, i, 0, &nw, shape, &ndim);
        float *b = has_bias ? param_of(e, i, 1, &nb, sh2, &nd2) : NULL;
        float *p[4];
        for (int k = 0; k < 4; k++) p[k] = param_of(e, bn, k, &nbn[k], sh2, &nd2);
        int cout = s->channels;
        float *bias = malloc((size_t)cout * sizeof *bias);
        int ok = w && (!has_bias || b) && p[0] && p[1] && p[2] && p[3] && bias;
        if (ok) {
            /* y = gamma * (conv + b - mean) / sqrt(var + eps) + beta, in double. */
            double eps = e->m->nodes[bn].spec.eps;
            size_t per = nw / (size_t)cout;
            for (int c = 0; c < cout; c++) {
                double sc = p[0][c] / sqrt((double)p[3][c] + eps);
                for (size_t j = 0; j < per; j++) w[(size_t)c * per + j] = (float)(w[(size_t)c * per + j] * sc);
                bias[c] = (float)(((b ? b[c] : 0.0) - p[2][c]) * sc + p[1][c]);
            }
            int64_t dims[GRAFT_MAX_DIMS], bd = cout;
            for (int k = 0; k < ndim; k++) dims[k] = shape[k];
            snprintf(wn, sizeof wn, "%s.weight", nd->name);
            snprintf(bname, sizeof bname, "%s.bias", nd->name);
            add_init(e, wn, ndim, dims, w, nw);
            add_init(e, bname, 1, &bd, bias, (size_t)cout);
            has_bias = 1;
        }
        free(w);
        free(b);
        free(bias);
        for (int k = 0; k < 4; k++) free(p[k]);
        if (!ok) return fail(e, GRAFT_ERR_INTERNAL, "folding batchnorm");
    }
    Onnx__NodeProto *o = add_node(e, "Conv", nd->name, out);
    node_in(e, o, e->m->nodes[nd->in[0]].name);
    node_in(e, o, wn);
    if (has_bias) node_in(e, o, bname);
    attr_window(e, o, s);
    attr_rep(e, o, "strides", s->stride, 2);
    attr_rep(e, o, "dilations", s->dilation, 2);
    attr_i(e, o, "group", s->groups);
    return e->oom ? fail(e, GRAFT_OK, "") : GRAFT_OK;
}

/* ---- the kinds' view (onnx_map.h) */

static exp_ *ex_of(onnx_exporter *ex) { return (exp_ *)ex; }

static const char *api_input_name(onnx_exporter *ex, int k)
{
    exp_ *e = ex_of(ex);
    return e->m->nodes[e->m->nodes[e->cur].in[k]].name;
}

static int api_input_rank(onnx_exporter *ex, int k)
{
    exp_ *e = ex_of(ex);
    return e->rank[e->m->nodes[e->cur].in[k]];
}

static void api_set_rank(onnx_exporter *ex, int rank) { ex_of(ex)->rank[ex_of(ex)->cur] = rank; }

static void api_node(onnx_exporter *ex, const char *op, const char *name, const char *out)
{
    ex_of(ex)->open = add_node(ex_of(ex), op, name, out);
}

static void api_in(onnx_exporter *ex, const char *tensor)
{
    if (ex_of(ex)->open) node_in(ex_of(ex), ex_of(ex)->open, tensor);
}

static void api_attr_int(onnx_exporter *ex, const char *name, int64_t v)
{
    if (ex_of(ex)->open) attr_i(ex_of(ex), ex_of(ex)->open, name, v);
}

static void api_attr_float(onnx_exporter *ex, const char *name, float v)
{
    if (ex_of(ex)->open) attr_f(ex_of(ex), ex_of(ex)->open, name, v);
}

static void api_attr_ints(onnx_exporter *ex, const char *name, int64_t v, int n)
{
    if (ex_of(ex)->open) attr_rep(ex_of(ex), ex_of(ex)->open, name, v, n);
}

static void api_attr_window(onnx_exporter *ex, const graft_layer_spec *s)
{
    if (ex_of(ex)->open) attr_window(ex_of(ex), ex_of(ex)->open, s);
}

static graft_status api_param(onnx_exporter *ex, int k, const char *suffix, char *out,
                              size_t outlen)
{
    exp_ *e = ex_of(ex);
    if (param_init(e, e->cur, k, suffix, out, outlen)) {
        char what[64];
        snprintf(what, sizeof what, "%s parameters", graft_layer_kind_name(e->m->nodes[e->cur].spec.kind));
        return fail(e, GRAFT_ERR_INTERNAL, what);
    }
    return GRAFT_OK;
}

static void api_scalar(onnx_exporter *ex, const char *name, float v)
{
    exp_ *e = ex_of(ex);
    for (size_t i = 0; i < e->ninits; i++)
        if (!strcmp(e->inits[i]->name, name)) return;
    add_init(e, name, 0, NULL, &v, 1);
}

static graft_status api_rank2(onnx_exporter *ex)
{
    exp_ *e = ex_of(ex);
    const node *nd = &e->m->nodes[e->cur];
    return ctx_fail(e->ctx, GRAFT_ERR_UNSUPPORTED, "export: layer '%s' (%s) works on a flattened "
                    "tensor here; graft exports spatial layers only before the first "
                    "flatten/linear", nd->name, graft_layer_kind_name(nd->spec.kind));
}

static void api_input_shape(onnx_exporter *ex, int k, int *c, int *h, int *w)
{
    exp_ *e = ex_of(ex);
    graft_model_node_shape(e->m, e->m->nodes[e->cur].in[k], c, h, w);
}

static void api_ints(onnx_exporter *ex, const char *name, const int64_t *v, int n)
{
    exp_ *e = ex_of(ex);
    for (size_t i = 0; i < e->ninits; i++)
        if (!strcmp(e->inits[i]->name, name)) return;
    Onnx__TensorProto *t = ar(e, sizeof *t);
    int64_t *d = ar(e, sizeof *d), *x = ar(e, (size_t)n * sizeof *x);
    if (!t || !d || !x) return;
    onnx__tensor_proto__init(t);
    t->name = ar_str(e, name);
    d[0] = n;
    t->dims = d;
    t->n_dims = 1;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    memcpy(x, v, (size_t)n * sizeof *x);
    t->int64_data = x;
    t->n_int64_data = (size_t)n;
    push_ptr(e, (void ***)&e->inits, &e->ninits, &e->capinits, t);
}

static void api_attr_list(onnx_exporter *ex, const char *name, const int64_t *v, int n)
{
    exp_ *e = ex_of(ex);
    if (!e->open) return;
    Onnx__AttributeProto *a = new_attr(e, e->open, name);
    int64_t *x = ar(e, (size_t)n * sizeof *x);
    if (!a || !x) return;
    memcpy(x, v, (size_t)n * sizeof *x);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->ints = x;
    a->n_ints = (size_t)n;
}

static const onnx_export_api export_api = {
    api_input_name, api_input_rank, api_set_rank, api_node, api_in, api_attr_int,
    api_attr_float, api_attr_ints, api_param, api_scalar, api_rank2, api_attr_window,
    api_input_shape, api_ints, api_attr_list,
};

/* One graft node: the conv/BatchNorm folding is the exporter's own graph
 * rewrite; everything else is the kind's export callback. */
static graft_status emit_node(exp_ *e, int i)
{
    const node *nd = &e->m->nodes[i];
    e->rank[i] = e->rank[nd->in[0]];
    e->cur = i;
    e->open = NULL;
    if (e->folded_conv[i] && e->rank[i] == 4) return GRAFT_OK; /* emitted at its BN */
    if (e->fold_into[i] >= 0) return emit_conv(e, e->fold_into[i], i, nd->name);
    const layer_kind *kd = layer_kind_of(nd->spec.kind);
    if (!kd || !kd->onnx_export)
        return ctx_fail(e->ctx, GRAFT_ERR_UNSUPPORTED, "export: layer '%s' of kind %s has no ONNX "
                        "mapping", nd->name, graft_layer_kind_name(nd->spec.kind));
    TRY(kd->onnx_export(&e->base, nd->name, &nd->spec, nd->nin));
    return e->oom ? fail(e, GRAFT_OK, "") : GRAFT_OK;
}

/* ValueInfo: float tensor [N, c, h, w] or [N, c]. */
static Onnx__ValueInfoProto *value_info(exp_ *e, const char *name, int rank, int c, int h, int w)
{
    Onnx__ValueInfoProto *v = ar(e, sizeof *v);
    Onnx__TypeProto *tp = ar(e, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = ar(e, sizeof *tt);
    Onnx__TensorShapeProto *sh = ar(e, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dims = ar(e, 4 * sizeof *dims);
    if (!v || !tp || !tt || !sh || !dims) return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    int vals[4] = {0, c, h, w};
    for (int k = 0; k < rank; k++) {
        dims[k] = ar(e, sizeof **dims);
        if (!dims[k]) return NULL;
        onnx__tensor_shape_proto__dimension__init(dims[k]);
        if (k == 0) {
            dims[k]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dims[k]->dim_param = ar_str(e, "N");
        } else {
            dims[k]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dims[k]->dim_value = vals[k];
        }
    }
    sh->dim = dims;
    sh->n_dim = (size_t)rank;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->name = ar_str(e, name);
    v->type = tp;
    return v;
}

/* Which BatchNorms fold into their conv: the BN's input is a conv whose
 * output feeds only that BN. */
static void plan_folds(exp_ *e)
{
    graft_model *m = e->m;
    for (int i = 0; i < m->nnodes; i++) {
        const node *nd = &m->nodes[i];
        if (nd->spec.kind != GRAFT_LAYER_BATCHNORM2D) continue;
        int c = nd->in[0];
        if (m->nodes[c].spec.kind != GRAFT_LAYER_CONV2D || c == m->nnodes - 1) continue;
        int users = 0;
        for (int j = 0; j < m->nnodes; j++)
            for (int k = 0; k < m->nodes[j].nin; k++) users += m->nodes[j].in[k] == c;
        if (users != 1) continue;
        e->fold_into[i] = c;
        e->folded_conv[c] = 1;
    }
}

graft_status graft_onnx_export(graft_model *m, const char *path, int fold_bn)
{
    return graft_onnx_export_meta(m, NULL, path, fold_bn);
}

graft_status graft_onnx_export_meta(graft_model *m, const graft_model_meta *meta, const char *path,
                                    int fold_bn)
{
    if (!m || !path) return GRAFT_ERR_INVALID_ARG;
    onnx_card card = {0};
    exp_ e;
    memset(&e, 0, sizeof e);
    e.base.api = &export_api;
    e.m = m;
    e.ctx = m->ctx;
    if (m->nnodes < 2) return ctx_fail(e.ctx, GRAFT_ERR_INVALID_ARG, "export: the model is empty");
    graft_status s = GRAFT_OK;
    e.rank = calloc((size_t)m->nnodes, sizeof *e.rank);
    e.fold_into = malloc((size_t)m->nnodes * sizeof *e.fold_into);
    e.folded_conv = calloc((size_t)m->nnodes, sizeof *e.folded_conv);
    if (!e.rank || !e.fold_into || !e.folded_conv) {
        e.oom = 1;
        s = fail(&e, GRAFT_OK, "");
        goto done;
    }
    for (int i = 0; i < m->nnodes; i++) e.fold_into[i] = -1;
    if (fold_bn) plan_folds(&e);
    e.rank[0] = 4;
    for (int i = 1; i < m->nnodes && s == GRAFT_OK; i++) s = emit_node(&e, i);
    if (s != GRAFT_OK) goto done;

    Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
    Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
    Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *ops[1] = {&op};
    op.domain = (char *)"";
    op.has_version = 1;
    op.version = ONNX_EXPORT_OPSET;
    mp.has_ir_version = 1;
    mp.ir_version = ONNX_EXPORT_IR_VERSION;
    mp.opset_import = ops;
    mp.n_opset_import = 1;
    char ver[32];
    snprintf(ver, sizeof ver, "%d.%d.%d", GRAFT_VERSION_MAJOR, GRAFT_VERSION_MINOR,
             GRAFT_VERSION_PATCH);
    mp.producer_name = (char *)"graft";
    mp.producer_version = ver;
    mp.graph = &g;
    const node *in0 = &m->nodes[0];
    if (meta) {
        if (onnx_card_build(meta, in0->shape.c, in0->shape.h, in0->shape.w, &card)) {
            s = ctx_fail(e.ctx, GRAFT_ERR_HOST_MEMORY, "export: out of host memory");
            goto done;
        }
        mp.metadata_props = card.ptr;
        mp.n_metadata_props = (size_t)card.n;
    }
    g.name = (char *)"graft";
    g.node = e.nodes;
    g.n_node = e.nnodes;
    g.initializer = e.inits;
    g.n_initializer = e.ninits;
    const node *in = &m->nodes[0], *last = &m->nodes[m->nnodes - 1];
    Onnx__ValueInfoProto *vin = value_info(&e, in->name, 4, in->shape.c, in->shape.h, in->shape.w);
    Onnx__ValueInfoProto *vout = value_info(&e, last->name, e.rank[m->nnodes - 1], last->shape.c,
                                            last->shape.h, last->shape.w);
    if (!vin || !vout || e.oom) {
        s = fail(&e, GRAFT_OK, "");
        goto done;
    }
    g.input = &vin;
    g.n_input = 1;
    g.output = &vout;
    g.n_output = 1;
    size_t n = onnx__model_proto__get_packed_size(&mp);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        s = ctx_fail(e.ctx, GRAFT_ERR_HOST_MEMORY, "export: out of host memory (%zu bytes)", n);
        goto done;
    }
    size_t w = onnx__model_proto__pack(&mp, buf);
    int err = w == n ? file_write_atomic(path, buf, n) : -1;
    free(buf);
    if (err)
        s = ctx_fail(e.ctx, GRAFT_ERR_IO, "%s: cannot write: %s", path,
                     err > 0 ? strerror(err) : "packing failed");
done:
    onnx_card_free(&card);
    for (size_t i = 0; i < e.nmem; i++) free(e.mem[i]);
    free(e.mem);
    free(e.nodes);
    free(e.inits);
    free(e.rank);
    free(e.fold_into);
    free(e.folded_conv);
    return s;
}
