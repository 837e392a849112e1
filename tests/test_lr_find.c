/* graft_lr_find: a finite suggestion inside the range on a tiny set, the
 * source left unchanged, argument checks, and the curve written atomically
 * (the files appear complete, no temporary file is left beside them). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "graft_transfer.h"
#include "testutil.h"

static dataset *fixture(void)
{
    char img[512], lab[512], err[512];
    snprintf(img, sizeof img, "%s/fixtures/fmnist512-images-idx3-ubyte.gz", GRAFT_DATA_DIR);
    snprintf(lab, sizeof lab, "%s/fixtures/fmnist512-labels-idx1-ubyte.gz", GRAFT_DATA_DIR);
    dataset *d, *few;
    ck_assert_msg(dataset_load_idx(img, lab, NULL, 10, &d, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert(dataset_per_class(d, 6, 3, &few, err, sizeof err) == GRAFT_OK);
    dataset_free(d);
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

static void check_result(const graft_lr_find_result *r, const graft_lr_find_config *c)
{
    ck_assert_int_ge(r->npoints, 5);
    ck_assert_int_le(r->npoints, c->steps);
    ck_assert(isfinite(r->suggested) && r->suggested > 0);
    ck_assert(r->suggested >= c->lr_min / 10 && r->suggested <= c->lr_max);
    for (int i = 1; i < r->npoints; i++) ck_assert(r->points[i].lr > r->points[i - 1].lr);
    ck_assert_float_eq_tol(r->points[0].lr, c->lr_min, c->lr_min * 1e-4f);
}

START_TEST(finite_suggestion_and_atomic_files)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    dataset *d = fixture();
    graft_model *src = source(ctx);
    size_t n0 = graft_model_param_numel(src, 0);
    float *w0 = malloc(n0 * sizeof *w0), *w1 = malloc(n0 * sizeof *w1);
    ck_assert_int_eq(graft_model_param_get(src, 0, w0, n0), GRAFT_OK);
    graft_lr_find_config c = graft_lr_find_default_config();
    c.steps = 24;
    c.train.batch = 8;
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    graft_lr_find_result r;
    graft_finetune_params fp = graft_finetune_default_params();
    ck_assert_msg(graft_lr_find(src, d, &fp, &op, &c, &r) == GRAFT_OK, "%s", graft_last_error(ctx));
    check_result(&r, &c);
    /* The source is only read. */
    ck_assert_int_eq(graft_model_param_get(src, 0, w1, n0), GRAFT_OK);
    ck_assert(!memcmp(w0, w1, n0 * sizeof *w0));

    char dir[] = "/tmp/graft-lrfind-XXXXXX", prefix[256], path[300], err[512];
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(prefix, sizeof prefix, "%s/curve", dir);
    ck_assert_msg(graft_lr_find_write(&r, prefix, err, sizeof err) == GRAFT_OK, "%s", err);
    snprintf(path, sizeof path, "%s.csv", prefix);
    FILE *f = fopen(path, "r");
    ck_assert(f != NULL);
    char line[256];
    int lines = 0;
    ck_assert(fgets(line, sizeof line, f) && !strcmp(line, "step,lr,loss,smoothed\n"));
    while (fgets(line, sizeof line, f)) lines++;
    fclose(f);
    ck_assert_int_eq(lines, r.npoints);
    /* Only the two finished files: no temporary left behind. */
    DIR *dd = opendir(dir);
    int entries = 0;
    struct dirent *e;
    while ((e = readdir(dd)))
        if (e->d_name[0] != '.') {
            entries++;
            ck_assert_msg(!strcmp(e->d_name, "curve.csv") || !strcmp(e->d_name, "curve.html"),
                          "unexpected %s", e->d_name);
        }
    closedir(dd);
    ck_assert_int_eq(entries, 2);
    snprintf(path, sizeof path, "%s.html", prefix);
    unlink(path);
    snprintf(path, sizeof path, "%s.csv", prefix);
    unlink(path);
    rmdir(dir);
    /* An unwritable prefix is an error with the path, nothing else. */
    ck_assert_int_eq(graft_lr_find_write(&r, "/nonexistent-dir/x", err, sizeof err), GRAFT_ERR_IO);
    ck_assert(strstr(err, "/nonexistent-dir/x.csv") != NULL);

    char *table = NULL;
    ck_assert_int_eq(graft_lr_find_table(&r, 6, &table, err, sizeof err), GRAFT_OK);
    ck_assert(strstr(table, "suggested lr") != NULL);
    graft_free(table);
    graft_lr_find_result_free(&r);

    /* The recipe: phase 1 first, then the sweep. */
    graft_finetune_params rp = graft_finetune_recipe_params();
    rp.head_epochs = 1;
    ck_assert_msg(graft_lr_find(src, d, &rp, &op, &c, &r) == GRAFT_OK, "%s", graft_last_error(ctx));
    check_result(&r, &c);
    graft_lr_find_result_free(&r);
    free(w0);
    free(w1);
    graft_model_free(src);
    dataset_free(d);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(refuses_bad_ranges)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    dataset *d = fixture();
    graft_model *src = source(ctx);
    graft_lr_find_config c = graft_lr_find_default_config();
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    graft_finetune_params fp = graft_finetune_default_params();
    graft_lr_find_result r;
    c.lr_min = 1.0f;
    c.lr_max = 0.5f;
    ck_assert_int_eq(graft_lr_find(src, d, &fp, &op, &c, &r), GRAFT_ERR_INVALID_ARG);
    ck_assert(strstr(graft_last_error(ctx), "lr_min < lr_max") != NULL);
    ck_assert_int_eq(r.npoints, 0);
    c = graft_lr_find_default_config();
    c.steps = 2;
    ck_assert_int_eq(graft_lr_find(src, d, &fp, &op, &c, &r), GRAFT_ERR_INVALID_ARG);
    graft_model_free(src);
    dataset_free(d);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lr_find");
    TCase *tc = tcase_create("lr_find");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, finite_suggestion_and_atomic_files);
    tcase_add_test(tc, refuses_bad_ranges);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
