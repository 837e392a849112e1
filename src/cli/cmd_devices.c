/* graft devices: the OpenCL devices visible through the ICD loader. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "env_params.h"
#include "graft.h"

static const char *type_name(graft_device_type t)
{
    switch (t) {
    case GRAFT_DEVICE_CPU: return "CPU";
    case GRAFT_DEVICE_GPU: return "GPU";
    case GRAFT_DEVICE_ACCELERATOR: return "ACC";
    default: return "other";
    }
}

int cmd_devices(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: graft devices\n\nLists every OpenCL device: index, name, vendor, type,\n"
                   "compute units, global and max-allocation memory, fp16/fp64 support and\n"
                   "OpenCL C version. Use the index or a name substring with --device or\n"
                   "GRAFT_DEVICE; the default is the first GPU, else the first CPU.\n");
            return 0;
        }
        fprintf(stderr, "graft devices: unknown option '%s' (see --help)\n", argv[i]);
        return EXIT_USAGE;
    }
    graft_device_info *devs;
    int n;
    char err[512];
    if (graft_cache_env_check(err, sizeof err)) fprintf(stderr, "graft devices: %s\n", err);
    if (graft_devices_list(&devs, &n, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "graft devices: %s\n", err);
        return 1;
    }
    printf("%-3s %-40s %-16s %-5s %4s %10s %10s %4s %4s %s\n", "idx", "name", "vendor", "type",
           "CUs", "global", "max-alloc", "fp16", "fp64", "OpenCL C");
    for (int i = 0; i < n; i++) {
        const graft_device_info *d = &devs[i];
        printf("%-3d %-40.40s %-16.16s %-5s %4u %7.1f GiB %7.1f GiB %4s %4s %s\n", d->index,
               d->name, d->vendor, type_name(d->type), d->compute_units,
               (double)d->global_mem_bytes / (1 << 30), (double)d->max_alloc_bytes / (1 << 30),
               d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no", d->opencl_c_version);
    }
    graft_free(devs);
    return 0;
}
