/* Buffer sharing for inference activations: node outputs whose lifetimes
 * do not overlap share one buffer. An inference forward needs a node's
 * output only from the step that writes it to the last step that reads
 * it, so MobileNetV2 at 224 holds about a fifth of the bytes of one buffer
 * per node (docs/engine.md, "Memory"). Pure bookkeeping: model.c builds
 * the lifetimes from the forward's schedule and owns the buffers. */
#ifndef GRAFT_ACT_PLAN_H
#define GRAFT_ACT_PLAN_H
#include <stddef.h>

/* One value (a node's output) of a forward. */
typedef struct act_value {
    size_t numel; /* floats per sample */
    int def;      /* step that writes it; -1: never written (no buffer) */
    int last;     /* last step that reads it, >= def */
} act_value;

/* Gives every written value a slot so that values in one slot have
 * disjoint [def, last] step ranges (a step's reads and its write never
 * share a buffer): largest values first, each into the smallest slot free
 * over its range, else a new slot, whose size is that value's. slot[i] is
 * value i's slot (-1 for unwritten ones); slot_numel (room for nv entries)
 * receives the slots' sizes. Returns the number of slots, or -1 when out
 * of host memory. */
int act_plan_assign(const act_value *v, int nv, int *slot, size_t *slot_numel);
#endif
