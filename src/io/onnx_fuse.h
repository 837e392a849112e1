/* Multi-node patterns of the ONNX importer. Before any node is mapped, the
 * importer runs every matcher listed in onnx_fuse.def over a working copy
 * of the graph's node list; a matcher may replace a connected set of ONNX
 * nodes by one or more synthetic nodes (e.g. x * Sigmoid(x) by one node of
 * op "SiLU" in the private domain "graft"), which a layer kind then imports
 * like any other op (it lists "graft:SiLU" in its onnx_ops). The proto is
 * never modified: the working list borrows its nodes and owns only the
 * synthetic ones. Host-only. */
#ifndef GRAFT_ONNX_FUSE_H
#define GRAFT_ONNX_FUSE_H
#include <stddef.h>
#include <stdint.h>

#include "graft.h"
#include "onnx_common.h"

/* Domain of the synthetic nodes; a kind lists their ops as "graft:<op>". */
#define ONNX_FUSE_DOMAIN "graft"

typedef struct onnx_fuse_graph {
    const Onnx__GraphProto *g;  /* initializers, graph inputs and outputs (borrowed) */
    Onnx__NodeProto **node;     /* the working node list, in topological order */
    size_t n_node;
    void **mem;                 /* everything the synthetic nodes own */
    size_t n_mem, cap_mem;
    size_t resume;              /* index of the first node the last replace added */
    int oom;
} onnx_fuse_graph;

/* Fills fg with g's nodes and applies every pattern of onnx_fuse.def, in
 * the def's order, each in one scan over the list. GRAFT_ERR_HOST_MEMORY
 * (message in err) is the only failure: a pattern that does not match
 * leaves its nodes to the per-node mapping. fg must be freed with
 * onnx_fuse_free in all cases. */
graft_status onnx_fuse_run(onnx_fuse_graph *fg, const Onnx__GraphProto *g, char *err,
                           size_t errlen);
void onnx_fuse_free(onnx_fuse_graph *fg);

/* One line per pattern of onnx_fuse.def: "x * Sigmoid(x) -> SiLU", in the
 * def's order; NULL past the end. For the importer's list of what it reads. */
const char *onnx_fuse_pattern_describe(int k);

/* ---- for the matchers (src/io/onnx_fuse_<pattern>.c) */

/* Number of node inputs and graph outputs that read value name. */
int onnx_fuse_uses(const onnx_fuse_graph *fg, const char *name);
/* Index of the node that outputs name, or -1 (graph input, initializer). */
int onnx_fuse_producer(const onnx_fuse_graph *fg, const char *name);
/* 1 when name is an initializer or a Constant node's output. */
int onnx_fuse_is_const(const onnx_fuse_graph *fg, const char *name);
/* 1 when nd is op in the default ONNX domain with nin inputs and one output
 * (nin < 0: any number of inputs). */
int onnx_fuse_is_op(const Onnx__NodeProto *nd, const char *op, int nin);
/* Input k of nd ("" when absent). */
const char *onnx_fuse_in(const Onnx__NodeProto *nd, size_t k);
/* Attribute of nd, or NULL. */
const Onnx__AttributeProto *onnx_fuse_attr(const Onnx__NodeProto *nd, const char *name);
float onnx_fuse_attr_float(const Onnx__NodeProto *nd, const char *name, float def);
int64_t onnx_fuse_attr_int(const Onnx__NodeProto *nd, const char *name, int64_t def);

/* A synthetic node (owned by fg) of op in domain dom ("" for the default
 * domain, else ONNX_FUSE_DOMAIN) named name, with nin inputs and one output
 * out; NULL (fg->oom set) when out of memory. */
Onnx__NodeProto *onnx_fuse_new_node(onnx_fuse_graph *fg, const char *dom, const char *op,
                                    const char *name, int nin, const char *const *in,
                                    const char *out);
void onnx_fuse_set_float(onnx_fuse_graph *fg, Onnx__NodeProto *nd, const char *name, float v);
void onnx_fuse_set_int(onnx_fuse_graph *fg, Onnx__NodeProto *nd, const char *name, int64_t v);
/* A value name no node, initializer or graph input/output uses:
 * "<base>:graft<k>" (owned by fg). */
const char *onnx_fuse_new_value(onnx_fuse_graph *fg, const char *base);

/* Removes the nodes at the nrm indices in rm (the pattern; the last of them
 * in list order is its root, whose outputs are the pattern's) and puts the
 * nadd synthetic nodes add in the root's place, in that order. Returns 0,
 * or -1 when out of memory. Inputs of the pattern are produced before its
 * root, so the list stays topologically sorted. */
int onnx_fuse_replace(onnx_fuse_graph *fg, const size_t *rm, int nrm,
                      Onnx__NodeProto *const *add, int nadd);

/* A matcher looks at the pattern whose root (last node) is fg->node[root]:
 * it returns 1 after replacing it, 0 when the pattern is not there (it
 * changed nothing), -1 when out of memory. It must check that every value
 * inside the pattern has no reader outside it (onnx_fuse_uses). */
typedef int (*onnx_fuse_matcher)(onnx_fuse_graph *fg, size_t root);

#define FUSE_PATTERN(name, text) int onnx_fuse_##name(onnx_fuse_graph *fg, size_t root);
#include "onnx_fuse.def"
#undef FUSE_PATTERN
#endif
