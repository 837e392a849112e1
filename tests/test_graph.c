/* The layer graph as a whole: finite-difference gradients through a small
 * graph with a residual add, frozen layers get no gradient work, and a
 * tiny network trained on a data/ fixture reduces its loss. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "model.h"
#include "testutil.h"

/* input(2,7,6) -> c1 -> bn -> relu -> c2 -> add(c1) -> leaky -> avgpool
 * -> flatten -> fc(3) */
static graft_model *residual_net(graft_ctx *ctx)
{
    graft_model *m;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_model_set_seed(m, 7);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 2;
    in.height = 7;
    in.width = 6;
    int x = tu_add(m, "input", in, 0, NULL);
    int c1 = tu_add(m, "c1", tu_conv(4, 3, 1, 1, 1), 1, &x);
    int b1 = tu_add(m, "bn1", graft_layer_default(GRAFT_LAYER_BATCHNORM2D), 1, &c1);
    int r1 = tu_add(m, "relu1", graft_layer_default(GRAFT_LAYER_RELU), 1, &b1);
    int c2 = tu_add(m, "c2", tu_conv(4, 3, 1, 1, 1), 1, &r1);
    int ins[2] = {c2, c1};
    int a = tu_add(m, "add", graft_layer_default(GRAFT_LAYER_ADD), 2, ins);
    int l = tu_add(m, "leaky", graft_layer_default(GRAFT_LAYER_LEAKY_RELU), 1, &a);
    graft_layer_spec ap = graft_layer_default(GRAFT_LAYER_AVGPOOL2D);
    ap.kernel = 3;
    ap.stride = 3;
    int g = tu_add(m, "pool", ap, 1, &l);
    int f = tu_add(m, "flatten", graft_layer_default(GRAFT_LAYER_FLATTEN), 1, &g);
    graft_layer_spec fc = graft_layer_default(GRAFT_LAYER_LINEAR);
    fc.channels = 3;
    tu_add(m, "fc", fc, 1, &f);
    return m;
}

static double loss_at(graft_model *m, const float *x, int n, const int *y)
{
    float loss;
    ck_assert_int_eq(graft_model_forward(m, x, n, 1, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_backward(m, y, 0.0f, &loss, NULL), GRAFT_OK);
    return loss;
}

START_TEST(graph_gradients_match_finite_differences)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m = residual_net(ctx);
    const int n = 3;
    float x[3 * 2 * 7 * 6];
    tu_rng r = {11};
    tu_fill(&r, x, sizeof x / sizeof x[0], -1, 1);
    int y[3] = {0, 2, 1};
    loss_at(m, x, n, y);
    double worst = 0;
    for (int p = 0; p < graft_model_num_params(m); p++) {
        if (!graft_model_param_is_trainable(m, p)) continue;
        size_t cnt = graft_model_param_numel(m, p);
        float *w = malloc(cnt * sizeof *w), *g = malloc(cnt * sizeof *g);
        ck_assert_int_eq(graft_model_param_get(m, p, w, cnt), GRAFT_OK);
        loss_at(m, x, n, y);
        ck_assert_int_eq(graft_model_param_grad(m, p, g, cnt), GRAFT_OK);
        double gmax = 1e-3;
        for (size_t i = 0; i < cnt; i++) gmax = fmax(gmax, fabs(g[i]));
        /* A few elements per tensor keep the test fast. */
        for (size_t i = 0; i < cnt; i += (cnt + 4) / 5) {
            const float eps = 2e-3f;
            float keep = w[i];
            w[i] = keep + eps;
            graft_model_param_set(m, p, w, cnt);
            double lp = loss_at(m, x, n, y);
            w[i] = keep - eps;
            graft_model_param_set(m, p, w, cnt);
            double lm = loss_at(m, x, n, y);
            w[i] = keep;
            graft_model_param_set(m, p, w, cnt);
            double fd = (lp - lm) / (2 * eps);
            double e = fabs(fd - g[i]) / gmax;
            if (e > worst) worst = e;
            ck_assert_msg(e < 2e-2, "%s[%zu]: analytic %g, finite difference %g",
                          graft_model_param_name(m, p), i, (double)g[i], fd);
        }
        free(w);
        free(g);
    }
    fprintf(stderr, "graph finite differences: worst error %.3g (relative to max |grad|)\n", worst);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

/* Output gradients are borrowed from a pool for their live range only: a
 * 16-node chain with one skip needs four buffers (three live across the
 * add, plus the small logits one), and reusing them (including
 * the accumulated gradient of a node with two consumers) gives the same
 * parameter gradients on every backward. */
START_TEST(gradient_buffers_are_pooled_by_lifetime)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_model_set_seed(m, 3);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 3;
    in.height = 5;
    in.width = 7;
    int prev = tu_add(m, "input", in, 0, NULL);
    int skip = -1;
    char name[16];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "c%d", i);
        prev = tu_add(m, name, tu_conv(3, 3, 1, 1, 1), 1, &prev);
        if (i == 1) skip = prev;
        if (i == 4) {
            int ins[2] = {prev, skip};
            prev = tu_add(m, "add", graft_layer_default(GRAFT_LAYER_ADD), 2, ins);
        }
        snprintf(name, sizeof name, "r%d", i);
        prev = tu_add(m, name, graft_layer_default(GRAFT_LAYER_RELU), 1, &prev);
    }
    prev = tu_add(m, "flatten", graft_layer_default(GRAFT_LAYER_FLATTEN), 1, &prev);
    graft_layer_spec fc = graft_layer_default(GRAFT_LAYER_LINEAR);
    fc.channels = 4;
    tu_add(m, "fc", fc, 1, &prev);

    const int n = 5;
    float x[5 * 3 * 5 * 7];
    tu_rng r = {29};
    tu_fill(&r, x, sizeof x / sizeof x[0], -1, 1);
    int y[5] = {0, 3, 1, 2, 3};
    int p0 = graft_model_find(m, "c0");
    ck_assert_int_ge(p0, 0);
    size_t cnt = graft_model_param_numel(m, 0);
    float *g1 = malloc(cnt * sizeof *g1), *g2 = malloc(cnt * sizeof *g2);
    ck_assert_ptr_nonnull(g1);
    ck_assert_ptr_nonnull(g2);
    loss_at(m, x, n, y);
    ck_assert_int_eq(graft_model_param_grad(m, 0, g1, cnt), GRAFT_OK);
    int pooled = m->ngpool;
    loss_at(m, x, n, y);
    ck_assert_int_eq(graft_model_param_grad(m, 0, g2, cnt), GRAFT_OK);
    ck_assert_int_eq(m->ngpool, pooled); /* steady state after one step */
    ck_assert_msg(pooled <= 4, "%d pooled gradient buffers for %d nodes", pooled, m->nnodes);
    double gmax = 0;
    for (size_t i = 0; i < cnt; i++) {
        ck_assert_msg(g1[i] == g2[i], "c0 weight grad [%zu]: %g then %g", i, (double)g1[i],
                      (double)g2[i]);
        gmax = fmax(gmax, fabs(g1[i]));
    }
    ck_assert_msg(gmax > 0, "c0 gets no gradient at all");
    for (int i = 0; i < m->nnodes; i++) ck_assert_ptr_null(m->nodes[i].grad);
    free(g1);
    free(g2);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(frozen_layers_get_no_gradient_work)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m = residual_net(ctx);
    int c1 = graft_model_find(m, "c1");
    ck_assert_int_ge(c1, 0);
    ck_assert_int_eq(graft_model_set_trainable(m, c1, 0), GRAFT_OK);
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    op.lr = 0.1f;
    graft_optimizer *o;
    ck_assert_int_eq(graft_optimizer_create(m, &op, &o), GRAFT_OK);
    float x[4 * 2 * 7 * 6];
    tu_rng r = {5};
    tu_fill(&r, x, sizeof x / sizeof x[0], -1, 1);
    int y[4] = {0, 1, 2, 1};

    int np = graft_model_num_params(m);
    float *before[16] = {0};
    for (int p = 0; p < np; p++) {
        size_t cnt = graft_model_param_numel(m, p);
        before[p] = malloc(cnt * sizeof(float));
        graft_model_param_get(m, p, before[p], cnt);
    }
    for (int step = 0; step < 3; step++) {
        ck_assert_int_eq(graft_model_forward(m, x, 4, 1, NULL), GRAFT_OK);
        ck_assert_int_eq(graft_model_backward(m, y, 0.0f, NULL, NULL), GRAFT_OK);
        ck_assert_int_eq(graft_optimizer_step(o), GRAFT_OK);
    }
    for (int p = 0; p < np; p++) {
        size_t cnt = graft_model_param_numel(m, p);
        float *now = malloc(cnt * sizeof *now);
        graft_model_param_get(m, p, now, cnt);
        const char *name = graft_model_param_name(m, p);
        int same = memcmp(now, before[p], cnt * sizeof *now) == 0;
        if (!strncmp(name, "c1.", 3)) {
            ck_assert_msg(same, "frozen %s changed", name);
            /* No weight-gradient GEMM ran: the gradient buffer is still 0. */
            float *g = calloc(cnt, sizeof *g);
            ck_assert_int_eq(graft_model_param_grad(m, p, g, cnt), GRAFT_OK);
            for (size_t i = 0; i < cnt; i++) ck_assert_float_eq(g[i], 0.0f);
            free(g);
        } else if (graft_model_param_is_trainable(m, p)) {
            ck_assert_msg(!same, "trainable %s did not change", name);
        }
        free(now);
        free(before[p]);
    }
    graft_optimizer_free(o);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

static int read_gz(const char *path, unsigned char *buf, int n)
{
    gzFile f = gzopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    int got = gzread(f, buf, (unsigned)n);
    gzclose(f);
    return got;
}

START_TEST(tiny_refnet_learns_fixture)
{
    enum { N = 512, B = 64 };
    static unsigned char raw[16 + N * 784], lab[8 + N];
    char path[512];
    snprintf(path, sizeof path, "%s/fixtures/fmnist512-images-idx3-ubyte.gz", GRAFT_DATA_DIR);
    ck_assert_int_eq(read_gz(path, raw, sizeof raw), (int)sizeof raw);
    snprintf(path, sizeof path, "%s/fixtures/fmnist512-labels-idx1-ubyte.gz", GRAFT_DATA_DIR);
    ck_assert_int_eq(read_gz(path, lab, sizeof lab), (int)sizeof lab);
    float *x = malloc(sizeof(float) * N * 784);
    int y[N];
    for (int i = 0; i < N * 784; i++) x[i] = raw[16 + i] / 255.0f - 0.3f;
    for (int i = 0; i < N; i++) y[i] = lab[8 + i];

    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_model_set_seed(m, 3);
    graft_arch_params ap = graft_arch_default_params("refnet");
    ck_assert_int_eq(graft_model_build_arch(m, "refnet", &ap), GRAFT_OK);
    ck_assert_uint_eq(graft_model_param_count(m), 140458);
    ck_assert_msg(fabs(graft_model_flops_per_image(m) - 43.8e6) < 0.05e6, "refnet: %.0f FLOP per image",
                  graft_model_flops_per_image(m));
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    op.lr = 0.05f;
    graft_optimizer *o;
    ck_assert_int_eq(graft_optimizer_create(m, &op, &o), GRAFT_OK);
    double first = 0, last = 0;
    for (int epoch = 0; epoch < 4; epoch++) {
        double sum = 0;
        for (int b = 0; b < N / B; b++) {
            float loss;
            ck_assert_int_eq(graft_model_forward(m, x + (size_t)b * B * 784, B, 1, NULL), GRAFT_OK);
            ck_assert_int_eq(graft_model_backward(m, y + b * B, 0.0f, &loss, NULL), GRAFT_OK);
            ck_assert_int_eq(graft_optimizer_step(o), GRAFT_OK);
            sum += loss;
        }
        if (epoch == 0) first = sum / (N / B);
        last = sum / (N / B);
        fprintf(stderr, "tiny refnet epoch %d: mean loss %.4f\n", epoch, last);
    }
    /* From ~2.3 (chance) the loss must at least halve in 4 epochs. */
    ck_assert_msg(last < 0.5 * first, "loss %g -> %g did not halve", first, last);
    graft_optimizer_free(o);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
    free(x);
}
END_TEST

START_TEST(graph_errors)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_layer_spec c = tu_conv(4, 3, 1, 1, 1);
    int zero = 0;
    ck_assert_int_eq(graft_model_add(m, "c", &c, 1, &zero, NULL), GRAFT_ERR_INVALID_ARG);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 1;
    in.height = 2;
    in.width = 2;
    ck_assert_int_eq(graft_model_add(m, "input", &in, 0, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "input", &in, 0, NULL, NULL), GRAFT_ERR_INVALID_ARG);
    c.kernel = 5;
    c.pad = 0;
    ck_assert_int_eq(graft_model_add(m, "big", &c, 1, &zero, NULL), GRAFT_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(graft_last_error(ctx), "big"));
    int bad = 7;
    c = tu_conv(4, 3, 1, 1, 1);
    ck_assert_int_eq(graft_model_add(m, "c", &c, 1, &bad, NULL), GRAFT_ERR_INVALID_ARG);
    graft_layer_spec a = graft_layer_default(GRAFT_LAYER_ADD);
    ck_assert_int_eq(graft_model_add(m, "a", &a, 1, &zero, NULL), GRAFT_ERR_INVALID_ARG);
    float x[4] = {1, 2, 3, 4};
    ck_assert_int_eq(graft_model_forward(m, x, 1, 0, NULL), GRAFT_ERR_INVALID_ARG);
    int lbl = 0;
    ck_assert_int_eq(graft_model_backward(m, &lbl, 0, NULL, NULL), GRAFT_ERR_INVALID_ARG);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("graph");
    TCase *tc = tcase_create("graph");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, graph_gradients_match_finite_differences);
    tcase_add_test(tc, frozen_layers_get_no_gradient_work);
    tcase_add_test(tc, gradient_buffers_are_pooled_by_lifetime);
    tcase_add_test(tc, graph_errors);
    tcase_add_test(tc, tiny_refnet_learns_fixture);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
