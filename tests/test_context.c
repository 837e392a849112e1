/* Device selection, the binary kernel cache, and error paths of the
 * runtime: each returns the right status and a message, never crashes. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"
#include "testutil.h"


static char cache_dir[256];

static void make_cache_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(cache_dir, sizeof cache_dir, "%s/graft-cache-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(cache_dir));
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static graft_ctx *ctx_with_cache(const char *dir)
{
    graft_ctx_params p = graft_ctx_default_params();
    p.cache_dir = dir;
    graft_ctx *ctx = NULL;
    char err[1024];
    graft_status s = graft_ctx_create(&p, &ctx, err, sizeof err);
    if (s == GRAFT_ERR_NO_DEVICE) exit(77);
    ck_assert_msg(s == GRAFT_OK, "%s", err);
    return ctx;
}

START_TEST(second_context_loads_from_cache)
{
    make_cache_dir();
    graft_ctx *a = ctx_with_cache(cache_dir);
    graft_build_stats sa = graft_ctx_build_stats(a);
    ck_assert_int_eq(sa.programs_built, 1);
    ck_assert_int_eq(sa.programs_from_cache, 0);
    graft_ctx_destroy(a);
    graft_ctx *b = ctx_with_cache(cache_dir);
    graft_build_stats sb = graft_ctx_build_stats(b);
    ck_assert_int_eq(sb.programs_built, 0);
    ck_assert_int_eq(sb.programs_from_cache, 1);
    fprintf(stderr, "kernel build: cold %.3f s, cached %.3f s\n", sa.build_seconds, sb.build_seconds);
    graft_ctx_destroy(b);

    /* Corrupt every cache entry: it must be ignored and rebuilt. */
    DIR *d = opendir(cache_dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int corrupted = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", cache_dir, e->d_name);
        FILE *f = fopen(path, "r+b");
        ck_assert_ptr_nonnull(f);
        fseek(f, 40, SEEK_SET);
        fputc(0x5a, f);
        fputc(0xa5, f);
        fclose(f);
        corrupted++;
    }
    closedir(d);
    ck_assert_int_ge(corrupted, 1);
    graft_ctx *c = ctx_with_cache(cache_dir);
    graft_build_stats sc = graft_ctx_build_stats(c);
    ck_assert_int_eq(sc.programs_built, 1);
    ck_assert_int_eq(sc.programs_from_cache, 0);
    graft_ctx_destroy(c);
    remove_dir(cache_dir);
}
END_TEST

START_TEST(device_selection)
{
    graft_device_info *devs;
    int n;
    char err[512];
    graft_status s = graft_devices_list(&devs, &n, err, sizeof err);
    if (s == GRAFT_ERR_NO_DEVICE) exit(77);
    ck_assert_int_eq(s, GRAFT_OK);
    ck_assert_int_ge(n, 1);
    ck_assert(strlen(devs[0].name) > 0);
    ck_assert(devs[0].compute_units > 0);
    ck_assert(devs[0].max_alloc_bytes > 0);

    graft_ctx_params p = graft_ctx_default_params();
    p.cache_dir = "";
    graft_ctx *ctx = NULL;
    p.device = "0";
    ck_assert_int_eq(graft_ctx_create(&p, &ctx, err, sizeof err), GRAFT_OK);
    ck_assert_str_eq(graft_ctx_device(ctx)->name, devs[0].name);
    graft_ctx_destroy(ctx);

    p.device = "no-such-device-xyz";
    ck_assert_int_eq(graft_ctx_create(&p, &ctx, err, sizeof err), GRAFT_ERR_NO_DEVICE);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(err, "no-such-device-xyz"));
    ck_assert_ptr_nonnull(strstr(err, devs[0].name));

    p.device = "99";
    ck_assert_int_eq(graft_ctx_create(&p, &ctx, err, sizeof err), GRAFT_ERR_NO_DEVICE);
    graft_free(devs);
}
END_TEST

START_TEST(bad_gemm_env)
{
    setenv("GRAFT_GEMM", "fastest", 1);
    graft_ctx_params p = graft_ctx_default_params();
    p.cache_dir = "";
    graft_ctx *ctx = NULL;
    char err[512];
    graft_status s = graft_ctx_create(&p, &ctx, err, sizeof err);
    unsetenv("GRAFT_GEMM");
    if (s == GRAFT_ERR_NO_DEVICE) exit(77);
    ck_assert_int_eq(s, GRAFT_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "fastest"));
}
END_TEST

START_TEST(bad_kernel_style_env)
{
    setenv("GRAFT_KERNEL_STYLE", "fpga", 1);
    graft_ctx_params p = graft_ctx_default_params();
    p.cache_dir = "";
    graft_ctx *ctx = NULL;
    char err[512];
    graft_status s = graft_ctx_create(&p, &ctx, err, sizeof err);
    unsetenv("GRAFT_KERNEL_STYLE");
    if (s == GRAFT_ERR_NO_DEVICE) exit(77);
    ck_assert_int_eq(s, GRAFT_ERR_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(err, "fpga"));
}
END_TEST

START_TEST(tensor_errors)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_tensor *t = NULL;
    int zero[2] = {3, 0};
    ck_assert_int_eq(graft_tensor_create(ctx, 2, zero, &t), GRAFT_ERR_SHAPE);
    ck_assert_ptr_null(t);
    ck_assert_ptr_nonnull(strstr(graft_last_error(ctx), "dimension 1 is 0"));

    /* Larger than the device's maximum allocation: refused with the size. */
    uint64_t max = graft_ctx_device(ctx)->max_alloc_bytes;
    int big[2] = {(int)(max / 4 / 1024) + 1, 1024};
    ck_assert_int_eq(graft_tensor_create(ctx, 2, big, &t), GRAFT_ERR_DEVICE_MEMORY);
    ck_assert_ptr_nonnull(strstr(graft_last_error(ctx), "maximum allocation"));

    int ok[1] = {5};
    ck_assert_int_eq(graft_tensor_create(ctx, 1, ok, &t), GRAFT_OK);
    float v[5] = {1, 2, 3, 4, 5}, w[5];
    ck_assert_int_eq(graft_tensor_upload(t, v, 4), GRAFT_ERR_SHAPE);
    ck_assert_int_eq(graft_tensor_upload(t, v, 5), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_download(t, w, 5), GRAFT_OK);
    ck_assert_mem_eq(v, w, sizeof v);
    graft_tensor_free(t);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(kernel_build_failure_reports_log)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    char log[2048];
    graft_status s = ctx_build_source_for_test(
        ctx, "__kernel void broken(__global float *x) { x[0] = undeclared_thing; }", log, sizeof log);
    ck_assert_int_eq(s, GRAFT_ERR_BUILD);
    ck_assert_ptr_nonnull(strstr(log, "undeclared_thing"));
    ck_assert_str_eq(graft_status_name(s), "GRAFT_ERR_BUILD");
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(cl_error_names)
{
    ck_assert_str_eq(cl_error_name(CL_INVALID_VALUE), "CL_INVALID_VALUE");
    ck_assert_str_eq(cl_error_name(CL_MEM_OBJECT_ALLOCATION_FAILURE), "CL_MEM_OBJECT_ALLOCATION_FAILURE");
    ck_assert_str_eq(cl_error_name(-12345), "CL_UNKNOWN_ERROR");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("context");
    TCase *tc = tcase_create("context");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, second_context_loads_from_cache);
    tcase_add_test(tc, device_selection);
    tcase_add_test(tc, bad_gemm_env);
    tcase_add_test(tc, bad_kernel_style_env);
    tcase_add_test(tc, tensor_errors);
    tcase_add_test(tc, kernel_build_failure_reports_log);
    tcase_add_test(tc, cl_error_names);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
