/* Runs a .graft model forward (inference mode) on raw float32 inputs and
 * writes one node's outputs: `onnx_features MODEL.graft INPUTS.f32 OUT.f32
 * [NODE] [BATCH]`. INPUTS.f32 is N x C x H x W float32 of the INPUT node's
 * shape, already normalised (the .graft meta mean/std is not applied);
 * NODE is a node name (default: the last node, i.e. the logits); OUT.f32
 * receives N x numel(NODE) float32. Used to check converted backbones
 * against a reference (tools/tfjs_to_onnx.py, docs/mobilenetv2.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_params.h"
#include "graft.h"

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: onnx_features MODEL.graft INPUTS.f32 OUT.f32 [NODE] [BATCH]\n");
        return 2;
    }
    int batch = argc > 5 ? atoi(argv[5]) : 8;
    graft_ctx *ctx;
    char err[1024];
    graft_ctx_params p = graft_ctx_default_params();
    if (graft_params_from_env(&p, err, sizeof err) != GRAFT_OK ||
        graft_ctx_create(&p, &ctx, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "onnx_features: %s\n", err);
        return 1;
    }
    /* One exit path, so that every refusal frees what it holds (the
     * sanitizer build checks leaks on the error paths too). */
    graft_model *m = NULL;
    float *x = NULL, *y = NULL;
    FILE *f = NULL;
    int status = 1;
    if (graft_model_load(ctx, argv[1], &m, NULL) != GRAFT_OK) {
        fprintf(stderr, "onnx_features: %s\n", graft_last_error(ctx));
        goto done;
    }
    int node = graft_model_num_nodes(m) - 1;
    if (argc > 4) {
        for (node = graft_model_num_nodes(m) - 1; node >= 0; node--)
            if (!strcmp(graft_model_node_name(m, node), argv[4])) break;
        if (node < 0) {
            fprintf(stderr, "onnx_features: no node '%s' in %s\n", argv[4], argv[1]);
            goto done;
        }
    }
    int c, h, w, oc, oh, ow;
    graft_model_node_shape(m, 0, &c, &h, &w);
    graft_model_node_shape(m, node, &oc, &oh, &ow);
    size_t per = (size_t)c * h * w, oper = (size_t)oc * oh * ow;
    if (!(f = fopen(argv[2], "rb"))) {
        perror(argv[2]);
        goto done;
    }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (bytes <= 0 || bytes % (long)(per * sizeof(float))) {
        fprintf(stderr, "onnx_features: %s: %ld bytes is not a multiple of %dx%dx%d floats\n",
                argv[2], bytes, c, h, w);
        goto done;
    }
    int n = (int)(bytes / (long)(per * sizeof(float)));
    x = malloc((size_t)bytes);
    y = malloc(oper * n * sizeof *y);
    if (!x || !y || fread(x, 1, (size_t)bytes, f) != (size_t)bytes) {
        fprintf(stderr, "onnx_features: cannot read %s\n", argv[2]);
        goto done;
    }
    for (int i = 0; i < n; i += batch) {
        int b = n - i < batch ? n - i : batch;
        if (graft_model_forward(m, x + per * i, b, 0, NULL) != GRAFT_OK ||
            graft_model_node_output(m, node, y + oper * i, oper * b) != GRAFT_OK) {
            fprintf(stderr, "onnx_features: %s\n", graft_last_error(ctx));
            goto done;
        }
    }
    FILE *o = fopen(argv[3], "wb");
    int wrote = o && fwrite(y, sizeof *y, oper * n, o) == oper * n;
    if (o && fclose(o)) wrote = 0;
    if (!wrote) {
        perror(argv[3]);
        goto done;
    }
    printf("onnx_features: %d inputs %dx%dx%d -> node %d '%s' %zu values each\n", n, c, h, w, node,
           graft_model_node_name(m, node), oper);
    status = 0;
done:
    if (f) fclose(f);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
    free(x);
    free(y);
    return status;
}
