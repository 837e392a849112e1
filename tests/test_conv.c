/* conv2d layer against a float64 CPU reference: forward, backward (dX, dW,
 * db), din_beta accumulation, finite differences and shape errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "layer.h"
#include "testutil.h"

/* Most cases leave the trailing geometry fields out: 0 = k / pad. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

typedef struct conv_case {
    int n, cin, h, w, cout, k, stride, pad, dil, groups, bias;
    /* Non-square kernels and per-side pads; 0 = k / pad, as graft_layer_spec. */
    int kh, kw, pt, pl, pb, pr;
} conv_case;

/* c with its geometry defaults applied, for the reference. */
static conv_case resolved(const conv_case *c)
{
    conv_case r = *c;
    r.kh = c->kh ? c->kh : c->k;
    r.kw = c->kw ? c->kw : c->k;
    r.pt = c->pt ? c->pt : c->pad;
    r.pl = c->pl ? c->pl : c->pad;
    r.pb = c->pb ? c->pb : c->pad;
    r.pr = c->pr ? c->pr : c->pad;
    return r;
}

typedef struct conv_ref {
    int hout, wout;
    size_t nx, nw, ny;
} conv_ref;

static conv_ref ref_dims(const conv_case *c0)
{
    conv_case g = resolved(c0);
    const conv_case *c = &g;
    conv_ref r;
    r.hout = (c->h + c->pt + c->pb - c->dil * (c->kh - 1) - 1) / c->stride + 1;
    r.wout = (c->w + c->pl + c->pr - c->dil * (c->kw - 1) - 1) / c->stride + 1;
    r.nx = (size_t)c->n * c->cin * c->h * c->w;
    r.nw = (size_t)c->cout * (c->cin / c->groups) * c->kh * c->kw;
    r.ny = (size_t)c->n * c->cout * r.hout * r.wout;
    return r;
}

/* Calls f(xi, wi, yi) for every multiply-add of the convolution (c resolved). */
#define CONV_LOOP(c, r, BODY)                                                                    \
    do {                                                                                         \
        int cig_ = (c)->cin / (c)->groups, cog_ = (c)->cout / (c)->groups;                       \
        for (int nn = 0; nn < (c)->n; nn++)                                                      \
            for (int co = 0; co < (c)->cout; co++)                                               \
                for (int oy = 0; oy < (r).hout; oy++)                                            \
                    for (int ox = 0; ox < (r).wout; ox++) {                                      \
                        size_t yi = (((size_t)nn * (c)->cout + co) * (r).hout + oy) * (r).wout + \
                                    ox;                                                          \
                        int g_ = co / cog_;                                                      \
                        for (int cj = 0; cj < cig_; cj++)                                        \
                            for (int ky = 0; ky < (c)->kh; ky++)                                 \
                                for (int kx = 0; kx < (c)->kw; kx++) {                           \
                                    int iy = oy * (c)->stride - (c)->pt + ky * (c)->dil;         \
                                    int ix = ox * (c)->stride - (c)->pl + kx * (c)->dil;         \
                                    if (iy < 0 || iy >= (c)->h || ix < 0 || ix >= (c)->w)        \
                                        continue;                                                \
                                    int ci = g_ * cig_ + cj;                                     \
                                    size_t xi = (((size_t)nn * (c)->cin + ci) * (c)->h + iy) *   \
                                                    (c)->w + ix;                                 \
                                    size_t wi = (((size_t)co * cig_ + cj) * (c)->kh + ky) *      \
                                                    (c)->kw + kx;                                \
                                    BODY;                                                        \
                                }                                                                \
                    }                                                                            \
    } while (0)

static void ref_forward(const conv_case *c0, const double *x, const double *w, const double *b,
                        double *y)
{
    conv_case g = resolved(c0);
    const conv_case *c = &g;
    conv_ref r = ref_dims(c);
    for (size_t i = 0; i < r.ny; i++) {
        int co = (int)((i / ((size_t)r.hout * r.wout)) % c->cout);
        y[i] = c->bias ? b[co] : 0.0;
    }
    CONV_LOOP(c, r, y[yi] += x[xi] * w[wi]);
}

static void ref_backward(const conv_case *c0, const double *x, const double *w, const double *dy,
                         double *dx, double *dw, double *db)
{
    conv_case g = resolved(c0);
    const conv_case *c = &g;
    conv_ref r = ref_dims(c);
    memset(dx, 0, r.nx * sizeof *dx);
    memset(dw, 0, r.nw * sizeof *dw);
    memset(db, 0, c->cout * sizeof *db);
    for (size_t i = 0; i < r.ny; i++) db[(i / ((size_t)r.hout * r.wout)) % c->cout] += dy[i];
    CONV_LOOP(c, r, {
        dx[xi] += w[wi] * dy[yi];
        dw[wi] += x[xi] * dy[yi];
    });
}

static double *to_d(const float *a, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < n; i++) d[i] = a[i];
    return d;
}

static cl_mem dev_buf(graft_ctx *ctx, size_t n)
{
    cl_mem m;
    ck_assert_int_eq(ctx_alloc(ctx, n * sizeof(float), &m, "test buffer"), GRAFT_OK);
    return m;
}

static layer *make_layer(graft_ctx *ctx, const conv_case *c)
{
    graft_layer_spec s = graft_layer_default(GRAFT_LAYER_CONV2D);
    s.channels = c->cout;
    s.kernel = c->k;
    s.stride = c->stride;
    s.pad = c->pad;
    s.dilation = c->dil;
    s.groups = c->groups;
    s.bias = c->bias;
    s.kernel_h = c->kh;
    s.kernel_w = c->kw;
    s.pad_top = c->pt;
    s.pad_left = c->pl;
    s.pad_bottom = c->pb;
    s.pad_right = c->pr;
    layer_shape in = {c->cin, c->h, c->w};
    layer *l = NULL;
    graft_status st = layer_create(ctx, "convT", &s, 1, &in, &l);
    ck_assert_msg(st == GRAFT_OK, "layer_create: %s", graft_last_error(ctx));
    return l;
}

static void case_str(const conv_case *c, char *buf, size_t len)
{
    conv_case g = resolved(c);
    snprintf(buf, len, "n=%d cin=%d %dx%d cout=%d k=%dx%d s=%d p=%d,%d,%d,%d d=%d g=%d bias=%d",
             c->n, c->cin, c->h, c->w, c->cout, g.kh, g.kw, c->stride, g.pt, g.pl, g.pb, g.pr,
             c->dil, c->groups, c->bias);
}

/* Runs one case on the device and returns the worst relative error over
 * the output and every gradient. din_beta 0 pre-fills din and the parameter
 * grads with NaN (they must be overwritten); 1 pre-fills din with random
 * values that the gradient must be added to. */
static double run_case(graft_ctx *ctx, tu_rng *rg, const conv_case *c, float din_beta)
{
    char desc[160];
    case_str(c, desc, sizeof desc);
    conv_ref r = ref_dims(c);
    layer *l = make_layer(ctx, c);
    ck_assert_int_eq(l->out.c, c->cout);
    ck_assert_int_eq(l->out.h, r.hout);
    ck_assert_int_eq(l->out.w, r.wout);
    ck_assert_int_eq(l->nparams, c->bias ? 2 : 1);
    ck_assert_uint_eq(l->params[0].numel, r.nw);
    ck_assert(fabs(l->ops->flops(l) - 2.0 * r.nw * r.hout * r.wout) < 0.5);

    float *x = malloc(r.nx * sizeof *x), *w = malloc(r.nw * sizeof *w);
    float *b = malloc(c->cout * sizeof *b), *y = malloc(r.ny * sizeof *y);
    float *dy = malloc(r.ny * sizeof *dy), *dx = malloc(r.nx * sizeof *dx);
    float *dx0 = malloc(r.nx * sizeof *dx0), *dw = malloc(r.nw * sizeof *dw);
    float *db = malloc(c->cout * sizeof *db);
    ck_assert(x && w && b && y && dy && dx && dx0 && dw && db);
    tu_fill(rg, x, r.nx, -1, 1);
    tu_fill(rg, w, r.nw, -1, 1);
    tu_fill(rg, b, c->cout, -1, 1);
    tu_fill(rg, dy, r.ny, -1, 1);
    tu_fill(rg, dx0, r.nx, -1, 1);

    cl_mem bx = dev_buf(ctx, r.nx), by = dev_buf(ctx, r.ny), bdy = dev_buf(ctx, r.ny);
    cl_mem bdx = dev_buf(ctx, r.nx);
    ck_assert_int_eq(ctx_write(ctx, bx, 0, x, r.nx), GRAFT_OK);
    ck_assert_int_eq(ctx_write(ctx, bdy, 0, dy, r.ny), GRAFT_OK);
    ck_assert_int_eq(ctx_write(ctx, l->params[0].data, 0, w, r.nw), GRAFT_OK);
    if (c->bias) ck_assert_int_eq(ctx_write(ctx, l->params[1].data, 0, b, c->cout), GRAFT_OK);
    ck_assert_int_eq(ctx_fill(ctx, by, 0, r.ny, NAN), GRAFT_OK);

    fwd_io fio = {.n = c->n, .in = {bx}, .out = by, .training = 1};
    graft_status st = l->ops->forward(ctx, l, &fio);
    ck_assert_msg(st == GRAFT_OK, "forward %s: %s", desc, graft_last_error(ctx));
    ck_assert_int_eq(ctx_read(ctx, by, 0, y, r.ny), GRAFT_OK);

    double *xd = to_d(x, r.nx), *wd = to_d(w, r.nw), *bd = to_d(b, c->cout);
    double *dyd = to_d(dy, r.ny);
    double *yref = malloc(r.ny * sizeof *yref), *dxref = malloc(r.nx * sizeof *dxref);
    double *dwref = malloc(r.nw * sizeof *dwref), *dbref = malloc(c->cout * sizeof *dbref);
    ck_assert(yref && dxref && dwref && dbref);
    ref_forward(c, xd, wd, bd, yref);
    ref_backward(c, xd, wd, dyd, dxref, dwref, dbref);
    double ey = tu_rel_err(y, yref, r.ny);

    if (din_beta != 0.0f) {
        ck_assert_int_eq(ctx_write(ctx, bdx, 0, dx0, r.nx), GRAFT_OK);
        for (size_t i = 0; i < r.nx; i++) dxref[i] += dx0[i];
    } else {
        ck_assert_int_eq(ctx_fill(ctx, bdx, 0, r.nx, NAN), GRAFT_OK);
    }
    for (int i = 0; i < l->nparams; i++)
        ck_assert_int_eq(ctx_fill(ctx, l->params[i].grad, 0, l->params[i].numel, NAN), GRAFT_OK);
    bwd_io bio = {.n = c->n, .in = {bx}, .out = by, .dout = bdy, .din = {bdx},
                  .din_beta = {din_beta}, .param_grads = 1};
    st = l->ops->backward(ctx, l, &bio);
    ck_assert_msg(st == GRAFT_OK, "backward %s: %s", desc, graft_last_error(ctx));
    ck_assert_int_eq(ctx_read(ctx, bdx, 0, dx, r.nx), GRAFT_OK);
    ck_assert_int_eq(ctx_read(ctx, l->params[0].grad, 0, dw, r.nw), GRAFT_OK);
    double edx = tu_rel_err(dx, dxref, r.nx), edw = tu_rel_err(dw, dwref, r.nw), edb = 0;
    if (c->bias) {
        ck_assert_int_eq(ctx_read(ctx, l->params[1].grad, 0, db, c->cout), GRAFT_OK);
        edb = tu_rel_err(db, dbref, c->cout);
    }
    fprintf(stderr, "conv %-60s beta=%g: fwd %.2e dx %.2e dw %.2e db %.2e\n", desc, din_beta, ey,
            edx, edw, edb);
    ck_assert_msg(ey < 1e-4, "forward rel err %g for %s", ey, desc);
    ck_assert_msg(edx < 1e-4, "dx rel err %g for %s", edx, desc);
    ck_assert_msg(edw < 1e-4, "dw rel err %g for %s", edw, desc);
    ck_assert_msg(edb < 1e-4, "db rel err %g for %s", edb, desc);

    /* Gradients the model does not ask for must be left alone. */
    ck_assert_int_eq(ctx_fill(ctx, l->params[0].grad, 0, r.nw, 7.0f), GRAFT_OK);
    bio.param_grads = 0;
    ck_assert_int_eq(l->ops->backward(ctx, l, &bio), GRAFT_OK);
    ck_assert_int_eq(ctx_read(ctx, l->params[0].grad, 0, dw, r.nw), GRAFT_OK);
    for (size_t i = 0; i < r.nw; i++) ck_assert(dw[i] == 7.0f);
    bio.param_grads = 1;
    bio.din[0] = NULL;
    ck_assert_int_eq(ctx_fill(ctx, bdx, 0, r.nx, 7.0f), GRAFT_OK);
    ck_assert_int_eq(l->ops->backward(ctx, l, &bio), GRAFT_OK);
    ck_assert_int_eq(ctx_read(ctx, bdx, 0, dx, r.nx), GRAFT_OK);
    for (size_t i = 0; i < r.nx; i++) ck_assert(dx[i] == 7.0f);
    ck_assert_int_eq(ctx_read(ctx, l->params[0].grad, 0, dw, r.nw), GRAFT_OK);
    ck_assert_msg(tu_rel_err(dw, dwref, r.nw) < 1e-4, "dw without din for %s", desc);

    /* A frozen (inference) forward, with the weights packed for its kernel
     * on CPU-style contexts (conv_packed.h), twice: packing, then reusing. */
    fwd_io ffio = {.n = c->n, .in = {bx}, .out = by, .training = 0, .frozen = 1};
    for (int rep = 0; rep < 2; rep++) {
        ck_assert_int_eq(ctx_fill(ctx, by, 0, r.ny, NAN), GRAFT_OK);
        ck_assert_msg(l->ops->forward(ctx, l, &ffio) == GRAFT_OK, "frozen forward %s: %s", desc,
                      graft_last_error(ctx));
        ck_assert_int_eq(ctx_read(ctx, by, 0, y, r.ny), GRAFT_OK);
        double ef = tu_rel_err(y, yref, r.ny);
        ck_assert_msg(ef < 1e-4, "frozen forward rel err %g for %s", ef, desc);
    }

    double worst = fmax(fmax(ey, edx), fmax(edw, edb));
    clReleaseMemObject(bx);
    clReleaseMemObject(by);
    clReleaseMemObject(bdy);
    clReleaseMemObject(bdx);
    layer_free(l);
    free(x), free(w), free(b), free(y), free(dy), free(dx), free(dx0), free(dw), free(db);
    free(xd), free(wd), free(bd), free(dyd), free(yref), free(dxref), free(dwref), free(dbref);
    return worst;
}

/* n cin h w cout k stride pad dil groups bias */
static const conv_case native_cases[] = {
    {1, 3, 9, 7, 5, 3, 1, 1, 1, 1, 1},   /* batch 1: GEMM writes the output directly */
    {3, 3, 9, 7, 5, 3, 1, 1, 1, 1, 0},
    {3, 5, 9, 7, 7, 3, 2, 1, 1, 1, 1},   /* stride 2 */
    {2, 4, 8, 10, 6, 3, 1, 2, 2, 1, 1},  /* dilation 2, pad 2 */
    {3, 4, 9, 7, 6, 3, 1, 1, 1, 2, 1},   /* groups 2 */
    {3, 6, 7, 9, 4, 5, 2, 2, 1, 2, 0},   /* groups 2, k5, stride 2 */
    {1, 6, 9, 7, 4, 3, 2, 0, 2, 2, 1},   /* groups 2, batch 1, stride+dilation */
    {3, 5, 9, 7, 5, 3, 1, 1, 1, 5, 1},   /* depthwise */
    {1, 5, 9, 7, 5, 3, 2, 1, 1, 5, 0},   /* depthwise, stride 2, batch 1 */
    {3, 3, 9, 7, 6, 5, 1, 2, 2, 3, 1},   /* depthwise multiplier 2, k5, dilation 2 */
    {2, 16, 14, 14, 16, 3, 1, 1, 1, 16, 1}, /* depthwise: n*P over one work-group */
    {2, 1, 9, 7, 4, 3, 1, 1, 1, 1, 1},   /* one input channel, groups 1: direct path */
    /* Depthwise rows wide enough for the CPU kernels' 8-pixel chunks
     * (cl/cpu/depthwise_cpu.cl): border columns, chunk tails, the stride-2
     * chunks' extra odd lane at the row's end, pad 0, multiplier 2; the
     * forward copies planes under 32 outputs wide into a local tile. */
    {2, 6, 11, 37, 6, 3, 1, 1, 1, 6, 1},  /* stride 1, 37 wide */
    {2, 5, 13, 35, 5, 3, 2, 1, 1, 5, 0},  /* stride 2, odd width */
    {1, 4, 10, 34, 4, 3, 2, 1, 1, 4, 1},  /* stride 2, even width */
    {2, 3, 9, 20, 3, 3, 2, 0, 1, 3, 1},   /* stride 2, pad 0: last chunk ends at the row */
    {1, 3, 12, 29, 6, 3, 1, 1, 1, 3, 1},  /* multiplier 2, stride 1 */
    {2, 4, 9, 33, 8, 5, 2, 2, 1, 4, 0},   /* multiplier 2, k5, stride 2 */
    {1, 3, 11, 30, 3, 3, 1, 2, 2, 3, 1},  /* dilation 2 */
    {2, 3, 10, 26, 3, 3, 1, 0, 1, 3, 0},  /* stride 1, pad 0 */
    {1, 4, 11, 41, 4, 3, 3, 1, 1, 4, 1},  /* stride 3: scalar */
    {1, 3, 7, 70, 3, 3, 2, 1, 1, 3, 1},   /* stride 2, 35 outputs wide */
    /* Planes too large for the local tile (64 KiB): the row-by-row path
     * with vector chunks and scalar borders. */
    {1, 2, 9, 1900, 2, 3, 1, 1, 1, 2, 1},  /* stride 1 */
    {1, 2, 9, 3801, 2, 3, 2, 1, 1, 2, 0},  /* stride 2, odd width */
    {1, 2, 3, 10, 2, 3, 1, 1, 1, 2, 1},   /* one chunk wide */
    /* Many small planes: several planes per work-item, the last item's
     * share partial (forward 300 planes, 18 per item on 2 compute units). */
    {2, 150, 5, 5, 150, 3, 1, 1, 1, 150, 1},
    {3, 70, 7, 7, 140, 3, 2, 1, 1, 70, 0},  /* multiplier 2, stride 2: 420 / 210 planes */
    /* Stride-1 3x3 depthwise by dw3x3_forward_cpu (cl/cpu/depthwise3x3_cpu.cl):
     * the largest plane its tile holds, one too large (dw_forward_cpu),
     * rows copied as scalars, 4-, 8- and 16-float chunks, pads 0 and 2. */
    {1, 4, 112, 112, 4, 3, 1, 1, 1, 4, 1},
    {1, 2, 120, 120, 2, 3, 1, 1, 1, 2, 0},
    {2, 3, 5, 1, 3, 3, 1, 1, 1, 3, 1},
    {2, 3, 6, 5, 6, 3, 1, 1, 1, 3, 1},
    {2, 3, 6, 14, 6, 3, 1, 1, 1, 3, 1},
    {1, 3, 7, 7, 3, 3, 1, 2, 1, 3, 1},
    {2, 3, 7, 19, 3, 3, 1, 0, 1, 3, 0},
    /* Stride-2 3x3 depthwise by dw3x3s2_forward_cpu (parity sub-planes):
     * MobileNetV2's 112x112, a plane too large for it (140: the input
     * gradient's dw3x3s2_backward_data_cpu still takes it; 200: neither),
     * multiplier 2, rows of 3 outputs, odd sizes. */
    {1, 2, 112, 112, 2, 3, 2, 1, 1, 2, 1},
    {1, 2, 140, 140, 2, 3, 2, 1, 1, 2, 0},
    {1, 2, 200, 200, 2, 3, 2, 1, 1, 2, 1},
    {1, 2, 9, 11, 4, 3, 2, 1, 1, 2, 1},
    {2, 3, 9, 5, 3, 3, 2, 1, 1, 3, 1},
    {2, 3, 15, 17, 3, 3, 2, 0, 1, 3, 0},
    {3, 7, 9, 7, 5, 1, 1, 0, 1, 1, 1},   /* 1x1 */
    {1, 7, 9, 7, 3, 1, 2, 0, 1, 1, 0},   /* 1x1 stride 2 */
    {3, 3, 5, 5, 4, 5, 1, 0, 1, 1, 1},   /* kernel == input: 1x1 output */
    {2, 3, 4, 4, 3, 3, 1, 2, 1, 1, 1},   /* pad larger than needed: border outputs see only pad */
    {2, 3, 32, 31, 16, 3, 1, 1, 1, 1, 1}, /* larger: several GEMM tiles */
    /* Non-square kernels, per-side pads (kh kw pt pl pb pr; 0 = k / pad). */
    {2, 5, 9, 8, 6, 1, 1, 0, 1, 1, 1, 1, 7, 0, 3, 0, 3},  /* inception's 1x7, pads 0,3,0,3 */
    {2, 5, 8, 9, 6, 1, 1, 0, 1, 1, 0, 7, 1, 3, 0, 3, 0},  /* 7x1, pads 3,0,3,0 */
    {3, 4, 9, 7, 5, 3, 2, 0, 1, 1, 1, 0, 0, 0, 1, 2, 0},  /* 3x3 stride 2, pads 0,1,2,0 */
    {2, 4, 9, 8, 6, 3, 2, 1, 2, 2, 1, 3, 2, 0, 0, 0, 0},  /* 3x2, grouped, strided, dilated */
    {2, 4, 7, 9, 4, 1, 1, 0, 1, 4, 1, 1, 5, 0, 2, 1, 2},  /* depthwise 1x5, pads 0,2,1,2 */
    {1, 3, 6, 9, 6, 1, 2, 0, 1, 3, 0, 3, 2, 2, 0, 0, 1},  /* depthwise x2, 3x2, stride 2 */
};

static const conv_case clblast_cases[] = {
    {3, 5, 9, 7, 7, 3, 2, 1, 1, 1, 1},
    {3, 4, 9, 7, 6, 3, 1, 1, 2, 2, 0},
};

/* Stride-1, dilation-1, ungrouped convs take the implicit kernels on CPU
 * devices (conv_tall_cpu for forward and dx, conv_implicit_dw_cpu for dW): pixel
 * panels crossing rows and images, several 8-row dW chunks per image and a
 * partial one, K over one conv_tall_cpu chunk (1152) with a bias, partial row
 * panels and channel stripes (13, 20 channels), pads 0 to 2, kernels 1 to
 * 5, rows wider than 32 and (dW by im2col) than 256 pixels. */
static const conv_case implicit_cases[] = {
    {2, 3, 28, 28, 8, 3, 1, 1, 1, 1, 1},
    {1, 2, 32, 32, 5, 3, 1, 1, 1, 1, 0},
    {3, 4, 9, 14, 13, 3, 1, 1, 1, 1, 1},
    {2, 5, 11, 7, 6, 3, 1, 1, 1, 1, 0},
    {2, 3, 33, 1, 4, 1, 1, 0, 1, 1, 1},   /* width 1 */
    {2, 32, 7, 7, 20, 3, 1, 1, 1, 1, 1},  /* K = 288: two dW chunks per image */
    {1, 130, 5, 4, 6, 3, 1, 1, 1, 1, 1},  /* K = 1170: two conv_tall_cpu K chunks, bias on the last */
    {2, 3, 10, 9, 7, 5, 1, 2, 1, 1, 1},   /* k5 pad 2 */
    {1, 4, 6, 8, 3, 3, 1, 0, 1, 1, 1},    /* pad 0 */
    {2, 3, 5, 6, 4, 3, 1, 2, 1, 1, 0},    /* pad 2 = k - 1: dx with pad 0 */
    {2, 3, 5, 6, 4, 3, 1, 3, 1, 1, 1},    /* pad 3 > k - 1: dx by im2col */
    {3, 1, 28, 28, 32, 3, 1, 1, 1, 1, 0}, /* refnet's conv1 */
    {2, 3, 5, 40, 35, 3, 1, 1, 1, 1, 1},  /* 40 wide, 35 channels */
    {1, 2, 3, 300, 3, 3, 1, 1, 1, 1, 1},  /* 300 wide: dW by im2col */
    /* Non-square windows or unequal pads fall back to im2col here. */
    {2, 6, 9, 8, 7, 1, 1, 0, 1, 1, 1, 1, 7, 0, 3, 0, 3},  /* 1x7, pads 0,3,0,3 */
    {2, 6, 8, 9, 7, 1, 1, 0, 1, 1, 0, 7, 1, 3, 0, 3, 0},  /* 7x1, pads 3,0,3,0 */
    {2, 3, 7, 6, 5, 3, 1, 0, 1, 1, 1, 3, 2, 2, 0, 1, 1},  /* 3x2, pads 2,0,1,1 */
    {2, 3, 6, 5, 4, 1, 1, 0, 1, 1, 1, 1, 3, 0, 3, 1, 0},  /* pads past k - 1 */
    /* Strided convs (forward by conv_tall_cpu, dW by conv_implicit_dw_cpu,
     * dx by im2col), and
     * 1x1 convs reading the input in place (pad 0, no padded copy). */
    {2, 5, 13, 11, 7, 3, 2, 1, 1, 1, 1},  /* 3x3 stride 2 */
    {1, 3, 17, 15, 9, 7, 2, 3, 1, 1, 0},  /* 7x7 stride 2 pad 3 (a ResNet stem) */
    {2, 6, 9, 9, 35, 1, 2, 0, 1, 1, 1},   /* 1x1 stride 2 (a ResNet downsample) */
    {2, 40, 5, 7, 12, 1, 1, 0, 1, 1, 0},  /* 1x1, K = 40 */
    {3, 6, 7, 5, 20, 1, 1, 0, 1, 1, 1},   /* 1x1, K = 6 < 32 */
    {2, 3, 11, 12, 8, 3, 2, 1, 1, 1, 1},  /* K = 27, stride 2 (a MobileNetV2 stem) */
    {1, 2, 40, 130, 4, 3, 2, 1, 1, 1, 1}, /* stride 2, 65 wide: 7 dW row chunks, the last partial */
};

static void sweep(graft_gemm_backend be, const conv_case *cases, size_t ncases)
{
    tu_rng rg = {1234};
    /* Native: every case with the default choice of kernels, through the
     * implicit kernels wherever they apply, and through im2col + GEMM. */
    static const graft_conv_path modes[] = {GRAFT_CONV_PATH_AUTO, GRAFT_CONV_PATH_IMPLICIT,
                                            GRAFT_CONV_PATH_IM2COL};
    for (int mi = 0; mi < (be == GRAFT_GEMM_NATIVE ? 3 : 1); mi++) {
        graft_ctx_params p = tu_params(be);
        p.conv_path = modes[mi];
        graft_ctx *ctx = tu_ctx_params(&p);
        double worst = 0;
        for (size_t i = 0; i < ncases; i++) {
            double e = run_case(ctx, &rg, &cases[i], (float)(i % 2));
            if (e > worst) worst = e;
        }
        fprintf(stderr, "conv %s%s: worst relative error %.3g over %zu cases\n",
                be == GRAFT_GEMM_NATIVE ? "native" : "clblast",
                mi == 0 ? "" : mi == 1 ? " (conv path implicit)" : " (conv path im2col)",
                worst, ncases);
        graft_ctx_destroy(ctx);
    }
}

START_TEST(conv_implicit_matches_reference)
{
    sweep(GRAFT_GEMM_NATIVE, implicit_cases, sizeof implicit_cases / sizeof implicit_cases[0]);
}
END_TEST

START_TEST(conv_native_matches_reference)
{
    sweep(GRAFT_GEMM_NATIVE, native_cases, sizeof native_cases / sizeof native_cases[0]);
}
END_TEST

START_TEST(conv_clblast_matches_reference)
{
    sweep(GRAFT_GEMM_CLBLAST, clblast_cases, sizeof clblast_cases / sizeof clblast_cases[0]);
}
END_TEST

/* A small graft_ctx_params.conv_chunk_bytes forces the im2col path through
 * small chunks of images: each case runs with a cap of two images (chunks
 * 2, 2, ..., with a remainder) and of one image, din_beta 0 and 1, and the
 * scratch buffers must stay within the cap. */
static const conv_case chunk_cases[] = {
    {5, 3, 9, 7, 5, 3, 1, 1, 1, 1, 1},  /* chunks 2, 2, 1 */
    {5, 4, 9, 7, 6, 3, 2, 1, 1, 2, 1},  /* groups 2, stride 2 */
    {3, 7, 9, 7, 12, 1, 1, 0, 1, 1, 0}, /* 1x1, Cout > K: the output matrix sets the chunk */
    {5, 4, 8, 10, 6, 3, 1, 2, 2, 1, 1}, /* dilation 2, pad 2 */
};

static void chunk_sweep(graft_gemm_backend be)
{
    tu_rng rg = {4321};
    for (size_t i = 0; i < sizeof chunk_cases / sizeof chunk_cases[0]; i++) {
        const conv_case *c = &chunk_cases[i];
        conv_ref r = ref_dims(c);
        conv_case g = resolved(c);
        size_t rows = (size_t)g.kh * g.kw * c->cin; /* groups * K */
        if ((size_t)c->cout > rows) rows = (size_t)c->cout;
        size_t per_image = rows * r.hout * r.wout * sizeof(float);
        for (int imgs = 2; imgs >= 1; imgs--) {
            size_t cap = imgs * per_image + per_image / 2; /* not a multiple: rounds down */
            graft_ctx_params p = tu_params(be);
            p.conv_path = GRAFT_CONV_PATH_IM2COL; /* chunks are im2col's */
            p.conv_chunk_bytes = cap;
            graft_ctx *ctx = tu_ctx_params(&p);
            for (int beta = 0; beta <= 1; beta++) {
                double e = run_case(ctx, &rg, c, (float)beta);
                ck_assert_msg(e < 1e-4, "chunked (%d images) rel err %g", imgs, e);
            }
            for (int s = 0; s < 3; s++)
                ck_assert_msg(ctx->scratch_bytes[s] <= cap, "scratch slot %d holds %zu bytes > %zu",
                              s, ctx->scratch_bytes[s], cap);
            graft_ctx_destroy(ctx);
        }
    }
}

START_TEST(conv_chunked_matches_reference)
{
    chunk_sweep(GRAFT_GEMM_NATIVE);
    chunk_sweep(GRAFT_GEMM_CLBLAST);
}
END_TEST

/* L = sum(y * R): central differences of the float64 forward against the
 * device backward with dout = R, for x, W and b. */
static double fd_case(graft_ctx *ctx, tu_rng *rg, const conv_case *c)
{
    conv_ref r = ref_dims(c);
    layer *l = make_layer(ctx, c);
    float *x = malloc(r.nx * sizeof *x), *w = malloc(r.nw * sizeof *w);
    float *b = malloc(c->cout * sizeof *b), *R = malloc(r.ny * sizeof *R);
    float *dx = malloc(r.nx * sizeof *dx), *dw = malloc(r.nw * sizeof *dw);
    float *db = malloc(c->cout * sizeof *db);
    ck_assert(x && w && b && R && dx && dw && db);
    tu_fill(rg, x, r.nx, -1, 1);
    tu_fill(rg, w, r.nw, -1, 1);
    tu_fill(rg, b, c->cout, -1, 1);
    tu_fill(rg, R, r.ny, -1, 1);
    cl_mem bx = dev_buf(ctx, r.nx), by = dev_buf(ctx, r.ny), bdy = dev_buf(ctx, r.ny);
    cl_mem bdx = dev_buf(ctx, r.nx);
    ck_assert_int_eq(ctx_write(ctx, bx, 0, x, r.nx), GRAFT_OK);
    ck_assert_int_eq(ctx_write(ctx, bdy, 0, R, r.ny), GRAFT_OK);
    ck_assert_int_eq(ctx_write(ctx, l->params[0].data, 0, w, r.nw), GRAFT_OK);
    if (c->bias) ck_assert_int_eq(ctx_write(ctx, l->params[1].data, 0, b, c->cout), GRAFT_OK);
    bwd_io bio = {.n = c->n, .in = {bx}, .out = by, .dout = bdy, .din = {bdx},
                  .din_beta = {0.0f}, .param_grads = 1};
    ck_assert_msg(l->ops->backward(ctx, l, &bio) == GRAFT_OK, "%s", graft_last_error(ctx));
    ck_assert_int_eq(ctx_read(ctx, bdx, 0, dx, r.nx), GRAFT_OK);
    ck_assert_int_eq(ctx_read(ctx, l->params[0].grad, 0, dw, r.nw), GRAFT_OK);
    if (c->bias) ck_assert_int_eq(ctx_read(ctx, l->params[1].grad, 0, db, c->cout), GRAFT_OK);

    double *xd = to_d(x, r.nx), *wd = to_d(w, r.nw), *bd = to_d(b, c->cout);
    double *y = malloc(r.ny * sizeof *y);
    ck_assert_ptr_nonnull(y);
    double *fx = malloc(r.nx * sizeof *fx), *fw = malloc(r.nw * sizeof *fw);
    double *fb = malloc(c->cout * sizeof *fb);
    ck_assert(fx && fw && fb);
    const double h = 1e-3;
    /* Perturb each scalar of each tensor in turn. */
    double *targets[3] = {xd, wd, bd}, *fds[3] = {fx, fw, fb};
    size_t counts[3] = {r.nx, r.nw, c->bias ? (size_t)c->cout : 0};
    for (int t = 0; t < 3; t++)
        for (size_t i = 0; i < counts[t]; i++) {
            double keep = targets[t][i], lp = 0, lm = 0;
            targets[t][i] = keep + h;
            ref_forward(c, xd, wd, bd, y);
            for (size_t j = 0; j < r.ny; j++) lp += y[j] * R[j];
            targets[t][i] = keep - h;
            ref_forward(c, xd, wd, bd, y);
            for (size_t j = 0; j < r.ny; j++) lm += y[j] * R[j];
            targets[t][i] = keep;
            fds[t][i] = (lp - lm) / (2 * h);
        }
    double e = fmax(tu_rel_err(dx, fx, r.nx), tu_rel_err(dw, fw, r.nw));
    if (c->bias) e = fmax(e, tu_rel_err(db, fb, c->cout));
    char desc[160];
    case_str(c, desc, sizeof desc);
    fprintf(stderr, "conv finite differences %s: %.2e\n", desc, e);
    clReleaseMemObject(bx);
    clReleaseMemObject(by);
    clReleaseMemObject(bdy);
    clReleaseMemObject(bdx);
    layer_free(l);
    free(x), free(w), free(b), free(R), free(dx), free(dw), free(db);
    free(xd), free(wd), free(bd), free(y), free(fx), free(fw), free(fb);
    return e;
}

START_TEST(conv_backward_matches_finite_differences)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_NATIVE);
    tu_rng rg = {99};
    static const conv_case fd_cases[] = {
        {2, 4, 7, 6, 6, 3, 2, 1, 2, 2, 1}, /* grouped, strided, dilated */
        {2, 3, 6, 5, 3, 3, 1, 1, 1, 3, 1}, /* depthwise */
        {1, 2, 5, 19, 2, 3, 1, 1, 1, 2, 1}, /* depthwise, wide enough for vector chunks */
        {1, 2, 5, 21, 4, 3, 2, 1, 1, 2, 0}, /* depthwise multiplier 2, stride 2, chunks */
        {2, 3, 6, 5, 4, 3, 1, 1, 1, 1, 1}, /* stride 1: the implicit kernels on CPU devices */
        {2, 3, 6, 7, 4, 1, 1, 0, 1, 1, 1, 1, 5, 0, 2, 0, 2}, /* 1x5, pads 0,2,0,2: im2col (the implicit kernels take square windows) */
        {2, 3, 7, 6, 4, 3, 2, 0, 1, 1, 1, 3, 2, 1, 0, 2, 1}, /* 3x2 stride 2, pads 1,0,2,1 */
        {2, 3, 7, 6, 3, 1, 1, 0, 1, 3, 1, 3, 1, 1, 0, 0, 0}, /* depthwise 3x1, pads 1,0,0,0 */
        {2, 3, 7, 6, 4, 3, 2, 1, 1, 1, 1}, /* stride 2: conv_tall_cpu forward */
        {2, 5, 4, 5, 3, 1, 1, 0, 1, 1, 0}, /* 1x1: input read in place */
    };
    for (size_t i = 0; i < sizeof fd_cases / sizeof fd_cases[0]; i++) {
        double e = fd_case(ctx, &rg, &fd_cases[i]);
        ck_assert_msg(e < 1e-4, "finite-difference rel err %g (case %zu)", e, i);
    }
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(conv_rejects_bad_shapes)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_NATIVE);
    graft_layer_spec s = graft_layer_default(GRAFT_LAYER_CONV2D);
    layer *l = NULL;
    layer_shape in = {3, 4, 4};
    s.channels = 8;
    s.kernel = 7;
    s.pad = 1; /* 4 + 2 < 7 */
    ck_assert_int_eq(layer_create(ctx, "tooBig", &s, 1, &in, &l), GRAFT_ERR_SHAPE);
    ck_assert_ptr_null(l);
    ck_assert_ptr_nonnull(strstr(graft_last_error(ctx), "tooBig"));
    fprintf(stderr, "conv error message: %s\n", graft_last_error(ctx));
    s.kernel = 3;
    s.dilation = 4; /* span 9 > 6 */
    ck_assert_int_eq(layer_create(ctx, "dilated", &s, 1, &in, &l), GRAFT_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(graft_last_error(ctx), "dilated"));
    s.dilation = 1;
    s.groups = 2; /* 3 input channels */
    ck_assert_int_eq(layer_create(ctx, "grouped", &s, 1, &in, &l), GRAFT_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(graft_last_error(ctx), "grouped"));
    in.c = 4;
    s.channels = 6;
    s.groups = 4; /* 6 output channels */
    ck_assert_int_eq(layer_create(ctx, "grouped2", &s, 1, &in, &l), GRAFT_ERR_SHAPE);
    s.channels = 8;
    s.stride = 0;
    ck_assert_int_eq(layer_create(ctx, "stride0", &s, 1, &in, &l), GRAFT_ERR_INVALID_ARG);
    /* The smallest valid case: kernel exactly the padded input. */
    s.stride = 1;
    s.kernel = 6;
    ck_assert_int_eq(layer_create(ctx, "exact", &s, 1, &in, &l), GRAFT_OK);
    ck_assert_int_eq(l->out.h, 1);
    ck_assert_int_eq(l->out.w, 1);
    layer_free(l);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(conv_init_is_he_normal)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_NATIVE);
    conv_case c = {1, 8, 5, 5, 32, 3, 1, 1, 1, 2, 1};
    layer *l = make_layer(ctx, &c);
    rng r = {5};
    ck_assert_int_eq(l->ops->init(ctx, l, &r), GRAFT_OK);
    size_t nw = l->params[0].numel;
    float *w = malloc(nw * sizeof *w), b[32];
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(ctx_read(ctx, l->params[0].data, 0, w, nw), GRAFT_OK);
    ck_assert_int_eq(ctx_read(ctx, l->params[1].data, 0, b, 32), GRAFT_OK);
    double ss = 0;
    for (size_t i = 0; i < nw; i++) ss += (double)w[i] * w[i];
    double sd = sqrt(ss / nw), want = sqrt(2.0 / (4 * 9));
    ck_assert_msg(fabs(sd - want) < 0.1 * want, "init std %g, want %g", sd, want);
    for (int i = 0; i < 32; i++) ck_assert(b[i] == 0.0f);
    free(w);
    layer_free(l);
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, conv_native_matches_reference);
    tcase_add_test(tc, conv_implicit_matches_reference);
    tcase_add_test(tc, conv_clblast_matches_reference);
    tcase_add_test(tc, conv_chunked_matches_reference);
    tcase_add_test(tc, conv_backward_matches_finite_differences);
    tcase_add_test(tc, conv_rejects_bad_shapes);
    tcase_add_test(tc, conv_init_is_he_normal);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
