/* Data parallel scaling model (docs/parallel.md): for refnet, resnet18 and
 * mobilenetv2, the floats all-reduced per step (trainable parameters, with
 * and without the default frozen prefix of fine-tuning), the compute per
 * step, and ring all-reduce time at 10 and 100 Gbit/s; then the cluster
 * size at which each stops scaling. Builds the models (parameters live on
 * a device) but trains nothing.
 * Usage: scaling_model [--tflops R] [--batch B] [--global-batch G] [--latency-us A] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_params.h"
#include "graft.h"
#include "graft_transfer.h"

typedef struct arch_case {
    const char *name;
    int c, hw, classes;
} arch_case;

/* Ring all-reduce of bytes over n nodes: 2 (n - 1) steps, each moving
 * bytes / n over every link, plus a per-step latency. */
static double ring_seconds(double bytes, int n, double gbit, double latency)
{
    if (n < 2) return 0;
    return 2.0 * (n - 1) / n * bytes / (gbit * 1e9 / 8) + 2.0 * (n - 1) * latency;
}

/* Smallest n (2..65536) at which the all-reduce takes longer than the
 * compute of a step: with per-device batch b (weak scaling) or a global
 * batch g split n ways (strong scaling, g > 0). 0 = never up to 65536. */
static int stops_at(double bytes, double flop_per_image, double rate, int b, int g, double gbit,
                    double latency)
{
    for (int n = 2; n <= 65536; n++) {
        double images = g > 0 ? (double)g / n : b;
        if (ring_seconds(bytes, n, gbit, latency) > images * flop_per_image / rate) return n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    double tflops = 10, latency_us = 5;
    int batch = 32, global = 1024;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--tflops")) tflops = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--global-batch")) global = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--latency-us")) latency_us = atof(argv[i + 1]);
        else {
            fprintf(stderr, "usage: scaling_model [--tflops R] [--batch B] [--global-batch G] "
                            "[--latency-us A]\n");
            return 2;
        }
    }
    graft_ctx_params p = graft_ctx_default_params();
    char err[1024];
    graft_ctx *ctx = NULL;
    if (graft_params_from_env(&p, err, sizeof err) != GRAFT_OK ||
        graft_ctx_create(&p, &ctx, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "scaling_model: %s\n", err);
        return 1;
    }
    const arch_case cases[] = {{"refnet", 1, 28, 10}, {"resnet18", 3, 224, 1000},
                               {"mobilenetv2", 3, 224, 1000}};
    double rate = tflops * 1e12, lat = latency_us * 1e-6;
    printf("assumed: %.0f TFLOP/s sustained per device, a step = forward + 2x forward for the "
           "trained layers, %d images per device (weak) or %d per step (strong), %.0f us per "
           "ring step\n\n", tflops, batch, global, latency_us);
    printf("%-12s %-22s %12s %10s %12s %11s %11s %9s %9s %9s %9s\n", "model", "trained", "params",
           "MiB/step", "GFLOP/image", "ring 10G", "ring 100G", "weak 10G", "weak 100G",
           "strong10G", "strong100G");
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        graft_model *m = NULL;
        graft_arch_params ap = graft_arch_default_params(cases[k].name);
        ap.channels = cases[k].c;
        ap.height = ap.width = cases[k].hw;
        ap.classes = cases[k].classes;
        if (graft_model_create(ctx, &m) != GRAFT_OK || graft_model_build_arch(m, cases[k].name, &ap) != GRAFT_OK) {
            fprintf(stderr, "scaling_model: %s: %s\n", cases[k].name, graft_last_error(ctx));
            graft_model_free(m);
            continue;
        }
        int cut = graft_transfer_default_cut(m);
        for (int frozen = 0; frozen < 2; frozen++) {
            if (frozen && cut <= 0) break;
            if (frozen)
                for (int i = 1; i <= cut; i++) graft_model_set_trainable(m, i, 0);
            double params = 0, fwd = graft_model_flops_per_image(m), above = 0;
            for (int i = 0; i < graft_model_num_params(m); i++)
                if (graft_model_param_is_trainable(m, i)) params += (double)graft_model_param_numel(m, i);
            for (int i = (frozen ? cut + 1 : 1); i < graft_model_num_nodes(m); i++)
                above += graft_model_node_flops(m, i);
            double bytes = 4 * params, flop = fwd + 2 * above;
            char what[64];
            if (frozen) snprintf(what, sizeof what, "above %.40s", graft_model_node_name(m, cut));
            else snprintf(what, sizeof what, "all");
            printf("%-12s %-22s %12.0f %10.2f %12.3f %9.2fms %9.2fms %9d %9d %9d %9d\n",
                   cases[k].name, what, params, bytes / 1048576, flop / 1e9,
                   1e3 * ring_seconds(bytes, 64, 10, lat), 1e3 * ring_seconds(bytes, 64, 100, lat),
                   stops_at(bytes, flop, rate, batch, 0, 10, lat),
                   stops_at(bytes, flop, rate, batch, 0, 100, lat),
                   stops_at(bytes, flop, rate, batch, global, 10, lat),
                   stops_at(bytes, flop, rate, batch, global, 100, lat));
        }
        graft_model_free(m);
    }
    printf("\nring: all-reduce time of one step's gradients over 64 nodes; weak/strong: the "
           "smallest cluster at which that time exceeds the step's compute (0 = not up to "
           "65536 nodes)\n");
    graft_ctx_destroy(ctx);
    return 0;
}
