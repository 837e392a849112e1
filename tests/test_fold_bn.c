/* Inference folding (src/graph/fold_bn.c): conv [-> BatchNorm] [-> Add]
 * [-> activation] chains run as one conv with an epilogue on CPU-style
 * contexts. Logits equal those of the same model run unfolded; the folded
 * nodes are marked; reading an inner node's output or running backward
 * after a folded forward gives the unfolded numbers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "model.h"
#include "testutil.h"

static int conv_bn(graft_model *m, const char *name, graft_layer_spec cs, int from)
{
    char nm[32];
    snprintf(nm, sizeof nm, "%s.conv", name);
    int c = tu_add(m, nm, cs, 1, &from);
    snprintf(nm, sizeof nm, "%s.bn", name);
    return tu_add(m, nm, graft_layer_default(GRAFT_LAYER_BATCHNORM2D), 1, &c);
}

static int act(graft_model *m, const char *name, graft_layer_kind k, float slope, int from)
{
    graft_layer_spec s = graft_layer_default(k);
    s.slope = slope;
    return tu_add(m, name, s, 1, &from);
}

/* input 130x9x13 (K = 1170: two conv_tall_cpu K chunks) -> a: conv3x3 +
 * bn + relu6 -> b: depthwise + bn + relu -> c: conv1x1 + bn + add(a) ->
 * d: conv3x3 + bn + add(c) + relu -> e: conv3x3/2 + bn -> leaky(-0.2) (not
 * fusible) -> f: depthwise x2 stride 2 + bn + leaky(0.1) -> g: conv +
 * relu6 -> h: conv1x1 + add(g) + relu -> k: depthwise + leaky -> m: conv1x1 +
 * bn + add(k) + relu6 -> gap -> fc. */
static graft_model *fold_net(graft_ctx *ctx)
{
    graft_model *m;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_model_set_seed(m, 11);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 130;
    in.height = 9;
    in.width = 13;
    int x = tu_add(m, "input", in, 0, NULL);
    int a = act(m, "a.act", GRAFT_LAYER_RELU6, 0, conv_bn(m, "a", tu_conv(8, 3, 1, 1, 1), x));
    int b = act(m, "b.act", GRAFT_LAYER_RELU, 0, conv_bn(m, "b", tu_conv(8, 3, 1, 8, 0), a));
    int ins[2] = {conv_bn(m, "c", tu_conv(8, 1, 1, 1, 0), b), a};
    int c = tu_add(m, "c.add", graft_layer_default(GRAFT_LAYER_ADD), 2, ins);
    ins[0] = c;
    ins[1] = conv_bn(m, "d", tu_conv(8, 3, 1, 1, 1), c);
    int d = act(m, "d.act", GRAFT_LAYER_RELU, 0,
                tu_add(m, "d.add", graft_layer_default(GRAFT_LAYER_ADD), 2, ins));
    int e = act(m, "e.act", GRAFT_LAYER_LEAKY_RELU, -0.2f, conv_bn(m, "e", tu_conv(8, 3, 2, 1, 0), d));
    int f = act(m, "f.act", GRAFT_LAYER_LEAKY_RELU, 0.1f, conv_bn(m, "f", tu_conv(16, 3, 2, 8, 1), e));
    /* BatchNorm already in the weights (an ONNX export's graph): conv ->
     * relu6, conv -> add -> relu, depthwise -> leaky. */
    /* 40 channels: one full 32-channel stripe of conv_tall_cpu (its
     * vector epilogue) and a partial one. */
    int gc = tu_add(m, "g.conv", tu_conv(40, 3, 1, 1, 1), 1, &f);
    int g0 = act(m, "g.act", GRAFT_LAYER_RELU6, 0, gc);
    ins[0] = tu_add(m, "h.conv", tu_conv(40, 1, 1, 1, 1), 1, &g0);
    ins[1] = g0;
    int h = act(m, "h.act", GRAFT_LAYER_RELU, 0,
                tu_add(m, "h.add", graft_layer_default(GRAFT_LAYER_ADD), 2, ins));
    int kc = tu_add(m, "k.conv", tu_conv(40, 3, 1, 40, 1), 1, &h);
    int k = act(m, "k.act", GRAFT_LAYER_LEAKY_RELU, 0.1f, kc);
    /* m: conv1x1 + bn + add(k) + relu6 over full stripes */
    ins[0] = conv_bn(m, "m", tu_conv(40, 1, 1, 1, 1), k);
    ins[1] = k;
    int mm = act(m, "m.act", GRAFT_LAYER_RELU6, 0,
                 tu_add(m, "m.add", graft_layer_default(GRAFT_LAYER_ADD), 2, ins));
    int g = tu_add(m, "gap", graft_layer_default(GRAFT_LAYER_GLOBAL_AVGPOOL), 1, &mm);
    graft_layer_spec fc = graft_layer_default(GRAFT_LAYER_LINEAR);
    fc.channels = 3;
    tu_add(m, "fc", fc, 1, &g);
    /* BatchNorm parameters and statistics far from the identity. */
    tu_rng r = {31};
    for (int p = 0; p < graft_model_num_params(m); p++) {
        const char *nm = graft_model_param_name(m, p);
        if (!strstr(nm, ".bn.")) continue;
        size_t cnt = graft_model_param_numel(m, p);
        float *v = malloc(cnt * sizeof *v);
        ck_assert(v);
        int var = strstr(nm, "running_var") != NULL;
        tu_fill(&r, v, cnt, var ? 0.3f : -1.5f, var ? 3.0f : 1.5f);
        ck_assert_int_eq(graft_model_param_set(m, p, v, cnt), GRAFT_OK);
        free(v);
    }
    return m;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)a[i] - b[i]) / (1 + fabs(b[i])));
    return e;
}

START_TEST(folded_inference_matches_unfolded)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *mf = fold_net(ctx), *mu = fold_net(ctx);
    mu->fold_off = 1;
    const int n = 3;
    size_t nx = (size_t)n * 130 * 9 * 13;
    float *x = malloc(nx * sizeof *x), lf[9], lu[9];
    ck_assert(x);
    tu_rng r = {5};
    tu_fill(&r, x, nx, -1, 1);
    ck_assert_int_eq(graft_model_forward(mf, x, n, 0, lf), GRAFT_OK);
    ck_assert_int_eq(graft_model_forward(mu, x, n, 0, lu), GRAFT_OK);
    double e = max_diff(lf, lu, 9);
    fprintf(stderr, "folded vs unfolded logits: %.3g (CPU-style kernels: %d)\n", e,
            ctx_is_cpu(ctx));
    ck_assert_msg(e < 1e-5, "folded vs unfolded logits differ by %g", e);

    /* Which nodes folded: every chain on CPU-style kernels, none on GPU. */
    int cpu = ctx_is_cpu(ctx);
    const char *stale[] = {"a.conv", "b.conv", "c.conv", "c.bn", "d.conv", "d.bn", "d.add",
                           "e.conv", "f.conv", "h.conv", "h.add", "m.conv", "m.bn", "m.add"};
    const char *written[] = {"a.bn", "b.bn", "c.add", "d.act", "e.bn", "f.bn", "e.act",
                             "g.act", "h.act", "k.act", "m.act"};
    for (size_t i = 0; i < sizeof stale / sizeof stale[0]; i++)
        ck_assert_msg(mf->nodes[graft_model_find(mf, stale[i])].stale == cpu, "%s", stale[i]);
    for (size_t i = 0; i < sizeof written / sizeof written[0]; i++)
        ck_assert_msg(!mf->nodes[graft_model_find(mf, written[i])].stale, "%s", written[i]);
    for (int i = 0; i < mu->nnodes; i++) ck_assert(!mu->nodes[i].stale);
    /* conv -> activation with no BatchNorm between: the activation is
     * fused into the conv (its store epilogue) on CPU-style kernels, in
     * every forward, so the conv's buffer holds the activation. */
    const char *conv_fused[] = {"g.act", "k.act"};
    for (size_t i = 0; i < 2; i++) {
        const node *an = &mf->nodes[graft_model_find(mf, conv_fused[i])];
        ck_assert_msg(an->fused == cpu, "%s", conv_fused[i]);
        ck_assert(!mf->nodes[an->in[0]].stale);
    }

    /* An inner node's output: the forward reruns unfolded, and later
     * forwards of this model no longer fold. */
    int cbn = graft_model_find(mf, "c.bn");
    size_t cnt = (size_t)n * 8 * 9 * 13;
    float *of = malloc(cnt * sizeof *of), *ou = malloc(cnt * sizeof *ou);
    ck_assert(of && ou);
    ck_assert_int_eq(graft_model_node_output(mf, cbn, of, cnt), GRAFT_OK);
    ck_assert_int_eq(graft_model_node_output(mu, cbn, ou, cnt), GRAFT_OK);
    ck_assert_msg(max_diff(of, ou, cnt) < 1e-5, "inner node output after folding");
    ck_assert_int_eq(mf->fold_off, cpu);
    ck_assert_int_eq(graft_model_forward(mf, x, n, 0, lf), GRAFT_OK);
    ck_assert(!mf->nodes[cbn].stale);
    free(of);
    free(ou);

    /* Backward right after a folded inference forward (a fresh model). */
    graft_model *mb = fold_net(ctx);
    int y[3] = {0, 2, 1};
    float lossb, lossu;
    ck_assert_int_eq(graft_model_forward(mb, x, n, 0, lf), GRAFT_OK);
    ck_assert_int_eq(graft_model_backward(mb, y, 0.0f, &lossb, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_forward(mu, x, n, 0, lu), GRAFT_OK);
    ck_assert_int_eq(graft_model_backward(mu, y, 0.0f, &lossu, NULL), GRAFT_OK);
    ck_assert_msg(fabs((double)lossb - lossu) < 1e-5, "loss %g vs %g", lossb, lossu);
    int p0 = 0; /* a.conv.weight */
    size_t nw = graft_model_param_numel(mb, p0);
    float *gb = malloc(nw * sizeof *gb), *gu = malloc(nw * sizeof *gu);
    ck_assert(gb && gu);
    ck_assert_int_eq(graft_model_param_grad(mb, p0, gb, nw), GRAFT_OK);
    ck_assert_int_eq(graft_model_param_grad(mu, p0, gu, nw), GRAFT_OK);
    ck_assert_msg(max_diff(gb, gu, nw) < 1e-5, "gradient after a folded forward");
    free(gb);
    free(gu);
    graft_model_free(mb);

    /* Training forwards never fold. */
    ck_assert_int_eq(graft_model_forward(mb = fold_net(ctx), x, n, 1, lf), GRAFT_OK);
    for (int i = 0; i < mb->nnodes; i++) ck_assert(!mb->nodes[i].stale);
    graft_model_free(mb);
    graft_model_free(mf);
    graft_model_free(mu);
    free(x);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fold_bn");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, folded_inference_matches_unfolded);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
