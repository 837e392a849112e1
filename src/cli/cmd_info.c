/* graft info: layer table, parameter count, FLOPs and memory estimate of a
 * model file or a built-in architecture. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "graft_train.h"
#include "modelcli.h"

#define CMD "graft info"

/* Forward FLOP of one node, as graft_model_flops_per_image counts them. */
static double node_flops(const graft_model *m, int i)
{
    const graft_layer_spec *s = graft_model_node_spec(m, i);
    const int *in;
    int nin = graft_model_node_inputs(m, i, &in);
    int c, h, w, ic = 0, ih = 0, iw = 0;
    graft_model_node_shape(m, i, &c, &h, &w);
    if (nin > 0) graft_model_node_shape(m, in[0], &ic, &ih, &iw);
    if (s->kind == GRAFT_LAYER_CONV2D)
        return 2.0 * c * (double)(ic / (s->groups > 0 ? s->groups : 1)) * s->kernel * s->kernel * h * w;
    if (s->kind == GRAFT_LAYER_LINEAR) return 2.0 * s->channels * (double)ic * ih * iw;
    return 0;
}

static void print_bytes(const char *label, double b)
{
    if (b >= 1024.0 * 1024 * 1024) printf("%s%.2f GiB", label, b / (1024.0 * 1024 * 1024));
    else printf("%s%.1f MiB", label, b / (1024.0 * 1024));
}

static void print_table(const graft_model *m)
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

static void print_totals(const graft_model *m, int batch, int adamw)
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

static void print_meta(const graft_model_meta *meta, int channels)
{
    printf("\nclasses (%d):", meta->nclasses);
    char nb[32];
    for (int k = 0; k < meta->nclasses; k++)
        printf("%s %d=%s", k ? "," : "", k, cli_class_name(meta, k, nb, sizeof nb));
    printf("\nnormalisation: mean");
    for (int c = 0; c < channels && c < 4; c++) printf(" %.4f", (double)meta->mean[c]);
    printf(", std");
    for (int c = 0; c < channels && c < 4; c++) printf(" %.4f", (double)meta->std[c]);
    printf("\nmeta: %s\n", meta->meta_json ? meta->meta_json : "(none)");
}

int cmd_info(int argc, char **argv)
{
    common_opts co = {NULL, 0, 1};
    const char *model = NULL, *arch = NULL, *optname = "sgd";
    int classes = 0, size = 0, batch = 64;
    float width = 1.0f;
    opt opts[] = {
        {"model", OPT_STRING, &model, "PATH", "describe this model file", 0, 0},
        {"arch", OPT_STRING, &arch, "NAME", "or describe a built-in architecture: refnet, "
         "resnet18 or mobilenetv2", 0, 0},
        {"classes", OPT_INT, &classes, "N", "--arch: number of classes (default 10)", 1, 1000000},
        {"size", OPT_INT, &size, "N", "--arch: input size (default 28 for refnet, else 224)", 8, 4096},
        {"width", OPT_FLOAT, &width, "F", "--arch: width multiplier for resnet18/mobilenetv2 "
         "(default 1)", 0.05, 4},
        {"batch", OPT_INT, &batch, "N", "batch size of the memory estimate (default 64)", 1, 65536},
        {"opt", OPT_STRING, &optname, "NAME", "optimizer of the training memory estimate: sgd "
         "(one state tensor) or adamw (two) (default sgd)", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft info (--model PATH | --arch NAME [--classes N] [--size N] [--width F]) "
                     "[OPTIONS]",
                     "Prints a model's layers (index, name, kind, inputs, output shape C x H x W,\n"
                     "parameters, MFLOPs), the parameter count, forward MFLOP per image and an\n"
                     "estimate of training and inference memory at a batch size. For a model file\n"
                     "also its class names, normalisation and training settings (meta JSON).",
                     opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int rc = args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if (!model == !arch) {
        fprintf(stderr, CMD ": give exactly one of --model PATH and --arch NAME (see --help)\n");
        return EXIT_USAGE;
    }
    if (arch && strcasecmp(arch, "refnet") && strcasecmp(arch, "resnet18") &&
        strcasecmp(arch, "mobilenetv2")) {
        fprintf(stderr, CMD ": --arch '%s': expected refnet, resnet18 or mobilenetv2\n", arch);
        return EXIT_USAGE;
    }
    if (model && (classes || size || width != 1.0f)) {
        fprintf(stderr, CMD ": --classes, --size and --width apply to --arch only\n");
        return EXIT_USAGE;
    }
    int adamw = !strcasecmp(optname, "adamw");
    if (!adamw && strcasecmp(optname, "sgd")) {
        fprintf(stderr, CMD ": --opt '%s': expected sgd or adamw\n", optname);
        return EXIT_USAGE;
    }
    /* Building or loading a model needs a context (parameters live there). */
    co.quiet = 1;
    graft_ctx *ctx = cli_open_device(CMD, &co);
    if (!ctx) return 1;
    graft_model *m = NULL;
    graft_model_meta meta;
    memset(&meta, 0, sizeof meta);
    int status = 1, c, h, w;
    if (model) {
        if (cli_load_model(CMD, ctx, model, &m, &meta)) goto done;
        graft_model_node_shape(m, 0, &c, &h, &w);
        printf("model %s: arch %s, input %dx%dx%d, %d classes, %d nodes\n\n", model, meta.arch, c,
               h, w, cli_model_classes(m), graft_model_num_nodes(m));
    } else {
        graft_arch_params ap = graft_arch_default_params(arch);
        if (classes) ap.classes = classes;
        if (size) ap.height = ap.width = size;
        ap.width_mult = width;
        if (graft_model_create(ctx, &m) != GRAFT_OK ||
            graft_model_build_arch(m, arch, &ap) != GRAFT_OK) {
            fprintf(stderr, CMD ": %s: %s\n", arch, graft_last_error(ctx));
            goto done;
        }
        printf("arch %s: input %dx%dx%d, %d classes, width %g, %d nodes\n\n", arch, ap.channels,
               ap.height, ap.width, ap.classes, (double)width, graft_model_num_nodes(m));
        c = ap.channels;
    }
    print_table(m);
    print_totals(m, batch, adamw);
    if (model) print_meta(&meta, c);
    status = 0;
done:
    graft_model_meta_free(&meta);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
    return status;
}
