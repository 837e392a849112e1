/* Device enumeration shared by the device listing and context creation. */
#ifndef GRAFT_DEVICE_H
#define GRAFT_DEVICE_H
#include "ctx.h"

typedef struct device_handle {
    cl_platform_id platform;
    cl_device_id device;
    graft_device_info info;
} device_handle;

/* Every device of every platform; caller frees *out with free(). */
graft_status device_enumerate(device_handle **out, int *count, char *err, size_t errlen);
/* Index chosen by a selector (see graft_ctx_params.device), or -1. */
int device_select(const device_handle *list, int n, const char *spec);
const char *device_type_name(graft_device_type t);
#endif
