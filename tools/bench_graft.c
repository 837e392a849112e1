/* graft side of the side-by-side benchmark (tools/bench.sh); JSON lines on
 * stdout like tools/bench_torch.py, errors on stderr.
 *
 *   bench_graft train  --batch B [--iters N] [--warmup W] [--arch A | --model F]
 *                      [--train-last K]
 *   bench_graft infer  --batch B [--iters N] [--warmup W] [--arch A | --model F]
 *   bench_graft layers --batch B [--iters N]
 *   bench_graft startup [--batch B]
 *
 * Model refnet, SGD momentum 0.9, lr 0.05, weight decay 5e-4; one fixed
 * random batch (uniform [0,1], random labels, seed 0). A step is forward +
 * loss + backward + optimizer step + finish; images/s = batch / median step.
 * --model F runs a saved .graft model or imports an .onnx file instead of
 * building --arch (tools/bench.sh --backbones: the same graph and weights
 * as ONNX Runtime runs); its input node gives the image size.
 * --train-last K: only the last K layers with parameters train (1: the
 * head alone, as a linear probe's step; more: a frozen prefix).
 * startup: seconds from process start (/proc/self/stat) to the end of the
 * first training step; run it twice to see a warm kernel cache. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_env.h"
#include "env_params.h"
#include "graft.h"

static double now(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Process start in CLOCK_BOOTTIME seconds (field 22 of /proc/self/stat). */
static double proc_start(void)
{
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* comm may hold spaces */
    if (!p) return -1;
    unsigned long long st = 0;
    /* after ")": state is field 3, starttime field 22 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
               &st) != 1)
        return -1;
    return (double)st / (double)sysconf(_SC_CLK_TCK);
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static graft_ctx *ctx;
static graft_model *model;
static graft_optimizer *opt;
static float *xs;
static int *ys;
static int classes, img_size;
static int train_last; /* --train-last K; 0: every layer trains */

static void die(const char *what)
{
    fprintf(stderr, "bench_graft: %s: %s\n", what, ctx ? graft_last_error(ctx) : "");
    exit(1);
}

/* Loads path (.onnx: imported; else a .graft file) into the global model and
 * returns its input shape and class count in *ap. */
/* --train-last K: only the last K nodes that hold parameters train (K = 1:
 * the head alone, a linear probe's step; more: fine-tuning with a frozen
 * prefix). graft runs no backward below the lowest trainable node. */
static void freeze_prefix(int k)
{
    int n = graft_model_num_nodes(model), seen = 0;
    for (int i = n - 1; i >= 0; i--) {
        if (graft_model_node_param_count(model, i) == 0) continue;
        if (graft_model_set_trainable(model, i, seen < k) != GRAFT_OK) die("trainable");
        seen++;
    }
}

static void load_model(const char *path, graft_arch_params *ap)
{
    size_t n = strlen(path);
    graft_status st = n > 5 && !strcmp(path + n - 5, ".onnx")
                          ? graft_onnx_import(ctx, path, &model, NULL, 0)
                          : graft_model_load(ctx, path, &model, NULL);
    if (st != GRAFT_OK) die(path);
    int oh, ow;
    graft_model_node_shape(model, 0, &ap->channels, &ap->height, &ap->width);
    graft_model_node_shape(model, graft_model_num_nodes(model) - 1, &ap->classes, &oh, &ow);
    ap->classes *= oh * ow;
}

static void setup(const char *arch, const char *model_path, int batch)
{
    char err[1024];
    graft_ctx_params p = graft_ctx_default_params();
    if (graft_params_from_env(&p, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "bench_graft: %s\n", err);
        exit(1);
    }
    bench_params_from_env(&p);
    /* GRAFT_PROFILE_KERNELS=1: the per-kernel table on stderr at the end
     * (tools/bench.sh keeps it as kernels-64.txt). */
    p.log = graft_log_stderr;
    if (graft_ctx_create(&p, &ctx, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "bench_graft: %s\n", err);
        exit(1);
    }
    graft_arch_params ap = graft_arch_default_params(arch);
    if (model_path) {
        load_model(model_path, &ap);
    } else {
        if (graft_model_create(ctx, &model) != GRAFT_OK) die("model");
        graft_model_set_seed(model, 0);
        if (graft_model_build_arch(model, arch, &ap) != GRAFT_OK) die("build");
    }
    if (train_last > 0) freeze_prefix(train_last);
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    op.lr = 0.05f;
    op.momentum = 0.9f;
    op.weight_decay = 5e-4f;
    if (graft_optimizer_create(model, &op, &opt) != GRAFT_OK) die("optimizer");
    classes = ap.classes;
    img_size = ap.height;
    size_t n = (size_t)ap.channels * ap.height * ap.width * (size_t)batch;
    xs = malloc(n * sizeof *xs);
    ys = malloc((size_t)batch * sizeof *ys);
    if (!xs || !ys) die("out of memory");
    unsigned long long s = 0x9E3779B97F4A7C15ull; /* xorshift64*, fixed seed */
    for (size_t i = 0; i < n; i++) {
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        xs[i] = (float)((s * 2685821657736338717ull) >> 40) / 16777216.0f;
    }
    for (int i = 0; i < batch; i++) {
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        ys[i] = (int)(((s * 2685821657736338717ull) >> 33) % (unsigned)classes);
    }
}

static float train_step(int batch)
{
    float loss = 0;
    if (graft_model_forward(model, xs, batch, 1, NULL) != GRAFT_OK) die("forward");
    if (graft_model_backward(model, ys, 0, &loss, NULL) != GRAFT_OK) die("backward");
    if (graft_optimizer_step(opt) != GRAFT_OK) die("step");
    if (graft_ctx_finish(ctx) != GRAFT_OK) die("finish");
    return loss;
}

static void infer_step(int batch, float *logits)
{
    if (graft_model_forward(model, xs, batch, 0, logits) != GRAFT_OK) die("forward");
    if (graft_ctx_finish(ctx) != GRAFT_OK) die("finish");
}

/* Conv FLOPs per image of node i (forward; 0 if not a conv). */
static double conv_flops(int i)
{
    const graft_layer_spec *sp = graft_model_node_spec(model, i);
    if (sp->kind != GRAFT_LAYER_CONV2D) return 0;
    const int *in;
    graft_model_node_inputs(model, i, &in);
    int ci, h, w, co, ho, wo;
    graft_model_node_shape(model, in[0], &ci, &h, &w);
    graft_model_node_shape(model, i, &co, &ho, &wo);
    int kh, kw;
    graft_layer_window(sp, &kh, &kw, NULL);
    return 2.0 * co * ho * wo * (double)(ci / (sp->groups > 0 ? sp->groups : 1)) * kh * kw;
}

static int first_conv_is_input(int i)
{
    const int *in;
    graft_model_node_inputs(model, i, &in);
    return graft_model_node_spec(model, in[0])->kind == GRAFT_LAYER_INPUT;
}

int main(int argc, char **argv)
{
    double t_main = now(CLOCK_MONOTONIC);
    if (argc < 2) {
        fprintf(stderr, "usage: bench_graft train|infer|layers|startup [--batch B] [--iters N] "
                        "[--warmup W] [--arch A | --model FILE] [--train-last K]\n");
        return 2;
    }
    const char *mode = argv[1], *arch = "refnet", *model_path = NULL;
    int batch = 64, iters = 20, warmup = 3;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--iters")) iters = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup")) warmup = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--arch")) arch = argv[i + 1];
        else if (!strcmp(argv[i], "--model")) model_path = argv[i + 1];
        else if (!strcmp(argv[i], "--train-last")) train_last = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench_graft: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (batch < 1 || iters < 1 || warmup < 0) {
        fprintf(stderr, "bench_graft: bad --batch/--iters/--warmup\n");
        return 2;
    }

    if (!strcmp(mode, "startup")) {
        double t0 = proc_start(), a = now(CLOCK_MONOTONIC);
        setup(arch, model_path, batch);
        graft_build_stats bs = graft_ctx_build_stats(ctx);
        double b = now(CLOCK_MONOTONIC);
        train_step(batch);
        double t1 = now(CLOCK_BOOTTIME), c = now(CLOCK_MONOTONIC);
        train_step(batch); /* a warm step, for comparison */
        double d = now(CLOCK_MONOTONIC);
        printf("{\"what\":\"startup\",\"model\":\"%s\",\"batch\":%d,\"since_exec_s\":%.3f,"
               "\"in_main_s\":%.3f,\"programs_built\":%d,\"programs_from_cache\":%d,"
               "\"build_s\":%.3f,\"setup_s\":%.3f,\"first_step_s\":%.3f,\"second_step_s\":%.3f}\n",
               arch, batch, t0 >= 0 ? t1 - t0 : -1.0, c - t_main, bs.programs_built,
               bs.programs_from_cache, bs.build_seconds, b - a, c - b, d - c);
        return 0;
    }

    setup(arch, model_path, batch);
    const graft_device_info *di = graft_ctx_device(ctx);
    printf("{\"what\":\"env\",\"device\":\"%s\",\"platform\":\"%s\",\"driver\":\"%s\","
           "\"compute_units\":%u,\"gemm\":\"%s\"}\n",
           di->name, di->platform, di->driver_version, di->compute_units,
           graft_ctx_gemm_backend(ctx) == GRAFT_GEMM_CLBLAST ? "clblast" : "native");
    int train = !strcmp(mode, "train");
    if (train || !strcmp(mode, "infer")) {
        float *logits = malloc((size_t)batch * classes * sizeof *logits);
        double *t = malloc((size_t)iters * sizeof *t);
        if (!logits || !t) die("out of memory");
        float loss = 0;
        for (int i = 0; i < warmup + iters; i++) {
            double a = now(CLOCK_MONOTONIC);
            if (train) loss = train_step(batch);
            else infer_step(batch, logits);
            if (i >= warmup) t[i - warmup] = now(CLOCK_MONOTONIC) - a;
        }
        double sum = 0;
        for (int i = 0; i < iters; i++) sum += t[i];
        qsort(t, (size_t)iters, sizeof *t, cmp_d);
        double med = iters % 2 ? t[iters / 2] : 0.5 * (t[iters / 2 - 1] + t[iters / 2]);
        /* JSON has no NaN or infinity: a diverged loss is written as null. */
        char loss_s[32];
        if (isfinite(loss)) snprintf(loss_s, sizeof loss_s, "%.4f", loss);
        else snprintf(loss_s, sizeof loss_s, "null");
        printf("{\"what\":\"%s\",\"model\":\"%s\",\"size\":%d,\"batch\":%d,\"images_per_s\":%.1f,"
               "\"median_step_ms\":%.2f,\"mean_step_ms\":%.2f,\"min_step_ms\":%.2f,"
               "\"max_step_ms\":%.2f,\"iters\":%d,\"final_loss\":%s,\"peak_rss_mib\":%.1f}\n",
               mode, model_path ? model_path : arch, img_size, batch, batch / med, med * 1e3, sum / iters * 1e3, t[0] * 1e3,
               t[iters - 1] * 1e3, iters, loss_s, peak_rss_mib());
        free(logits);
        free(t);
    } else if (!strcmp(mode, "layers")) {
        for (int i = 0; i < warmup; i++) train_step(batch);
        graft_model_set_profiling(model, 1);
        for (int i = 0; i < iters; i++) train_step(batch);
        double tf = 0, tb = 0, cflop = 0, ct = 0;
        for (int i = 1; i < graft_model_num_nodes(model); i++) {
            double f, b, fl = conv_flops(i) * batch;
            graft_model_node_profile(model, i, &f, &b);
            tf += f;
            tb += b;
            /* backward = dW, plus dX unless the input is the data */
            double bfl = fl * (fl > 0 && first_conv_is_input(i) ? 1 : 2);
            printf("{\"what\":\"layer\",\"name\":\"%s\",\"kind\":\"%s\",\"fwd_ms\":%.3f,"
                   "\"bwd_ms\":%.3f",
                   graft_model_node_name(model, i),
                   graft_layer_kind_name(graft_model_node_spec(model, i)->kind), f * 1e3, b * 1e3);
            if (fl > 0) {
                printf(",\"fwd_gflops\":%.1f,\"bwd_gflops\":%.1f", fl / f * 1e-9,
                       b > 0 ? bfl / b * 1e-9 : 0.0);
                cflop += fl + bfl;
                ct += f + b;
            }
            printf("}\n");
        }
        printf("{\"what\":\"layer\",\"name\":\"total\",\"fwd_ms\":%.3f,\"bwd_ms\":%.3f,"
               "\"images_per_s\":%.1f,\"conv_train_gflops\":%.1f,\"conv_ms\":%.3f,"
               "\"batch\":%d,\"iters\":%d}\n",
               tf * 1e3, tb * 1e3, batch / (tf + tb), ct > 0 ? cflop / ct * 1e-9 : 0.0, ct * 1e3,
               batch, iters);
    } else {
        fprintf(stderr, "bench_graft: unknown mode %s\n", mode);
        return 2;
    }
    graft_optimizer_free(opt);
    graft_model_free(model);
    graft_ctx_destroy(ctx);
    free(xs);
    free(ys);
    return 0;
}
