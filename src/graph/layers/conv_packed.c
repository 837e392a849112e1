/* The packed-weights cache of a conv (conv_packed.h). */
#include "conv_packed.h"

#include <stdio.h>

int packed_current(const packed_weights *pk, const param *w, packed_kind kind)
{
    return pk->kind == kind && kind != PACKED_NONE && pk->version == w->version;
}

graft_status packed_prepare(graft_ctx *ctx, packed_weights *pk, size_t bytes, const char *layer,
                            cl_mem *out)
{
    pk->kind = PACKED_NONE;
    char what[128];
    snprintf(what, sizeof what, "packed weights of conv2d '%s'", layer);
    TRY(ctx_grow(ctx, &pk->buf, &pk->bytes, bytes, what));
    *out = pk->buf;
    return GRAFT_OK;
}

void packed_done(packed_weights *pk, const param *w, packed_kind kind)
{
    pk->kind = kind;
    pk->version = w->version;
}

void packed_release(packed_weights *pk)
{
    if (pk->buf) clReleaseMemObject(pk->buf);
    *pk = (packed_weights){0};
}
