/* A conv's weights rearranged once for an inference kernel and kept while
 * the weights keep their version (param.version): Winograd's transformed
 * weights (conv_winograd.h) or conv_tall_cpu's B operand laid out as rows
 * of output channels. Inference then never repeats the rearrangement,
 * which is what made Winograd lose on ResNet-18's 7x7 planes and at batch
 * 1, and what made conv_tall_cpu gather each weight stripe on every call.
 * Forwards of trained layers do not use it (their weights change every
 * step, and the copy would only add memory); frozen ones in fine-tuning
 * do (fwd_io.frozen). */
#ifndef GRAFT_CONV_PACKED_H
#define GRAFT_CONV_PACKED_H

#include "layer.h"

typedef enum packed_kind {
    PACKED_NONE,
    PACKED_WINOGRAD, /* winograd_weights_cpu's u, flip 0 */
    PACKED_TALL,     /* B by 32-channel stripes: [stripe][kidx][32] */
    PACKED_KINDS
} packed_kind;

typedef struct packed_weights {
    cl_mem buf; /* owned */
    size_t bytes;
    packed_kind kind;      /* what buf holds; PACKED_NONE: nothing valid */
    unsigned long version; /* of the weights it was made from */
} packed_weights;

/* Whether pk holds w packed as kind, up to date. */
int packed_current(const packed_weights *pk, const param *w, packed_kind kind);

/* A buffer of at least bytes for w packed as kind (grown when too small),
 * marked invalid until packed_done: the caller fills it, then calls that. */
graft_status packed_prepare(graft_ctx *ctx, packed_weights *pk, size_t bytes, const char *layer,
                            cl_mem *out);
/* Marks pk as holding w packed as kind (after the fill was enqueued). */
void packed_done(packed_weights *pk, const param *w, packed_kind kind);

void packed_release(packed_weights *pk);

#endif
