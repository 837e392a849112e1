/* Builds an OpenCL program for one device, with an on-disk binary cache so
 * that a second process on the same device compiles nothing. Knows nothing
 * of graft_ctx: the context hands it what it needs and keeps the result. */
#ifndef GRAFT_PROGRAM_CACHE_H
#define GRAFT_PROGRAM_CACHE_H
#include <stddef.h>

#include "cl_error.h"
#include "graft.h"

typedef struct program_request {
    cl_context context;
    cl_device_id device;
    const graft_device_info *info; /* name, vendor, platform, driver: part of the cache key */
    int nsources;
    const char *const *sources;
    const char *options;           /* build options, part of the cache key */
    const char *cache_dir;         /* NULL or "" = no disk cache */
} program_request;

typedef struct program_result {
    cl_program program; /* owned by the caller */
    int from_cache;     /* loaded from the disk cache rather than compiled */
    char note[1400];    /* non-fatal trouble (cache not writable); "" when none */
} program_result;

/* Builds rq's sources (or loads the cached binary). On failure err holds
 * the device's name, the OpenCL status and the start of the build log. */
graft_status program_cache_build(const program_request *rq, program_result *out, char *err,
                                 size_t errlen);
#endif
