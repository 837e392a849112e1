/* graft info: layer table, parameter count, FLOPs and memory estimate of a
 * model file or a built-in architecture. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "info_print.h"
#include "modelcli.h"

#define CMD "graft info"

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
        {"classes", OPT_INT, &classes, "N", "--arch: number of classes (default: 10)", 1, 1000000},
        {"size", OPT_INT, &size, "N", "--arch: input size (default: 28 for refnet, else 224)", 8, 4096},
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
    if (model && cli_check_model_path(CMD, "--model", model)) return 1;
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
    info_print_table(m);
    info_print_totals(m, batch, adamw);
    if (model) info_print_meta(&meta, c);
    status = 0;
done:
    graft_model_meta_free(&meta);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
    return status;
}
