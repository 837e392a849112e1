/* The default fine-tuning recipe (RECIPE): phase 1 trains only the new
 * head (the backbone stays bit for bit), phase 2 moves the backbone at
 * rates well below the head's (lower stages less), and BatchNorm keeps the
 * source's statistics on data below the per-class threshold. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "graft_transfer.h"
#include "model.h"
#include "testutil.h"

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

static graft_model *source(graft_ctx *ctx)
{
    graft_model *src;
    ck_assert_int_eq(graft_model_create(ctx, &src), GRAFT_OK);
    graft_model_set_seed(src, 21);
    graft_arch_params ap = graft_arch_default_params("refnet");
    ck_assert_int_eq(graft_model_build_arch(src, "refnet", &ap), GRAFT_OK);
    return src;
}

static float *param_copy(graft_model *m, const char *name, size_t *n)
{
    for (int i = 0; i < graft_model_num_params(m); i++)
        if (!strcmp(graft_model_param_name(m, i), name)) {
            *n = graft_model_param_numel(m, i);
            float *v = malloc(*n * sizeof *v);
            ck_assert_int_eq(graft_model_param_get(m, i, v, *n), GRAFT_OK);
            return v;
        }
    ck_abort_msg("no parameter %s", name);
    return NULL;
}

/* Mean |after - before| of parameter `name` over its values. */
static double delta(graft_model *before, graft_model *after, const char *name)
{
    size_t n, n2;
    float *a = param_copy(before, name, &n), *b = param_copy(after, name, &n2);
    ck_assert_uint_eq(n, n2);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += fabs((double)b[i] - a[i]);
    free(a);
    free(b);
    return s / (double)n;
}

/* A run of `epochs` (phase 2's for RECIPE) that stops after stop_after
 * epochs in all (0 = never); checks the epoch numbering. */
static graft_model *run_until(graft_model *src, const dataset *d, const graft_finetune_params *fp,
                              int epochs, int stop_after)
{
    graft_train_config cfg = graft_train_default_config();
    cfg.epochs = epochs;
    cfg.stop_after = stop_after;
    cfg.batch = 16;
    cfg.seed = 5;
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    op.lr = 0.05f;
    graft_model *m;
    graft_train_result res;
    ck_assert_msg(graft_finetune(src, d, NULL, fp, &op, &cfg, &m, &res) == GRAFT_OK, "%s",
                  graft_last_error(graft_model_ctx(src)));
    int total = graft_recipe_head_epochs(fp, epochs) + epochs;
    if (stop_after > 0 && stop_after < total) total = stop_after;
    ck_assert_int_eq(res.nepochs, total);
    for (int e = 0; e < total; e++) ck_assert_int_eq(res.hist[e].epoch, e + 1);
    graft_train_result_free(&res);
    return m;
}

static graft_model *run(graft_model *src, const dataset *d, const graft_finetune_params *fp,
                        int epochs)
{
    return run_until(src, d, fp, epochs, 0);
}

START_TEST(phases_in_order_with_discriminative_rates)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    dataset *d = fixture(8);
    graft_model *src = source(ctx);
    graft_finetune_params fp = graft_finetune_recipe_params();
    fp.head_epochs = 1;
    /* Stopped after one epoch, phase 1 alone: the head moves, the backbone
     * does not. */
    graft_model *m1 = run_until(src, d, &fp, 2, 1);
    ck_assert_double_eq(delta(src, m1, "conv1.weight"), 0.0);
    ck_assert_double_eq(delta(src, m1, "conv5.weight"), 0.0);
    graft_model *fresh; /* the head graft_finetune starts from (seeded by cfg.seed) */
    ck_assert_int_eq(graft_transfer_target(src, 5, 0, 5, &fresh), GRAFT_OK);
    ck_assert_double_gt(delta(fresh, m1, "fc.weight"), 0.0);
    graft_model_free(fresh);
    /* Three epochs: one of phase 1, two of phase 2 over every layer, from
     * the same phase 1 (same seed) as m1. */
    graft_model *m3 = run(src, d, &fp, 2);
    double low = delta(m1, m3, "conv1.weight"), top = delta(m1, m3, "conv5.weight");
    ck_assert_msg(low > 0 && top > 0, "the backbone did not move: %g %g", low, top);
    /* The multipliers: lr_backbone at the top stage, lr_floor at the input. */
    int c1 = graft_model_find(m3, "conv1"), c3 = graft_model_find(m3, "conv3");
    int c5 = graft_model_find(m3, "conv5"), last = graft_model_num_nodes(m3) - 1;
    ck_assert_float_eq_tol(m3->nodes[c1].lr_mult, 0.01f, 1e-5f);
    ck_assert_float_eq_tol(m3->nodes[c5].lr_mult, 0.1f, 1e-5f);
    ck_assert(m3->nodes[c3].lr_mult < 0.1f && m3->nodes[c3].lr_mult > 0.01f);
    ck_assert_float_eq_tol(m3->nodes[last].lr_mult, 1.0f, 1e-6f);
    /* Plain fine-tuning at the full rate moves the input stage far more. */
    graft_finetune_params ft = graft_finetune_default_params();
    graft_model *f = run(src, d, &ft, 2);
    double full = delta(src, f, "conv1.weight");
    ck_assert_msg(low < 0.2 * full, "recipe moved conv1 by %g, finetune by %g", low, full);
    graft_model_free(m1);
    graft_model_free(m3);
    graft_model_free(f);
    graft_model_free(src);
    dataset_free(d);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(bn_statistics_frozen_below_threshold)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    dataset *d = fixture(8); /* 8 images per class */
    graft_model *src = source(ctx);
    graft_finetune_params fp = graft_finetune_recipe_params();
    ck_assert_int_eq(fp.bn_frozen_below, GRAFT_RECIPE_BN_FROZEN_BELOW);
    fp.head_epochs = 1;
    graft_model *frozen = run(src, d, &fp, 1);
    fp.bn_frozen_below = 8; /* 8 is not below 8: statistics train */
    graft_model *trained = run(src, d, &fp, 1);
    int stats = 0, moved = 0;
    for (int i = 0; i < graft_model_num_params(src); i++) {
        const char *name = graft_model_param_name(src, i);
        if (!strstr(name, "running_")) continue;
        stats++;
        ck_assert_msg(delta(src, frozen, name) == 0.0, "%s moved below the threshold", name);
        moved += delta(src, trained, name) > 0;
    }
    ck_assert_int_gt(stats, 0);
    ck_assert_int_eq(moved, stats);
    graft_model_free(frozen);
    graft_model_free(trained);
    graft_model_free(src);
    dataset_free(d);
    graft_ctx_destroy(ctx);
}
END_TEST

static int diverged_lines;

static void count_divergence(void *user, graft_log_level level, const char *msg)
{
    (void)user, (void)level;
    diverged_lines += strstr(msg, "recipe: phase 2 diverged") != NULL; /* 3 restarts, 1 give-up */
}

START_TEST(divergence_restarts_phase_2_at_lower_rates)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    dataset *d = fixture(8);
    graft_model *src = source(ctx);
    graft_finetune_params fp = graft_finetune_recipe_params();
    fp.head_epochs = 2;
    graft_train_config cfg = graft_train_default_config();
    cfg.epochs = 1;
    cfg.batch = 8;
    cfg.seed = 5;
    cfg.cb.log = count_divergence;
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    op.lr = 1e4f; /* diverges; so do 1e3, 1e2 and 10: phase 1's model is kept */
    graft_model *m;
    graft_train_result res;
    diverged_lines = 0;
    ck_assert_msg(graft_finetune(src, d, NULL, &fp, &op, &cfg, &m, &res) == GRAFT_OK, "%s",
                  graft_last_error(ctx));
    ck_assert_int_eq(diverged_lines, 4);
    ck_assert_int_eq(res.nepochs, 2); /* phase 1 only */
    ck_assert_double_eq(delta(src, m, "conv1.weight"), 0.0);
    for (int i = 0; i < graft_model_num_params(m); i++) {
        size_t n = graft_model_param_numel(m, i);
        float *v = malloc(n * sizeof *v);
        graft_model_param_get(m, i, v, n);
        for (size_t k = 0; k < n; k++) ck_assert(isfinite(v[k]));
        free(v);
    }
    graft_train_result_free(&res);
    graft_model_free(m);
    graft_model_free(src);
    dataset_free(d);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("recipe");
    TCase *tc = tcase_create("recipe");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, phases_in_order_with_discriminative_rates);
    tcase_add_test(tc, bn_statistics_frozen_below_threshold);
    tcase_add_test(tc, divergence_restarts_phase_2_at_lower_rates);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
