/* Transfer-learning mechanics on a real fixture: a frozen prefix stays bit
 * for bit, --bn frozen keeps every running statistic, and a linear probe on
 * cached features trains the same head as training through the whole
 * network with a frozen backbone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
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
    c.quiet = 1;
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

START_TEST(frozen_prefix_unchanged_bit_for_bit)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    dataset *d = fixture(8);
    graft_model *src, *m = target_model(ctx, &src);
    int until = graft_model_find(m, "conv3.act");
    ck_assert_int_ge(until, 0);
    float **before = snapshot(m);
    finetune_opts fo = {STRATEGY_FINETUNE, until, 1.0f, 1.0f, 1, 0};
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
    finetune_opts fo = {STRATEGY_FINETUNE, -1, 1.0f, 1.0f, 1, 1};
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

    finetune_opts fo = {STRATEGY_LINEAR_PROBE, -1, 1.0f, 1.0f, 1, 0};
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

int main(void)
{
    Suite *s = suite_create("transfer");
    TCase *tc = tcase_create("transfer");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, frozen_prefix_unchanged_bit_for_bit);
    tcase_add_test(tc, bn_frozen_keeps_running_statistics);
    tcase_add_test(tc, linear_probe_equals_head_trained_through_network);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
