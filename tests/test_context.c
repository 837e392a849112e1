/* Device selection, the binary kernel cache, and error paths of the
 * runtime: each returns the right status and a message, never crashes. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"
#include "env_params.h"
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

/* The environment is read by the tools' parser (src/cli/env_params.c),
 * never by the library: a bad value is refused there, naming the variable
 * and the value. */
static void expect_env_refused(const char *name, const char *value)
{
    ck_assert_int_eq(setenv(name, value, 1), 0);
    graft_ctx_params p = graft_ctx_default_params();
    char err[512] = "";
    graft_status s = graft_params_from_env(&p, err, sizeof err);
    unsetenv(name);
    ck_assert_int_eq(s, GRAFT_ERR_INVALID_ARG);
    ck_assert_msg(strstr(err, name) && strstr(err, value), "message '%s'", err);
}

START_TEST(bad_gemm_env) { expect_env_refused("GRAFT_GEMM", "fastest"); }
END_TEST

START_TEST(bad_kernel_style_env) { expect_env_refused("GRAFT_KERNEL_STYLE", "fpga"); }
END_TEST

START_TEST(bad_fuse_env) { expect_env_refused("GRAFT_FUSE", "yes"); }
END_TEST

START_TEST(env_fills_params)
{
    const char *names[] = {"GRAFT_DEVICE", "GRAFT_GEMM", "GRAFT_KERNEL_STYLE", "GRAFT_FUSE",
                           "GRAFT_PROFILE_KERNELS", "GRAFT_CONV_IMPLICIT", "GRAFT_CONV_WINOGRAD"};
    const char *values[] = {"pocl", "Native", "GPU", "0", "1", "0", "0"};
    for (int i = 0; i < 7; i++) ck_assert_int_eq(setenv(names[i], values[i], 1), 0);
    graft_ctx_params p = graft_ctx_default_params();
    char err[512];
    ck_assert_int_eq(graft_params_from_env(&p, err, sizeof err), GRAFT_OK);
    ck_assert_str_eq(p.device, "pocl");
    ck_assert_int_eq(p.gemm, GRAFT_GEMM_NATIVE);
    ck_assert_int_eq(p.kernel_style, GRAFT_KERNELS_GPU);
    ck_assert_int_eq(p.fuse, 0);
    ck_assert_int_eq(p.profile_kernels, 1);
    ck_assert_int_eq(p.conv_path, GRAFT_CONV_PATH_IM2COL);
    ck_assert_int_eq(p.conv_winograd, GRAFT_CONV_WINOGRAD_OFF);
    ck_assert_int_eq(setenv("GRAFT_CONV_IMPLICIT", "1", 1), 0);
    ck_assert_int_eq(setenv("GRAFT_CONV_WINOGRAD", "1", 1), 0);
    ck_assert_int_eq(graft_params_from_env(&p, err, sizeof err), GRAFT_OK);
    ck_assert_int_eq(p.conv_path, GRAFT_CONV_PATH_IMPLICIT);
    ck_assert_int_eq(p.conv_winograd, GRAFT_CONV_WINOGRAD_ON);
    /* Unset and empty variables leave the defaults alone. */
    for (int i = 0; i < 7; i++) ck_assert_int_eq(setenv(names[i], "", 1), 0);
    graft_ctx_params q = graft_ctx_default_params(), d = graft_ctx_default_params();
    ck_assert_int_eq(graft_params_from_env(&q, err, sizeof err), GRAFT_OK);
    for (int i = 0; i < 7; i++) unsetenv(names[i]);
    ck_assert_ptr_null(q.device);
    ck_assert_int_eq(q.gemm, d.gemm);
    ck_assert_int_eq(q.kernel_style, d.kernel_style);
    ck_assert_int_eq(q.fuse, 1);
    ck_assert_int_eq(q.profile_kernels, 0);
    ck_assert_int_eq(q.conv_path, GRAFT_CONV_PATH_AUTO);
    ck_assert_int_eq(q.conv_winograd, GRAFT_CONV_WINOGRAD_AUTO);
    ck_assert_uint_eq(q.conv_chunk_bytes, (size_t)32 << 20);
}
END_TEST

/* Out-of-range fields are refused before any device work, naming them. */
START_TEST(bad_params_refused)
{
    char err[512];
    graft_ctx *ctx = NULL;
    graft_ctx_params p = graft_ctx_default_params();
    p.kernel_style = (graft_kernel_style)7;
    ck_assert_int_eq(graft_ctx_create(&p, &ctx, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(err, "kernel_style"));
    p = graft_ctx_default_params();
    p.fuse = 2;
    ck_assert_int_eq(graft_ctx_create(&p, &ctx, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "fuse"));
    p = graft_ctx_default_params();
    p.conv_chunk_bytes = 0;
    ck_assert_int_eq(graft_ctx_create(&p, &ctx, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "conv_chunk_bytes"));
    p = graft_ctx_default_params();
    p.conv_path = (graft_conv_path)-1;
    ck_assert_int_eq(graft_ctx_create(&p, &ctx, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "conv_path"));
    p = graft_ctx_default_params();
    p.conv_winograd = (graft_conv_winograd)3;
    ck_assert_int_eq(graft_ctx_create(&p, &ctx, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "conv_winograd"));
    p = graft_ctx_default_params();
    p.gemm_tuning.variant = (graft_gemm_variant)9;
    ck_assert_int_eq(graft_ctx_create(&p, &ctx, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "variant"));
}
END_TEST

/* Every message the log sink receives, joined by newlines. */
typedef struct log_capture {
    char text[8192];
    int calls;
} log_capture;

static void capture_log(void *user, graft_log_level level, const char *msg)
{
    log_capture *c = user;
    size_t used = strlen(c->text);
    snprintf(c->text + used, sizeof c->text - used, "%d:%s\n", (int)level, msg);
    c->calls++;
}

/* One native GEMM; returns the context's kernel profile in st. */
static int profile_of_gemm(graft_ctx *ctx, graft_kernel_stat *st, int max)
{
    int shape[2] = {20, 20};
    graft_tensor *a, *b, *c;
    ck_assert_int_eq(graft_tensor_create(ctx, 2, shape, &a), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_create(ctx, 2, shape, &b), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_create(ctx, 2, shape, &c), GRAFT_OK);
    float x[400];
    for (int i = 0; i < 400; i++) x[i] = (float)(i % 7) - 3.0f;
    ck_assert_int_eq(graft_tensor_upload(a, x, 400), GRAFT_OK);
    ck_assert_int_eq(graft_tensor_upload(b, x, 400), GRAFT_OK);
    ck_assert_int_eq(graft_gemm(ctx, 0, 0, 20, 20, 20, 1.0f, a, b, 0.0f, c), GRAFT_OK);
    ck_assert_int_eq(graft_gemm(ctx, 0, 0, 20, 20, 20, 1.0f, a, b, 0.0f, c), GRAFT_OK);
    ck_assert_int_eq(graft_ctx_finish(ctx), GRAFT_OK);
    graft_tensor_free(a);
    graft_tensor_free(b);
    graft_tensor_free(c);
    return graft_ctx_kernel_profile(ctx, st, max);
}

static int has_kernel(const graft_kernel_stat *st, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(st[i].name, name)) return 1;
    return 0;
}

/* kernel_style from the params picks the kernel family on any device (the
 * GPU-shaped GEMM is gemm_tiled_gpu), and the profile API sees the launches. */
START_TEST(kernel_style_and_profile_from_params)
{
    graft_kernel_stat st[32];
    for (int gpu = 0; gpu <= 1; gpu++) {
        graft_ctx_params p = graft_ctx_default_params();
        p.gemm = GRAFT_GEMM_NATIVE;
        p.kernel_style = gpu ? GRAFT_KERNELS_GPU : GRAFT_KERNELS_CPU;
        p.profile_kernels = 1;
        graft_ctx *ctx = tu_ctx_params(&p);
        ck_assert_int_eq(ctx_is_cpu(ctx), !gpu);
        int n = profile_of_gemm(ctx, st, 32);
        ck_assert_int_ge(n, 1);
        ck_assert_int_le(n, 32);
        ck_assert_int_eq(has_kernel(st, n, "gemm_tiled_gpu"), gpu);
        long calls = 0;
        for (int i = 0; i < n; i++) {
            ck_assert_int_ge(st[i].calls, 1);
            ck_assert(st[i].seconds >= 0);
            if (i) ck_assert(st[i - 1].seconds >= st[i].seconds); /* slowest first */
            calls += st[i].calls;
        }
        ck_assert_int_ge(calls, 2);
        /* max below count: the slowest entries only, count still returned. */
        graft_kernel_stat one;
        ck_assert_int_eq(graft_ctx_kernel_profile(ctx, &one, 1), n);
        ck_assert_str_eq(one.name, st[0].name);
        graft_ctx_destroy(ctx);
    }
    /* Profiling off: nothing is recorded. */
    graft_ctx_params p = graft_ctx_default_params();
    p.gemm = GRAFT_GEMM_NATIVE;
    graft_ctx *ctx = tu_ctx_params(&p);
    ck_assert_int_eq(profile_of_gemm(ctx, st, 32), 0);
    graft_ctx_destroy(ctx);
}
END_TEST

/* The log sink gets the build line at creation and, with profiling on, the
 * kernel table at destroy; the library itself prints nothing. */
START_TEST(log_callback_receives_messages)
{
    static log_capture cap;
    memset(&cap, 0, sizeof cap);
    graft_ctx_params p = graft_ctx_default_params();
    p.gemm = GRAFT_GEMM_NATIVE;
    p.profile_kernels = 1;
    p.log = capture_log;
    p.log_user = &cap;
    graft_ctx *ctx = tu_ctx_params(&p);
    ck_assert_msg(strstr(cap.text, "graft: kernels built from source") ||
                      strstr(cap.text, "graft: kernels loaded from the cache"),
                  "log: %s", cap.text);
    ck_assert(strstr(cap.text, "2:graft: kernels") != NULL); /* GRAFT_LOG_DEBUG */
    int before = cap.calls;
    graft_kernel_stat st[32];
    int n = profile_of_gemm(ctx, st, 32);
    ck_assert_int_ge(n, 1);
    ck_assert_int_eq(cap.calls, before); /* nothing logged per launch */
    graft_ctx_destroy(ctx);
    ck_assert_int_eq(cap.calls, before + 1);
    const char *table = strstr(cap.text, "1:graft kernel profile (");
    ck_assert_msg(table != NULL, "log: %s", cap.text);
    ck_assert_ptr_nonnull(strstr(table, "\n  kernel "));
    char line[128];
    snprintf(line, sizeof line, "\n  %-28s %8ld ", st[0].name, st[0].calls);
    ck_assert_msg(strstr(table, line) != NULL, "no line '%s' in %s", line + 1, table);
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
    tcase_add_test(tc, bad_fuse_env);
    tcase_add_test(tc, env_fills_params);
    tcase_add_test(tc, bad_params_refused);
    tcase_add_test(tc, kernel_style_and_profile_from_params);
    tcase_add_test(tc, log_callback_receives_messages);
    tcase_add_test(tc, tensor_errors);
    tcase_add_test(tc, kernel_build_failure_reports_log);
    tcase_add_test(tc, cl_error_names);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
