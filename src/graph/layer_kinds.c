/* Lookups over the registry of layer kinds (layer_kinds.def). */
#include <string.h>

#include "layer_kind.h"

#define LAYER_KIND(k, desc) extern const layer_kind desc;
#include "layer_kinds.def"
#undef LAYER_KIND

static const layer_kind *const kinds[GRAFT_LAYER_KIND_COUNT] = {
#define LAYER_KIND(k, desc) [k] = &desc,
#include "layer_kinds.def"
#undef LAYER_KIND
};

const layer_kind *layer_kind_of(graft_layer_kind k)
{
    if ((int)k < 0 || k >= GRAFT_LAYER_KIND_COUNT) return NULL;
    return kinds[k];
}

const layer_kind *layer_kind_named(const char *name)
{
    for (int k = 0; k < GRAFT_LAYER_KIND_COUNT; k++)
        if (kinds[k] && !strcmp(kinds[k]->name, name)) return kinds[k];
    return NULL;
}

const layer_kind *layer_kind_for_onnx(const char *op)
{
    for (int k = 0; k < GRAFT_LAYER_KIND_COUNT; k++)
        for (const char *const *o = kinds[k] ? kinds[k]->onnx_ops : NULL; o && *o; o++)
            if (!strcmp(*o, op)) return kinds[k];
    return NULL;
}

int layer_bn_fusible(const graft_layer_spec *s)
{
    const layer_kind *d = layer_kind_of(s->kind);
    return d && d->bn_fusible ? d->bn_fusible(s) : 0;
}

const char *graft_layer_kind_name(graft_layer_kind k)
{
    const layer_kind *d = layer_kind_of(k);
    return d ? d->name : NULL;
}
