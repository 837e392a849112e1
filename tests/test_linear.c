/* linear layer against a float64 CPU reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "layer.h"
#include "testutil.h"

typedef struct lin_case {
    int n, c, h, w, out, bias;
} lin_case;

static cl_mem dev_buf(graft_ctx *ctx, size_t n)
{
    cl_mem m;
    ck_assert_int_eq(ctx_alloc(ctx, n * sizeof(float), &m, "test buffer"), GRAFT_OK);
    return m;
}

static double run_case(graft_ctx *ctx, tu_rng *rg, const lin_case *c, float din_beta)
{
    graft_layer_spec s = graft_layer_default(GRAFT_LAYER_LINEAR);
    s.channels = c->out;
    s.bias = c->bias;
    layer_shape in = {c->c, c->h, c->w};
    layer *l = NULL;
    ck_assert_msg(layer_create(ctx, "fc", &s, 1, &in, &l) == GRAFT_OK, "%s",
                  graft_last_error(ctx));
    int F = c->c * c->h * c->w, n = c->n, O = c->out;
    ck_assert_int_eq(l->out.c, O);
    ck_assert_int_eq(l->out.h, 1);
    ck_assert_int_eq(l->out.w, 1);
    ck_assert_int_eq(l->nparams, c->bias ? 2 : 1);
    ck_assert_int_eq(l->params[0].shape[0], O);
    ck_assert_int_eq(l->params[0].shape[1], F);
    ck_assert(fabs(l->ops->flops(l) - 2.0 * O * F) < 0.5);

    size_t nx = (size_t)n * F, nw = (size_t)O * F, ny = (size_t)n * O;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc(O * 4), *y = malloc(ny * 4);
    float *dy = malloc(ny * 4), *dx = malloc(nx * 4), *dx0 = malloc(nx * 4), *dw = malloc(nw * 4);
    float *db = malloc(O * 4);
    double *yr = calloc(ny, 8), *dxr = calloc(nx, 8), *dwr = calloc(nw, 8), *dbr = calloc(O, 8);
    ck_assert(x && w && b && y && dy && dx && dx0 && dw && db && yr && dxr && dwr && dbr);
    tu_fill(rg, x, nx, -1, 1);
    tu_fill(rg, w, nw, -1, 1);
    tu_fill(rg, b, O, -1, 1);
    tu_fill(rg, dy, ny, -1, 1);
    tu_fill(rg, dx0, nx, -1, 1);
    for (int i = 0; i < n; i++)
        for (int o = 0; o < O; o++) {
            double acc = c->bias ? b[o] : 0;
            for (int f = 0; f < F; f++) acc += (double)x[(size_t)i * F + f] * w[(size_t)o * F + f];
            yr[(size_t)i * O + o] = acc;
            dbr[o] += dy[(size_t)i * O + o];
            for (int f = 0; f < F; f++) {
                dxr[(size_t)i * F + f] += (double)dy[(size_t)i * O + o] * w[(size_t)o * F + f];
                dwr[(size_t)o * F + f] += (double)dy[(size_t)i * O + o] * x[(size_t)i * F + f];
            }
        }
    if (din_beta != 0.0f)
        for (size_t i = 0; i < nx; i++) dxr[i] += dx0[i];

    cl_mem bx = dev_buf(ctx, nx), by = dev_buf(ctx, ny), bdy = dev_buf(ctx, ny);
    cl_mem bdx = dev_buf(ctx, nx);
    ck_assert_int_eq(ctx_write(ctx, bx, 0, x, nx), GRAFT_OK);
    ck_assert_int_eq(ctx_write(ctx, bdy, 0, dy, ny), GRAFT_OK);
    ck_assert_int_eq(ctx_write(ctx, l->params[0].data, 0, w, nw), GRAFT_OK);
    if (c->bias) ck_assert_int_eq(ctx_write(ctx, l->params[1].data, 0, b, O), GRAFT_OK);
    ck_assert_int_eq(ctx_fill(ctx, by, 0, ny, NAN), GRAFT_OK);
    if (din_beta != 0.0f)
        ck_assert_int_eq(ctx_write(ctx, bdx, 0, dx0, nx), GRAFT_OK);
    else
        ck_assert_int_eq(ctx_fill(ctx, bdx, 0, nx, NAN), GRAFT_OK);
    for (int i = 0; i < l->nparams; i++)
        ck_assert_int_eq(ctx_fill(ctx, l->params[i].grad, 0, l->params[i].numel, NAN), GRAFT_OK);

    fwd_io fio = {.n = n, .in = {bx}, .out = by, .training = 1};
    ck_assert_msg(l->ops->forward(ctx, l, &fio) == GRAFT_OK, "%s", graft_last_error(ctx));
    bwd_io bio = {.n = n, .in = {bx}, .out = by, .dout = bdy, .din = {bdx},
                  .din_beta = {din_beta}, .param_grads = 1};
    ck_assert_msg(l->ops->backward(ctx, l, &bio) == GRAFT_OK, "%s", graft_last_error(ctx));
    ck_assert_int_eq(ctx_read(ctx, by, 0, y, ny), GRAFT_OK);
    ck_assert_int_eq(ctx_read(ctx, bdx, 0, dx, nx), GRAFT_OK);
    ck_assert_int_eq(ctx_read(ctx, l->params[0].grad, 0, dw, nw), GRAFT_OK);
    double ey = tu_rel_err(y, yr, ny), edx = tu_rel_err(dx, dxr, nx);
    double edw = tu_rel_err(dw, dwr, nw), edb = 0;
    if (c->bias) {
        ck_assert_int_eq(ctx_read(ctx, l->params[1].grad, 0, db, O), GRAFT_OK);
        edb = tu_rel_err(db, dbr, O);
    }
    fprintf(stderr, "linear n=%d in=%dx%dx%d out=%d bias=%d beta=%g: fwd %.2e dx %.2e dw %.2e "
            "db %.2e\n", n, c->c, c->h, c->w, O, c->bias, din_beta, ey, edx, edw, edb);
    ck_assert_msg(ey < 1e-4 && edx < 1e-4 && edw < 1e-4 && edb < 1e-4,
                  "rel err fwd %g dx %g dw %g db %g", ey, edx, edw, edb);

    /* Without din or param_grads, those buffers stay untouched. */
    ck_assert_int_eq(ctx_fill(ctx, l->params[0].grad, 0, nw, 7.0f), GRAFT_OK);
    bio.param_grads = 0;
    ck_assert_int_eq(l->ops->backward(ctx, l, &bio), GRAFT_OK);
    ck_assert_int_eq(ctx_read(ctx, l->params[0].grad, 0, dw, nw), GRAFT_OK);
    for (size_t i = 0; i < nw; i++) ck_assert(dw[i] == 7.0f);
    ck_assert_int_eq(ctx_fill(ctx, bdx, 0, nx, 7.0f), GRAFT_OK);
    bio.din[0] = NULL;
    bio.param_grads = 1;
    ck_assert_int_eq(l->ops->backward(ctx, l, &bio), GRAFT_OK);
    ck_assert_int_eq(ctx_read(ctx, bdx, 0, dx, nx), GRAFT_OK);
    for (size_t i = 0; i < nx; i++) ck_assert(dx[i] == 7.0f);

    clReleaseMemObject(bx);
    clReleaseMemObject(by);
    clReleaseMemObject(bdy);
    clReleaseMemObject(bdx);
    layer_free(l);
    free(x), free(w), free(b), free(y), free(dy), free(dx), free(dx0), free(dw), free(db);
    free(yr), free(dxr), free(dwr), free(dbr);
    return fmax(fmax(ey, edx), fmax(edw, edb));
}

static const lin_case native_cases[] = {
    {1, 5, 1, 1, 3, 1}, {3, 3, 9, 7, 10, 1}, {3, 7, 1, 1, 5, 0},
    {4, 64, 2, 2, 33, 1}, {1, 1, 1, 1, 1, 1}, {5, 512, 1, 1, 10, 1},
};
static const lin_case clblast_cases[] = {{3, 3, 9, 7, 10, 1}, {2, 5, 1, 1, 3, 0}};

static void sweep(graft_gemm_backend be, const lin_case *cases, size_t ncases)
{
    graft_ctx *ctx = tu_ctx(be);
    tu_rng rg = {77};
    double worst = 0;
    for (size_t i = 0; i < ncases; i++) worst = fmax(worst, run_case(ctx, &rg, &cases[i], (float)(i % 2)));
    fprintf(stderr, "linear %s: worst relative error %.3g over %zu cases\n",
            be == GRAFT_GEMM_NATIVE ? "native" : "clblast", worst, ncases);
    graft_ctx_destroy(ctx);
}

START_TEST(linear_native_matches_reference)
{
    sweep(GRAFT_GEMM_NATIVE, native_cases, sizeof native_cases / sizeof native_cases[0]);
}
END_TEST

START_TEST(linear_clblast_matches_reference)
{
    sweep(GRAFT_GEMM_CLBLAST, clblast_cases, sizeof clblast_cases / sizeof clblast_cases[0]);
}
END_TEST

START_TEST(linear_setup_and_init)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_NATIVE);
    graft_layer_spec s = graft_layer_default(GRAFT_LAYER_LINEAR);
    layer_shape in = {16, 4, 4};
    layer *l = NULL;
    s.channels = 0;
    ck_assert_int_eq(layer_create(ctx, "fc0", &s, 1, &in, &l), GRAFT_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(graft_last_error(ctx), "fc0"));
    s.channels = 64;
    ck_assert_int_eq(layer_create(ctx, "fc", &s, 1, &in, &l), GRAFT_OK);
    ck_assert_int_eq(l->nparams, 2); /* bias defaults on for linear */
    rng r = {3};
    ck_assert_int_eq(l->ops->init(ctx, l, &r), GRAFT_OK);
    size_t nw = l->params[0].numel;
    float *w = malloc(nw * sizeof *w), b[64];
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(ctx_read(ctx, l->params[0].data, 0, w, nw), GRAFT_OK);
    ck_assert_int_eq(ctx_read(ctx, l->params[1].data, 0, b, 64), GRAFT_OK);
    double ss = 0;
    for (size_t i = 0; i < nw; i++) ss += (double)w[i] * w[i];
    double sd = sqrt(ss / nw), want = sqrt(1.0 / 256);
    ck_assert_msg(fabs(sd - want) < 0.05 * want, "init std %g, want %g", sd, want);
    for (int i = 0; i < 64; i++) ck_assert(b[i] == 0.0f);
    free(w);
    layer_free(l);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("linear");
    TCase *tc = tcase_create("linear");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, linear_native_matches_reference);
    tcase_add_test(tc, linear_clblast_matches_reference);
    tcase_add_test(tc, linear_setup_and_init);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
