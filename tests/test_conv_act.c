/* An activation fused into the conv before it (an imported graph's conv
 * with its BatchNorm in the weights; model_plan_fusion): on CPU-style
 * kernels the conv applies ReLU / ReLU6 / leaky ReLU in its store epilogue
 * in training forwards too, and its backward multiplies dy by the
 * derivative recovered from the stored output. Logits, loss and every
 * gradient equal the unfused graph's, and the gradients match central
 * finite differences of the loss. GPU-style kernels never fuse. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "model.h"
#include "testutil.h"

static graft_layer_spec act(graft_layer_kind k, float slope)
{
    graft_layer_spec s = graft_layer_default(k);
    s.slope = slope;
    return s;
}

/* input 5x9x7 -> a: conv3x3 (padded: the kept padded input) + relu6 ->
 * b: depthwise 3x3 stride 2 + relu -> c: conv1x1 (no bias) + leaky(0.1) -> d: conv1x1
 * feeding both relu and an add (two consumers: not fused) -> add -> e: conv1x1 + leaky(0.8) -> gap ->
 * fc. Weights scaled up so that ReLU6's upper clamp is reached. */
static graft_model *conv_act_net(graft_ctx *ctx)
{
    graft_model *m;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_model_set_seed(m, 21);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 5;
    in.height = 9;
    in.width = 7;
    int x = tu_add(m, "input", in, 0, NULL);
    int a = tu_add(m, "a.conv", tu_conv(6, 3, 1, 1, 1), 1, &x);
    a = tu_add(m, "a.act", act(GRAFT_LAYER_RELU6, 0), 1, &a);
    int b = tu_add(m, "b.conv", tu_conv(6, 3, 2, 6, 1), 1, &a);
    b = tu_add(m, "b.act", act(GRAFT_LAYER_RELU, 0), 1, &b);
    graft_layer_spec nobias = tu_conv(7, 1, 1, 1, 1);
    nobias.bias = 0; /* the derivative alone, without the bias gradient's pass */
    int c = tu_add(m, "c.conv", nobias, 1, &b);
    c = tu_add(m, "c.act", act(GRAFT_LAYER_LEAKY_RELU, 0.1f), 1, &c);
    int d = tu_add(m, "d.conv", tu_conv(7, 1, 1, 1, 1), 1, &c);
    int ins[2] = {tu_add(m, "d.act", act(GRAFT_LAYER_RELU, 0), 1, &d), d};
    int s = tu_add(m, "add", graft_layer_default(GRAFT_LAYER_ADD), 2, ins);
    /* e: conv1x1 with bias + leaky(0.8): the leaky derivative in the pass
     * that also sums the bias gradient. */
    int e = tu_add(m, "e.conv", tu_conv(7, 1, 1, 1, 1), 1, &s);
    e = tu_add(m, "e.act", act(GRAFT_LAYER_LEAKY_RELU, 0.8f), 1, &e);
    int g = tu_add(m, "gap", graft_layer_default(GRAFT_LAYER_GLOBAL_AVGPOOL), 1, &e);
    graft_layer_spec fc = graft_layer_default(GRAFT_LAYER_LINEAR);
    fc.channels = 3;
    tu_add(m, "fc", fc, 1, &g);
    int p = graft_model_find(m, "a.conv") >= 0 ? 0 : -1; /* a.conv.weight */
    size_t cnt = graft_model_param_numel(m, p);
    float *w = malloc(cnt * sizeof *w);
    ck_assert(w);
    ck_assert_int_eq(graft_model_param_get(m, p, w, cnt), GRAFT_OK);
    for (size_t i = 0; i < cnt; i++) w[i] *= 6.0f;
    ck_assert_int_eq(graft_model_param_set(m, p, w, cnt), GRAFT_OK);
    free(w);
    return m;
}

static double loss_at(graft_model *m, const float *x, int n, const int *y)
{
    float loss;
    ck_assert_int_eq(graft_model_forward(m, x, n, 1, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_backward(m, y, 0.0f, &loss, NULL), GRAFT_OK);
    return loss;
}

START_TEST(conv_activation_fusion_matches_unfused)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    int cpu = ctx_is_cpu(ctx), keep = ctx->fuse;
    graft_model *mf = conv_act_net(ctx), *mu = conv_act_net(ctx);
    const int n = 3;
    float x[3 * 5 * 9 * 7], lf[9], lu[9];
    tu_rng r = {13};
    tu_fill(&r, x, sizeof x / sizeof x[0], -1, 1);
    int y[3] = {2, 0, 1};
    ctx->fuse = 1; /* read when a model reserves its buffers */
    ck_assert_int_eq(graft_model_forward(mf, x, n, 1, lf), GRAFT_OK);
    ctx->fuse = 0;
    ck_assert_int_eq(graft_model_forward(mu, x, n, 1, lu), GRAFT_OK);
    ctx->fuse = keep;
    const char *fused[] = {"a.act", "b.act", "c.act", "e.act"};
    for (int i = 0; i < 4; i++) {
        int k = graft_model_find(mf, fused[i]);
        ck_assert_msg(mf->nodes[k].fused == cpu, "%s", fused[i]);
        ck_assert_int_eq(mf->nodes[mf->nodes[k].in[0]].l->fused_act != 0, cpu);
        ck_assert(!mu->nodes[k].fused);
    }
    ck_assert(!mf->nodes[graft_model_find(mf, "d.act")].fused);
    /* ReLU6's clamp is reached, so its derivative's upper edge is tested. */
    int an = graft_model_find(mu, "a.act");
    size_t na = (size_t)n * shape_numel(mu->nodes[an].shape);
    float *av = malloc(na * sizeof *av);
    ck_assert(av);
    ck_assert_int_eq(graft_model_node_output(mu, an, av, na), GRAFT_OK);
    size_t clamped = 0, zero = 0;
    for (size_t i = 0; i < na; i++) clamped += av[i] == 6.0f, zero += av[i] == 0.0f;
    ck_assert_msg(clamped > 0 && zero > 0 && clamped + zero < na, "relu6: %zu at 6, %zu at 0",
                  clamped, zero);
    ck_assert_msg(!memcmp(lf, lu, sizeof lf), "training logits differ");
    /* A fused conv's output reads as its activation's (CPU style). */
    int ac = graft_model_find(mf, "a.conv");
    float *cv = malloc(na * sizeof *cv);
    ck_assert(cv);
    ck_assert_int_eq(graft_model_node_output(mf, ac, cv, na), GRAFT_OK);
    ck_assert_int_eq(!memcmp(cv, av, na * sizeof *cv), cpu);
    free(cv);
    free(av);

    float loss_f, loss_u;
    ck_assert_int_eq(graft_model_backward(mf, y, 0.0f, &loss_f, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_backward(mu, y, 0.0f, &loss_u, NULL), GRAFT_OK);
    ck_assert(loss_f == loss_u);
    for (int p = 0; p < graft_model_num_params(mf); p++) {
        size_t cnt = graft_model_param_numel(mf, p);
        float *gf = malloc(cnt * sizeof *gf), *gu = malloc(cnt * sizeof *gu);
        ck_assert(gf && gu);
        ck_assert_int_eq(graft_model_param_grad(mf, p, gf, cnt), GRAFT_OK);
        ck_assert_int_eq(graft_model_param_grad(mu, p, gu, cnt), GRAFT_OK);
        double gmax = 1e-6, e = 0;
        for (size_t i = 0; i < cnt; i++) gmax = fmax(gmax, fabs(gu[i]));
        for (size_t i = 0; i < cnt; i++) e = fmax(e, fabs((double)gf[i] - gu[i]) / gmax);
        ck_assert_msg(e <= 1e-6, "%s: fused vs unfused gradient %g", graft_model_param_name(mf, p),
                      e);
        free(gf);
        free(gu);
    }
    /* Inference too (folded or not, the conv applies its activation). */
    ck_assert_int_eq(graft_model_forward(mf, x, n, 0, lf), GRAFT_OK);
    ck_assert_int_eq(graft_model_forward(mu, x, n, 0, lu), GRAFT_OK);
    for (int i = 0; i < 9; i++)
        ck_assert_msg(fabs((double)lf[i] - lu[i]) <= 1e-5 * (1 + fabs(lu[i])), "inference logits");

    /* The fused model's gradients against central finite differences,
     * except where the step crosses a kink of an activation for some
     * pixel (the one-sided differences disagree): there the loss is not
     * smooth, fused or not. */
    double worst = 0;
    int checked = 0, kinks = 0;
    for (int p = 0; p < graft_model_num_params(mf); p++) {
        if (!graft_model_param_is_trainable(mf, p)) continue;
        size_t cnt = graft_model_param_numel(mf, p);
        float *w = malloc(cnt * sizeof *w), *g = malloc(cnt * sizeof *g);
        ck_assert(w && g);
        ck_assert_int_eq(graft_model_param_get(mf, p, w, cnt), GRAFT_OK);
        loss_at(mf, x, n, y);
        ck_assert_int_eq(graft_model_param_grad(mf, p, g, cnt), GRAFT_OK);
        double gmax = 1e-3;
        for (size_t i = 0; i < cnt; i++) gmax = fmax(gmax, fabs(g[i]));
        for (size_t i = 0; i < cnt; i += (cnt + 5) / 6) {
            const float eps = 2e-3f;
            float k0 = w[i];
            double l0 = loss_at(mf, x, n, y);
            w[i] = k0 + eps;
            ck_assert_int_eq(graft_model_param_set(mf, p, w, cnt), GRAFT_OK);
            double lp = loss_at(mf, x, n, y);
            w[i] = k0 - eps;
            ck_assert_int_eq(graft_model_param_set(mf, p, w, cnt), GRAFT_OK);
            double lm = loss_at(mf, x, n, y);
            w[i] = k0;
            ck_assert_int_eq(graft_model_param_set(mf, p, w, cnt), GRAFT_OK);
            if (fabs((lp - l0) - (l0 - lm)) / eps > 0.05 * gmax) {
                kinks++;
                continue;
            }
            double fd = (lp - lm) / (2 * eps), e = fabs(fd - g[i]) / gmax;
            worst = fmax(worst, e);
            checked++;
            ck_assert_msg(e < 2e-2, "%s[%zu]: analytic %g, finite difference %g",
                          graft_model_param_name(mf, p), i, (double)g[i], fd);
        }
        free(w);
        free(g);
    }
    fprintf(stderr, "conv+activation fusion (CPU-style kernels: %d): finite differences worst "
            "%.3g over %d elements (%d at kinks skipped)\n", cpu, worst, checked, kinks);
    ck_assert_int_gt(checked, 4 * kinks);
    graft_model_free(mf);
    graft_model_free(mu);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv_act");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, conv_activation_fusion_matches_unfused);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
