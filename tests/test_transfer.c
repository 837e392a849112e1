/* Transfer-learning mechanics on a real fixture: a frozen prefix stays bit
 * for bit, --bn frozen keeps every running statistic, and a linear probe on
 * cached features trains the same head as training through the whole
 * network with a frozen backbone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "model.h"
#include "testutil.h"
#include "train.h"
#include "transfer.h"

static dataset *fixture(int per_class)
{
    char img[512], lab[512], err[512];
    snprintf(img, sizeof img, "%s/fixtures/fmnist512-images-idx3-ubyte.gz", GRAFT_DATA_DIR);
    snprintf(lab, sizeof lab, "%s/fixtures/fmnist512-labels-idx1-ubyte.gz", GRAFT_DATA_DIR);
    dataset *d, *sel, *few;
    ck_assert_msg(dataset_load_idx(img, lab, NULL, 10, &d, err, sizeof err) == GRAFT_OK, "%s", err);
    int cls[5] = {5, 6, 7, 8, 9};
    ck_assert(dataset_select_classes(d, cls, 5, &sel, err, sizeof err) == GRAFT_OK);
    ck_assert(dataset_per_class(sel, per_class, 3, &few, err, sizeof err) == GRAFT_OK);
    dataset_free(d);
    dataset_free(sel);
    return few;
}

/* A refnet "source" with 10 classes and a target built from it for 5. */
static graft_model *target_model(graft_ctx *ctx, graft_model **src_out)
{
    graft_model *src, *m;
    ck_assert_int_eq(graft_model_create(ctx, &src), GRAFT_OK);
    graft_model_set_seed(src, 21);
    graft_arch_params ap = graft_arch_default_params("refnet");
    ck_assert_int_eq(graft_model_build_arch(src, "refnet", &ap), GRAFT_OK);
    ck_assert_int_eq(transfer_build_target(src, 5, 0, 99, &m), GRAFT_OK);
    *src_out = src;
    return m;
}

static float **snapshot(graft_model *m)
{
    int np = graft_model_num_params(m);
    float **s = calloc((size_t)np, sizeof *s);
    for (int i = 0; i < np; i++) {
        size_t n = graft_model_param_numel(m, i);
        s[i] = malloc(n * sizeof(float));
        ck_assert_int_eq(graft_model_param_get(m, i, s[i], n), GRAFT_OK);
    }
    return s;
}

static int same_as(graft_model *m, float **snap, int i)
{
    size_t n = graft_model_param_numel(m, i);
    float *now = malloc(n * sizeof *now);
    graft_model_param_get(m, i, now, n);
    int same = memcmp(now, snap[i], n * sizeof *now) == 0;
    free(now);
    return same;
}

static void free_snapshot(graft_model *m, float **s)
{
    for (int i = 0; i < graft_model_num_params(m); i++) free(s[i]);
    free(s);
}

static train_config quiet_config(int epochs)
{
    train_config c;
    memset(&c, 0, sizeof c);
    c.epochs = epochs;
    c.batch = 16;
    c.seed = 5;

    return c;
}

static void finetune(graft_model *m, const dataset *d, const finetune_opts *fo)
{
    transfer_apply(m, fo);
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    op.lr = 0.05f;
    graft_optimizer *o;
    ck_assert_int_eq(graft_optimizer_create(m, &op, &o), GRAFT_OK);
    train_config cfg = quiet_config(2);
    train_result res;
    char err[1024];
    ck_assert_msg(train_model(m, o, d, NULL, &cfg, &res, err, sizeof err) == GRAFT_OK, "%s", err);
    train_result_free(&res);
    graft_optimizer_free(o);
}

/* A SqueezeNet-style conv classifier (1x1 conv, ReLU, global average
 * pooling) is replaced by pooling of the conv's input and a linear layer;
 * the backbone keeps its weights; anything else at the end is refused. */
START_TEST(conv_classifier_becomes_linear_head)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *src, *m = NULL;
    ck_assert_int_eq(graft_model_create(ctx, &src), GRAFT_OK);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT), c = graft_layer_default(GRAFT_LAYER_CONV2D);
    graft_layer_spec relu = graft_layer_default(GRAFT_LAYER_RELU);
    graft_layer_spec gap = graft_layer_default(GRAFT_LAYER_GLOBAL_AVGPOOL);
    in.channels = 3, in.height = 9, in.width = 7;
    c.channels = 6;
    int x, prev;
    ck_assert_int_eq(graft_model_add(src, "input", &in, 0, NULL, &x), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(src, "body", &c, 1, &x, &prev), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(src, "body_relu", &relu, 1, &prev, &prev), GRAFT_OK);
    c.channels = 10, c.kernel = 1, c.pad = 0, c.bias = 1;
    ck_assert_int_eq(graft_model_add(src, "cls", &c, 1, &prev, &x), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(src, "cls_relu", &relu, 1, &x, &x), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(src, "pool", &gap, 1, &x, &x), GRAFT_OK);
    ck_assert_int_eq(transfer_build_target(src, 4, 0, 99, &m), GRAFT_OK);
    ck_assert_int_eq(graft_model_num_nodes(m), 5);
    const int *ins;
    ck_assert_int_eq(graft_model_node_spec(m, 3)->kind, GRAFT_LAYER_GLOBAL_AVGPOOL);
    ck_assert_int_eq(graft_model_node_inputs(m, 3, &ins), 1);
    ck_assert_int_eq(ins[0], 2);
    ck_assert_int_eq(graft_model_node_spec(m, 4)->kind, GRAFT_LAYER_LINEAR);
    ck_assert_str_eq(graft_model_node_name(m, 4), "cls");
    int k, h, w;
    graft_model_node_shape(m, 4, &k, &h, &w);
    ck_assert_int_eq(k, 4);
    float a[162], b[162];
    ck_assert_int_eq(graft_model_param_get(src, 0, a, 162), GRAFT_OK);
    ck_assert_int_eq(graft_model_param_get(m, 0, b, 162), GRAFT_OK);
    ck_assert(!memcmp(a, b, sizeof a));
    graft_model_free(m);
    m = NULL;
    ck_assert_int_eq(transfer_build_target(src, 10, 1, 99, &m), GRAFT_ERR_UNSUPPORTED); /* keep-head */
    graft_model_free(src);
    /* A 3x3 conv before the pooling is no classifier. */
    ck_assert_int_eq(graft_model_create(ctx, &src), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(src, "input", &in, 0, NULL, &x), GRAFT_OK);
    c.kernel = 3, c.pad = 1;
    ck_assert_int_eq(graft_model_add(src, "cls", &c, 1, &x, &x), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(src, "pool", &gap, 1, &x, &x), GRAFT_OK);
    ck_assert_int_eq(transfer_build_target(src, 4, 0, 99, &m), GRAFT_ERR_UNSUPPORTED);
    ck_assert_ptr_null(m);
    graft_model_free(src);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(frozen_prefix_unchanged_bit_for_bit)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    dataset *d = fixture(8);
    graft_model *src, *m = target_model(ctx, &src);
    int until = graft_model_find(m, "conv3.act");
    ck_assert_int_ge(until, 0);
    float **before = snapshot(m);
    finetune_opts fo = {STRATEGY_FINETUNE, until, 1.0f, 1.0f, 1, 0, 0};
    finetune(m, d, &fo);
    int frozen = 0, changed = 0;
    for (int i = 0; i < graft_model_num_params(m); i++) {
        const char *name = graft_model_param_name(m, i);
        int early = !strncmp(name, "conv1", 5) || !strncmp(name, "conv2", 5) || !strncmp(name, "conv3", 5);
        if (early) {
            ck_assert_msg(same_as(m, before, i), "frozen %s changed", name);
            frozen++;
        } else if (graft_model_param_is_trainable(m, i)) {
            ck_assert_msg(!same_as(m, before, i), "trainable %s did not change", name);
            changed++;
        }
    }
    ck_assert_int_eq(frozen, 3 * (1 + 4)); /* conv weight + BN's four tensors */
    ck_assert_int_gt(changed, 0);
    free_snapshot(m, before);
    graft_model_free(m);
    graft_model_free(src);
    dataset_free(d);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(bn_frozen_keeps_running_statistics)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    dataset *d = fixture(8);
    graft_model *src, *m = target_model(ctx, &src);
    float **before = snapshot(m);
    finetune_opts fo = {STRATEGY_FINETUNE, -1, 1.0f, 1.0f, 1, 1, 0};
    finetune(m, d, &fo);
    int stats = 0;
    for (int i = 0; i < graft_model_num_params(m); i++) {
        const char *name = graft_model_param_name(m, i);
        if (strstr(name, "running_")) {
            ck_assert_msg(same_as(m, before, i), "%s changed with --bn frozen", name);
            stats++;
        } else if (graft_model_param_is_trainable(m, i)) {
            ck_assert_msg(!same_as(m, before, i), "%s did not train", name);
        }
    }
    ck_assert_int_eq(stats, 10);
    /* Without it the statistics move. */
    graft_model *m2;
    ck_assert_int_eq(transfer_build_target(src, 5, 0, 99, &m2), GRAFT_OK);
    fo.bn_frozen = 0;
    finetune(m2, d, &fo);
    int moved = 0;
    for (int i = 0; i < graft_model_num_params(m2); i++)
        if (strstr(graft_model_param_name(m2, i), "running_")) moved += !same_as(m2, before, i);
    ck_assert_int_eq(moved, 10);
    free_snapshot(m, before);
    graft_model_free(m);
    graft_model_free(m2);
    graft_model_free(src);
    dataset_free(d);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(linear_probe_equals_head_trained_through_network)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    dataset *d = fixture(10);
    graft_model *src, *a = target_model(ctx, &src), *b;
    ck_assert_int_eq(transfer_build_target(src, 5, 0, 99, &b), GRAFT_OK);
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    op.lr = 0.1f;
    op.schedule = GRAFT_SCHED_COSINE;
    train_config cfg = quiet_config(3);
    train_result res;
    char err[1024];

    finetune_opts fo = {STRATEGY_LINEAR_PROBE, -1, 1.0f, 1.0f, 1, 0, 0};
    transfer_apply(a, &fo);
    float **init = snapshot(a);
    ck_assert_msg(transfer_linear_probe(a, d, NULL, &cfg, &op, &res, err, sizeof err) == GRAFT_OK,
                  "%s", err);
    train_result_free(&res);

    /* The same head trained through the full network, backbone frozen. */
    transfer_apply(b, &fo);
    op.total_steps = (long)((d->n + cfg.batch - 1) / cfg.batch) * cfg.epochs;
    graft_optimizer *o;
    ck_assert_int_eq(graft_optimizer_create(b, &op, &o), GRAFT_OK);
    ck_assert_msg(train_model(b, o, d, NULL, &cfg, &res, err, sizeof err) == GRAFT_OK, "%s", err);
    train_result_free(&res);
    graft_optimizer_free(o);

    int np = graft_model_num_params(a);
    double worst = 0;
    for (int i = np - 2; i < np; i++) { /* fc.weight, fc.bias */
        size_t n = graft_model_param_numel(a, i);
        float *wa = malloc(n * sizeof *wa), *wb = malloc(n * sizeof *wb);
        double *ref = malloc(n * sizeof *ref);
        graft_model_param_get(a, i, wa, n);
        graft_model_param_get(b, i, wb, n);
        for (size_t k = 0; k < n; k++) ref[k] = wb[k];
        double e = tu_rel_err(wa, ref, n);
        if (e > worst) worst = e;
        ck_assert_msg(e < 1e-4, "%s: linear probe vs full network, relative error %g",
                      graft_model_param_name(a, i), e);
        free(wa);
        free(wb);
        free(ref);
    }
    /* The probe did train the head... */
    ck_assert(!same_as(a, init, np - 2) && !same_as(a, init, np - 1));
    free_snapshot(a, init);
    /* ...and the backbones are untouched in both. */
    for (int i = 0; i < np - 2; i++) {
        size_t n = graft_model_param_numel(a, i);
        float *wa = malloc(n * sizeof *wa), *wb = malloc(n * sizeof *wb);
        graft_model_param_get(a, i, wa, n);
        graft_model_param_get(b, i, wb, n);
        ck_assert_msg(!memcmp(wa, wb, n * sizeof *wa), "%s differs", graft_model_param_name(a, i));
        free(wa);
        free(wb);
    }
    fprintf(stderr, "linear probe vs full-network head: worst relative error %.3g\n", worst);
    graft_model_free(a);
    graft_model_free(b);
    graft_model_free(src);
    dataset_free(d);
    graft_ctx_destroy(ctx);
}
END_TEST


/* ---- cached prefix (transfer_cached_finetune) */

/* A small model with awkward sizes: a conv/BN/ReLU/pool prefix, then conv,
 * BN, leaky ReLU, dropout, a strided conv, BN, ReLU, GAP and a classifier. */
static graft_model *small_model(graft_ctx *ctx, uint64_t seed)
{
    graft_model *m;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_model_set_seed(m, seed);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 3;
    in.height = 11;
    in.width = 9;
    graft_layer_spec conv = graft_layer_default(GRAFT_LAYER_CONV2D);
    conv.kernel = 3;
    conv.pad = 1;
    graft_layer_spec bn = graft_layer_default(GRAFT_LAYER_BATCHNORM2D);
    graft_layer_spec relu = graft_layer_default(GRAFT_LAYER_RELU);
    graft_layer_spec leaky = graft_layer_default(GRAFT_LAYER_LEAKY_RELU);
    graft_layer_spec pool = graft_layer_default(GRAFT_LAYER_MAXPOOL2D);
    pool.kernel = pool.stride = 2;
    graft_layer_spec drop = graft_layer_default(GRAFT_LAYER_DROPOUT);
    drop.p = 0.3f;
    graft_layer_spec gap = graft_layer_default(GRAFT_LAYER_GLOBAL_AVGPOOL);
    graft_layer_spec fc = graft_layer_default(GRAFT_LAYER_LINEAR);
    fc.channels = 4;
    struct {
        const char *name;
        graft_layer_spec sp;
        int ch, stride, bias;
    } L[] = {
        {"c1", conv, 5, 1, 1}, {"b1", bn, 0, 0, 0},   {"r1", relu, 0, 0, 0},
        {"p1", pool, 0, 0, 0}, {"c2", conv, 6, 1, 0}, {"b2", bn, 0, 0, 0},
        {"r2", leaky, 0, 0, 0}, {"d", drop, 0, 0, 0}, {"c3", conv, 7, 2, 1},
        {"b3", bn, 0, 0, 0},   {"r3", relu, 0, 0, 0}, {"gap", gap, 0, 0, 0},
        {"fc", fc, 0, 0, 0},
    };
    ck_assert_int_eq(graft_model_add(m, "in", &in, 0, NULL, NULL), GRAFT_OK);
    for (int i = 0; i < (int)(sizeof L / sizeof L[0]); i++) {
        graft_layer_spec sp = L[i].sp;
        if (sp.kind == GRAFT_LAYER_CONV2D) {
            sp.channels = L[i].ch;
            sp.stride = L[i].stride;
            sp.bias = L[i].bias;
        }
        int prev = i;
        ck_assert_msg(graft_model_add(m, L[i].name, &sp, 1, &prev, NULL) == GRAFT_OK, "%s: %s",
                      L[i].name, graft_last_error(ctx));
    }
    return m;
}

/* n random images of the small model's shape, values in (0.05, 1]. */
static dataset *random_data(int n, uint32_t seed)
{
    dataset *d;
    char err[256];
    ck_assert(dataset_create(3, 11, 9, 4, NULL, &d, err, sizeof err) == GRAFT_OK);
    float img[3 * 11 * 9];
    uint32_t r = seed;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 3 * 11 * 9; k++) {
            r = r * 1664525u + 1013904223u;
            img[k] = 0.05f + 0.95f * (float)(r >> 8) / (float)(1u << 24);
        }
        r = r * 1664525u + 1013904223u;
        ck_assert(dataset_append(d, img, (int)((r >> 16) % 4), NULL, err, sizeof err) == GRAFT_OK);
    }
    return d;
}

static const float small_mean[3] = {0.4f, 0.55f, 0.5f}, small_std[3] = {0.3f, 0.25f, 0.28f};

static train_config small_config(void)
{
    train_config c = quiet_config(3);
    c.batch = 8; /* 37 images: a short last batch */
    c.mean = small_mean;
    c.std = small_std;
    return c;
}

/* Cached training from cut `cut` and ordinary training with nodes 1..cut
 * frozen give the same weights, running statistics and evaluations. */
static void check_cached_equals_frozen(const char *cut_name)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    dataset *d = random_data(37, 11), *ev = random_data(23, 12);
    graft_model *a = small_model(ctx, 7), *b = small_model(ctx, 7);
    int cut = graft_model_find(a, cut_name);
    ck_assert_int_gt(cut, 0);
    /* Per-layer rates below the head, and trainable BN above the cut. */
    finetune_opts fo = {STRATEGY_FINETUNE, cut, 0.5f, 0.7f, 1, 0, 1};
    transfer_apply(a, &fo);
    transfer_apply(b, &fo);
    float **init = snapshot(a);
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    op.lr = 0.05f;
    op.schedule = GRAFT_SCHED_COSINE;
    train_config cfg = small_config();
    train_result ra, rb;
    char err[1024];
    ck_assert_msg(transfer_cached_finetune(a, d, ev, &cfg, &op, cut, &ra, err, sizeof err) ==
                      GRAFT_OK, "%s", err);

    op.total_steps = (long)((d->n + cfg.batch - 1) / cfg.batch) * cfg.epochs;
    graft_optimizer *o;
    ck_assert_int_eq(graft_optimizer_create(b, &op, &o), GRAFT_OK);
    ck_assert_msg(train_model(b, o, d, ev, &cfg, &rb, err, sizeof err) == GRAFT_OK, "%s", err);
    graft_optimizer_free(o);

    ck_assert_int_eq(ra.nepochs, cfg.epochs);
    ck_assert_int_eq(rb.nepochs, cfg.epochs);
    for (int e = 0; e < cfg.epochs; e++) {
        ck_assert_msg(fabs(ra.hist[e].train_loss - rb.hist[e].train_loss) <= 1e-5 * (1 + fabs(rb.hist[e].train_loss)),
                      "epoch %d train loss %g vs %g", e + 1, ra.hist[e].train_loss, rb.hist[e].train_loss);
        ck_assert_msg(fabs(ra.hist[e].eval_loss - rb.hist[e].eval_loss) <= 1e-5 * (1 + fabs(rb.hist[e].eval_loss)),
                      "epoch %d eval loss %g vs %g", e + 1, ra.hist[e].eval_loss, rb.hist[e].eval_loss);
        ck_assert(ra.hist[e].eval_acc == rb.hist[e].eval_acc);
    }
    train_result_free(&ra);
    train_result_free(&rb);

    int np = graft_model_num_params(a), prefix = 0, moved = 0;
    double worst = 0;
    for (int i = 0; i < np; i++) {
        const char *name = graft_model_param_name(a, i);
        size_t n = graft_model_param_numel(a, i);
        float *wa = malloc(n * sizeof *wa), *wb = malloc(n * sizeof *wb);
        double *ref = malloc(n * sizeof *ref);
        graft_model_param_get(a, i, wa, n);
        graft_model_param_get(b, i, wb, n);
        if (a->params[i].node <= cut) {
            ck_assert_msg(same_as(a, init, i), "frozen %s changed in the cached run", name);
            ck_assert_msg(same_as(b, init, i), "frozen %s changed in the ordinary run", name);
            prefix++;
        } else {
            for (size_t k = 0; k < n; k++) ref[k] = wb[k];
            double e = tu_rel_err(wa, ref, n);
            if (e > worst) worst = e;
            ck_assert_msg(e <= 1e-5, "cut %s: %s differs from ordinary frozen training, relative "
                          "error %g", cut_name, name, e);
            moved += !same_as(a, init, i);
        }
        free(wa);
        free(wb);
        free(ref);
    }
    ck_assert_int_gt(prefix, 0);
    ck_assert_int_gt(moved, 0);
    for (int j = 1; j <= cut; j++)
        ck_assert_msg(!a->nodes[j].trainable, "node %d left trainable", j);
    fprintf(stderr, "cached prefix up to %s vs ordinary frozen training: worst relative error %.3g "
            "(%d frozen tensors bit-identical, %d trained)\n", cut_name, worst, prefix, moved);
    free_snapshot(a, init);
    graft_model_free(a);
    graft_model_free(b);
    dataset_free(d);
    dataset_free(ev);
    graft_ctx_destroy(ctx);
}

START_TEST(cached_prefix_equals_frozen_training)
{
    check_cached_equals_frozen("p1");
    check_cached_equals_frozen("r2"); /* dropout right above the cut */
    check_cached_equals_frozen("b2"); /* a BatchNorm whose leaky ReLU is fused into it */
}
END_TEST

START_TEST(cached_prefix_refuses_non_cut_and_augmentation)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    /* in -> c1 -> r1 -> c2 -> add(r1, c2) -> gap -> fc: c2 is no cut. */
    graft_model *m;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 3;
    in.height = 11;
    in.width = 9;
    graft_layer_spec conv = graft_layer_default(GRAFT_LAYER_CONV2D);
    conv.channels = 4;
    conv.kernel = 3;
    conv.pad = 1;
    graft_layer_spec relu = graft_layer_default(GRAFT_LAYER_RELU);
    graft_layer_spec add = graft_layer_default(GRAFT_LAYER_ADD);
    graft_layer_spec gap = graft_layer_default(GRAFT_LAYER_GLOBAL_AVGPOOL);
    graft_layer_spec fc = graft_layer_default(GRAFT_LAYER_LINEAR);
    fc.channels = 4;
    int i0 = 0, i1 = 1, i2 = 2, i3 = 3, sum[2] = {2, 3}, i4 = 4, i5 = 5;
    ck_assert_int_eq(graft_model_add(m, "in", &in, 0, NULL, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "c1", &conv, 1, &i0, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "r1", &relu, 1, &i1, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "c2", &conv, 1, &i2, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "sum", &add, 2, sum, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "gap", &gap, 1, &i4, NULL), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "fc", &fc, 1, &i5, NULL), GRAFT_OK);
    (void)i3;
    char err[1024] = "";
    ck_assert_int_eq(transfer_check_cut(m, 2, err, sizeof err), GRAFT_OK); /* r1 */
    ck_assert_int_eq(transfer_check_cut(m, 4, err, sizeof err), GRAFT_OK); /* sum */
    ck_assert_int_ne(transfer_check_cut(m, 3, err, sizeof err), GRAFT_OK);
    ck_assert_msg(strstr(err, "'c2'") && strstr(err, "'sum'") && strstr(err, "'r1'"), "%s", err);
    ck_assert_int_ne(transfer_check_cut(m, 0, err, sizeof err), GRAFT_OK);
    ck_assert_int_ne(transfer_check_cut(m, 6, err, sizeof err), GRAFT_OK);

    dataset *d = random_data(9, 3);
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    train_config cfg = small_config();
    train_result res;
    float **before = snapshot(m);
    err[0] = 0;
    ck_assert_int_ne(transfer_cached_finetune(m, d, NULL, &cfg, &op, 3, &res, err, sizeof err),
                     GRAFT_OK);
    ck_assert_msg(strstr(err, "'c2'") != NULL, "%s", err);
    cfg.augment = 1;
    err[0] = 0;
    ck_assert_int_ne(transfer_cached_finetune(m, d, NULL, &cfg, &op, 2, &res, err, sizeof err),
                     GRAFT_OK);
    ck_assert_msg(strstr(err, "augment") != NULL, "%s", err);
    ck_assert_int_eq(res.nepochs, 0);
    for (int i = 0; i < graft_model_num_params(m); i++) ck_assert(same_as(m, before, i));
    /* The same cut with augmentation off trains. */
    cfg.augment = 0;
    ck_assert_msg(transfer_cached_finetune(m, d, NULL, &cfg, &op, 2, &res, err, sizeof err) ==
                      GRAFT_OK, "%s", err);
    ck_assert_int_eq(res.nepochs, cfg.epochs);
    train_result_free(&res);
    free_snapshot(m, before);
    graft_model_free(m);
    dataset_free(d);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(default_cut_is_a_cut_in_the_middle)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    const char *archs[] = {"refnet", "resnet18", "mobilenetv2"};
    for (int k = 0; k < 3; k++) {
        graft_model *m;
        ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
        graft_arch_params ap = graft_arch_default_params(archs[k]);
        ck_assert_int_eq(graft_model_build_arch(m, archs[k], &ap), GRAFT_OK);
        int cut = transfer_default_cut(m);
        char err[512] = "";
        ck_assert_msg(cut > 0 && cut < transfer_feature_node(m), "%s: cut %d", archs[k], cut);
        ck_assert_msg(transfer_check_cut(m, cut, err, sizeof err) == GRAFT_OK, "%s: %s", archs[k], err);
        fprintf(stderr, "%s: default cut %s (node %d of %d)\n", archs[k],
                graft_model_node_name(m, cut), cut, graft_model_num_nodes(m));
        if (k == 0) ck_assert_str_eq(graft_model_node_name(m, cut), "pool1");
        if (k == 1) { /* inside a residual block: the add also reads the block input */
            int in_block = graft_model_find(m, "layer2.1.conv1.act");
            ck_assert_int_gt(in_block, 0);
            ck_assert_int_ne(transfer_check_cut(m, in_block, err, sizeof err), GRAFT_OK);
            ck_assert_msg(strstr(err, "'layer2.1.conv1.act'") && strstr(err, "'layer2.1.add'"), "%s", err);
        }
        graft_model_free(m);
    }
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("transfer");
    TCase *tc = tcase_create("transfer");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, conv_classifier_becomes_linear_head);
    tcase_add_test(tc, frozen_prefix_unchanged_bit_for_bit);
    tcase_add_test(tc, bn_frozen_keeps_running_statistics);
    tcase_add_test(tc, linear_probe_equals_head_trained_through_network);
    tcase_add_test(tc, cached_prefix_equals_frozen_training);
    tcase_add_test(tc, cached_prefix_refuses_non_cut_and_augmentation);
    tcase_add_test(tc, default_cut_is_a_cut_in_the_middle);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
