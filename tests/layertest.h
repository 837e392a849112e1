/* Helpers for single-layer tests: device buffers from host arrays, layer
 * construction with explicit input shapes, and central-difference gradients
 * of a float64 reference forward. Header-only (static) so each test is one
 * translation unit. */
#ifndef GRAFT_LAYERTEST_H
#define GRAFT_LAYERTEST_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "layer.h"
#include "testutil.h"

/* Bound on tu_rel_err for every device-vs-float64 comparison. */
#define LT_BOUND 1e-4

static inline void *lt_malloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    ck_assert_msg(p != NULL, "out of host memory");
    return p;
}

static inline float *lt_rand(tu_rng *r, size_t n, float lo, float hi)
{
    float *x = lt_malloc(n * sizeof *x);
    tu_fill(r, x, n, lo, hi);
    return x;
}

static inline cl_mem lt_upload(graft_ctx *ctx, const float *h, size_t n)
{
    cl_mem m;
    ck_assert_msg(ctx_alloc(ctx, n * sizeof(float), &m, "test buffer") == GRAFT_OK, "%s",
                  graft_last_error(ctx));
    ck_assert_msg(ctx_write(ctx, m, 0, h, n) == GRAFT_OK, "%s", graft_last_error(ctx));
    return m;
}

static inline float *lt_download(graft_ctx *ctx, cl_mem m, size_t n)
{
    float *h = lt_malloc(n * sizeof *h);
    ck_assert_msg(ctx_read(ctx, m, 0, h, n) == GRAFT_OK, "%s", graft_last_error(ctx));
    return h;
}

static inline layer *lt_layer(graft_ctx *ctx, const graft_layer_spec *spec, int nin,
                              const layer_shape *in)
{
    layer *l = NULL;
    graft_status s = layer_create(ctx, "t", spec, nin, in, &l);
    ck_assert_msg(s == GRAFT_OK, "layer_create: %s", graft_last_error(ctx));
    if (l->ops->init) {
        rng r = {7};
        ck_assert_msg(l->ops->init(ctx, l, &r) == GRAFT_OK, "%s", graft_last_error(ctx));
    }
    return l;
}

static inline void lt_ok(graft_ctx *ctx, graft_status s)
{
    ck_assert_msg(s == GRAFT_OK, "%s: %s", graft_status_name(s), graft_last_error(ctx));
}

/* Reference forward: out = f(x) for the flat variable vector x. */
typedef void (*lt_ref_fn)(const void *u, const double *x, double *out);

/* g = d/dx sum(f(x) * R) by central differences (float64 throughout). */
static inline void lt_fd_grad(lt_ref_fn f, const void *u, const double *x0, size_t nx,
                              const double *R, size_t nout, double *g)
{
    double *x = lt_malloc(nx * sizeof *x), *o = lt_malloc(nout * sizeof *o);
    memcpy(x, x0, nx * sizeof *x);
    for (size_t i = 0; i < nx; i++) {
        double h = 1e-6 * fmax(1.0, fabs(x0[i]));
        double lp = 0, lm = 0;
        x[i] = x0[i] + h;
        f(u, x, o);
        for (size_t j = 0; j < nout; j++) lp += o[j] * R[j];
        x[i] = x0[i] - h;
        f(u, x, o);
        for (size_t j = 0; j < nout; j++) lm += o[j] * R[j];
        x[i] = x0[i];
        g[i] = (lp - lm) / (2 * h);
    }
    free(x);
    free(o);
}

/* Asserts tu_rel_err(dev, ref) < LT_BOUND, tracks the worst value; with
 * $LT_VERBOSE set, prints every comparison. */
static inline void lt_check(const char *what, const float *dev, const double *ref, size_t n,
                            double *worst)
{
    double e = tu_rel_err(dev, ref, n);
    if (getenv("LT_VERBOSE")) fprintf(stderr, "  %s: %g\n", what, e);
    ck_assert_msg(e < LT_BOUND, "%s: relative error %g >= %g", what, e, LT_BOUND);
    if (e > *worst) *worst = e;
}

static inline double *lt_to_double(const float *x, size_t n)
{
    double *d = lt_malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* The standard check of a one-input layer without parameters, on a batch
 * of n: forward against ref, backward (din_beta 0) against central finite
 * differences of ref for the loss sum(out * R), and backward with
 * din_beta 1 accumulating onto random contents. x holds NI inputs; the
 * layer produces NO outputs; what names the checks. Frees l. */
static inline void lt_unary_layer_check(graft_ctx *ctx, tu_rng *r, layer *l, int n, float *x,
                                        size_t NI, size_t NO, lt_ref_fn ref_fn, const void *u,
                                        const char *what, double *worst)
{
    char name[96];
    float *R = lt_rand(r, NO, -1, 1), *base = lt_rand(r, NI, -1, 1);
    double *v = lt_to_double(x, NI), *dR = lt_to_double(R, NO);
    double *ref = lt_malloc((NO > NI ? NO : NI) * sizeof *ref), *g = lt_malloc(NI * sizeof *g);
    cl_mem dx = lt_upload(ctx, x, NI), dy = lt_upload(ctx, R, NO), din = lt_upload(ctx, base, NI);
    cl_mem dout;
    lt_ok(ctx, ctx_alloc(ctx, NO * sizeof(float), &dout, "out"));

    fwd_io fio = {.n = n, .in = {dx}, .out = dout, .training = 1};
    lt_ok(ctx, l->ops->forward(ctx, l, &fio));
    float *y = lt_download(ctx, dout, NO);
    ref_fn(u, v, ref);
    snprintf(name, sizeof name, "%s forward", what);
    lt_check(name, y, ref, NO, worst);

    bwd_io bio = {.n = n, .in = {dx}, .out = dout, .dout = dy, .din = {din}, .din_beta = {0}};
    lt_ok(ctx, l->ops->backward(ctx, l, &bio));
    float *gd = lt_download(ctx, din, NI);
    lt_fd_grad(ref_fn, u, v, NI, dR, NO, g);
    snprintf(name, sizeof name, "%s backward", what);
    lt_check(name, gd, g, NI, worst);

    lt_ok(ctx, ctx_write(ctx, din, 0, base, NI));
    bio.din_beta[0] = 1;
    lt_ok(ctx, l->ops->backward(ctx, l, &bio));
    float *acc = lt_download(ctx, din, NI);
    for (size_t i = 0; i < NI; i++) ref[i] = base[i] + g[i];
    snprintf(name, sizeof name, "%s backward accumulate", what);
    lt_check(name, acc, ref, NI, worst);

    clReleaseMemObject(dx);
    clReleaseMemObject(dy);
    clReleaseMemObject(din);
    clReleaseMemObject(dout);
    layer_free(l);
    void *ptrs[] = {R, base, v, dR, ref, g, y, gd, acc};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) free(ptrs[i]);
}
#endif
