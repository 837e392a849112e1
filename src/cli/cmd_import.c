/* graft import: an ONNX model into a .graft file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "console.h"
#include "modelcli.h"

#define CMD "graft import"

/* "0.485,0.456,0.406" into v[0..3]; returns the count or -1. */
static int parse_floats(const char *s, float v[4])
{
    int n = 0;
    while (*s && n < 4) {
        char *end;
        v[n++] = strtof(s, &end);
        if (end == s) return -1;
        s = end;
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return *s ? -1 : n;
}

int cmd_import(int argc, char **argv)
{
    common_opts co = {NULL, 0, 1};
    const char *out = NULL, *mean = NULL, *std = NULL;
    opt opts[] = {
        {"out", OPT_STRING, &out, "PATH", "the .graft file to write (required)", 0, 0},
        {"mean", OPT_STRING, &mean, "LIST", "per-channel input mean the network expects, "
         "e.g. 0.485,0.456,0.406 (default: the file's model card, else 0)", 0, 0},
        {"std", OPT_STRING, &std, "LIST", "per-channel input std (default: the file's model "
         "card, else 1)", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft import MODEL.onnx --out PATH [OPTIONS]",
                     "Converts an ONNX image classifier or backbone (opsets 9-17) into a .graft\n"
                     "model: layers keep the ONNX node names (for --freeze-until), a final\n"
                     "Gemm/MatMul becomes the classifier finetune replaces, a final Softmax is\n"
                     "dropped. Unsupported operators are listed and nothing is written. A model\n"
                     "card that graft export wrote (class names, mean/std) is read back.\n"
                     "See docs/onnx.md.",
                     opts, (int)(sizeof opts / sizeof opts[0]), 1};
    const char *in;
    int rc = args_parse_one(&spec, argc, argv, &in);
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if (!in || !out) {
        fprintf(stderr, CMD ": give the ONNX file and --out PATH (see --help)\n");
        return EXIT_USAGE;
    }
    graft_model_meta meta;
    memset(&meta, 0, sizeof meta);
    float vm[4], vs[4];
    int nm = 0, ns = 0;
    if (mean && (nm = parse_floats(mean, vm)) < 1) {
        fprintf(stderr, CMD ": --mean '%s': expected up to 4 comma-separated numbers\n", mean);
        return EXIT_USAGE;
    }
    if (std && (ns = parse_floats(std, vs)) < 1) {
        fprintf(stderr, CMD ": --std '%s': expected up to 4 comma-separated numbers\n", std);
        return EXIT_USAGE;
    }
    for (int c = 0; c < ns; c++)
        if (!(vs[c] > 0)) {
            fprintf(stderr, CMD ": --std values must be positive\n");
            return EXIT_USAGE;
        }
    if (cli_check_data_path(CMD, "", in)) return 1; /* exists (any file) */
    int quiet = co.quiet;
    co.quiet = 1;
    graft_ctx *ctx = cli_open_device(CMD, &co);
    if (!ctx) return 1;
    graft_model *m = NULL;
    char note[512];
    int status = 1;
    int card = 0;
    console con;
    console_init(&con, CMD, quiet, 0, NULL);
    graft_ctx_set_progress(ctx, console_progress, &con);
    graft_status is = graft_onnx_import_meta(ctx, in, &m, &meta, &card, note, sizeof note);
    graft_ctx_set_progress(ctx, NULL, NULL);
    progress_clear(&con.pr);
    if (is != GRAFT_OK) {
        fprintf(stderr, CMD ": %s\n", graft_last_error(ctx));
        goto done;
    }
    /* --mean/--std beat the file's card */
    for (int c = 0; mean && c < 4; c++) meta.mean[c] = vm[nm == 1 ? 0 : c < nm ? c : nm - 1];
    for (int c = 0; std && c < 4; c++) meta.std[c] = vs[ns == 1 ? 0 : c < ns ? c : ns - 1];
    int outs = cli_model_classes(m);
    if (meta.nclasses && meta.nclasses != outs) {
        fprintf(stderr, CMD ": warning: the model card names %d classes but the network has %d "
                        "outputs; names dropped\n", meta.nclasses, outs);
        for (int k = 0; k < meta.nclasses; k++) free(meta.class_names[k]);
        free(meta.class_names);
        meta.class_names = NULL;
        meta.nclasses = 0;
    }
    char json[1200];
    const char *base = strrchr(in, '/');
    base = base ? base + 1 : in;
    /* Plain file names only in JSON: drop quotes and backslashes. */
    char clean[256];
    size_t j = 0;
    for (const char *p = base; *p && j < sizeof clean - 1; p++)
        if (*p != '"' && *p != '\\' && (unsigned char)*p >= 32) clean[j++] = *p;
    clean[j] = 0;
    snprintf(json, sizeof json, "{\"source\":\"onnx\",\"file\":\"%s\"}", clean);
    meta.meta_json = json;
    graft_status s = graft_model_save(m, &meta, out);
    meta.meta_json = NULL;
    if (s != GRAFT_OK) {
        fprintf(stderr, CMD ": %s\n", graft_last_error(ctx));
        goto done;
    }
    int last = graft_model_num_nodes(m) - 1, c, h, w;
    graft_model_node_shape(m, last, &c, &h, &w);
    if (note[0] && !quiet) fprintf(stderr, CMD ": note: %s\n", note);
    if (card && !quiet)
        fprintf(stderr, CMD ": model card: %d class names, mean %g,%g,%g, std %g,%g,%g\n",
                meta.nclasses, (double)meta.mean[0], (double)meta.mean[1], (double)meta.mean[2],
                (double)meta.std[0], (double)meta.std[1], (double)meta.std[2]);
    printf("imported %s: %d nodes, %zu parameters, %d outputs; wrote %s\n", in,
           graft_model_num_nodes(m), graft_model_param_count(m), c, out);
    status = 0;
done:
    graft_model_meta_free(&meta);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
    return status;
}
