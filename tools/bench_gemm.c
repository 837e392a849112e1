/* GEMM benchmark: graft native (with and without its A-packing pass),
 * CLBlast and OpenBLAS on the conv-shaped GEMMs of refnet plus a square
 * case. Medians of --reps runs, implementations alternating inside each
 * repetition so that load from other processes hits all of them alike.
 *
 *   bench_gemm [--reps N] [--batch B]... [--square N] [--only SUBSTR]
 *              [--no-clblast] [--v1] [--markdown] [--best] [--cfg VAR=VAL,...]...
 *
 * --v1 also times the first native kernel (both operands packed). Uses
 * internal graft headers (ctx.h, gemm.h) to time the packed kernel alone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_env.h"
#include "ctx.h"
#include "env_params.h"
#include "gemm.h"
#include "layer.h"

#ifdef HAVE_OPENBLAS
#include <cblas.h>
#endif

enum { IMPL_TOTAL, IMPL_KERNEL, IMPL_V1, IMPL_CLBLAST, IMPL_OPENBLAS, IMPL_CONV, IMPL_CFG0 };
#define MAXCFG 6
#define NIMPL (IMPL_CFG0 + MAXCFG)
/* --cfg "VAR=VAL,VAR=VAL": graft's gemm_run timed with those variables set
 * (GRAFT_GEMM_* knobs, re-read into the context's tuning; POCL_*) as an
 * extra column of the same run. */
static char *cfgs[MAXCFG];
static int ncfg;

static void cfg_env(int i, int set)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", cfgs[i]);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (!eq) continue;
        *eq = '\0';
        if (set) setenv(tok, eq + 1, 1);
        else unsetenv(tok);
    }
}

typedef struct shape {
    char name[48];
    int M, N, K, ta, tb;
    /* Conv shapes: the layer (batch, cin, cout, hw, 3x3 pad 1) and which
     * pass the GEMM stands for (0 forward, 1 dW, 2 dcol = dx). */
    int conv, batch, cin, cout, hw, pass;
} shape;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median time, or with --best the fastest run (less sensitive to other
 * processes on the same cores). */
static int use_best;
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    if (use_best) return v[0];
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(graft_ctx *ctx, graft_status s, const char *what)
{
    fprintf(stderr, "bench_gemm: %s: %s (%s)\n", what, graft_status_name(s),
            ctx ? graft_last_error(ctx) : "");
    exit(1);
}
#define CHECK(ctx, expr, what)                                                 \
    do {                                                                       \
        graft_status s_ = (expr);                                              \
        if (s_ != GRAFT_OK) die((ctx), s_, (what));                            \
    } while (0)

/* One context's copies of the operands; for conv shapes also the layer
 * and its input / output / gradient buffers (graft's own conv pass). */
typedef struct dev_ops {
    graft_ctx *ctx;
    cl_mem a, b, c, ap;
    layer *l;
    cl_mem x, y, dy, dx;
} dev_ops;

static void dev_setup(dev_ops *d, const shape *s, const float *A, const float *B, int packed)
{
    size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N, nc = (size_t)s->M * s->N;
    CHECK(d->ctx, ctx_alloc(d->ctx, na * 4, &d->a, "A"), "alloc");
    CHECK(d->ctx, ctx_alloc(d->ctx, nb * 4, &d->b, "B"), "alloc");
    CHECK(d->ctx, ctx_alloc(d->ctx, nc * 4, &d->c, "C"), "alloc");
    CHECK(d->ctx, ctx_write(d->ctx, d->a, 0, A, na), "upload");
    CHECK(d->ctx, ctx_write(d->ctx, d->b, 0, B, nb), "upload");
    d->ap = NULL;
    if (packed)
        CHECK(d->ctx, ctx_alloc(d->ctx, gemm_packed_a_floats(s->M, s->K) * 4, &d->ap, "Ap"),
              "alloc");
}

static void dev_free(dev_ops *d)
{
    if (d->l) layer_free(d->l);
    cl_mem *m[] = {&d->x, &d->y, &d->dy, &d->dx};
    for (int i = 0; i < 4; i++)
        if (*m[i]) clReleaseMemObject(*m[i]), *m[i] = NULL;
    d->l = NULL;
    if (d->a) clReleaseMemObject(d->a);
    if (d->b) clReleaseMemObject(d->b);
    if (d->c) clReleaseMemObject(d->c);
    if (d->ap) clReleaseMemObject(d->ap);
    d->a = d->b = d->c = d->ap = NULL;
}

static gemm_operand op_a(const dev_ops *d, const shape *s)
{
    return (gemm_operand){d->a, 0, s->ta ? s->M : s->K, s->ta};
}
static gemm_operand op_b(const dev_ops *d, const shape *s)
{
    return (gemm_operand){d->b, 0, s->tb ? s->K : s->N, s->tb};
}

/* Seconds for one run of impl, device work included. */
static double run_once(int impl, dev_ops *nat, dev_ops *clb, const shape *s, const float *A,
                       const float *B, float *Chost)
{
    double t0;
    if (impl >= IMPL_CFG0) {
        cfg_env(impl - IMPL_CFG0, 1);
        bench_gemm_tuning_from_env(&nat->ctx->tune);
        t0 = now();
        CHECK(nat->ctx, gemm_run(nat->ctx, s->M, s->N, s->K, 1.0f, op_a(nat, s), op_b(nat, s), 0.0f,
                                 nat->c, 0, s->N), "gemm");
        CHECK(nat->ctx, graft_ctx_finish(nat->ctx), "finish");
        double dt = now() - t0;
        cfg_env(impl - IMPL_CFG0, 0);
        bench_gemm_tuning_from_env(&nat->ctx->tune);
        return dt;
    }
    t0 = now();
    switch (impl) {
    case IMPL_TOTAL:
    case IMPL_V1: {
        /* The knobs live in the context (read once from its params). */
        gemm_tuning keep = nat->ctx->tune;
        if (impl == IMPL_V1) nat->ctx->tune.variant = GRAFT_GEMM_VARIANT_V1;
        CHECK(nat->ctx, gemm_run(nat->ctx, s->M, s->N, s->K, 1.0f, op_a(nat, s), op_b(nat, s), 0.0f,
                                 nat->c, 0, s->N), "gemm");
        CHECK(nat->ctx, graft_ctx_finish(nat->ctx), "finish");
        nat->ctx->tune = keep;
        break;
    }
    case IMPL_KERNEL: /* A was packed once beforehand */
        CHECK(nat->ctx, gemm_packed_run(nat->ctx, s->M, s->N, s->K, 1.0f, nat->ap, 0,
                                        op_b(nat, s), 0.0f, nat->c, 0, s->N), "gemm_packed_run");
        CHECK(nat->ctx, graft_ctx_finish(nat->ctx), "finish");
        break;
    case IMPL_CLBLAST:
        CHECK(clb->ctx, gemm_run(clb->ctx, s->M, s->N, s->K, 1.0f, op_a(clb, s), op_b(clb, s), 0.0f,
                                 clb->c, 0, s->N), "clblast gemm");
        CHECK(clb->ctx, graft_ctx_finish(clb->ctx), "finish");
        break;
    case IMPL_CONV: {
        /* The layer pass graft actually runs for this GEMM's work (on CPU
         * devices the implicit conv kernels, which need no im2col). */
        if (s->pass == 0) {
            fwd_io io = {.n = s->batch, .training = 1, .in = {nat->x}, .out = nat->y};
            CHECK(nat->ctx, nat->l->ops->forward(nat->ctx, nat->l, &io), "conv forward");
        } else {
            bwd_io io = {.n = s->batch, .in = {nat->x}, .out = nat->y, .dout = nat->dy};
            io.param_grads = s->pass == 1;
            io.din[0] = s->pass == 2 ? nat->dx : NULL;
            CHECK(nat->ctx, nat->l->ops->backward(nat->ctx, nat->l, &io), "conv backward");
        }
        CHECK(nat->ctx, graft_ctx_finish(nat->ctx), "finish");
        break;
    }
    case IMPL_OPENBLAS:
#ifdef HAVE_OPENBLAS
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                    s->tb ? CblasTrans : CblasNoTrans, s->M, s->N, s->K, 1.0f, A,
                    s->ta ? s->M : s->K, B, s->tb ? s->K : s->N, 0.0f, Chost, s->N);
#else
        (void)A, (void)B, (void)Chost;
#endif
        break;
    }
    return now() - t0;
}

static void fill(float *x, size_t n, unsigned *seed)
{
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        x[i] = (float)(*seed >> 8) / 16777216.0f - 0.5f;
    }
}

/* Max |x - ref| / max |ref|: a sanity check, the tests do the real one. */
static double rel_diff(const float *x, const float *ref, size_t n)
{
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)x[i] - ref[i]));
        m = fmax(m, fabs((double)ref[i]));
    }
    return m > 0 ? d / m : d;
}

/* The conv layer behind shape s, random input, weights and dy. */
static void conv_setup(dev_ops *d, const shape *s, unsigned *seed)
{
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_CONV2D);
    sp.channels = s->cout;
    sp.kernel = 3;
    sp.pad = 1;
    sp.bias = 0;
    layer_shape in = {s->cin, s->hw, s->hw};
    CHECK(d->ctx, layer_create(d->ctx, "conv", &sp, 1, &in, &d->l), "conv layer");
    size_t nx = (size_t)s->batch * s->cin * s->hw * s->hw;
    size_t ny = (size_t)s->batch * s->cout * s->hw * s->hw;
    float *h = malloc((nx > ny ? nx : ny) * sizeof *h);
    if (!h) die(d->ctx, GRAFT_ERR_HOST_MEMORY, "conv buffers");
    CHECK(d->ctx, ctx_alloc(d->ctx, nx * 4, &d->x, "x"), "alloc");
    CHECK(d->ctx, ctx_alloc(d->ctx, nx * 4, &d->dx, "dx"), "alloc");
    CHECK(d->ctx, ctx_alloc(d->ctx, ny * 4, &d->y, "y"), "alloc");
    CHECK(d->ctx, ctx_alloc(d->ctx, ny * 4, &d->dy, "dy"), "alloc");
    fill(h, nx, seed);
    CHECK(d->ctx, ctx_write(d->ctx, d->x, 0, h, nx), "upload");
    fill(h, ny, seed);
    CHECK(d->ctx, ctx_write(d->ctx, d->dy, 0, h, ny), "upload");
    free(h);
}

static void add_conv(shape *v, int *n, int batch, const char *layer, int cin, int cout, int hw)
{
    int P = batch * hw * hw, Kc = cin * 9;
    shape f = {"", cout, P, Kc, 0, 0, 1, batch, cin, cout, hw, 0};
    shape w = {"", cout, Kc, P, 0, 1, 1, batch, cin, cout, hw, 1};
    shape c = {"", Kc, P, cout, 1, 0, 1, batch, cin, cout, hw, 2};
    snprintf(f.name, sizeof f.name, "b%d %s fwd", batch, layer);
    snprintf(w.name, sizeof w.name, "b%d %s dW", batch, layer);
    snprintf(c.name, sizeof c.name, "b%d %s dcol", batch, layer);
    v[(*n)++] = f;
    v[(*n)++] = w;
    v[(*n)++] = c;
}

int main(int argc, char **argv)
{
    int reps = 5, nbatch = 0, batches[8], square = 1024, use_clblast = 1, use_v1 = 0, md = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc && nbatch < 8) batches[nbatch++] = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--square") && i + 1 < argc) square = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--no-clblast")) use_clblast = 0;
        else if (!strcmp(argv[i], "--v1")) use_v1 = 1;
        else if (!strcmp(argv[i], "--markdown")) md = 1;
        else if (!strcmp(argv[i], "--best")) use_best = 1;
        else if (!strcmp(argv[i], "--cfg") && i + 1 < argc && ncfg < MAXCFG) cfgs[ncfg++] = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--reps N] [--batch B]... [--square N] [--only SUBSTR] "
                    "[--no-clblast] [--v1] [--markdown] [--best] [--cfg VAR=VAL,...]...\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    if (!nbatch) {
        batches[nbatch++] = 64;
        batches[nbatch++] = 256;
    }

    shape shapes[64];
    int ns = 0;
    for (int b = 0; b < nbatch; b++) {
        add_conv(shapes, &ns, batches[b], "conv1", 1, 32, 28);
        add_conv(shapes, &ns, batches[b], "conv2", 32, 32, 28);
        add_conv(shapes, &ns, batches[b], "conv3", 32, 64, 14);
        add_conv(shapes, &ns, batches[b], "conv4", 64, 64, 14);
        add_conv(shapes, &ns, batches[b], "conv5", 64, 128, 7);
    }
    if (square > 0) {
        shape q = {.M = square, .N = square, .K = square};
        snprintf(q.name, sizeof q.name, "square %d", square);
        shapes[ns++] = q;
    }

    char err[512];
    graft_ctx_params p = graft_ctx_default_params();
    dev_ops nat = {0}, clb = {0};
    if (graft_params_from_env(&p, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "bench_gemm: %s\n", err);
        return 1;
    }
    bench_params_from_env(&p);
    p.gemm = GRAFT_GEMM_NATIVE;
    if (graft_ctx_create(&p, &nat.ctx, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "bench_gemm: %s\n", err);
        return 1;
    }
    if (use_clblast) {
        p.gemm = GRAFT_GEMM_CLBLAST;
        if (graft_ctx_create(&p, &clb.ctx, err, sizeof err) != GRAFT_OK) {
            fprintf(stderr, "bench_gemm: %s\n", err);
            return 1;
        }
    }
    const graft_device_info *di = graft_ctx_device(nat.ctx);
    printf("device: %s (%s, %s), %u compute units\n", di->name, di->platform,
           di->driver_version, di->compute_units);
    const char *ev[] = {"OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                        "POCL_AFFINITY", "POCL_MAX_PTHREAD_COUNT", "GRAFT_GEMM_VARIANT"};
    for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++) {
        const char *e = getenv(ev[i]);
        printf("env %s=%s\n", ev[i], e ? e : "(unset)");
    }
    int have_ob = 0;
#ifdef HAVE_OPENBLAS
    have_ob = 1;
    if (!getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads((int)di->compute_units);
    printf("openblas: %s, core %s, %d threads\n", openblas_get_config(), openblas_get_corename(),
           openblas_get_num_threads());
#else
    printf("openblas: not built in\n");
#endif
    printf("reps %d, %s in GFLOP/s; graft = pack A + kernel, graft-kernel = kernel on a "
           "pre-packed A\n\n", reps, use_best ? "best runs" : "medians");

    int use[NIMPL] = {1, 1, use_v1, use_clblast, have_ob, 0};
    for (int i = 0; i < ncfg; i++) use[IMPL_CFG0 + i] = 1;
    double res[64][NIMPL];
    for (int si = 0; si < ns; si++) {
        const shape *s = &shapes[si];
        for (int i = 0; i < NIMPL; i++) res[si][i] = 0;
        if (only && !strstr(s->name, only)) continue;
        size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N, nc = (size_t)s->M * s->N;
        float *A = malloc(na * 4), *B = malloc(nb * 4), *Cn = malloc(nc * 4), *Cr = malloc(nc * 4);
        if (!A || !B || !Cn || !Cr) {
            fprintf(stderr, "bench_gemm: out of host memory\n");
            return 1;
        }
        unsigned seed = 12345u + (unsigned)si;
        fill(A, na, &seed);
        fill(B, nb, &seed);
        dev_setup(&nat, s, A, B, 1);
        if (use_clblast) dev_setup(&clb, s, A, B, 0);
        /* conv1's dx is never computed in a network (its input is the data). */
        use[IMPL_CONV] = s->conv && !(s->pass == 2 && s->cin == 1);
        if (use[IMPL_CONV]) conv_setup(&nat, s, &seed);
        CHECK(nat.ctx, gemm_pack_a_into(nat.ctx, s->M, s->K, op_a(&nat, s), nat.ap, 0), "pack");
        CHECK(nat.ctx, graft_ctx_finish(nat.ctx), "finish");

        /* Warm-up: kernel compilation, CLBlast's per-shape setup, page faults. */
        for (int i = 0; i < NIMPL; i++)
            if (use[i]) run_once(i, &nat, &clb, s, A, B, Cr);
        CHECK(nat.ctx, gemm_run(nat.ctx, s->M, s->N, s->K, 1.0f, op_a(&nat, s), op_b(&nat, s),
                                0.0f, nat.c, 0, s->N), "gemm");
        CHECK(nat.ctx, ctx_read(nat.ctx, nat.c, 0, Cn, nc), "download");
        double diff = have_ob ? rel_diff(Cn, Cr, nc) : 0;

        double t[NIMPL][64];
        int nr = reps > 64 ? 64 : reps;
        for (int r = 0; r < nr; r++)
            for (int j = 0; j < NIMPL; j++) {
                int i = (j + r) % NIMPL; /* rotate the order every repetition */
                if (use[i]) t[i][r] = run_once(i, &nat, &clb, s, A, B, Cr);
            }
        double flop = 2.0 * s->M * (double)s->N * s->K;
        for (int i = 0; i < NIMPL; i++)
            if (use[i]) res[si][i] = flop / median(t[i], nr) * 1e-9;
        printf("gemm %dx%dx%d (%s, ta=%d tb=%d): graft %.1f GFLOP/s (kernel %.1f", s->M, s->N,
               s->K, s->name, s->ta, s->tb, res[si][IMPL_TOTAL], res[si][IMPL_KERNEL]);
        if (use_v1) printf(", v1 %.1f", res[si][IMPL_V1]);
        printf(")");
        for (int i = 0; i < ncfg; i++) printf(", [%s] %.1f", cfgs[i], res[si][IMPL_CFG0 + i]);
        if (use_clblast) printf(", clblast %.1f GFLOP/s", res[si][IMPL_CLBLAST]);
        if (use[IMPL_CONV]) printf(", conv-pass %.1f GFLOP/s", res[si][IMPL_CONV]);
        if (have_ob)
            printf(", openblas %.1f GFLOP/s, %.2fx [maxdiff %.1e]", res[si][IMPL_OPENBLAS],
                   res[si][IMPL_TOTAL] / res[si][IMPL_OPENBLAS], diff);
        printf("\n");
        fflush(stdout);
        dev_free(&nat);
        dev_free(&clb);
        free(A);
        free(B);
        free(Cn);
        free(Cr);
    }

    if (md) {
        printf("\n| shape | M x N x K | graft | graft kernel-only |%s%s%s\n",
               use_v1 ? " graft v1 |" : "", use_clblast ? " CLBlast |" : "",
               have_ob ? " OpenBLAS | graft/OpenBLAS |" : "");
        printf("|---|---|---|---|%s%s%s\n", use_v1 ? "---|" : "", use_clblast ? "---|" : "",
               have_ob ? "---|---|" : "");
        for (int si = 0; si < ns; si++) {
            const shape *s = &shapes[si];
            if (res[si][IMPL_TOTAL] == 0) continue;
            printf("| %s | %dx%dx%d | %.1f | %.1f |", s->name, s->M, s->N, s->K,
                   res[si][IMPL_TOTAL], res[si][IMPL_KERNEL]);
            if (use_v1) printf(" %.1f |", res[si][IMPL_V1]);
            if (use_clblast) printf(" %.1f |", res[si][IMPL_CLBLAST]);
            if (have_ob)
                printf(" %.1f | %.2fx |", res[si][IMPL_OPENBLAS],
                       res[si][IMPL_TOTAL] / res[si][IMPL_OPENBLAS]);
            printf("\n");
        }
    }
    if (clb.ctx) graft_ctx_destroy(clb.ctx);
    graft_ctx_destroy(nat.ctx);
    return 0;
}
