/* Shared activation buffers in inference (src/graph/act_plan.c,
 * src/graph/model_buffers.c): the planner never lets values that are live
 * at the same step share a slot; on a branching graph (residual adds, a
 * concat, a dead branch, folded conv chains on CPU-style kernels) inference
 * with reuse gives bit-identical logits and node outputs to one buffer per
 * node, in fewer bytes, and training afterwards is unchanged. Inference
 * leaves the parameter gradients unwritten. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "act_plan.h"
#include "ctx.h"
#include "fold_bn.h"
#include "model.h"
#include "testutil.h"

START_TEST(plan_never_shares_live_values)
{
    tu_rng r = {7};
    for (int trial = 0; trial < 200; trial++) {
        int nv = 1 + (int)(tu_uniform(&r) * 40);
        act_value v[40];
        int slot[40];
        size_t numel[40], sum = 0;
        for (int i = 0; i < nv; i++) {
            int def = tu_uniform(&r) < 0.1 ? -1 : (int)(tu_uniform(&r) * 30);
            v[i] = (act_value){1 + (size_t)(tu_uniform(&r) * 1000), def,
                               def + (int)(tu_uniform(&r) * 6)};
            if (def >= 0) sum += v[i].numel;
        }
        int ns = act_plan_assign(v, nv, slot, numel);
        ck_assert_int_ge(ns, 0);
        size_t total = 0;
        for (int s = 0; s < ns; s++) total += numel[s];
        ck_assert(total <= sum);
        for (int i = 0; i < nv; i++) {
            if (v[i].def < 0) {
                ck_assert_int_eq(slot[i], -1);
                continue;
            }
            ck_assert(slot[i] >= 0 && slot[i] < ns);
            ck_assert_msg(numel[slot[i]] >= v[i].numel, "value %d does not fit its slot", i);
            for (int j = 0; j < i; j++)
                if (v[j].def >= 0 && slot[j] == slot[i])
                    ck_assert_msg(v[j].last < v[i].def || v[i].last < v[j].def,
                                  "trial %d: values %d [%d, %d] and %d [%d, %d] share slot %d",
                                  trial, j, v[j].def, v[j].last, i, v[i].def, v[i].last, slot[i]);
        }
    }
    /* A chain a -> b -> c: a and c may share, b may not with either. */
    act_value chain[3] = {{100, 1, 2}, {50, 2, 3}, {80, 3, 4}};
    int slot[3];
    size_t numel[3];
    ck_assert_int_eq(act_plan_assign(chain, 3, slot, numel), 2);
    ck_assert_int_eq(slot[0], slot[2]);
    ck_assert_int_ne(slot[0], slot[1]);
}
END_TEST

static graft_layer_spec kind(graft_layer_kind k) { return graft_layer_default(k); }

/* input 6x11x9 -> a: conv3x3 + bn + relu -> b: conv3x3 + bn, add(a), relu6
 * -> c: conv1x1 + relu and d: depthwise 3x3 + bn + leaky, a dead conv
 * branch off b, concat(c, d, a) -> maxpool -> e: conv3x3 + bn + add(f:
 * 1x1 of the pool) + relu -> v: conv1x1 + relu6 -> w: depthwise + relu6 ->
 * u: conv1x1 + add(e) -> gap -> fc. */
static graft_model *branch_net(graft_ctx *ctx)
{
    graft_model *m;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_model_set_seed(m, 5);
    graft_layer_spec in = kind(GRAFT_LAYER_INPUT);
    in.channels = 6;
    in.height = 11;
    in.width = 9;
    int x = tu_add(m, "input", in, 0, NULL);
    int a = tu_add(m, "a.conv", tu_conv(8, 3, 1, 1, 1), 1, &x);
    a = tu_add(m, "a.bn", kind(GRAFT_LAYER_BATCHNORM2D), 1, &a);
    a = tu_add(m, "a.act", kind(GRAFT_LAYER_RELU), 1, &a);
    int b = tu_add(m, "b.conv", tu_conv(8, 3, 1, 1, 1), 1, &a);
    b = tu_add(m, "b.bn", kind(GRAFT_LAYER_BATCHNORM2D), 1, &b);
    int ins[3] = {b, a};
    b = tu_add(m, "b.add", kind(GRAFT_LAYER_ADD), 2, ins);
    b = tu_add(m, "b.act", kind(GRAFT_LAYER_RELU6), 1, &b);
    int c = tu_add(m, "c.conv", tu_conv(5, 1, 1, 1, 1), 1, &b);
    c = tu_add(m, "c.act", kind(GRAFT_LAYER_RELU), 1, &c);
    int d = tu_add(m, "d.conv", tu_conv(8, 3, 1, 8, 1), 1, &b);
    d = tu_add(m, "d.bn", kind(GRAFT_LAYER_BATCHNORM2D), 1, &d);
    graft_layer_spec leaky = kind(GRAFT_LAYER_LEAKY_RELU);
    leaky.slope = 0.1f;
    d = tu_add(m, "d.act", leaky, 1, &d);
    tu_add(m, "dead.conv", tu_conv(4, 1, 1, 1, 1), 1, &b);
    ins[0] = c, ins[1] = d, ins[2] = a;
    int cat = tu_add(m, "cat", kind(GRAFT_LAYER_CONCAT), 3, ins);
    graft_layer_spec mp = kind(GRAFT_LAYER_MAXPOOL2D);
    mp.kernel = 2;
    mp.stride = 2;
    int p = tu_add(m, "pool", mp, 1, &cat);
    int e = tu_add(m, "e.conv", tu_conv(12, 3, 1, 1, 1), 1, &p);
    e = tu_add(m, "e.bn", kind(GRAFT_LAYER_BATCHNORM2D), 1, &e);
    ins[0] = e;
    ins[1] = tu_add(m, "f.conv", tu_conv(12, 1, 1, 1, 1), 1, &p);
    e = tu_add(m, "e.add", kind(GRAFT_LAYER_ADD), 2, ins);
    e = tu_add(m, "e.act", kind(GRAFT_LAYER_RELU), 1, &e);
    /* An inverted residual (MobileNetV2's): the residual is read by the
     * expansion and, folded, by the projection's epilogue. */
    int v = tu_add(m, "v.conv", tu_conv(36, 1, 1, 1, 1), 1, &e);
    v = tu_add(m, "v.act", kind(GRAFT_LAYER_RELU6), 1, &v);
    v = tu_add(m, "w.conv", tu_conv(36, 3, 1, 36, 1), 1, &v);
    v = tu_add(m, "w.act", kind(GRAFT_LAYER_RELU6), 1, &v);
    ins[0] = tu_add(m, "u.conv", tu_conv(12, 1, 1, 1, 1), 1, &v);
    ins[1] = e;
    e = tu_add(m, "u.add", kind(GRAFT_LAYER_ADD), 2, ins);
    int g = tu_add(m, "gap", kind(GRAFT_LAYER_GLOBAL_AVGPOOL), 1, &e);
    graft_layer_spec fc = kind(GRAFT_LAYER_LINEAR);
    fc.channels = 4;
    tu_add(m, "fc", fc, 1, &g);
    /* Running statistics away from the identity, as a trained model's. */
    tu_rng r = {9};
    for (int i = 0; i < graft_model_num_params(m); i++) {
        const char *nm = graft_model_param_name(m, i);
        if (!strstr(nm, "running")) continue;
        size_t cnt = graft_model_param_numel(m, i);
        float *v = malloc(cnt * sizeof *v);
        ck_assert(v);
        tu_fill(&r, v, cnt, strstr(nm, "var") ? 0.3f : -1.0f, strstr(nm, "var") ? 2.0f : 1.0f);
        ck_assert_int_eq(graft_model_param_set(m, i, v, cnt), GRAFT_OK);
        free(v);
    }
    return m;
}

static int value_of(const graft_model *m, int i)
{
    while (m->nodes[i].fused) i = m->nodes[i].in[0];
    return i;
}

/* Index of buffer b in buf[0..*nb), added (holding nothing) when new. */
static int buffer_index(cl_mem *buf, int *holder, int *nb, cl_mem b)
{
    int k = 0;
    while (k < *nb && buf[k] != b) k++;
    if (k == *nb) {
        buf[(*nb)++] = b;
        holder[k] = -1;
    }
    return k;
}

/* Replays the last forward's schedule (m->chains, m->skip) on the buffers
 * the nodes point at: every read finds the value its producer wrote (no
 * other write in between), no step writes a buffer it reads, and the
 * last node's output survives. Independent of the planner's bookkeeping,
 * so a lifetime it gets wrong shows here even where the kernels would
 * happen to tolerate the aliasing. */
static void check_schedule(const graft_model *m)
{
    int N = m->nnodes, nb = 0;
    cl_mem *buf = calloc((size_t)N, sizeof *buf);
    int *holder = calloc((size_t)N, sizeof *holder);
    ck_assert(buf && holder);
    holder[buffer_index(buf, holder, &nb, m->nodes[0].out)] = 0;
    for (int i = 1; i < N; i++) {
        if (m->skip[i]) continue;
        const node *nd = &m->nodes[i];
        int reads[LAYER_MAX_INPUTS + 1], nr = 0, w = i;
        if (m->chains[i].conv == i) {
            w = m->chains[i].last;
            reads[nr++] = nd->in[0];
            if (m->chains[i].res >= 0) reads[nr++] = m->chains[i].res;
        } else {
            for (int k = 0; k < nd->nin; k++) reads[nr++] = nd->in[k];
        }
        ck_assert_msg(m->nodes[w].out != NULL, "%s writes no buffer", m->nodes[w].name);
        for (int k = 0; k < nr; k++) {
            const node *r = &m->nodes[reads[k]];
            ck_assert_msg(r->out != NULL, "%s reads %s, which has no buffer", nd->name, r->name);
            int held = holder[buffer_index(buf, holder, &nb, r->out)];
            ck_assert_msg(held == value_of(m, reads[k]),
                          "%s reads %s, whose buffer another node overwrote", nd->name, r->name);
            ck_assert_msg(r->out != m->nodes[w].out, "%s writes the buffer of its input %s",
                          nd->name, r->name);
        }
        holder[buffer_index(buf, holder, &nb, m->nodes[w].out)] = w;
    }
    ck_assert(holder[buffer_index(buf, holder, &nb, m->nodes[N - 1].out)] == value_of(m, N - 1));
    free(buf);
    free(holder);
}

static void same_logits(graft_model *ms, graft_model *mf, const float *x, int n)
{
    float ls[4 * 8], lf[4 * 8];
    ck_assert_int_eq(graft_model_forward(ms, x, n, 0, ls), GRAFT_OK);
    ck_assert_int_eq(graft_model_forward(mf, x, n, 0, lf), GRAFT_OK);
    ck_assert_msg(!memcmp(ls, lf, (size_t)n * 4 * sizeof *ls), "logits differ at batch %d", n);
    check_schedule(ms);
    check_schedule(mf);
}

START_TEST(shared_buffers_match_one_per_node)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *ms = branch_net(ctx), *mf = branch_net(ctx);
    ck_assert_int_eq(graft_model_set_buffer_reuse(mf, 0), GRAFT_OK);
    const int n = 3;
    size_t nx = (size_t)8 * 6 * 11 * 9;
    float *x = malloc(nx * sizeof *x);
    ck_assert(x);
    tu_rng r = {3};
    tu_fill(&r, x, nx, -1, 1);
    same_logits(ms, mf, x, n);
    size_t bs = graft_model_activation_bytes(ms), bf = graft_model_activation_bytes(mf);
    fprintf(stderr, "activation bytes: shared %zu, one per node %zu (CPU-style kernels: %d)\n",
            bs, bf, ctx_is_cpu(ctx));
    ck_assert_msg(bs < bf, "shared %zu bytes, one per node %zu", bs, bf);
    ck_assert_uint_eq(bs, model_infer_activation_bytes(ms, n));
    ck_assert(!ms->full && mf->full);
    int reused = 0;
    for (int i = 0; i < ms->nnodes; i++) reused += ms->nodes[i].reused;
    ck_assert_int_gt(reused, 0);

    /* A smaller batch and a larger one (buffers grow). */
    same_logits(ms, mf, x, 1);
    same_logits(ms, mf, x, 8);
    ck_assert(graft_model_activation_bytes(ms) < graft_model_activation_bytes(mf));
    same_logits(ms, mf, x, n);

    /* Every node's output, in order: reused (and folded) ones are
     * recomputed and from then on kept, so both models take the same
     * steps and stay bit-identical. */
    for (int i = 1; i < ms->nnodes; i++) {
        size_t cnt = (size_t)n * shape_numel(ms->nodes[i].shape);
        float *os = malloc(cnt * sizeof *os), *of = malloc(cnt * sizeof *of);
        ck_assert(os && of);
        int was_reused = ms->nodes[i].reused;
        ck_assert_int_eq(graft_model_node_output(ms, i, os, cnt), GRAFT_OK);
        ck_assert_int_eq(graft_model_node_output(mf, i, of, cnt), GRAFT_OK);
        ck_assert_msg(!memcmp(os, of, cnt * sizeof *os), "output of %s differs",
                      ms->nodes[i].name);
        if (was_reused) ck_assert(ms->nodes[i].pinned);
        free(os);
        free(of);
        /* The next forward keeps what was read. */
        same_logits(ms, mf, x, n);
        ck_assert(!ms->nodes[i].reused && !ms->nodes[i].stale);
    }

    /* Backward right after an inference forward, then a training step:
     * the same gradients, and the shared model now holds one buffer per
     * node (which later inference forwards use). */
    int y[8] = {0, 3, 1, 2, 2, 0, 1, 3};
    float loss_s, loss_f;
    for (int step = 0; step < 2; step++) {
        if (step) {
            ck_assert_int_eq(graft_model_forward(ms, x, n, 1, NULL), GRAFT_OK);
            ck_assert_int_eq(graft_model_forward(mf, x, n, 1, NULL), GRAFT_OK);
        }
        ck_assert_int_eq(graft_model_backward(ms, y, 0.0f, &loss_s, NULL), GRAFT_OK);
        ck_assert_int_eq(graft_model_backward(mf, y, 0.0f, &loss_f, NULL), GRAFT_OK);
        ck_assert(loss_s == loss_f);
        for (int p = 0; p < graft_model_num_params(ms); p++) {
            if (!graft_model_param_is_trainable(ms, p)) continue;
            size_t cnt = graft_model_param_numel(ms, p);
            float *gs = malloc(cnt * sizeof *gs), *gf = malloc(cnt * sizeof *gf);
            ck_assert(gs && gf);
            ck_assert_int_eq(graft_model_param_grad(ms, p, gs, cnt), GRAFT_OK);
            ck_assert_int_eq(graft_model_param_grad(mf, p, gf, cnt), GRAFT_OK);
            ck_assert_msg(!memcmp(gs, gf, cnt * sizeof *gs), "step %d: gradient of %s", step,
                          graft_model_param_name(ms, p));
            free(gs);
            free(gf);
        }
    }
    ck_assert(ms->full);
    same_logits(ms, mf, x, n);

    /* Reuse switched on for the one-per-node model: shared again. */
    ck_assert_int_eq(graft_model_set_buffer_reuse(mf, 1), GRAFT_OK);
    ck_assert_uint_eq(graft_model_activation_bytes(mf), 0);
    same_logits(mf, ms, x, n);
    ck_assert(!mf->full);
    graft_model_free(ms);
    graft_model_free(mf);
    free(x);
    graft_ctx_destroy(ctx);
}
END_TEST

/* Parameter gradients are zeroed only when first needed, so inference
 * never writes (and makes resident) them; they still read as zeros before
 * any backward, and a frozen node's stay zero after one. */
START_TEST(gradients_untouched_by_inference)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m = branch_net(ctx);
    size_t nx = (size_t)2 * 6 * 11 * 9;
    float *x = malloc(nx * sizeof *x);
    ck_assert(x);
    tu_rng r = {4};
    tu_fill(&r, x, nx, -1, 1);
    for (int k = 0; k < 2; k++) ck_assert_int_eq(graft_model_forward(m, x, 2, 0, NULL), GRAFT_OK);
    ck_assert(!m->grads_zeroed);
    int a = graft_model_find(m, "a.conv");
    ck_assert_int_eq(graft_model_set_trainable(m, a, 0), GRAFT_OK);
    int p = 0; /* a.conv.weight */
    size_t cnt = graft_model_param_numel(m, p);
    float *g = malloc(cnt * sizeof *g);
    ck_assert(g);
    /* What a fresh allocation may hold. */
    ck_assert_int_eq(ctx_fill(ctx, model_param(m, p)->grad, 0, cnt, 7.0f), GRAFT_OK);
    for (int step = 0; step < 2; step++) {
        memset(g, 0x7f, cnt * sizeof *g);
        ck_assert_int_eq(graft_model_param_grad(m, p, g, cnt), GRAFT_OK);
        for (size_t i = 0; i < cnt; i++) ck_assert(g[i] == 0.0f);
        ck_assert(m->grads_zeroed);
        int y[2] = {1, 3};
        ck_assert_int_eq(graft_model_forward(m, x, 2, 1, NULL), GRAFT_OK);
        ck_assert_int_eq(graft_model_backward(m, y, 0.0f, NULL, NULL), GRAFT_OK);
    }
    free(g);
    free(x);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("buffer_reuse");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, plan_never_shares_live_values);
    tcase_add_test(tc, shared_buffers_match_one_per_node);
    tcase_add_test(tc, gradients_untouched_by_inference);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
