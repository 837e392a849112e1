/* The pattern pass of the ONNX importer (onnx_fuse.h): the working node
 * list, the helpers the matchers share, and the driver that applies the
 * patterns of onnx_fuse.def. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "onnx_fuse.h"

static const struct {
    onnx_fuse_matcher match;
    const char *text;
} patterns[] = {
#define FUSE_PATTERN(name, text) {onnx_fuse_##name, text},
#include "onnx_fuse.def"
#undef FUSE_PATTERN
};
#define NPATTERNS (sizeof patterns / sizeof patterns[0])

const char *onnx_fuse_pattern_describe(int k)
{
    return k >= 0 && (size_t)k < NPATTERNS ? patterns[k].text : NULL;
}

/* ---------------------------------------------------------------- memory */

static void *fg_alloc(onnx_fuse_graph *fg, size_t n)
{
    if (fg->oom) return NULL;
    if (fg->n_mem == fg->cap_mem) {
        size_t cap = fg->cap_mem ? 2 * fg->cap_mem : 64;
        void **nm = realloc(fg->mem, cap * sizeof *nm);
        if (!nm) {
            fg->oom = 1;
            return NULL;
        }
        fg->mem = nm;
        fg->cap_mem = cap;
    }
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fg->oom = 1;
        return NULL;
    }
    fg->mem[fg->n_mem++] = p;
    return p;
}

static char *fg_str(onnx_fuse_graph *fg, const char *s)
{
    char *p = fg_alloc(fg, strlen(s) + 1);
    if (p) strcpy(p, s);
    return p;
}

void onnx_fuse_free(onnx_fuse_graph *fg)
{
    if (!fg) return;
    for (size_t i = 0; i < fg->n_mem; i++) free(fg->mem[i]);
    free(fg->mem);
    free(fg->node);
    memset(fg, 0, sizeof *fg);
}

/* ---------------------------------------------------------------- queries */

int onnx_fuse_uses(const onnx_fuse_graph *fg, const char *name)
{
    int n = 0;
    for (size_t i = 0; i < fg->n_node; i++)
        for (size_t k = 0; k < fg->node[i]->n_input; k++)
            if (!strcmp(onnx_str(fg->node[i]->input[k]), name)) n++;
    for (size_t i = 0; i < fg->g->n_output; i++)
        if (!strcmp(onnx_str(fg->g->output[i]->name), name)) n++;
    return n;
}

int onnx_fuse_producer(const onnx_fuse_graph *fg, const char *name)
{
    if (!*name) return -1;
    for (size_t i = 0; i < fg->n_node; i++)
        for (size_t k = 0; k < fg->node[i]->n_output; k++)
            if (!strcmp(onnx_str(fg->node[i]->output[k]), name)) return (int)i;
    return -1;
}

int onnx_fuse_is_const(const onnx_fuse_graph *fg, const char *name)
{
    for (size_t i = 0; i < fg->g->n_initializer; i++)
        if (!strcmp(onnx_str(fg->g->initializer[i]->name), name)) return 1;
    int p = onnx_fuse_producer(fg, name);
    /* torch shares equal weights through Identity nodes of one initializer. */
    if (p >= 0 && onnx_fuse_is_op(fg->node[p], "Identity", 1))
        return onnx_fuse_is_const(fg, onnx_fuse_in(fg->node[p], 0));
    return p >= 0 && onnx_fuse_is_op(fg->node[p], "Constant", 0);
}

int onnx_fuse_is_op(const Onnx__NodeProto *nd, const char *op, int nin)
{
    const char *dom = onnx_str(nd->domain);
    return (!*dom || !strcmp(dom, "ai.onnx")) && !strcmp(onnx_str(nd->op_type), op) &&
           (nin < 0 || nd->n_input == (size_t)nin) && nd->n_output == 1 &&
           *onnx_str(nd->output[0]);
}

const char *onnx_fuse_in(const Onnx__NodeProto *nd, size_t k)
{
    return k < nd->n_input ? onnx_str(nd->input[k]) : "";
}

const Onnx__AttributeProto *onnx_fuse_attr(const Onnx__NodeProto *nd, const char *name)
{
    for (size_t i = 0; i < nd->n_attribute; i++)
        if (!strcmp(onnx_str(nd->attribute[i]->name), name)) return nd->attribute[i];
    return NULL;
}

float onnx_fuse_attr_float(const Onnx__NodeProto *nd, const char *name, float def)
{
    const Onnx__AttributeProto *a = onnx_fuse_attr(nd, name);
    return a && a->has_f ? a->f : def;
}

int64_t onnx_fuse_attr_int(const Onnx__NodeProto *nd, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = onnx_fuse_attr(nd, name);
    return a && a->has_i ? a->i : def;
}

/* ---------------------------------------------------------------- building */

Onnx__NodeProto *onnx_fuse_new_node(onnx_fuse_graph *fg, const char *dom, const char *op,
                                    const char *name, int nin, const char *const *in,
                                    const char *out)
{
    Onnx__NodeProto *nd = fg_alloc(fg, sizeof *nd);
    char **ins = fg_alloc(fg, (size_t)(nin > 0 ? nin : 1) * sizeof *ins);
    char **outs = fg_alloc(fg, sizeof *outs);
    /* Room for a few attributes (onnx_fuse_set_*). */
    Onnx__AttributeProto **attrs = fg_alloc(fg, 8 * sizeof *attrs);
    if (!nd || !ins || !outs || !attrs) return NULL;
    onnx__node_proto__init(nd);
    nd->domain = fg_str(fg, dom);
    nd->op_type = fg_str(fg, op);
    nd->name = fg_str(fg, name);
    for (int k = 0; k < nin; k++) ins[k] = fg_str(fg, in[k]);
    outs[0] = fg_str(fg, out);
    nd->input = ins;
    nd->n_input = (size_t)(nin > 0 ? nin : 0);
    nd->output = outs;
    nd->n_output = 1;
    nd->attribute = attrs;
    return fg->oom ? NULL : nd;
}

static Onnx__AttributeProto *new_attr(onnx_fuse_graph *fg, Onnx__NodeProto *nd, const char *name)
{
    if (!nd || nd->n_attribute >= 8) {
        fg->oom = 1;
        return NULL;
    }
    Onnx__AttributeProto *a = fg_alloc(fg, sizeof *a);
    if (!a) return NULL;
    onnx__attribute_proto__init(a);
    a->name = fg_str(fg, name);
    a->has_type = 1;
    nd->attribute[nd->n_attribute++] = a;
    return a;
}

void onnx_fuse_set_float(onnx_fuse_graph *fg, Onnx__NodeProto *nd, const char *name, float v)
{
    Onnx__AttributeProto *a = new_attr(fg, nd, name);
    if (!a) return;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    a->has_f = 1;
    a->f = v;
}

void onnx_fuse_set_int(onnx_fuse_graph *fg, Onnx__NodeProto *nd, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = new_attr(fg, nd, name);
    if (!a) return;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
}

static int name_taken(const onnx_fuse_graph *fg, const char *name)
{
    if (onnx_fuse_uses(fg, name) || onnx_fuse_producer(fg, name) >= 0) return 1;
    for (size_t i = 0; i < fg->g->n_initializer; i++)
        if (!strcmp(onnx_str(fg->g->initializer[i]->name), name)) return 1;
    for (size_t i = 0; i < fg->g->n_input; i++)
        if (!strcmp(onnx_str(fg->g->input[i]->name), name)) return 1;
    return 0;
}

const char *onnx_fuse_new_value(onnx_fuse_graph *fg, const char *base)
{
    size_t len = strlen(base) + 32;
    char *s = fg_alloc(fg, len);
    if (!s) return NULL;
    for (int k = 1;; k++) {
        snprintf(s, len, "%s:graft%d", base, k);
        if (!name_taken(fg, s)) return s;
    }
}

int onnx_fuse_replace(onnx_fuse_graph *fg, const size_t *rm, int nrm,
                      Onnx__NodeProto *const *add, int nadd)
{
    if (fg->oom || nrm < 1) return -1;
    size_t root = rm[0];
    for (int k = 1; k < nrm; k++)
        if (rm[k] > root) root = rm[k];
    size_t need = fg->n_node - (size_t)nrm + (size_t)nadd;
    Onnx__NodeProto **nl = malloc((need ? need : 1) * sizeof *nl);
    if (!nl) {
        fg->oom = 1;
        return -1;
    }
    size_t j = 0;
    for (size_t i = 0; i < fg->n_node; i++) {
        int drop = 0;
        for (int k = 0; k < nrm; k++) drop |= rm[k] == i;
        if (i == root)
            for (int k = 0; k < nadd; k++) nl[j++] = add[k];
        if (!drop) nl[j++] = fg->node[i];
    }
    free(fg->node);
    fg->node = nl;
    fg->n_node = j;
    fg->resume = root - (size_t)(nrm - 1);
    return 0;
}

/* ---------------------------------------------------------------- driver */

graft_status onnx_fuse_run(onnx_fuse_graph *fg, const Onnx__GraphProto *g, char *err,
                           size_t errlen)
{
    memset(fg, 0, sizeof *fg);
    fg->g = g;
    fg->node = malloc((g->n_node ? g->n_node : 1) * sizeof *fg->node);
    if (!fg->node) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < g->n_node; i++) fg->node[i] = g->node[i];
    fg->n_node = g->n_node;
    /* Each pattern over the whole list, in order; after a replacement the
     * scan goes on at the first synthetic node (the nodes before it did not
     * match and are unchanged). */
    for (size_t p = 0; p < NPATTERNS; p++)
        for (size_t i = 0; i < fg->n_node; i++) {
            int r = patterns[p].match(fg, i);
            if (r < 0 || fg->oom)
                return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
            if (r > 0) i = fg->resume - 1; /* unsigned wrap at 0: the loop's ++ lands on it */
        }
    return GRAFT_OK;
}
