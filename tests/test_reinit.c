/* graft_model_reinit: fresh parameters, same graph and shapes, the same
 * values as a model built with that seed, deterministic per seed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static graft_model *build_refnet(graft_ctx *ctx, uint64_t seed)
{
    graft_model *m;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_model_set_seed(m, seed);
    graft_arch_params p = graft_arch_default_params("refnet");
    graft_status s = graft_model_build_arch(m, "refnet", &p);
    ck_assert_msg(s == GRAFT_OK, "refnet: %s", graft_last_error(ctx));
    return m;
}

/* Every parameter of m, concatenated; *n gets the total. */
static float *all_params(graft_model *m, size_t *n)
{
    size_t tot = 0;
    for (int i = 0; i < graft_model_num_params(m); i++) tot += graft_model_param_numel(m, i);
    float *v = malloc(tot * sizeof *v);
    ck_assert_ptr_nonnull(v);
    size_t off = 0;
    for (int i = 0; i < graft_model_num_params(m); i++) {
        size_t k = graft_model_param_numel(m, i);
        ck_assert_int_eq(graft_model_param_get(m, i, v + off, k), GRAFT_OK);
        off += k;
    }
    *n = tot;
    return v;
}

START_TEST(reinit_matches_fresh_build_and_is_deterministic)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *fresh = build_refnet(ctx, 7), *m = build_refnet(ctx, 3);
    size_t nf, n0;
    float *pf = all_params(fresh, &nf);
    float *p0 = all_params(m, &n0);
    ck_assert_uint_eq(nf, n0);

    /* Overwrite everything (as training would), then re-initialise. */
    int np = graft_model_num_params(m);
    int shapes[64][GRAFT_MAX_DIMS], ndims[64];
    ck_assert_int_le(np, 64);
    for (int i = 0; i < np; i++) {
        ndims[i] = graft_model_param_shape(m, i, shapes[i]);
        size_t k = graft_model_param_numel(m, i);
        float *x = malloc(k * sizeof *x);
        ck_assert_ptr_nonnull(x);
        for (size_t j = 0; j < k; j++) x[j] = 0.25f;
        ck_assert_int_eq(graft_model_param_set(m, i, x, k), GRAFT_OK);
        free(x);
    }
    ck_assert_int_eq(graft_model_reinit(m, 7), GRAFT_OK);

    /* Graph and shapes are kept. */
    ck_assert_int_eq(graft_model_num_params(m), np);
    ck_assert_int_eq(graft_model_num_nodes(m), graft_model_num_nodes(fresh));
    for (int i = 0; i < np; i++) {
        int sh[GRAFT_MAX_DIMS];
        ck_assert_int_eq(graft_model_param_shape(m, i, sh), ndims[i]);
        for (int k = 0; k < ndims[i]; k++) ck_assert_int_eq(sh[k], shapes[i][k]);
        ck_assert_str_eq(graft_model_param_name(m, i), graft_model_param_name(fresh, i));
    }
    /* Identical to a model built with seed 7, different from seed 3. */
    size_t n1;
    float *p1 = all_params(m, &n1);
    ck_assert_uint_eq(n1, nf);
    ck_assert_msg(memcmp(p1, pf, nf * sizeof *pf) == 0, "reinit(7) differs from a fresh seed-7 build");
    size_t changed = 0;
    for (size_t j = 0; j < n0; j++) changed += p1[j] != p0[j];
    ck_assert_msg(changed > n0 / 2, "only %zu of %zu values changed with the seed", changed, n0);

    /* The same seed twice gives the same values. */
    ck_assert_int_eq(graft_model_reinit(m, 11), GRAFT_OK);
    size_t n2, n3;
    float *p2 = all_params(m, &n2);
    ck_assert_int_eq(graft_model_reinit(m, 11), GRAFT_OK);
    float *p3 = all_params(m, &n3);
    ck_assert_msg(memcmp(p2, p3, n2 * sizeof *p2) == 0, "reinit(11) is not deterministic");
    ck_assert_msg(memcmp(p2, p1, n2 * sizeof *p2) != 0, "seeds 7 and 11 give the same values");

    /* BatchNorm running statistics are reset to mean 0, variance 1. */
    for (int i = 0; i < np; i++) {
        const char *nm = graft_model_param_name(m, i);
        size_t k = graft_model_param_numel(m, i);
        float *x = malloc(k * sizeof *x);
        ck_assert_ptr_nonnull(x);
        ck_assert_int_eq(graft_model_param_get(m, i, x, k), GRAFT_OK);
        float want = strstr(nm, "running_mean") ? 0.0f : strstr(nm, "running_var") ? 1.0f : NAN;
        for (size_t j = 0; j < k; j++) {
            ck_assert(isfinite(x[j]));
            if (!isnan(want)) ck_assert_msg(x[j] == want, "%s[%zu] = %g", nm, j, x[j]);
        }
        free(x);
    }

    /* Still runs. */
    float img[28 * 28], logits[10];
    tu_rng r = {5};
    tu_fill(&r, img, 28 * 28, -1, 1);
    ck_assert_int_eq(graft_model_forward(m, img, 1, 0, logits), GRAFT_OK);
    for (int k = 0; k < 10; k++) ck_assert(isfinite(logits[k]));

    ck_assert_int_eq(graft_model_reinit(NULL, 1), GRAFT_ERR_INVALID_ARG);
    free(pf);
    free(p0);
    free(p1);
    free(p2);
    free(p3);
    graft_model_free(m);
    graft_model_free(fresh);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reinit");
    TCase *tc = tcase_create("reinit");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, reinit_matches_fresh_build_and_is_deterministic);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
