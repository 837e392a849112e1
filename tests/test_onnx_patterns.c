/* The ONNX importer's multi-node patterns (src/io/onnx_fuse*.c) and the
 * layers they become, against PyTorch goldens (data/onnx, made by
 * tools/make_onnx_pattern_goldens.py): outputs, the graft structure they
 * import to, export -> re-import with identical outputs, and ops the
 * patterns do not take still named with nothing imported. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx_golden.h"
#include "testutil.h"

#define DIR GRAFT_DATA_DIR "/onnx/"

static const char *const goldens[] = {"mean_mini", "gate_mini", "gate_mini_op14",
                                      "gate_scale_first"};
#define NGOLD (sizeof goldens / sizeof goldens[0])

/* Output of m on the stored input of golden name; *n values, *batch images. */
static float *run_golden(graft_model *m, const char *name, size_t *n, int *batch)
{
    float *x = og_input(m, name, batch), *y = og_run(m, x, *batch);
    *n = (size_t)*batch * og_outputs(m);
    free(x);
    return y;
}

START_TEST(goldens_match_pytorch)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    for (size_t g = 0; g < NGOLD; g++) {
        graft_model *m = og_import(ctx, goldens[g]);
        double e = og_error(m, goldens[g]);
        printf("%-18s %2d nodes  max rel err vs PyTorch %.2e\n", goldens[g],
               graft_model_num_nodes(m), e);
        ck_assert_msg(e < 1e-4, "%s: rel err %g", goldens[g], e);
        graft_model_free(m);
    }
    graft_ctx_destroy(ctx);
}
END_TEST

/* ReduceMean over H, W: a global average pool each, the keepdims=0 one
 * followed by no flatten layer (its output is already C x 1 x 1). */
START_TEST(reduce_mean_is_global_pool)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m = og_import(ctx, "mean_mini");
    ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_GLOBAL_AVGPOOL), 2);
    ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_FLATTEN), 0);
    ck_assert_int_ge(graft_model_find(m, "ReduceMean"), 0);
    ck_assert_int_ge(graft_model_find(m, "ReduceMean_1"), 0);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

/* Squeeze-excitation and the gated activations: each pattern one layer,
 * a Sigmoid / HardSigmoid gating another tensor left as itself. */
START_TEST(gates_import_as_layers)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    static const char *const names[] = {"gate_mini", "gate_mini_op14"};
    for (int g = 0; g < 2; g++) {
        graft_model *m = og_import(ctx, names[g]);
        ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_HARD_SWISH), 2);
        ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_HARD_SIGMOID), 1);
        ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_SILU), 2);
        ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_SIGMOID), 1);
        ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_MUL), 2);
        ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_GLOBAL_AVGPOOL), 3);
        /* PyTorch's ramp, from the HardSigmoid's attributes or HardSwish's definition. */
        for (int i = 0; i < graft_model_num_nodes(m); i++) {
            const graft_layer_spec *sp = graft_model_node_spec(m, i);
            if (sp->kind != GRAFT_LAYER_HARD_SWISH && sp->kind != GRAFT_LAYER_HARD_SIGMOID) continue;
            ck_assert_float_eq_tol(sp->slope, 1.0f / 6, 1e-7f);
            ck_assert_float_eq(sp->p, 0.5f);
        }
        graft_model_free(m);
    }
    graft_model *m = og_import(ctx, "gate_scale_first");
    ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_MUL), 1);
    ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_SILU), 2);
    ck_assert_int_eq(og_count_kind(m, GRAFT_LAYER_SIGMOID), 1);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

/* Export -> import gives the same layers, names and outputs (bit for bit):
 * the pairs the exporter writes for hard_swish and silu fuse back. */
START_TEST(goldens_round_trip)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    const char *t = getenv("TMPDIR");
    for (size_t g = 0; g < NGOLD; g++) {
        graft_model *m = og_import(ctx, goldens[g]);
        char path[256];
        snprintf(path, sizeof path, "%s/graft-patterns-%ld-%s.onnx", t && *t ? t : "/tmp",
                 (long)getpid(), goldens[g]);
        ck_assert_msg(graft_onnx_export(m, path, 0) == GRAFT_OK, "%s", graft_last_error(ctx));
        graft_model *r = NULL;
        ck_assert_msg(graft_onnx_import(ctx, path, &r, NULL, 0) == GRAFT_OK, "%s: %s", path,
                      graft_last_error(ctx));
        unlink(path);
        ck_assert_int_eq(graft_model_num_nodes(r), graft_model_num_nodes(m));
        for (int i = 0; i < graft_model_num_nodes(m); i++) {
            int j = graft_model_find(r, graft_model_node_name(m, i));
            ck_assert_msg(j >= 0, "%s: node '%s' lost", goldens[g], graft_model_node_name(m, i));
            ck_assert_int_eq(graft_model_node_spec(m, i)->kind, graft_model_node_spec(r, j)->kind);
        }
        size_t n0, n1;
        int b0, b1;
        float *y0 = run_golden(m, goldens[g], &n0, &b0), *y1 = run_golden(r, goldens[g], &n1, &b1);
        ck_assert_uint_eq(n0, n1);
        for (size_t i = 0; i < n0; i++)
            ck_assert_msg(y0[i] == y1[i], "%s: output %zu %g != %g", goldens[g], i, (double)y0[i],
                          (double)y1[i]);
        free(y0);
        free(y1);
        graft_model_free(r);
        graft_model_free(m);
    }
    graft_ctx_destroy(ctx);
}
END_TEST

/* Every new layer has a backward: the imported models train (the loss on
 * the stored batch falls under SGD). */
START_TEST(imported_gates_train)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    static const char *const names[] = {"gate_mini", "gate_scale_first"};
    for (int g = 0; g < 2; g++) {
        graft_model *m = og_import(ctx, names[g]);
        float first = 0, loss = 0;
        og_sgd_steps(m, names[g], 15, &first, &loss);
        printf("%-18s fine-tune: loss %.4f -> %.4f in 15 SGD steps\n", names[g], (double)first,
               (double)loss);
        ck_assert_msg(loss < first, "%s: loss %g -> %g", names[g], (double)first, (double)loss);
        graft_model_free(m);
    }
    graft_ctx_destroy(ctx);
}
END_TEST

/* A Mul by a constant and a ReduceMean over channels match no pattern:
 * both named with their nodes, no model. */
START_TEST(near_misses_stay_unsupported)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m = (graft_model *)1;
    ck_assert_int_eq(graft_onnx_import(ctx, DIR "near_miss.onnx", &m, NULL, 0),
                     GRAFT_ERR_UNSUPPORTED);
    ck_assert_ptr_null(m);
    const char *e = graft_last_error(ctx);
    ck_assert_msg(strstr(e, "2 unsupported ONNX operator types") && strstr(e, "Mul (node '/Mul')") &&
                  strstr(e, "ReduceMean (node '/ReduceMean')") && strstr(e, "the patterns"),
                  "%s", e);
    /* An extra input is refused, not ignored. */
    ck_assert_int_eq(graft_onnx_import(ctx, DIR "hard_sigmoid_two_inputs.onnx", &m, NULL, 0),
                     GRAFT_ERR_FORMAT);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(graft_last_error(ctx), "2 inputs; HardSigmoid takes 1 to 1"));
    graft_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("onnx_patterns");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, goldens_match_pytorch);
    tcase_add_test(tc, reduce_mean_is_global_pool);
    tcase_add_test(tc, gates_import_as_layers);
    tcase_add_test(tc, goldens_round_trip);
    tcase_add_test(tc, imported_gates_train);
    tcase_add_test(tc, near_misses_stay_unsupported);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
