/* Internal view of an optimizer, for checkpoints. */
#ifndef GRAFT_OPTIMIZER_H
#define GRAFT_OPTIMIZER_H
#include "model.h"

typedef struct opt_slot {
    int param;        /* public parameter index */
    cl_mem m, v;      /* SGD: m = momentum buffer; AdamW: first/second moments */
} opt_slot;

struct graft_optimizer {
    graft_model *m;   /* borrowed */
    graft_opt_params p;
    long steps;
    float last_lr;
    opt_slot *slots;
    int nslots;
};
#endif
