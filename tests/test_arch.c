/* Built-in architectures: parameter and FLOP counts against the reference
 * (torchvision) numbers, stage shapes, a full training step through small
 * resnet18/mobilenetv2 variants, and the error paths of the builder. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static graft_model *build(graft_ctx *ctx, const char *arch, const graft_arch_params *p)
{
    graft_model *m;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_model_set_seed(m, 1234);
    graft_status s = graft_model_build_arch(m, arch, p);
    ck_assert_msg(s == GRAFT_OK, "building %s: %s: %s", arch, graft_status_name(s),
                  graft_last_error(ctx));
    return m;
}

static void expect_shape(const graft_model *m, const char *node, int c, int h, int w)
{
    int id = graft_model_find(m, node);
    ck_assert_msg(id >= 0, "no node '%s'", node);
    int gc, gh, gw;
    graft_model_node_shape(m, id, &gc, &gh, &gw);
    ck_assert_msg(gc == c && gh == h && gw == w, "%s: %dx%dx%d, expected %dx%dx%d", node, gc, gh,
                  gw, c, h, w);
}

START_TEST(refnet_counts_and_shapes)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_arch_params p = graft_arch_default_params("refnet");
    ck_assert_int_eq(p.classes, 10);
    ck_assert_int_eq(p.channels, 1);
    ck_assert_int_eq(p.height, 28);
    ck_assert_int_eq(p.width, 28);
    graft_model *m = build(ctx, "refnet", &p);
    ck_assert_uint_eq(graft_model_param_count(m), 140458);
    /* conv 2*(288*784 + 9216*784 + 18432*196 + 36864*196 + 73728*49) + fc 2*1280 */
    ck_assert_msg(graft_model_flops_per_image(m) == 43806208.0, "refnet: %.0f FLOP",
                  graft_model_flops_per_image(m));
    expect_shape(m, "input", 1, 28, 28);
    expect_shape(m, "conv1.act", 32, 28, 28);
    expect_shape(m, "conv2.act", 32, 28, 28);
    expect_shape(m, "pool1", 32, 14, 14);
    expect_shape(m, "conv3.act", 64, 14, 14);
    expect_shape(m, "conv4.act", 64, 14, 14);
    expect_shape(m, "pool2", 64, 7, 7);
    expect_shape(m, "conv5.act", 128, 7, 7);
    expect_shape(m, "gap", 128, 1, 1);
    expect_shape(m, "fc", 10, 1, 1);
    int last = graft_model_num_nodes(m) - 1;
    ck_assert_str_eq(graft_model_node_name(m, last), "fc");
    /* Sum of per-node counts equals the total. */
    size_t sum = 0;
    for (int i = 0; i < graft_model_num_nodes(m); i++) sum += graft_model_node_param_count(m, i);
    ck_assert_uint_eq(sum, 140458);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(resnet18_matches_torchvision_count)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_arch_params p = graft_arch_default_params("resnet18");
    ck_assert_int_eq(p.channels, 3);
    ck_assert_int_eq(p.height, 224);
    p.classes = 1000;
    graft_model *m = build(ctx, "resnet18", &p);
    /* torchvision.models.resnet18(): sum(p.numel() for p in parameters()). */
    ck_assert_uint_eq(graft_model_param_count(m), 11689512);
    /* ~1.82 GMAC = ~3.64 GFLOP per 224x224 image. */
    double f = graft_model_flops_per_image(m);
    ck_assert_msg(fabs(f - 3.64e9) < 0.02e9, "resnet18: %.4g FLOP", f);
    expect_shape(m, "conv1.act", 64, 112, 112);
    expect_shape(m, "maxpool", 64, 56, 56);
    expect_shape(m, "layer1.1.relu", 64, 56, 56);
    expect_shape(m, "layer2.1.relu", 128, 28, 28);
    expect_shape(m, "layer3.1.relu", 256, 14, 14);
    expect_shape(m, "layer4.1.relu", 512, 7, 7);
    expect_shape(m, "fc", 1000, 1, 1);
    /* Only the stride-2 stages have a projection shortcut. */
    ck_assert_int_lt(graft_model_find(m, "layer1.0.downsample"), 0);
    ck_assert_int_ge(graft_model_find(m, "layer2.0.downsample"), 0);
    graft_model_free(m);

    /* 10 classes: the fc shrinks from 512*1000+1000 to 512*10+10. */
    p.classes = 10;
    m = build(ctx, "resnet18", &p);
    ck_assert_uint_eq(graft_model_param_count(m), 11689512 - 513000 + 5130);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(mobilenetv2_matches_torchvision_count)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_arch_params p = graft_arch_default_params("mobilenetv2");
    ck_assert_float_eq(p.dropout, 0.2f);
    p.classes = 1000;
    graft_model *m = build(ctx, "mobilenetv2", &p);
    /* torchvision.models.mobilenet_v2(): 3,504,872 parameters. */
    ck_assert_uint_eq(graft_model_param_count(m), 3504872);
    /* ~300 MMAC per 224x224 image. */
    double f = graft_model_flops_per_image(m);
    ck_assert_msg(fabs(f - 0.60e9) < 0.02e9, "mobilenetv2: %.4g FLOP", f);
    expect_shape(m, "features.0.act", 32, 112, 112);
    expect_shape(m, "features.1.project.bn", 16, 112, 112);
    expect_shape(m, "features.3.add", 24, 56, 56);
    expect_shape(m, "features.17.project.bn", 320, 7, 7);
    expect_shape(m, "features.18.act", 1280, 7, 7);
    expect_shape(m, "fc", 1000, 1, 1);
    ck_assert_int_ge(graft_model_find(m, "dropout"), 0);
    graft_model_free(m);

    /* 10 classes: the classifier is 1280*10+10. */
    p.classes = 10;
    m = build(ctx, "mobilenetv2", &p);
    ck_assert_uint_eq(graft_model_param_count(m), 3504872 - 1281000 + 12810);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

/* Training forward + backward on the stored batch; gmax[i] = max |grad|
 * of trainable parameter i (0 for the others). Gradients must be finite. */
static const float *g_x;
static const int *g_y;
static int g_n;

static void grad_max(graft_model *m, const char *arch, double *gmax)
{
    float loss = NAN;
    ck_assert_int_eq(graft_model_forward(m, g_x, g_n, 1, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_backward(m, g_y, 0.0f, &loss, NULL), GRAFT_OK);
    ck_assert_msg(isfinite(loss), "%s: loss %g", arch, (double)loss);
    for (int i = 0; i < graft_model_num_params(m); i++) {
        gmax[i] = 0;
        if (!graft_model_param_is_trainable(m, i)) continue;
        size_t n = graft_model_param_numel(m, i);
        float *g = malloc(n * sizeof *g);
        ck_assert_ptr_nonnull(g);
        ck_assert_int_eq(graft_model_param_grad(m, i, g, n), GRAFT_OK);
        for (size_t k = 0; k < n; k++) {
            ck_assert_msg(isfinite(g[k]), "%s: %s grad[%zu] = %g", arch,
                          graft_model_param_name(m, i), k, (double)g[k]);
            gmax[i] = fmax(gmax[i], fabs(g[k]));
        }
        free(g);
    }
}

/* Forward (both modes), backward and one SGD step on a small variant. */
static void train_step_check(const char *arch)
{
    double t0 = now_s();
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_arch_params p = graft_arch_default_params(arch);
    p.classes = 5;
    p.height = p.width = 32;
    p.width_mult = 0.25f;
    graft_model *m = build(ctx, arch, &p);
    int last = graft_model_num_nodes(m) - 1, c, h, w;
    graft_model_node_shape(m, last, &c, &h, &w);
    ck_assert_msg(c == 5 && h == 1 && w == 1, "%s output %dx%dx%d", arch, c, h, w);

    enum { N = 2, D = 3 * 32 * 32 };
    float *x = malloc(sizeof(float) * N * D);
    ck_assert_ptr_nonnull(x);
    tu_rng r = {99};
    tu_fill(&r, x, (size_t)N * D, -1, 1);
    int y[N] = {1, 4};
    float logits[N * 5];

    ck_assert_int_eq(graft_model_forward(m, x, N, 0, logits), GRAFT_OK);
    for (int i = 0; i < N * 5; i++) ck_assert_msg(isfinite(logits[i]), "%s: inference logit %d", arch, i);
    ck_assert_int_eq(graft_model_forward(m, x, N, 1, logits), GRAFT_OK);
    for (int i = 0; i < N * 5; i++) ck_assert_msg(isfinite(logits[i]), "%s: training logit %d", arch, i);
    float loss = NAN;
    int correct = -1;
    ck_assert_int_eq(graft_model_backward(m, y, 0.0f, &loss, &correct), GRAFT_OK);
    ck_assert_msg(isfinite(loss) && loss > 0, "%s: loss %g", arch, (double)loss);
    ck_assert_int_ge(correct, 0);
    ck_assert_int_le(correct, N);
    g_x = x;
    g_y = y;
    g_n = N;

    /* Every trainable tensor gets a finite gradient, non-zero somewhere.
     * Exception, by the maths: a BN bias whose output feeds only 1x1 convs
     * followed by training-mode BN (mobilenetv2's project.bn, whose block
     * output goes to the next expand conv and adds) gets exactly zero,
     * since BN's input gradient sums to zero per channel and a 1x1 conv
     * keeps that sum. So those may be ~0 here, and a second pass with
     * every BN frozen (affine) must give them a real gradient. */
    int np = graft_model_num_params(m), ntrain = 0;
    float **before = calloc((size_t)np, sizeof *before);
    double *gmax = calloc((size_t)np, sizeof *gmax);
    ck_assert_ptr_nonnull(before);
    ck_assert_ptr_nonnull(gmax);
    grad_max(m, arch, gmax);
    double overall = 0, weakest = INFINITY;
    const char *weakest_name = "";
    int exempt = 0;
    for (int i = 0; i < np; i++) overall = fmax(overall, gmax[i]);
    for (int i = 0; i < np; i++) {
        if (!graft_model_param_is_trainable(m, i)) continue;
        ntrain++;
        const char *name = graft_model_param_name(m, i);
        size_t len = strlen(name), sl = strlen(".project.bn.bias");
        if (len > sl && !strcmp(name + len - sl, ".project.bn.bias")) {
            ck_assert_msg(gmax[i] < 1e-3 * overall, "%s: %s grad %g, expected ~0", arch, name,
                          gmax[i]);
            exempt++;
            continue;
        }
        ck_assert_msg(gmax[i] > 0, "%s: %s has an all-zero gradient", arch, name);
        if (gmax[i] < weakest) {
            weakest = gmax[i];
            weakest_name = name;
        }
    }
    if (exempt) {
        /* Frozen BN: running statistics, no batch coupling. */
        for (int i = 0; i < graft_model_num_nodes(m); i++)
            if (graft_model_node_spec(m, i)->kind == GRAFT_LAYER_BATCHNORM2D)
                ck_assert_int_eq(graft_model_set_bn_frozen(m, i, 1), GRAFT_OK);
        double *g2 = calloc((size_t)np, sizeof *g2);
        ck_assert_ptr_nonnull(g2);
        grad_max(m, arch, g2);
        for (int i = 0; i < np; i++)
            if (graft_model_param_is_trainable(m, i))
                ck_assert_msg(g2[i] > 0, "%s (BN frozen): %s has an all-zero gradient", arch,
                              graft_model_param_name(m, i));
        free(g2);
        for (int i = 0; i < graft_model_num_nodes(m); i++)
            if (graft_model_node_spec(m, i)->kind == GRAFT_LAYER_BATCHNORM2D)
                ck_assert_int_eq(graft_model_set_bn_frozen(m, i, 0), GRAFT_OK);
        /* Back to the training-mode gradients for the SGD step. */
        grad_max(m, arch, gmax);
    }
    free(gmax);
    /* Snapshot after the last training forward (it moves running stats). */
    for (int i = 0; i < np; i++) {
        size_t n = graft_model_param_numel(m, i);
        before[i] = malloc(n * sizeof(float));
        ck_assert_int_eq(graft_model_param_get(m, i, before[i], n), GRAFT_OK);
    }

    /* One SGD step: the classifier and the stem change, and no tensor
     * becomes non-finite. Running statistics are not touched by it. */
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    op.lr = 0.1f;
    graft_optimizer *o;
    ck_assert_int_eq(graft_optimizer_create(m, &op, &o), GRAFT_OK);
    ck_assert_int_eq(graft_optimizer_step(o), GRAFT_OK);
    ck_assert_int_eq(graft_optimizer_steps(o), 1);
    int changed = 0;
    for (int i = 0; i < np; i++) {
        size_t n = graft_model_param_numel(m, i);
        float *v = malloc(n * sizeof *v);
        ck_assert_int_eq(graft_model_param_get(m, i, v, n), GRAFT_OK);
        for (size_t k = 0; k < n; k++) ck_assert(isfinite(v[k]));
        int same = memcmp(v, before[i], n * sizeof *v) == 0;
        const char *name = graft_model_param_name(m, i);
        if (graft_model_param_is_trainable(m, i)) changed += !same;
        else ck_assert_msg(same, "%s: running statistic %s changed in an SGD step", arch, name);
        if (!strcmp(name, "fc.weight") || !strcmp(name, "fc.bias"))
            ck_assert_msg(!same, "%s: %s did not change", arch, name);
        free(v);
        free(before[i]);
    }
    free(before);
    /* Tensors whose gradient is tiny (BN over 2 samples at 1x1) may round
     * to no change; the bulk must move. */
    ck_assert_msg(changed * 10 >= ntrain * 8, "%s: only %d of %d trainable tensors changed", arch,
                  changed, ntrain);
    ck_assert_int_eq(graft_model_forward(m, x, N, 1, NULL), GRAFT_OK);
    float loss2 = NAN;
    ck_assert_int_eq(graft_model_backward(m, y, 0.0f, &loss2, NULL), GRAFT_OK);
    ck_assert(isfinite(loss2));
    fprintf(stderr, "%s w0.25 32x32: %zu params, %d/%d trainable tensors changed, weakest grad "
            "%s %.3g (%d exempt ~0), loss %.4f -> %.4f, %.1f s\n", arch,
            graft_model_param_count(m), changed, ntrain, weakest_name, weakest, exempt, (double)loss, (double)loss2, now_s() - t0);
    graft_optimizer_free(o);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
    free(x);
}

START_TEST(resnet18_small_trains) { train_step_check("resnet18"); }
END_TEST

START_TEST(mobilenetv2_small_trains) { train_step_check("mobilenetv2"); }
END_TEST

START_TEST(arch_errors)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_arch_params p = graft_arch_default_params("vgg16");
    ck_assert_int_eq(graft_model_build_arch(m, "vgg16", &p), GRAFT_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(graft_last_error(ctx), "vgg16"));
    ck_assert_int_eq(graft_model_num_nodes(m), 0);

    p = graft_arch_default_params("resnet18");
    p.height = p.width = 16;
    ck_assert_int_eq(graft_model_build_arch(m, "resnet18", &p), GRAFT_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(graft_last_error(ctx), "resnet18"));
    ck_assert_ptr_nonnull(strstr(graft_last_error(ctx), "16x16"));
    ck_assert_int_eq(graft_model_num_nodes(m), 0);

    p.height = p.width = 32;
    p.classes = 0;
    ck_assert_int_eq(graft_model_build_arch(m, "resnet18", &p), GRAFT_ERR_SHAPE);
    ck_assert_int_eq(graft_model_build_arch(m, NULL, &p), GRAFT_ERR_INVALID_ARG);

    /* A second build into a non-empty model is refused. */
    p = graft_arch_default_params("refnet");
    ck_assert_int_eq(graft_model_build_arch(m, "refnet", &p), GRAFT_OK);
    ck_assert_int_eq(graft_model_build_arch(m, "refnet", &p), GRAFT_ERR_INVALID_ARG);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("arch");
    TCase *tc = tcase_create("arch");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, refnet_counts_and_shapes);
    tcase_add_test(tc, resnet18_matches_torchvision_count);
    tcase_add_test(tc, mobilenetv2_matches_torchvision_count);
    tcase_add_test(tc, arch_errors);
    tcase_add_test(tc, resnet18_small_trains);
    tcase_add_test(tc, mobilenetv2_small_trains);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
