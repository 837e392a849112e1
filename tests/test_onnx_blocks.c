/* ShuffleNet v2 and ConvNeXt blocks through the ONNX importer, against
 * PyTorch goldens (data/onnx, made by tools/make_onnx_block_goldens.py
 * from torchvision's own blocks): outputs, the graft layers they become,
 * export -> re-import with identical names, weights and outputs, a training
 * step that reaches every new layer's parameters, and unsupported ops still
 * named with nothing imported. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx_golden.h"
#include "testutil.h"

#define DIR GRAFT_DATA_DIR "/onnx/"

static const char *const goldens[] = {"shuffle_mini", "convnext_mini", "convnext_mini_op17",
                                      "split_mini", "view_mini", "ln_first_mini"};
#define NGOLD (sizeof goldens / sizeof goldens[0])

static graft_model *import_path(graft_ctx *ctx, const char *p)
{
    graft_model *m = NULL;
    ck_assert_msg(graft_onnx_import(ctx, p, &m, NULL, 0) == GRAFT_OK, "%s: %s", p,
                  graft_last_error(ctx));
    return m;
}

START_TEST(blocks_match_pytorch)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    for (size_t g = 0; g < NGOLD; g++) {
        graft_model *m = og_import(ctx, goldens[g]);
        double e = og_error(m, goldens[g]);
        printf("%-20s %3d nodes  max rel err vs PyTorch %.2e\n", goldens[g],
               graft_model_num_nodes(m), e);
        ck_assert_msg(e < 1e-4, "%s: rel err %g", goldens[g], e);
        graft_model_free(m);
    }
    graft_ctx_destroy(ctx);
}
END_TEST

/* What the patterns and the folding leave: ShuffleNet's three shuffles and
 * two channel halves per stride-1 unit, no reshape or flatten; ConvNeXt's
 * six layer norms (stem, one per block, downsample, head), three GELUs,
 * three layer scales as depthwise 1x1 convs without bias and its six
 * Linears as 1x1 convs, at opset 13 (patterns) and 17 (LayerNormalization). */
START_TEST(blocks_import_to_graft_layers)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m = og_import(ctx, "shuffle_mini");
    ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_CHANNEL_SHUFFLE), 3);
    ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_CHANNEL_SLICE), 4);
    ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_FLATTEN), 0);
    graft_model_free(m);
    m = og_import(ctx, "split_mini"); /* two Splits of two parts each */
    ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_CHANNEL_SLICE), 4);
    graft_model_free(m);
    m = og_import(ctx, "ln_first_mini"); /* LayerNorm over axis 1 of NCHW */
    ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_LAYER_NORM), 1);
    graft_model_free(m);
    m = og_import(ctx, "view_mini"); /* x.view(x.size(0), -1): a flatten */
    ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_FLATTEN), 1);
    ck_assert_int_eq(graft_model_num_nodes(m), 5);
    graft_model_free(m);
    for (int op17 = 0; op17 < 2; op17++) {
        m = og_import(ctx, op17 ? "convnext_mini_op17" : "convnext_mini");
        ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_LAYER_NORM), 6);
        ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_GELU), 3);
        int scales = 0, pointwise = 0;
        for (int i = 0; i < graft_model_num_nodes(m); i++) {
            const graft_layer_spec *s = graft_model_node_spec(m, i);
            if (s->kind != GRAFT_LAYER_CONV2D || s->kernel != 1) continue;
            scales += s->groups > 1 && !s->bias;
            pointwise += s->groups == 1 && s->bias;
        }
        ck_assert_int_eq(scales, 3);
        ck_assert_int_eq(pointwise, 6);
        graft_model_free(m);
    }
    graft_ctx_destroy(ctx);
}
END_TEST

/* export -> import: the same node names and kinds, bit-identical weights
 * and outputs. */
START_TEST(blocks_round_trip)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    const char *t = getenv("TMPDIR");
    for (size_t g = 0; g < NGOLD; g++) {
        graft_model *m = og_import(ctx, goldens[g]);
        char path[256];
        snprintf(path, sizeof path, "%s/graft-blocks-%ld-%zu.onnx", t && *t ? t : "/tmp",
                 (long)getpid(), g);
        ck_assert_msg(graft_onnx_export(m, path, 0) == GRAFT_OK, "%s", graft_last_error(ctx));
        graft_model *back = import_path(ctx, path);
        unlink(path);
        ck_assert_int_eq(graft_model_num_nodes(back), graft_model_num_nodes(m));
        for (int i = 0; i < graft_model_num_nodes(m); i++) {
            ck_assert_str_eq(graft_model_node_name(back, i), graft_model_node_name(m, i));
            ck_assert_int_eq(graft_model_node_spec(back, i)->kind,
                             graft_model_node_spec(m, i)->kind);
        }
        ck_assert_int_eq(graft_model_num_params(back), graft_model_num_params(m));
        for (int p = 0; p < graft_model_num_params(m); p++) {
            size_t n = graft_model_param_numel(m, p);
            ck_assert_uint_eq(graft_model_param_numel(back, p), n);
            float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
            ck_assert(a && b);
            ck_assert(graft_model_param_get(m, p, a, n) == GRAFT_OK);
            ck_assert(graft_model_param_get(back, p, b, n) == GRAFT_OK);
            ck_assert_msg(!memcmp(a, b, n * sizeof *a), "%s: %s differs", goldens[g],
                          graft_model_param_name(m, p));
            free(a);
            free(b);
        }
        int n;
        float *x = og_input(m, goldens[g], &n), *y0 = og_run(m, x, n), *y1 = og_run(back, x, n);
        ck_assert_msg(!memcmp(y0, y1, (size_t)n * og_outputs(m) * sizeof *y0), "%s outputs differ",
                      goldens[g]);
        free(x);
        free(y0);
        free(y1);
        graft_model_free(back);
        graft_model_free(m);
    }
    graft_ctx_destroy(ctx);
}
END_TEST

/* One training step reaches every parameter of the new layers: finite,
 * not all zero, gradients of the layer norms, layer scales and the convs
 * behind the channel slices and shuffles. */
START_TEST(blocks_train)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    for (size_t g = 0; g < 2; g++) {
        graft_model *m = og_import(ctx, goldens[g]);
        int n;
        float *x = og_input(m, goldens[g], &n);
        int labels[2] = {1, 0};
        float loss;
        ck_assert(graft_model_forward(m, x, n, 1, NULL) == GRAFT_OK);
        ck_assert_msg(graft_model_backward(m, labels, 0, &loss, NULL) == GRAFT_OK, "%s",
                      graft_last_error(ctx));
        ck_assert(isfinite(loss));
        for (int p = 0; p < graft_model_num_params(m); p++) {
            if (!graft_model_param_is_trainable(m, p)) continue;
            size_t k = graft_model_param_numel(m, p);
            float *d = malloc(k * sizeof *d);
            ck_assert_ptr_nonnull(d);
            ck_assert(graft_model_param_grad(m, p, d, k) == GRAFT_OK);
            double s = 0;
            for (size_t i = 0; i < k; i++) {
                ck_assert(isfinite(d[i]));
                s += fabs(d[i]);
            }
            ck_assert_msg(s > 0, "%s: %s has a zero gradient", goldens[g],
                          graft_model_param_name(m, p));
            free(d);
        }
        free(x);
        graft_model_free(m);
    }
    graft_ctx_destroy(ctx);
}
END_TEST

/* Loss of m on x (training mode) and, in g, the gradient of parameter p. */
static float loss_and_grad(graft_model *m, const float *x, int n, const int *labels, int p,
                           float *g, size_t k)
{
    float loss;
    ck_assert(graft_model_forward(m, x, n, 1, NULL) == GRAFT_OK);
    ck_assert_msg(graft_model_backward(m, labels, 0, &loss, NULL) == GRAFT_OK, "%s",
                  graft_last_error(graft_model_ctx(m)));
    if (g) ck_assert(graft_model_param_grad(m, p, g, k) == GRAFT_OK);
    return loss;
}

/* The imported graphs' gradients (ConvNeXt: layer norms, pointwise and
 * depthwise convs, GELU, layer scales through the channels-last stretch;
 * ShuffleNet: channel slices and shuffles) against central differences of
 * the loss, a few entries per parameter. */
START_TEST(block_gradients_match_differences)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    const char *name = _i ? "shuffle_mini" : "convnext_mini";
    graft_model *m = og_import(ctx, name);
    int n, labels[2] = {2, 1};
    float *x = og_input(m, name, &n);
    /* BatchNorm on its running statistics: batch statistics of 2 images
     * make the loss too curved for float32 differences. */
    for (int i = 0; i < graft_model_num_nodes(m); i++)
        if (graft_model_node_spec(m, i)->kind == GRAFT_LAYER_BATCHNORM2D)
            ck_assert(graft_model_set_bn_frozen(m, i, 1) == GRAFT_OK);
    double worst = 0;
    for (int p = 0; p < graft_model_num_params(m); p++) {
        if (!graft_model_param_is_trainable(m, p)) continue; /* running statistics */
        size_t k = graft_model_param_numel(m, p);
        float *g = malloc(k * sizeof *g), *w = malloc(k * sizeof *w);
        ck_assert(g && w);
        loss_and_grad(m, x, n, labels, p, g, k);
        ck_assert(graft_model_param_get(m, p, w, k) == GRAFT_OK);
        for (size_t i = 0; i < k; i += k / 3 + 1) {
            float keep = w[i], h = 1e-3f * fmaxf(1.0f, fabsf(keep));
            w[i] = keep + h;
            ck_assert(graft_model_param_set(m, p, w, k) == GRAFT_OK);
            double lp = loss_and_grad(m, x, n, labels, p, NULL, 0);
            w[i] = keep - h;
            ck_assert(graft_model_param_set(m, p, w, k) == GRAFT_OK);
            double lm = loss_and_grad(m, x, n, labels, p, NULL, 0);
            w[i] = keep;
            ck_assert(graft_model_param_set(m, p, w, k) == GRAFT_OK);
            /* float32 losses: differences carry about 1e-4 of noise, and a
             * ReLU kink inside [-h, h] bends them a little more. */
            double fd = (lp - lm) / (2.0 * h), e = fabs(fd - g[i]) / (3e-2 * fabs(fd) + 1e-3);
            if (e > worst) worst = e;
            ck_assert_msg(e < 1, "%s: %s[%zu]: gradient %g, differences %g", name,
                          graft_model_param_name(m, p), i, g[i], fd);
        }
        free(g);
        free(w);
    }
    printf("%s: worst |gradient - differences| / (3%% |differences| + 1e-3) = %.2f\n", name,
           worst);
    free(x);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

/* A Div of a computed tensor is named up front, a reshape computed from
 * the batch size fails at its node; no model either way. */
START_TEST(block_near_misses_stay_unsupported)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m = (graft_model *)1;
    ck_assert_int_eq(graft_onnx_import(ctx, DIR "block_near_miss.onnx", &m, NULL, 0),
                     GRAFT_ERR_UNSUPPORTED);
    ck_assert_ptr_null(m);
    const char *e = graft_last_error(ctx);
    ck_assert_msg(strstr(e, "1 unsupported ONNX operator type: Div (node '/Div')"), "%s", e);
    /* Shape arithmetic on the open batch size is refused at its node. */
    m = (graft_model *)1;
    ck_assert_int_eq(graft_onnx_import(ctx, DIR "batch_arith.onnx", &m, NULL, 0),
                     GRAFT_ERR_UNSUPPORTED);
    ck_assert_ptr_null(m);
    e = graft_last_error(ctx);
    ck_assert_msg(strstr(e, "node 'Mul' (Mul)") && strstr(e, "depends on the batch size"), "%s", e);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("onnx_blocks");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, blocks_match_pytorch);
    tcase_add_test(tc, blocks_import_to_graft_layers);
    tcase_add_test(tc, blocks_round_trip);
    tcase_add_test(tc, blocks_train);
    tcase_add_loop_test(tc, block_gradients_match_differences, 0, 2);
    tcase_add_test(tc, block_near_misses_stay_unsupported);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
