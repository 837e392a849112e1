/* OpenCL platform/device enumeration and the device selector rules. */
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_error.h"
#include "ctx.h"
#include "device.h"
#include "error.h"

static void get_str(cl_device_id d, cl_device_info what, char *dst, size_t n)
{
    dst[0] = '\0';
    if (clGetDeviceInfo(d, what, n, dst, NULL) != CL_SUCCESS) dst[0] = '\0';
    dst[n - 1] = '\0';
}

void device_query(cl_platform_id plat, cl_device_id dev, int index,
                  graft_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->index = index;
    get_str(dev, CL_DEVICE_NAME, info->name, sizeof info->name);
    get_str(dev, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    get_str(dev, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    get_str(dev, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version,
            sizeof info->opencl_c_version);
    if (clGetPlatformInfo(plat, CL_PLATFORM_NAME, sizeof info->platform,
                          info->platform, NULL) != CL_SUCCESS)
        info->platform[0] = '\0';
    info->platform[sizeof info->platform - 1] = '\0';

    cl_device_type t = 0;
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof t, &t, NULL);
    info->type = (t & CL_DEVICE_TYPE_GPU)           ? GRAFT_DEVICE_GPU
                 : (t & CL_DEVICE_TYPE_CPU)         ? GRAFT_DEVICE_CPU
                 : (t & CL_DEVICE_TYPE_ACCELERATOR) ? GRAFT_DEVICE_ACCELERATOR
                                                    : GRAFT_DEVICE_OTHER;
    cl_uint cu = 0;
    clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    info->compute_units = cu;
    cl_ulong g = 0, a = 0;
    clGetDeviceInfo(dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof g, &g, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof a, &a, NULL);
    info->global_mem_bytes = g;
    info->max_alloc_bytes = a;

    size_t len = 0;
    if (clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, 0, NULL, &len) == CL_SUCCESS && len) {
        char *ext = malloc(len + 1);
        if (ext && clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, len, ext, NULL) == CL_SUCCESS) {
            ext[len] = '\0';
            info->fp16 = strstr(ext, "cl_khr_fp16") != NULL;
            info->fp64 = strstr(ext, "cl_khr_fp64") != NULL;
        }
        free(ext);
    }
}

const char *device_type_name(graft_device_type t)
{
    switch (t) {
    case GRAFT_DEVICE_CPU: return "CPU";
    case GRAFT_DEVICE_GPU: return "GPU";
    case GRAFT_DEVICE_ACCELERATOR: return "accelerator";
    default: return "other";
    }
}

/* Why the ICD loader found no platform: loads each driver registered in
 * /etc/OpenCL/vendors as the loader does and reports the first failure
 * (dlerror's text: a missing library, no address space under ulimit -v). */
static void icd_reason(char *out, size_t len)
{
    static const char vendors[] = "/etc/OpenCL/vendors";
    snprintf(out, len, "no driver is registered in %s", vendors);
    DIR *d = opendir(vendors);
    if (!d) return;
    struct dirent *e;
    int registered = 0;
    while ((e = readdir(d))) {
        size_t L = strlen(e->d_name);
        if (L < 5 || strcmp(e->d_name + L - 4, ".icd")) continue;
        char path[512], lib[512];
        snprintf(path, sizeof path, "%s/%s", vendors, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        int got = fgets(lib, sizeof lib, f) != NULL;
        fclose(f);
        if (!got) continue;
        lib[strcspn(lib, "\r\n")] = '\0';
        if (!registered++) snprintf(out, len, "every driver in %s loads", vendors);
        void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
        if (h) {
            dlclose(h);
            continue;
        }
        const char *why = dlerror();
        if (snprintf(out, len, "%s names %s, which fails to load: %s", path, lib, why ? why : "?") < 0)
            out[0] = '\0';
        break;
    }
    closedir(d);
}

graft_status device_enumerate(device_handle **out, int *count, char *err, size_t errlen)
{
    *out = NULL;
    *count = 0;
    cl_uint np = 0;
    cl_int rc = clGetPlatformIDs(0, NULL, &np);
    if (rc != CL_SUCCESS || np == 0) {
        char why[1024];
        icd_reason(why, sizeof why);
        return error_set(err, errlen, GRAFT_ERR_NO_DEVICE,
                         "the OpenCL driver failed to load (clGetPlatformIDs: %s (%d)): %s; "
                         "without a driver, install one: 'apt-get install pocl-opencl-icd' for "
                         "the CPU, or your GPU vendor's OpenCL ICD", cl_error_name(rc), rc, why);
    }
    cl_platform_id *plats = calloc(np, sizeof *plats);
    if (!plats)
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY,
                         "out of host memory listing OpenCL platforms");
    clGetPlatformIDs(np, plats, NULL);
    device_handle *list = NULL;
    int n = 0;
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS || nd == 0)
            continue;
        cl_device_id *devs = calloc(nd, sizeof *devs);
        device_handle *grown = realloc(list, (size_t)(n + (int)nd) * sizeof *list);
        if (!devs || !grown) {
            free(devs);
            free(grown ? grown : list);
            free(plats);
            return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY,
                             "out of host memory listing OpenCL devices");
        }
        list = grown;
        clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL);
        for (cl_uint d = 0; d < nd; d++) {
            list[n].platform = plats[p];
            list[n].device = devs[d];
            device_query(plats[p], devs[d], n, &list[n].info);
            n++;
        }
        free(devs);
    }
    free(plats);
    if (n == 0) {
        free(list);
        return error_set(err, errlen, GRAFT_ERR_NO_DEVICE,
                         "OpenCL platforms exist but expose no device: check the driver "
                         "installation (for the CPU: 'apt-get install pocl-opencl-icd'; PoCL "
                         "also lists no device when its cache directory, $POCL_CACHE_DIR or "
                         "$XDG_CACHE_HOME/pocl, is unusable)");
    }
    *out = list;
    *count = n;
    return GRAFT_OK;
}

graft_status graft_devices_list(graft_device_info **out, int *count, char *err, size_t errlen)
{
    if (!out || !count)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "graft_devices_list: NULL output pointer");
    device_handle *list;
    int n;
    graft_status s = device_enumerate(&list, &n, err, errlen);
    if (s != GRAFT_OK) {
        *out = NULL;
        *count = 0;
        return s;
    }
    graft_device_info *infos = calloc((size_t)n, sizeof *infos);
    if (!infos) {
        free(list);
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    }
    for (int i = 0; i < n; i++) infos[i] = list[i].info;
    free(list);
    *out = infos;
    *count = n;
    return GRAFT_OK;
}

static int icontains(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    for (const char *h = hay; *h; h++) {
        size_t i = 0;
        while (i < nl && h[i] &&
               tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == nl) return 1;
    }
    return nl == 0;
}

int device_select(const device_handle *list, int n, const char *spec)
{
    if (!spec || !*spec) {
        for (int i = 0; i < n; i++)
            if (list[i].info.type == GRAFT_DEVICE_GPU) return i;
        for (int i = 0; i < n; i++)
            if (list[i].info.type == GRAFT_DEVICE_CPU) return i;
        return n > 0 ? 0 : -1;
    }
    char *end;
    long idx = strtol(spec, &end, 10);
    if (*end == '\0') return (idx >= 0 && idx < n) ? (int)idx : -1;
    for (int i = 0; i < n; i++) {
        const graft_device_info *d = &list[i].info;
        if (icontains(d->name, spec) || icontains(d->vendor, spec) ||
            icontains(d->platform, spec) || icontains(device_type_name(d->type), spec))
            return i;
    }
    return -1;
}
