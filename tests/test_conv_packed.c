/* Packed conv weights in inference (src/graph/layers/conv_packed.c): on
 * CPU-style contexts an inference forward keeps each conv's weights
 * rearranged for its kernel (Winograd's transform, conv_tall_cpu's B) and
 * re-packs them only after the weights were written. Checked through the
 * public API on a small net (a Winograd-shaped 3x3, a strided 3x3, a
 * second 3x3), with Winograd forced on and off: inference logits equal
 * the logits of a training forward (which never uses the packed copy;
 * the net has no BatchNorm or dropout, so both compute the same thing)
 * after building, after graft_model_param_set and after an optimizer step,
 * and each of those changes the logits (a stale copy would repeat the old
 * ones); repeated inference forwards pack nothing again, nor do training
 * steps of a model whose convs are frozen (fine-tuning); a frozen conv
 * between trained layers trains them exactly as lr_mult 0 does; batch
 * sizes that switch a conv between Winograd and conv_tall keep both
 * packings. GPU-style
 * contexts pack nothing and pass the same equalities. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "testutil.h"

enum { BATCH = 3, C = 5, H = 13, W = 11, CLASSES = 4 };

static graft_model *small_net(graft_ctx *ctx)
{
    graft_model *m;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_model_set_seed(m, 11);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = C, in.height = H, in.width = W;
    int x = tu_add(m, "input", in, 0, NULL);
    x = tu_add(m, "a", tu_conv(36, 3, 1, 1, 1), 1, &x);
    x = tu_add(m, "a.relu", graft_layer_default(GRAFT_LAYER_RELU), 1, &x);
    x = tu_add(m, "b", tu_conv(40, 3, 2, 1, 0), 1, &x);
    x = tu_add(m, "c", tu_conv(33, 3, 1, 1, 1), 1, &x);
    x = tu_add(m, "gap", graft_layer_default(GRAFT_LAYER_GLOBAL_AVGPOOL), 1, &x);
    graft_layer_spec fc = graft_layer_default(GRAFT_LAYER_LINEAR);
    fc.channels = CLASSES;
    tu_add(m, "fc", fc, 1, &x);
    return m;
}

static long packs(const graft_ctx *ctx)
{
    return tu_kernel_calls(ctx, "winograd_weights_cpu") + tu_kernel_calls(ctx, "conv_tall_pack_b_cpu");
}

static double max_abs_diff(const float *a, const float *b, int n)
{
    double d = 0;
    for (int i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* Inference logits into inf; asserts they match a training forward's and
 * returns them. */
static void check_inference(graft_model *m, const float *x, float *inf)
{
    float tr[BATCH * CLASSES];
    ck_assert_int_eq(graft_model_forward(m, x, BATCH, 0, inf), GRAFT_OK);
    ck_assert_int_eq(graft_model_forward(m, x, BATCH, 1, tr), GRAFT_OK);
    double scale = 0;
    for (int i = 0; i < BATCH * CLASSES; i++) scale = fmax(scale, fabs(tr[i]));
    ck_assert(scale > 0);
    double d = max_abs_diff(inf, tr, BATCH * CLASSES);
    ck_assert_msg(d <= 1e-5 * scale, "inference vs training forward: %g (scale %g)", d, scale);
}

static void run(graft_conv_winograd mode)
{
    graft_ctx_params p = tu_params(GRAFT_GEMM_NATIVE);
    p.conv_winograd = mode;
    p.profile_kernels = 1;
    graft_ctx *ctx = tu_ctx_params(&p);
    int cpu = ctx_is_cpu(ctx);
    graft_model *m = small_net(ctx);
    tu_rng r = {99};
    float x[BATCH * C * H * W], l0[BATCH * CLASSES], l1[BATCH * CLASSES], l2[BATCH * CLASSES];
    tu_fill(&r, x, BATCH * C * H * W, -1, 1);

    check_inference(m, x, l0);
    long before = packs(ctx);
    if (cpu) ck_assert_int_gt(before, 0);
    /* Unchanged weights: nothing is packed again. */
    for (int i = 0; i < 3; i++) ck_assert_int_eq(graft_model_forward(m, x, BATCH, 0, l1), GRAFT_OK);
    ck_assert_int_eq(packs(ctx), before);
    ck_assert(max_abs_diff(l0, l1, BATCH * CLASSES) == 0);

    /* New weights for every conv through the API. */
    for (int i = 0; i < graft_model_num_params(m); i++) {
        size_t n = graft_model_param_numel(m, i);
        float *v = malloc(n * sizeof *v);
        ck_assert_ptr_nonnull(v);
        tu_fill(&r, v, n, -0.3f, 0.3f);
        ck_assert_int_eq(graft_model_param_set(m, i, v, n), GRAFT_OK);
        free(v);
    }
    check_inference(m, x, l1);
    ck_assert_msg(max_abs_diff(l0, l1, BATCH * CLASSES) > 1e-3, "param_set left logits as they were");

    /* One SGD step. */
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    op.lr = 0.5f;
    graft_optimizer *o;
    ck_assert_int_eq(graft_optimizer_create(m, &op, &o), GRAFT_OK);
    int labels[BATCH] = {0, 3, 1};
    ck_assert_int_eq(graft_model_forward(m, x, BATCH, 1, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_backward(m, labels, 0.0f, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_optimizer_step(o), GRAFT_OK);
    check_inference(m, x, l2);
    ck_assert_msg(max_abs_diff(l1, l2, BATCH * CLASSES) > 1e-4, "the step left logits as they were");
    if (!cpu) ck_assert_int_eq(packs(ctx), 0);
    fprintf(stderr, "%s style, winograd %d: %ld packs\n", cpu ? "cpu" : "gpu", (int)mode,
            packs(ctx));

    graft_optimizer_free(o);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}

/* Fine-tuning with frozen convs: their training forwards use the packed
 * copy too (fwd_io.frozen), so a training step packs nothing, and gives the
 * logits of the same step with every conv still trainable. */
static void run_frozen(graft_conv_winograd mode)
{
    graft_ctx_params p = tu_params(GRAFT_GEMM_NATIVE);
    p.conv_winograd = mode;
    p.profile_kernels = 1;
    graft_ctx *ctx = tu_ctx_params(&p);
    graft_model *m = small_net(ctx);
    tu_rng r = {5};
    float x[BATCH * C * H * W], open[BATCH * CLASSES], frozen[BATCH * CLASSES];
    float inf[BATCH * CLASSES];
    tu_fill(&r, x, BATCH * C * H * W, -1, 1);
    ck_assert_int_eq(graft_model_forward(m, x, BATCH, 1, open), GRAFT_OK);
    for (int i = 0; i < graft_model_num_nodes(m); i++)
        if (graft_model_node_spec(m, i)->kind == GRAFT_LAYER_CONV2D)
            ck_assert_int_eq(graft_model_set_trainable(m, i, 0), GRAFT_OK);
    check_inference(m, x, inf); /* packs the convs */
    long before = packs(ctx);
    ck_assert_int_eq(graft_model_forward(m, x, BATCH, 1, frozen), GRAFT_OK);
    double scale = 0;
    for (int i = 0; i < BATCH * CLASSES; i++) scale = fmax(scale, fabs(open[i]));
    ck_assert(max_abs_diff(open, frozen, BATCH * CLASSES) <= 1e-5 * scale);
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    op.lr = 0.5f;
    graft_optimizer *o;
    ck_assert_int_eq(graft_optimizer_create(m, &op, &o), GRAFT_OK);
    int labels[BATCH] = {2, 0, 1};
    ck_assert_int_eq(graft_model_backward(m, labels, 0.0f, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_optimizer_step(o), GRAFT_OK);
    ck_assert_int_eq(graft_model_forward(m, x, BATCH, 1, frozen), GRAFT_OK);
    ck_assert_msg(packs(ctx) == before, "frozen convs packed again: %ld -> %ld", before,
                  packs(ctx));
    ck_assert_msg(max_abs_diff(open, frozen, BATCH * CLASSES) > 1e-4, "the head did not train");
    if (!ctx_is_cpu(ctx)) ck_assert_int_eq(before, 0);
    graft_optimizer_free(o);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}

/* A frozen conv in the middle ("b"), with a trained conv below it ("a"):
 * b's forward uses its packed weights and keeps no padded input (it takes
 * no weight gradient), its backward still passes dx down. Two SGD steps
 * must equal those of the same net with b trainable at lr_mult 0 (no
 * packing, its weight gradient computed and unused): a's weights and the
 * logits after. */
static void run_frozen_middle(graft_conv_winograd mode)
{
    graft_ctx_params p = tu_params(GRAFT_GEMM_NATIVE);
    p.conv_winograd = mode;
    graft_ctx *ctx = tu_ctx_params(&p);
    graft_model *m[2] = {small_net(ctx), small_net(ctx)};
    int b = graft_model_find(m[0], "b");
    ck_assert_int_ge(b, 0);
    ck_assert_int_eq(graft_model_set_trainable(m[0], b, 0), GRAFT_OK);
    ck_assert_int_eq(graft_model_set_lr_mult(m[1], b, 0.0f), GRAFT_OK);
    tu_rng r = {17};
    float x[BATCH * C * H * W], out[2][BATCH * CLASSES];
    tu_fill(&r, x, BATCH * C * H * W, -1, 1);
    int labels[BATCH] = {1, 3, 0};
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    op.lr = 0.2f;
    size_t na = graft_model_param_numel(m[0], 0);
    float *wa[2] = {malloc(na * sizeof(float)), malloc(na * sizeof(float))};
    ck_assert(wa[0] && wa[1]);
    for (int k = 0; k < 2; k++) {
        graft_optimizer *o;
        ck_assert_int_eq(graft_optimizer_create(m[k], &op, &o), GRAFT_OK);
        for (int step = 0; step < 2; step++) {
            ck_assert_int_eq(graft_model_forward(m[k], x, BATCH, 1, NULL), GRAFT_OK);
            ck_assert_int_eq(graft_model_backward(m[k], labels, 0.0f, NULL, NULL), GRAFT_OK);
            ck_assert_int_eq(graft_optimizer_step(o), GRAFT_OK);
        }
        ck_assert_int_eq(graft_model_forward(m[k], x, BATCH, 1, out[k]), GRAFT_OK);
        ck_assert_int_eq(graft_model_param_get(m[k], 0, wa[k], na), GRAFT_OK);
        graft_optimizer_free(o);
    }
    double dw = 0, sw = 0;
    for (size_t i = 0; i < na; i++) {
        dw = fmax(dw, fabs((double)wa[0][i] - wa[1][i]));
        sw = fmax(sw, fabs((double)wa[1][i]));
    }
    double scale = 0;
    for (int i = 0; i < BATCH * CLASSES; i++) scale = fmax(scale, fabs(out[1][i]));
    fprintf(stderr, "frozen middle conv, winograd %d: conv a %g (scale %g), logits %g (scale %g)\n",
            (int)mode, dw, sw, max_abs_diff(out[0], out[1], BATCH * CLASSES), scale);
    ck_assert(sw > 0 && scale > 0);
    ck_assert_msg(dw <= 1e-5 * sw, "conv a differs: %g", dw);
    ck_assert_msg(max_abs_diff(out[0], out[1], BATCH * CLASSES) <= 1e-5 * scale, "logits differ");
    free(wa[0]), free(wa[1]);
    graft_model_free(m[0]), graft_model_free(m[1]);
    graft_ctx_destroy(ctx);
}

START_TEST(frozen_middle_conv_trains_the_one_below_winograd) { run_frozen_middle(GRAFT_CONV_WINOGRAD_ON); }
END_TEST

START_TEST(frozen_middle_conv_trains_the_one_below_tall) { run_frozen_middle(GRAFT_CONV_WINOGRAD_OFF); }
END_TEST

/* Winograd AUTO: conv "c" (40 -> 33 channels on 7x6 planes, 4 tiles an
 * image) takes Winograd with cached weights at batch 8 (32 tiles) and
 * conv_tall at batch 3 (12): alternating the two, as an evaluation with a
 * short last batch does, packs each kind once and keeps both, and the
 * logits of each batch size match a training forward. */
START_TEST(both_kinds_stay_packed_across_batch_sizes)
{
    graft_ctx_params p = tu_params(GRAFT_GEMM_NATIVE);
    p.profile_kernels = 1;
    graft_ctx *ctx = tu_ctx_params(&p);
    graft_model *m = small_net(ctx);
    tu_rng r = {23};
    enum { BIG = 8 };
    float x[BIG * C * H * W], y[BIG * CLASSES], t[BIG * CLASSES];
    tu_fill(&r, x, BIG * C * H * W, -1, 1);
    long after_first = 0;
    for (int round = 0; round < 3; round++)
        for (int bi = 0; bi < 2; bi++) {
            int n = bi ? BATCH : BIG;
            ck_assert_int_eq(graft_model_forward(m, x, n, 0, y), GRAFT_OK);
            ck_assert_int_eq(graft_model_forward(m, x, n, 1, t), GRAFT_OK);
            double scale = 0;
            for (int i = 0; i < n * CLASSES; i++) scale = fmax(scale, fabs(t[i]));
            ck_assert(scale > 0);
            ck_assert_msg(max_abs_diff(y, t, n * CLASSES) <= 1e-5 * scale,
                          "batch %d: inference vs training forward", n);
            if (round == 0 && bi == 1) after_first = tu_kernel_calls(ctx, "conv_tall_pack_b_cpu");
        }
    /* conv_tall's packing is the only one inference alone does; the
     * Winograd transforms of the training forwards above run per call. */
    long tall = tu_kernel_calls(ctx, "conv_tall_pack_b_cpu");
    ck_assert_msg(tall == after_first, "conv_tall packed again: %ld -> %ld", after_first, tall);
    if (ctx_is_cpu(ctx)) {
        ck_assert_int_eq(tall, 3); /* a, b and c */
        ck_assert_int_gt(tu_kernel_calls(ctx, "winograd_gemm_cpu"), 0);
    } else {
        ck_assert_int_eq(tall, 0);
    }
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(frozen_convs_keep_packed_weights_winograd) { run_frozen(GRAFT_CONV_WINOGRAD_ON); }
END_TEST

START_TEST(frozen_convs_keep_packed_weights_tall) { run_frozen(GRAFT_CONV_WINOGRAD_OFF); }
END_TEST

START_TEST(packed_weights_follow_writes_winograd) { run(GRAFT_CONV_WINOGRAD_ON); }
END_TEST

START_TEST(packed_weights_follow_writes_tall) { run(GRAFT_CONV_WINOGRAD_OFF); }
END_TEST

int main(void)
{
    Suite *s = suite_create("conv_packed");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, packed_weights_follow_writes_winograd);
    tcase_add_test(tc, packed_weights_follow_writes_tall);
    tcase_add_test(tc, frozen_convs_keep_packed_weights_winograd);
    tcase_add_test(tc, frozen_convs_keep_packed_weights_tall);
    tcase_add_test(tc, frozen_middle_conv_trains_the_one_below_winograd);
    tcase_add_test(tc, frozen_middle_conv_trains_the_one_below_tall);
    tcase_add_test(tc, both_kinds_stay_packed_across_batch_sizes);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
