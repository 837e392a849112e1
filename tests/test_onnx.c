/* ONNX import against PyTorch goldens (data/onnx, made by
 * tools/make_onnx_goldens.py), the unsupported-operator and corrupt-file
 * errors, and export -> re-import round trips. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx_golden.h"
#include "testutil.h"

#define DIR GRAFT_DATA_DIR "/onnx/"

static const char *const goldens[] = {"resnet_mini", "mobile_mini", "mobile_mini_op17",
                                      "folded_mini", "shape_mini"};
#define NGOLD (sizeof goldens / sizeof goldens[0])

static char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    rewind(f);
    char *b = malloc((size_t)sz);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(golden_outputs)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    for (size_t g = 0; g < NGOLD; g++) {
        char p[512], note[512];
        snprintf(p, sizeof p, DIR "%s.onnx", goldens[g]);
        graft_model *m = NULL;
        graft_status s = graft_onnx_import(ctx, p, &m, note, sizeof note);
        ck_assert_msg(s == GRAFT_OK, "%s: %s", p, graft_last_error(ctx));
        double e = og_error(m, goldens[g]);
        printf("%-18s %2d nodes  max rel err vs PyTorch %.2e%s%s\n", goldens[g],
               graft_model_num_nodes(m), e, note[0] ? "  note: " : "", note);
        ck_assert_msg(e < 1e-4, "%s: rel err %g", goldens[g], e);
        /* A final Gemm/MatMul is the classifier finetune replaces. */
        int last = graft_model_num_nodes(m) - 1;
        ck_assert_int_eq(graft_model_node_spec(m, last)->kind, GRAFT_LAYER_LINEAR);
        graft_model_free(m);
    }
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(golden_structure)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m = NULL;
    ck_assert_int_eq(graft_onnx_import(ctx, DIR "resnet_mini.onnx", &m, NULL, 0), GRAFT_OK);
    int nbn = 0, nadd = 0;
    for (int i = 0; i < graft_model_num_nodes(m); i++) {
        const graft_layer_spec *s = graft_model_node_spec(m, i);
        if (s->kind == GRAFT_LAYER_BATCHNORM2D) {
            nbn++;
            /* ONNX momentum 0.9 is graft's 0.1. */
            ck_assert_float_eq_tol(s->momentum, 0.1f, 1e-6f);
        }
        if (s->kind == GRAFT_LAYER_ADD) nadd++;
    }
    ck_assert_int_eq(nbn, 6);
    ck_assert_int_eq(nadd, 2);
    /* Node names come from the ONNX node names. */
    ck_assert_int_ge(graft_model_find(m, "layer2_down_down.0_Conv"), 0);
    graft_model_free(m);
    /* Folded BN: convs with bias, no BatchNorm nodes; depthwise groups in mobile. */
    ck_assert_int_eq(graft_onnx_import(ctx, DIR "folded_mini.onnx", &m, NULL, 0), GRAFT_OK);
    for (int i = 0; i < graft_model_num_nodes(m); i++) {
        const graft_layer_spec *s = graft_model_node_spec(m, i);
        ck_assert_int_ne(s->kind, GRAFT_LAYER_BATCHNORM2D);
        if (s->kind == GRAFT_LAYER_CONV2D) ck_assert_int_eq(s->bias, 1);
    }
    graft_model_free(m);
    ck_assert_int_eq(graft_onnx_import(ctx, DIR "mobile_mini.onnx", &m, NULL, 0), GRAFT_OK);
    int dw = 0;
    for (int i = 0; i < graft_model_num_nodes(m); i++) {
        const graft_layer_spec *s = graft_model_node_spec(m, i);
        if (s->kind == GRAFT_LAYER_CONV2D && s->groups > 1) dw++;
    }
    ck_assert_int_eq(dw, 3);
    graft_model_free(m);
    /* Window shapes: 1x7 / 7x1 kernels with their pads, ceil_mode, padding
     * not counted, a Pad folded into the average pool after it, a 1x3 max
     * pool, and no node for the Concat of one input. */
    ck_assert_int_eq(graft_onnx_import(ctx, DIR "shape_mini.onnx", &m, NULL, 0), GRAFT_OK);
    static const struct {
        const char *node;
        int kh, kw, pads[4], ceil_mode, exclude_pad;
    } want[] = {
        {"c17_c17.0_Conv", 1, 7, {0, 3, 0, 3}, 0, 0},
        {"c71_c71.0_Conv", 7, 1, {3, 0, 3, 0}, 0, 0},
        {"mp_ceil_MaxPool", 3, 3, {0, 0, 0, 0}, 1, 0},
        {"avg_incl_AveragePool", 3, 3, {1, 1, 1, 1}, 0, 0},
        {"avg_excl_AveragePool", 3, 3, {1, 1, 1, 1}, 1, 1},
        {"mp13_MaxPool", 1, 3, {0, 1, 0, 1}, 0, 0},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        int i = graft_model_find(m, want[k].node), kh, kw, pads[4];
        ck_assert_msg(i >= 0, "no node %s", want[k].node);
        const graft_layer_spec *s = graft_model_node_spec(m, i);
        graft_layer_window(s, &kh, &kw, pads);
        ck_assert_msg(kh == want[k].kh && kw == want[k].kw && !memcmp(pads, want[k].pads, sizeof pads),
                      "%s: %dx%d pads %d,%d,%d,%d", want[k].node, kh, kw, pads[0], pads[1],
                      pads[2], pads[3]);
        ck_assert_int_eq(s->ceil_mode, want[k].ceil_mode);
        ck_assert_int_eq(s->exclude_pad, want[k].exclude_pad);
    }
    ck_assert_int_lt(graft_model_find(m, "Concat"), 0);
    ck_assert_int_ge(graft_model_find(m, "Concat_1"), 0);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(unsupported_ops_listed)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m = (graft_model *)1;
    graft_status s = graft_onnx_import(ctx, DIR "unsupported.onnx", &m, NULL, 0);
    ck_assert_int_eq(s, GRAFT_ERR_UNSUPPORTED);
    ck_assert_ptr_null(m);
    const char *e = graft_last_error(ctx);
    ck_assert_msg(strstr(e, "Erf") && strstr(e, "'/Erf'") && strstr(e, "Sin") &&
                  strstr(e, "'/Sin'") && strstr(e, "2 unsupported"), "%s", e);
    graft_ctx_destroy(ctx);
}
END_TEST

START_TEST(corrupt_files)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    size_t n;
    char *b = read_bytes(DIR "mobile_mini.onnx", &n);
    char tmp[256];
    const char *t = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/graft-onnx-%ld.onnx", t && *t ? t : "/tmp", (long)getpid());
    /* Truncated at many lengths: never a crash, never success. */
    size_t cuts[] = {0, 1, 7, 100, 1000, n / 3, n / 2, n - 100, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_bytes(tmp, b, cuts[i]);
        graft_model *m = (graft_model *)1;
        graft_status s = graft_onnx_import(ctx, tmp, &m, NULL, 0);
        ck_assert_msg(s != GRAFT_OK, "cut at %zu accepted", cuts[i]);
        ck_assert_ptr_null(m);
        ck_assert_ptr_nonnull(strstr(graft_last_error(ctx), tmp));
        if (i < 6) ck_assert_int_eq(s, GRAFT_ERR_FORMAT);
    }
    /* Single-byte corruptions at seeded positions: an error or a model,
     * never a crash (run under ASan/UBSan too). */
    tu_rng r = {7};
    int refused = 0;
    for (int it = 0; it < 48; it++) {
        char *c = malloc(n);
        ck_assert_ptr_nonnull(c);
        memcpy(c, b, n);
        size_t at = (size_t)(tu_next(&r) % n);
        c[at] = (char)(c[at] ^ (char)(1 + tu_next(&r) % 255));
        write_bytes(tmp, c, n);
        free(c);
        graft_model *m = NULL;
        if (graft_onnx_import(ctx, tmp, &m, NULL, 0) != GRAFT_OK) {
            ck_assert_ptr_null(m);
            refused++;
        }
        graft_model_free(m);
    }
    printf("corrupted bytes: %d of 48 files refused, none crashed\n", refused);
    /* Garbage and a non-ONNX file. */
    for (size_t i = 0; i < n; i++) b[i] = (char)(i * 131 + 7);
    write_bytes(tmp, b, n);
    graft_model *m = NULL;
    ck_assert_int_ne(graft_onnx_import(ctx, tmp, &m, NULL, 0), GRAFT_OK);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(graft_onnx_import(ctx, DIR "resnet_mini.out.f32", &m, NULL, 0) != GRAFT_OK, 1);
    ck_assert_int_eq(graft_onnx_import(ctx, "/nonexistent/x.onnx", &m, NULL, 0), GRAFT_ERR_IO);
    /* A Relu with a second input (its own output: a cycle; or another
     * value) is refused, not imported as a plain Relu. */
    ck_assert_int_eq(graft_onnx_import(ctx, DIR "relu_cycle.onnx", &m, NULL, 0), GRAFT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(graft_last_error(ctx), "2 inputs; Relu takes 1 to 1"));
    ck_assert_int_eq(graft_onnx_import(ctx, DIR "relu_two_inputs.onnx", &m, NULL, 0), GRAFT_ERR_FORMAT);
    ck_assert_ptr_null(m);
    unlink(tmp);
    free(b);
    graft_ctx_destroy(ctx);
}
END_TEST

/* Output of m on input x (n samples); caller frees. */
static float *forward(graft_model *m, const float *x, int n, size_t *nout)
{
    int k, kh, kw;
    graft_model_node_shape(m, graft_model_num_nodes(m) - 1, &k, &kh, &kw);
    *nout = (size_t)n * k * kh * kw;
    float *y = malloc(*nout * sizeof *y);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(graft_model_forward(m, x, n, 0, y), GRAFT_OK);
    return y;
}

/* Exports m (plain and with folded BN), re-imports both, compares outputs
 * on x; returns the worst relative error of each. */
static void round_trip(graft_ctx *ctx, graft_model *m, const float *x, int n, const char *tag,
                       double *plain, double *folded)
{
    char path[256];
    const char *t = getenv("TMPDIR");
    size_t ny;
    float *y = forward(m, x, n, &ny);
    double *yd = malloc(ny * sizeof *yd);
    ck_assert_ptr_nonnull(yd);
    for (size_t i = 0; i < ny; i++) yd[i] = y[i];
    for (int fold = 0; fold < 2; fold++) {
        snprintf(path, sizeof path, "%s/graft-onnx-%ld-%s-%d.onnx", t && *t ? t : "/tmp",
                 (long)getpid(), tag, fold);
        ck_assert_msg(graft_onnx_export(m, path, fold) == GRAFT_OK, "%s", graft_last_error(ctx));
        graft_model *r = NULL;
        ck_assert_msg(graft_onnx_import(ctx, path, &r, NULL, 0) == GRAFT_OK, "%s: %s", path,
                      graft_last_error(ctx));
        size_t nr;
        float *yr = forward(r, x, n, &nr);
        ck_assert_uint_eq(nr, ny);
        double e = tu_rel_err(yr, yd, ny);
        if (fold) *folded = e;
        else *plain = e;
        /* Unfolded: same parameters, names and BN settings. */
        if (!fold) {
            for (int i = 0; i < graft_model_num_nodes(m); i++) {
                int j = graft_model_find(r, graft_model_node_name(m, i));
                ck_assert_msg(j >= 0, "node '%s' lost", graft_model_node_name(m, i));
                const graft_layer_spec *a = graft_model_node_spec(m, i), *b = graft_model_node_spec(r, j);
                ck_assert_int_eq(a->kind, b->kind);
                int ka[6], kb[6]; /* kh, kw, pads */
                graft_layer_window(a, &ka[0], &ka[1], ka + 2);
                graft_layer_window(b, &kb[0], &kb[1], kb + 2);
                if (a->kind == GRAFT_LAYER_CONV2D || a->kind == GRAFT_LAYER_MAXPOOL2D ||
                    a->kind == GRAFT_LAYER_AVGPOOL2D) {
                    ck_assert_msg(!memcmp(ka, kb, sizeof ka) && a->ceil_mode == b->ceil_mode &&
                                      a->exclude_pad == b->exclude_pad,
                                  "%s: window changed", graft_model_node_name(m, i));
                }
                if (a->kind == GRAFT_LAYER_BATCHNORM2D) {
                    ck_assert_float_eq_tol(a->momentum, b->momentum, 1e-6f);
                    ck_assert_float_eq(a->eps, b->eps);
                }
            }
        }
        free(yr);
        graft_model_free(r);
        unlink(path);
    }
    free(yd);
    free(y);
}

START_TEST(export_round_trip)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    for (size_t g = 0; g < NGOLD; g++) {
        char p[512];
        snprintf(p, sizeof p, DIR "%s.onnx", goldens[g]);
        graft_model *m = NULL;
        ck_assert_int_eq(graft_onnx_import(ctx, p, &m, NULL, 0), GRAFT_OK);
        snprintf(p, sizeof p, DIR "%s.in.f32", goldens[g]);
        size_t nin;
        float *x = og_read_f32(p, &nin);
        int c, h, w;
        graft_model_node_shape(m, 0, &c, &h, &w);
        double e0, e1;
        round_trip(ctx, m, x, (int)(nin / ((size_t)c * h * w)), goldens[g], &e0, &e1);
        printf("%-18s export -> import: rel err %.2e plain, %.2e with --fold-bn\n", goldens[g], e0, e1);
        ck_assert_msg(e0 <= 1e-6 && e1 < 1e-5, "%s: %g %g", goldens[g], e0, e1);
        /* The plain export re-imports the same network: bit-identical logits. */
        ck_assert_msg(e0 == 0, "%s: plain round trip differs (%g)", goldens[g], e0);
        free(x);
        graft_model_free(m);
    }
    /* A built-in refnet with non-trivial BatchNorm statistics. */
    graft_model *m = NULL;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_arch_params ap = graft_arch_default_params("refnet");
    ck_assert_int_eq(graft_model_build_arch(m, "refnet", &ap), GRAFT_OK);
    tu_rng r = {42};
    for (int i = 0; i < graft_model_num_params(m); i++) {
        const char *nm = graft_model_param_name(m, i);
        size_t n = graft_model_param_numel(m, i);
        float *v = malloc(n * sizeof *v);
        ck_assert_ptr_nonnull(v);
        int is_var = strstr(nm, "running_var") != NULL, is_bn = strstr(nm, "running_mean") ||
                     (strstr(nm, "bias") && !strstr(nm, "conv") && !strstr(nm, "fc"));
        if (!is_var && !is_bn) {
            free(v);
            continue;
        }
        tu_fill(&r, v, n, is_var ? 0.5f : -0.3f, is_var ? 1.5f : 0.3f);
        ck_assert_int_eq(graft_model_param_set(m, i, v, n), GRAFT_OK);
        free(v);
    }
    int c, h, w;
    graft_model_node_shape(m, 0, &c, &h, &w);
    size_t nx = (size_t)3 * c * h * w;
    float *x = malloc(nx * sizeof *x);
    ck_assert_ptr_nonnull(x);
    tu_fill(&r, x, nx, -1, 1);
    double e0, e1;
    round_trip(ctx, m, x, 3, "refnet", &e0, &e1);
    printf("%-18s export -> import: rel err %.2e plain, %.2e with --fold-bn\n", "refnet", e0, e1);
    ck_assert_msg(e0 <= 1e-6 && e1 < 1e-5, "refnet: %g %g", e0, e1);
    free(x);
    graft_model_free(m);
    /* A DenseNet-like concat of 20 branches (graft allows 64) and a 2x3
     * conv with asymmetric pads (a .graft GEOM entry) export and come back. */
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    graft_layer_spec cv = graft_layer_default(GRAFT_LAYER_CONV2D);
    graft_layer_spec cat = graft_layer_default(GRAFT_LAYER_CONCAT);
    graft_layer_spec gap = graft_layer_default(GRAFT_LAYER_GLOBAL_AVGPOOL);
    graft_layer_spec fc = graft_layer_default(GRAFT_LAYER_LINEAR);
    in.channels = 2, in.height = 7, in.width = 6;
    int x0, br[20], id;
    ck_assert_int_eq(graft_model_add(m, "input", &in, 0, NULL, &x0), GRAFT_OK);
    cv.channels = 2, cv.pad = 0, cv.kernel_h = 2, cv.kernel_w = 3;
    cv.pad_top = 1, cv.pad_left = 2, cv.pad_right = 0, cv.pad_bottom = 0;
    for (int b = 0; b < 20; b++) {
        char nm[16];
        snprintf(nm, sizeof nm, "branch%d", b);
        ck_assert_msg(graft_model_add(m, nm, &cv, 1, &x0, &br[b]) == GRAFT_OK, "%s",
                      graft_last_error(ctx));
    }
    ck_assert_int_eq(graft_model_add(m, "cat", &cat, 20, br, &id), GRAFT_OK);
    ck_assert_int_eq(graft_model_add(m, "gap", &gap, 1, &id, &id), GRAFT_OK);
    fc.channels = 3;
    ck_assert_int_eq(graft_model_add(m, "fc", &fc, 1, &id, &id), GRAFT_OK);
    nx = (size_t)2 * 2 * 7 * 6;
    x = malloc(nx * sizeof *x);
    ck_assert_ptr_nonnull(x);
    tu_fill(&r, x, nx, -1, 1);
    round_trip(ctx, m, x, 2, "concat20", &e0, &e1);
    ck_assert_msg(e0 == 0 && e1 == 0, "concat20: %g %g", e0, e1);
    free(x);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

/* The model card survives export -> import: names with quotes, a
 * backslash, a newline and UTF-8; mean/std per channel; arch. A file
 * without a card reads as nameless with mean 0, std 1. */
START_TEST(model_card_round_trip)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m = NULL, *back = NULL;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_arch_params ap = graft_arch_default_params("refnet");
    ap.classes = 4;
    ap.channels = 3;
    ck_assert_int_eq(graft_model_build_arch(m, "refnet", &ap), GRAFT_OK);
    char *names[4] = {"cat", "rocket \"ship\"", "back\\slash\nline", "caf\xc3\xa9"};
    graft_model_meta meta = {0};
    snprintf(meta.arch, sizeof meta.arch, "refnet");
    meta.nclasses = 4;
    meta.class_names = names;
    const float mean[4] = {0.485f, 0.456f, 0.406f, 0}, stdv[4] = {0.229f, 0.224f, 0.225f, 1};
    memcpy(meta.mean, mean, sizeof mean);
    memcpy(meta.std, stdv, sizeof stdv);
    char path[1024];
    const char *t = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/graft-card-%ld.onnx", t && *t ? t : "/tmp", (long)getpid());
    ck_assert_msg(graft_onnx_export_meta(m, &meta, path, 0) == GRAFT_OK, "%s", graft_last_error(ctx));
    graft_model_meta got;
    int keys = 0;
    ck_assert_msg(graft_onnx_import_meta(ctx, path, &back, &got, &keys, NULL, 0) == GRAFT_OK, "%s",
                  graft_last_error(ctx));
    ck_assert_int_eq(keys, 4); /* arch, class_names, mean, std */
    ck_assert_str_eq(got.arch, "refnet");
    /* The import record: source file, opset, producer, input size. */
    const char *base = strrchr(path, '/') + 1;
    char want[512];
    snprintf(want, sizeof want, "{\"source\":\"onnx\",\"file\":\"%s\",\"opset\":13,"
             "\"producer\":\"graft ", base);
    ck_assert_msg(got.meta_json && !strncmp(got.meta_json, want, strlen(want)) &&
                      strstr(got.meta_json, "\"input\":[3,28,28]}"),
                  "%s", got.meta_json ? got.meta_json : "(null)");
    ck_assert_int_eq(got.nclasses, 4);
    for (int k = 0; k < 4; k++) ck_assert_str_eq(got.class_names[k], names[k]);
    for (int c = 0; c < 3; c++) {
        ck_assert_float_eq(got.mean[c], mean[c]);
        ck_assert_float_eq(got.std[c], stdv[c]);
    }
    graft_model_meta_free(&got);
    graft_model_free(back);
    /* without a card */
    ck_assert_int_eq(graft_onnx_export(m, path, 0), GRAFT_OK);
    ck_assert_int_eq(graft_onnx_import_meta(ctx, path, &back, &got, &keys, NULL, 0), GRAFT_OK);
    ck_assert_int_eq(keys, 0);
    ck_assert_int_eq(got.nclasses, 0);
    ck_assert_ptr_null(got.class_names);
    ck_assert_str_eq(got.arch, "custom");
    ck_assert_float_eq(got.mean[0], 0);
    ck_assert_float_eq(got.std[2], 1);
    graft_model_meta_free(&got);
    graft_model_free(back);
    unlink(path);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
}
END_TEST

/* Imported models (BN kept or folded by the exporter) train: the loss on a
 * small batch falls under SGD. */
START_TEST(imported_models_train)
{
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    static const char *const names[] = {"resnet_mini", "folded_mini", "mobile_mini",
                                        "shape_mini"};
    for (int g = 0; g < 4; g++) {
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

int main(void)
{
    Suite *s = suite_create("onnx");
    TCase *tc = tcase_create("import");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, golden_outputs);
    tcase_add_test(tc, golden_structure);
    tcase_add_test(tc, unsupported_ops_listed);
    tcase_add_test(tc, corrupt_files);
    tcase_add_test(tc, export_round_trip);
    tcase_add_test(tc, model_card_round_trip);
    tcase_add_test(tc, imported_models_train);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
