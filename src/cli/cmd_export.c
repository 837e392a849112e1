/* graft export: a .graft model as ONNX. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "modelcli.h"

#define CMD "graft export"

int cmd_export(int argc, char **argv)
{
    common_opts co = {NULL, 0, 1};
    const char *out = NULL;
    int fold = 0;
    opt opts[] = {
        {"out", OPT_STRING, &out, "PATH", "the .onnx file to write (required)", 0, 0},
        {"fold-bn", OPT_FLAG, &fold, NULL, "fold each BatchNorm that directly follows a conv "
         "(whose output feeds nothing else) into the conv's weights and bias", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft export MODEL.graft --out PATH [--fold-bn] [OPTIONS]",
                     "Writes a .graft model as an ONNX model (opset 13, input [N, C, H, W] with a\n"
                     "symbolic batch N, output the class scores before softmax). Layer names\n"
                     "become node and tensor names; weights are float32 initializers. The\n"
                     "model card (class names, mean/std, input shape, colour mode, resize/crop\n"
                     "policy) goes into the file's metadata_props; graft import reads it back.\n"
                     "See docs/onnx.md.",
                     opts, (int)(sizeof opts / sizeof opts[0]), 1};
    const char *in;
    int rc = args_parse_one(&spec, argc, argv, &in);
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if (!in || !out) {
        fprintf(stderr, CMD ": give the model file and --out PATH (see --help)\n");
        return EXIT_USAGE;
    }
    if (cli_check_model_path(CMD, "", in)) return 1;
    co.quiet = 1;
    graft_ctx *ctx = cli_open_device(CMD, &co);
    if (!ctx) return 1;
    graft_model *m = NULL;
    graft_model_meta meta;
    memset(&meta, 0, sizeof meta);
    int status = 1;
    if (graft_model_load(ctx, in, &m, &meta) != GRAFT_OK) {
        fprintf(stderr, CMD ": %s\n", graft_last_error(ctx));
        goto done;
    }
    if (graft_onnx_export_meta(m, &meta, out, fold) != GRAFT_OK) {
        fprintf(stderr, CMD ": %s\n", graft_last_error(ctx));
        goto done;
    }
    printf("exported %s (%d nodes%s) to %s\n", in, graft_model_num_nodes(m),
           fold ? ", BatchNorm folded" : "", out);
    status = 0;
done:
    graft_model_meta_free(&meta);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
    return status;
}
