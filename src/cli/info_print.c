#include "info_print.h"

#include <stdio.h>

#include "graft_train.h"
#include "modelcli.h"

/* Forward FLOP of one node, as graft_model_flops_per_image counts them. */
static double node_flops(const graft_model *m, int i)
{
    const graft_layer_spec *s = graft_model_node_spec(m, i);
    const int *in;
    int nin = graft_model_node_inputs(m, i, &in);
    int c, h, w, ic = 0, ih = 0, iw = 0;
    graft_model_node_shape(m, i, &c, &h, &w);
    if (nin > 0) graft_model_node_shape(m, in[0], &ic, &ih, &iw);
    if (s->kind == GRAFT_LAYER_CONV2D) {
        int kh, kw;
        graft_layer_window(s, &kh, &kw, NULL);
        return 2.0 * c * (double)(ic / (s->groups > 0 ? s->groups : 1)) * kh * kw * h * w;
    }
    if (s->kind == GRAFT_LAYER_LINEAR) return 2.0 * s->channels * (double)ic * ih * iw;
    return 0;
}

static void print_bytes(const char *label, double b)
{
    if (b >= 1024.0 * 1024 * 1024) printf("%s%.2f GiB", label, b / (1024.0 * 1024 * 1024));
    else printf("%s%.1f MiB", label, b / (1024.0 * 1024));
}

void info_print_table(const graft_model *m)
{
    int N = graft_model_num_nodes(m);
    printf("%4s  %-22s %-14s %-24s %-14s %10s %9s\n", "#", "name", "kind", "inputs", "output",
           "params", "MFLOPs");
    for (int i = 0; i < N; i++) {
        const graft_layer_spec *s = graft_model_node_spec(m, i);
        const char *kn = graft_layer_kind_name(s->kind);
        const int *in;
        int nin = graft_model_node_inputs(m, i, &in);
        char ins[256] = "", shape[48], tn[32], ti[32];
        size_t used = 0;
        for (int k = 0; k < nin && used < sizeof ins - 1; k++) {
            int wr = snprintf(ins + used, sizeof ins - used, "%s%s", k ? "," : "",
                              graft_model_node_name(m, in[k]));
            if (wr < 0) break;
            used += (size_t)wr;
        }
        if (used >= sizeof ins) used = sizeof ins - 1;
        int c, h, w;
        graft_model_node_shape(m, i, &c, &h, &w);
        snprintf(shape, sizeof shape, "%dx%dx%d", c, h, w);
        printf("%4d  %-22s %-14s %-24s %-14s %10zu %9.3f\n", i,
               cli_trunc(graft_model_node_name(m, i), tn, 23), kn ? kn : "?",
               nin ? cli_trunc(ins, ti, 25) : "-", shape, graft_model_node_param_count(m, i),
               node_flops(m, i) / 1e6);
    }
}

void info_print_totals(const graft_model *m, int batch, int adamw)
{
    graft_memory_estimate e = graft_model_memory_estimate(m, batch, adamw ? GRAFT_OPT_ADAMW : GRAFT_OPT_SGD);
    printf("\nparameters: %zu\n", graft_model_param_count(m));
    printf("forward: %.2f MFLOP/image\n", graft_model_flops_per_image(m) / 1e6);
    printf("training memory at batch %d, %s: ~", batch, adamw ? "adamw" : "sgd");
    print_bytes("", e.train_activations + e.train_parameters + e.train_scratch);
    print_bytes(" (activations+gradients ", e.train_activations);
    print_bytes(", parameters+gradients+optimizer ", e.train_parameters);
    print_bytes(", im2col scratch ", e.train_scratch);
    printf(")\n");
    printf("inference memory at batch %d: ~", batch);
    print_bytes("", e.infer_activations + e.infer_parameters + e.infer_scratch);
    print_bytes(" (activations ", e.infer_activations);
    print_bytes(", parameters ", e.infer_parameters);
    print_bytes(", im2col scratch ", e.infer_scratch);
    printf(")\n");
}

void info_print_meta(const graft_model_meta *meta, int channels)
{
    printf("\nclasses (%d):", meta->nclasses);
    char nb[32], tb[32];
    /* Long lists (ImageNet's 1000) show their first 12 and last 3. */
    int K = meta->nclasses, head = K > 20 ? 12 : K;
    for (int k = 0; k < K; k++) {
        if (k == head) {
            printf(", ... %d more ...", K - head - 3);
            k = K - 3;
        }
        printf("%s %d=%s", k ? "," : "", k,
               cli_trunc(cli_class_name(meta, k, nb, sizeof nb), tb, 25));
    }
    printf("\nnormalisation: mean");
    for (int c = 0; c < channels && c < 4; c++) printf(" %.4f", (double)meta->mean[c]);
    printf(", std");
    for (int c = 0; c < channels && c < 4; c++) printf(" %.4f", (double)meta->std[c]);
    printf("\nmeta: %s\n", meta->meta_json ? meta->meta_json : "(none)");
}
