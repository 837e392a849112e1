/* graft import: an ONNX model into a .graft file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

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

/* Class names of path, one per line (CR LF too; trailing blank lines
 * ignored) into *names / *n. Prints why and returns -1 on failure. */
static int read_labels(const char *path, char ***names, int *n)
{
    *names = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, CMD ": --labels %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL, **v = NULL;
    size_t cap = 0;
    ssize_t len;
    int count = 0, blank = 0, bad = 0; /* blank: empty lines not yet followed by a name */
    while (!bad && (len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0) {
            blank++;
            continue;
        }
        if (blank || memchr(line, 0, (size_t)len)) {
            fprintf(stderr, CMD ": --labels %s: line %d is %s (one class name per line)\n", path,
                    count + 1, blank ? "empty" : "not text");
            bad = 1;
            break;
        }
        char **nv = realloc(v, (size_t)(count + 1) * sizeof *v);
        char *dup = strdup(line);
        if (!nv || !dup) {
            free(dup);
            if (nv) v = nv;
            fprintf(stderr, CMD ": --labels %s: out of memory\n", path);
            bad = 1;
            break;
        }
        v = nv;
        v[count++] = dup;
    }
    if (!bad && ferror(f)) {
        fprintf(stderr, CMD ": --labels %s: %s\n", path, strerror(errno));
        bad = 1;
    }
    free(line);
    fclose(f);
    if (!bad && count == 0) {
        fprintf(stderr, CMD ": --labels %s: no class names\n", path);
        bad = 1;
    }
    if (bad) {
        for (int i = 0; i < count; i++) free(v[i]);
        free(v);
        return -1;
    }
    *names = v;
    *n = count;
    return 0;
}

int cmd_import(int argc, char **argv)
{
    common_opts co = {NULL, 0, 1};
    const char *out = NULL, *mean = NULL, *std = NULL, *labels = NULL;
    opt opts[] = {
        {"out", OPT_STRING, &out, "PATH", "the .graft file to write (required)", 0, 0},
        {"mean", OPT_STRING, &mean, "LIST", "per-channel input mean the network expects, "
         "e.g. 0.485,0.456,0.406 (default: the file's model card, else 0)", 0, 0},
        {"std", OPT_STRING, &std, "LIST", "per-channel input std (default: the file's model "
         "card, else 1)", 0, 0},
        {"labels", OPT_STRING, &labels, "FILE", "class names, one per line, as many as the "
         "network has outputs (default: the file's model card, else 0, 1, ...)", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft import MODEL.onnx --out PATH [OPTIONS]",
                     "Converts an ONNX image classifier or backbone (opsets 9-17) into a .graft\n"
                     "model: layers keep the ONNX node names (for --freeze-until), a final\n"
                     "Gemm/MatMul becomes the classifier finetune replaces, a final Softmax is\n"
                     "dropped. Unsupported operators are listed and nothing is written. A model\n"
                     "card that graft export wrote (class names, mean/std) is read back.\n"
                     "The .graft remembers the source file name, opset, producer and input\n"
                     "size (graft info shows them). See docs/onnx.md.",
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
    char **names = NULL;
    int nnames = 0;
    if (labels && read_labels(labels, &names, &nnames)) return 1;
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
    if (names && nnames != outs) {
        fprintf(stderr, CMD ": --labels %s has %d class names but the network has %d outputs; "
                        "nothing written\n", labels, nnames, outs);
        goto done;
    }
    if (names) { /* --labels beats the file's card */
        for (int k = 0; k < meta.nclasses; k++) free(meta.class_names[k]);
        free(meta.class_names);
        meta.class_names = names;
        meta.nclasses = nnames;
        names = NULL;
    }
    if (meta.nclasses && meta.nclasses != outs) {
        fprintf(stderr, CMD ": warning: the model card names %d classes but the network has %d "
                        "outputs; names dropped\n", meta.nclasses, outs);
        for (int k = 0; k < meta.nclasses; k++) free(meta.class_names[k]);
        free(meta.class_names);
        meta.class_names = NULL;
        meta.nclasses = 0;
    }
    graft_status s = graft_model_save(m, &meta, out);
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
    if (labels && !quiet)
        fprintf(stderr, CMD ": %d class names from %s\n", meta.nclasses, labels);
    printf("imported %s: %d nodes, %zu parameters, %d outputs; wrote %s\n", in,
           graft_model_num_nodes(m), graft_model_param_count(m), c, out);
    status = 0;
done:
    for (int k = 0; names && k < nnames; k++) free(names[k]);
    free(names);
    graft_model_meta_free(&meta);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
    return status;
}
