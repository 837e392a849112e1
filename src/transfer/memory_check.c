/* Refusing a batch the device cannot hold, before allocating it
 * (graft_train.h): PoCL aborts the process when an allocation fails late,
 * GPUs fail with CL_MEM_OBJECT_ALLOCATION_FAILURE mid-run. */
#include <stdio.h>

#include "ctx.h"
#include "error.h"
#include "graft_train.h"
#include "memory_check.h"

#define MAX_BATCH 65536

static double total_bytes(const graft_memory_estimate *e, int training)
{
    return training ? e->train_activations + e->train_parameters + e->train_scratch
                    : e->infer_activations + e->infer_parameters + e->infer_scratch;
}

/* The node with the largest output (per image), and that size in bytes. */
static int largest_node(const graft_model *m, double *bytes)
{
    int best = 0;
    *bytes = 0;
    for (int i = 0; i < graft_model_num_nodes(m); i++) {
        int c, h, w;
        graft_model_node_shape(m, i, &c, &h, &w);
        double b = (double)c * h * w * 4;
        if (b > *bytes) {
            *bytes = b;
            best = i;
        }
    }
    return best;
}

static int fits(const graft_model *m, int batch, int training, graft_opt_kind opt,
                const graft_device_info *d, double node_bytes, double param_bytes)
{
    graft_memory_estimate e = graft_model_memory_estimate(m, batch, opt);
    return total_bytes(&e, training) <= 0.9 * (double)d->global_mem_bytes &&
           node_bytes * batch <= (double)d->max_alloc_bytes && param_bytes <= (double)d->max_alloc_bytes;
}

static void human(double b, char *out, size_t n)
{
    if (b >= 1024.0 * 1024 * 1024) snprintf(out, n, "%.1f GiB", b / (1024.0 * 1024 * 1024));
    else snprintf(out, n, "%.1f MiB", b / (1024.0 * 1024));
}

graft_status memory_check(graft_model *m, int batch, int training, graft_opt_kind opt, int *largest,
                          char *err, size_t errlen)
{
    const graft_device_info *d = graft_ctx_device(graft_model_ctx(m));
    double node_bytes, param_bytes = 0;
    int big = largest_node(m, &node_bytes);
    for (int p = 0; p < graft_model_num_params(m); p++) {
        double b = (double)graft_model_param_numel(m, p) * 4;
        if (b > param_bytes) param_bytes = b;
    }
    /* The estimate grows with the batch: bisect for the largest that fits. */
    int lo = 0, hi = MAX_BATCH;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (fits(m, mid, training, opt, d, node_bytes, param_bytes)) lo = mid;
        else hi = mid - 1;
    }
    if (largest) *largest = lo;
    if (batch <= lo) return GRAFT_OK;
    graft_memory_estimate e = graft_model_memory_estimate(m, batch, opt);
    char need[32], buf[32], glob[32], alloc[32];
    human(total_bytes(&e, training), need, sizeof need);
    human(node_bytes * batch, buf, sizeof buf);
    human((double)d->global_mem_bytes, glob, sizeof glob);
    human((double)d->max_alloc_bytes, alloc, sizeof alloc);
    char fit[96];
    if (lo > 0) snprintf(fit, sizeof fit, "the largest batch that fits is %d", lo);
    else snprintf(fit, sizeof fit, "not even a batch of 1 fits");
    return error_set(err, errlen, GRAFT_ERR_DEVICE_MEMORY,
                     "not enough device memory for %s at batch %d: it needs ~%s (the largest "
                     "buffer: the output of layer '%s', %s), the device '%s' has %s of global "
                     "memory and allocates at most %s at once; %s",
                     training ? "training" : "inference", batch, need,
                     graft_model_node_name(m, big), buf, d->name, glob, alloc, fit);
}

graft_status graft_model_check_memory(graft_model *m, int batch, int training, graft_opt_kind opt,
                                      int *largest)
{
    char err[1024] = "";
    graft_status s = memory_check(m, batch, training, opt, largest, err, sizeof err);
    return s == GRAFT_OK ? s : ctx_fail(graft_model_ctx(m), s, "%s", err);
}
