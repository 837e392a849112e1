/* ONNX golden helpers for the import tests (tests/onnx_golden.h). */
#include "onnx_golden.h"

#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"

#define DIR GRAFT_DATA_DIR "/onnx/"

float *og_read_f32(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long sz = ftell(f);
    ck_assert(sz > 0 && sz % 4 == 0);
    rewind(f);
    float *x = malloc((size_t)sz);
    ck_assert_ptr_nonnull(x);
    ck_assert_uint_eq(fread(x, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz / 4;
    return x;
}

graft_model *og_import(graft_ctx *ctx, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, DIR "%s.onnx", name);
    graft_model *m = NULL;
    ck_assert_msg(graft_onnx_import(ctx, p, &m, NULL, 0) == GRAFT_OK, "%s: %s", p,
                  graft_last_error(ctx));
    return m;
}

float *og_input(const graft_model *m, const char *name, int *batch)
{
    char p[512];
    size_t nin;
    snprintf(p, sizeof p, DIR "%s.in.f32", name);
    float *x = og_read_f32(p, &nin);
    int c, h, w;
    graft_model_node_shape(m, 0, &c, &h, &w);
    ck_assert_uint_eq(nin % ((size_t)c * h * w), 0);
    *batch = (int)(nin / ((size_t)c * h * w));
    return x;
}

int og_outputs(const graft_model *m)
{
    int k, h, w;
    graft_model_node_shape(m, graft_model_num_nodes(m) - 1, &k, &h, &w);
    return k * h * w;
}

float *og_run(graft_model *m, const float *x, int n)
{
    float *y = malloc((size_t)n * og_outputs(m) * sizeof *y);
    ck_assert_ptr_nonnull(y);
    ck_assert_msg(graft_model_forward(m, x, n, 0, y) == GRAFT_OK, "%s",
                  graft_last_error(graft_model_ctx(m)));
    return y;
}

double og_error(graft_model *m, const char *name)
{
    char p[512];
    size_t nref;
    int n;
    snprintf(p, sizeof p, DIR "%s.out.f32", name);
    float *ref = og_read_f32(p, &nref), *x = og_input(m, name, &n);
    ck_assert_uint_eq(nref, (size_t)n * og_outputs(m));
    float *y = og_run(m, x, n);
    double *rd = malloc(nref * sizeof *rd);
    ck_assert_ptr_nonnull(rd);
    for (size_t i = 0; i < nref; i++) rd[i] = ref[i];
    double e = tu_rel_err(y, rd, nref);
    free(rd);
    free(ref);
    free(x);
    free(y);
    return e;
}

void og_sgd_steps(graft_model *m, const char *name, int steps, float *first, float *last)
{
    int n;
    float *x = og_input(m, name, &n);
    int *labels = malloc((size_t)n * sizeof *labels);
    ck_assert_ptr_nonnull(labels);
    for (int i = 0; i < n; i++) labels[i] = (i + 1) % 2;
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    op.lr = 0.05f;
    graft_optimizer *o = NULL;
    ck_assert_int_eq(graft_optimizer_create(m, &op, &o), GRAFT_OK);
    for (int it = 0; it < steps; it++) {
        float loss = 0;
        ck_assert_int_eq(graft_model_forward(m, x, n, 1, NULL), GRAFT_OK);
        ck_assert_int_eq(graft_model_backward(m, labels, 0.0f, &loss, NULL), GRAFT_OK);
        ck_assert_int_eq(graft_optimizer_step(o), GRAFT_OK);
        if (!it) *first = loss;
        *last = loss;
    }
    graft_optimizer_free(o);
    free(labels);
    free(x);
}

int og_count_kind(const graft_model *m, graft_layer_kind k)
{
    int n = 0;
    for (int i = 0; i < graft_model_num_nodes(m); i++) n += graft_model_node_spec(m, i)->kind == k;
    return n;
}
