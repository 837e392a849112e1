/* Build options of the kernel program: language version, device type and
 * every tunable of kernel_options.h as a -D definition. */
#include <stdio.h>

#include "kernel_options.h"

/* Appends to buf[0..len) at *at, tracking the length needed. */
static void add(char *buf, size_t len, size_t *at, const char *name, int value)
{
    char one[64];
    int n = value < 0 ? snprintf(one, sizeof one, "%s", name)
                      : snprintf(one, sizeof one, " -D%s=%d", name, value);
    if (n < 0) return;
    if (*at < len) snprintf(buf + *at, len - *at, "%s", one);
    *at += (size_t)n;
}

size_t kernel_build_options(graft_device_type type, char *buf, size_t len)
{
    size_t at = 0;
    if (len) buf[0] = '\0';
    add(buf, len, &at, "-cl-std=CL1.2 -cl-mad-enable", -1);
    add(buf, len, &at, type == GRAFT_DEVICE_GPU ? "GRAFT_DEVICE_GPU" : "GRAFT_DEVICE_CPU", 1);
#define X(name, value) add(buf, len, &at, #name, value);
    KERNEL_TUNABLES(X)
#undef X
    return at;
}
