/* Model files on a live model: bit-exact save/load, refusal of damaged or
 * foreign files, atomic replacement, refusal of non-finite weights, and
 * checkpoint resume (optimizer state) equal to uninterrupted training. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "model_io.h"
#include "testutil.h"

/* ---------------------------------------------------------------- helpers */

enum { B = 8, D = 28 * 28, NCLS = 10 };

static char g_dir[512];

static void make_tmpdir(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/graft-model-io-XXXXXX", t && *t ? t : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

/* Removes every file in g_dir, then g_dir. */
static void rm_tmpdir(void)
{
    DIR *d = opendir(g_dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
        ck_assert_int_eq(unlink(p), 0);
    }
    closedir(d);
    ck_assert_int_eq(rmdir(g_dir), 0);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void path_in(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", g_dir, name);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long sz = ftell(f);
    ck_assert_int_ge(sz, 0);
    rewind(f);
    unsigned char *b = malloc((size_t)sz + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static void spit(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    if (n) ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* Random non-zero batch k (deterministic) and its labels. */
static void batch(int k, float *x, int *y)
{
    tu_rng r = {1000 + (uint64_t)k};
    tu_fill(&r, x, (size_t)B * D, -1, 1);
    for (int i = 0; i < B; i++) y[i] = (int)(tu_next(&r) % NCLS);
}

static graft_model *refnet(graft_ctx *ctx, uint64_t seed)
{
    graft_model *m;
    ck_assert_int_eq(graft_model_create(ctx, &m), GRAFT_OK);
    graft_model_set_seed(m, seed);
    graft_arch_params p = graft_arch_default_params("refnet");
    ck_assert_int_eq(graft_model_build_arch(m, "refnet", &p), GRAFT_OK);
    return m;
}

static void train(graft_model *m, graft_optimizer *o, int first, int steps)
{
    float *x = malloc(sizeof(float) * B * D);
    int y[B];
    ck_assert_ptr_nonnull(x);
    for (int s = first; s < first + steps; s++) {
        batch(s, x, y);
        float loss = NAN;
        ck_assert_int_eq(graft_model_forward(m, x, B, 1, NULL), GRAFT_OK);
        ck_assert_int_eq(graft_model_backward(m, y, 0.0f, &loss, NULL), GRAFT_OK);
        ck_assert(isfinite(loss));
        ck_assert_int_eq(graft_optimizer_step(o), GRAFT_OK);
    }
    free(x);
}

static graft_model *trained_refnet(graft_ctx *ctx)
{
    graft_model *m = refnet(ctx, 5);
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    op.lr = 0.05f;
    op.momentum = 0.9f;
    graft_optimizer *o;
    ck_assert_int_eq(graft_optimizer_create(m, &op, &o), GRAFT_OK);
    train(m, o, 0, 2);
    graft_optimizer_free(o);
    return m;
}

/* Every parameter and running statistic of a and b, bit for bit. */
static void assert_same_params(graft_model *a, graft_model *b, const char *what)
{
    ck_assert_int_eq(graft_model_num_params(a), graft_model_num_params(b));
    for (int i = 0; i < graft_model_num_params(a); i++) {
        ck_assert_str_eq(graft_model_param_name(a, i), graft_model_param_name(b, i));
        size_t n = graft_model_param_numel(a, i);
        ck_assert_uint_eq(graft_model_param_numel(b, i), n);
        float *va = malloc(n * sizeof *va), *vb = malloc(n * sizeof *vb);
        ck_assert_ptr_nonnull(va);
        ck_assert_ptr_nonnull(vb);
        ck_assert_int_eq(graft_model_param_get(a, i, va, n), GRAFT_OK);
        ck_assert_int_eq(graft_model_param_get(b, i, vb, n), GRAFT_OK);
        for (size_t k = 0; k < n; k++)
            ck_assert_msg(memcmp(&va[k], &vb[k], sizeof(float)) == 0, "%s: %s[%zu] %.9g vs %.9g",
                          what, graft_model_param_name(a, i), k, (double)va[k], (double)vb[k]);
        free(va);
        free(vb);
    }
}

/* Bytes of a float parameter tensor by name, or NULL. */
static float *param_by_name(graft_model *m, const char *name, size_t *n)
{
    for (int i = 0; i < graft_model_num_params(m); i++)
        if (!strcmp(graft_model_param_name(m, i), name)) {
            *n = graft_model_param_numel(m, i);
            float *v = malloc(*n * sizeof *v);
            ck_assert_ptr_nonnull(v);
            ck_assert_int_eq(graft_model_param_get(m, i, v, *n), GRAFT_OK);
            return v;
        }
    return NULL;
}

static const char *const class_names[NCLS] = {
    "T-shirt / top", "Trouser", "Pull over", "Dress", "Coat",
    "Sandal \xe2\x80\x93 \xc3\xbc\xc3\x9f", /* "Sandal – üß" */
    "Shirt", "Sneaker", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e bag", /* "日本語 bag" */
    "Ankle boot"};

static graft_model_meta make_meta(void)
{
    graft_model_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.arch, sizeof meta.arch, "refnet");
    meta.nclasses = NCLS;
    meta.class_names = (char **)class_names; /* borrowed by save */
    const float mean[4] = {0.2860f, 0.1f, -0.25f, 0.5f}, std[4] = {0.3530f, 1.5f, 0.75f, 2.0f};
    memcpy(meta.mean, mean, sizeof mean);
    memcpy(meta.std, std, sizeof std);
    meta.meta_json = "{\"epochs\": 2, \"opt\": \"sgd\", \"note\": \"\xc3\xa9t\xc3\xa9\"}";
    return meta;
}

/* ------------------------------------------------------------ round trip */

START_TEST(save_load_round_trip_is_bit_exact)
{
    make_tmpdir();
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m = trained_refnet(ctx);
    /* The BN running statistics moved away from their (0, 1) start. */
    size_t n;
    float *rm = param_by_name(m, "conv1.bn.running_mean", &n);
    ck_assert_ptr_nonnull(rm);
    int nontrivial = 0;
    for (size_t k = 0; k < n; k++) nontrivial |= rm[k] != 0.0f;
    ck_assert(nontrivial);
    free(rm);

    char path[1024];
    path_in(path, sizeof path, "ref net.graft");
    graft_model_meta meta = make_meta();
    ck_assert_int_eq(graft_model_save(m, &meta, path), GRAFT_OK);

    graft_model *l = NULL;
    graft_model_meta got;
    graft_status s = graft_model_load(ctx, path, &l, &got);
    ck_assert_msg(s == GRAFT_OK, "load: %s", graft_last_error(ctx));
    ck_assert_ptr_nonnull(l);
    assert_same_params(m, l, "after load");
    ck_assert_int_eq(graft_model_num_nodes(l), graft_model_num_nodes(m));
    for (int i = 0; i < graft_model_num_nodes(m); i++) {
        ck_assert_str_eq(graft_model_node_name(l, i), graft_model_node_name(m, i));
        ck_assert_int_eq(graft_model_node_spec(l, i)->kind, graft_model_node_spec(m, i)->kind);
    }

    /* Same inference logits, bit for bit. */
    float *x = malloc(sizeof(float) * B * D);
    int y[B];
    batch(77, x, y);
    float la[B * NCLS], lb[B * NCLS];
    ck_assert_int_eq(graft_model_forward(m, x, B, 0, la), GRAFT_OK);
    ck_assert_int_eq(graft_model_forward(l, x, B, 0, lb), GRAFT_OK);
    for (int i = 0; i < B * NCLS; i++) ck_assert(isfinite(la[i]));
    ck_assert_int_eq(memcmp(la, lb, sizeof la), 0);

    /* Metadata. */
    ck_assert_str_eq(got.arch, "refnet");
    ck_assert_int_eq(got.nclasses, NCLS);
    for (int c = 0; c < NCLS; c++) ck_assert_str_eq(got.class_names[c], class_names[c]);
    ck_assert_int_eq(memcmp(got.mean, meta.mean, sizeof got.mean), 0);
    ck_assert_int_eq(memcmp(got.std, meta.std, sizeof got.std), 0);
    ck_assert_ptr_nonnull(got.meta_json);
    ck_assert_str_eq(got.meta_json, meta.meta_json);
    graft_model_meta_free(&got);
    ck_assert_ptr_null(got.class_names);
    ck_assert_ptr_null(got.meta_json);

    /* meta may be NULL on load; on save it gives "custom" and numbered classes. */
    graft_model_free(l);
    l = NULL;
    ck_assert_int_eq(graft_model_load(ctx, path, &l, NULL), GRAFT_OK);
    graft_model_free(l);
    ck_assert_int_eq(graft_model_save(m, NULL, path), GRAFT_OK);
    ck_assert_int_eq(graft_model_load(ctx, path, &l, &got), GRAFT_OK);
    ck_assert_str_eq(got.arch, "custom");
    ck_assert_int_eq(got.nclasses, NCLS);
    ck_assert_str_eq(got.class_names[9], "9");
    ck_assert_ptr_null(got.meta_json);
    ck_assert_float_eq(got.std[0], 1.0f);
    graft_model_meta_free(&got);
    assert_same_params(m, l, "after load without meta");
    graft_model_free(l);

    free(x);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
    rm_tmpdir();
}
END_TEST

/* ------------------------------------------------------------ bad files */

/* Load must fail with want, leave *out NULL and meta zero, and name path. */
static void expect_refused(graft_ctx *ctx, const char *path, graft_status want, const char *what)
{
    graft_model *sentinel = (graft_model *)&sentinel, *out = sentinel;
    graft_model_meta meta;
    memset(&meta, 0xAB, sizeof meta);
    graft_status s = graft_model_load(ctx, path, &out, &meta);
    ck_assert_msg(s == want, "%s: got %s, want %s (%s)", what, graft_status_name(s),
                  graft_status_name(want), graft_last_error(ctx));
    ck_assert_msg(out == NULL, "%s: *out not NULL", what);
    ck_assert_ptr_null(meta.class_names);
    ck_assert_ptr_null(meta.meta_json);
    ck_assert_int_eq(meta.nclasses, 0);
    ck_assert_msg(strstr(graft_last_error(ctx), path) != NULL, "%s: message '%s' lacks the path",
                  what, graft_last_error(ctx));
}

static uint32_t be32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

/* A valid 2x2 grayscale PNG, built here (data/ holds none). */
static size_t make_png(unsigned char *out)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t n = 0;
    memcpy(out, sig, 8);
    n = 8;
    unsigned char ihdr[13] = {0, 0, 0, 2, 0, 0, 0, 2, 8, 0, 0, 0, 0};
    unsigned char raw[6] = {0, 10, 200, 0, 90, 255}, z[64];
    uLongf zn = sizeof z;
    ck_assert_int_eq(compress(z, &zn, raw, sizeof raw), Z_OK);
    struct { const char *tag; const unsigned char *d; uint32_t len; } ch[3] = {
        {"IHDR", ihdr, 13}, {"IDAT", z, (uint32_t)zn}, {"IEND", NULL, 0}};
    for (int i = 0; i < 3; i++) {
        uint32_t l = be32(ch[i].len);
        memcpy(out + n, &l, 4);
        memcpy(out + n + 4, ch[i].tag, 4);
        if (ch[i].len) memcpy(out + n + 8, ch[i].d, ch[i].len);
        uint32_t c = be32((uint32_t)crc32(0, out + n + 4, 4 + ch[i].len));
        memcpy(out + n + 8 + ch[i].len, &c, 4);
        n += 12 + ch[i].len;
    }
    return n;
}

START_TEST(damaged_and_foreign_files_are_refused)
{
    make_tmpdir();
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m = trained_refnet(ctx);
    char good[1024], bad[1024];
    path_in(good, sizeof good, "good.graft");
    path_in(bad, sizeof bad, "bad.graft");
    graft_model_meta meta = make_meta();
    ck_assert_int_eq(graft_model_save(m, &meta, good), GRAFT_OK);
    size_t n;
    unsigned char *bytes = slurp(good, &n);
    ck_assert_uint_gt(n, 4 * 140458);

    /* Truncated: inside the magic, header, sections, tensors, the CRC. */
    const size_t cuts[] = {1, 7, 8, 12, 20, 23, 24, 40, 200, n / 3, n / 2, n - 5, n - 4, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu of %zu", cuts[i], n);
        spit(bad, bytes, cuts[i]);
        expect_refused(ctx, bad, GRAFT_ERR_FORMAT, what);
    }
    /* Flipped bytes: magic, version, size, a tensor value, the CRC. */
    const size_t flips[] = {0, 5, 9, 17, 30, n / 2, n - 100, n - 1};
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "byte %zu flipped", flips[i]);
        bytes[flips[i]] ^= 0x5a;
        spit(bad, bytes, n);
        bytes[flips[i]] ^= 0x5a;
        expect_refused(ctx, bad, GRAFT_ERR_FORMAT, what);
    }
    /* Appended garbage. */
    unsigned char *longer = malloc(n + 16);
    ck_assert_ptr_nonnull(longer);
    memcpy(longer, bytes, n);
    memset(longer + n, 0x11, 16);
    spit(bad, longer, n + 16);
    expect_refused(ctx, bad, GRAFT_ERR_FORMAT, "16 bytes appended");
    free(longer);

    spit(bad, "", 0);
    expect_refused(ctx, bad, GRAFT_ERR_FORMAT, "empty file");

    unsigned char png[256];
    size_t pn = make_png(png);
    char pngpath[1024];
    path_in(pngpath, sizeof pngpath, "picture.graft");
    spit(pngpath, png, pn);
    expect_refused(ctx, pngpath, GRAFT_ERR_FORMAT, "PNG renamed");

    char missing[1024];
    path_in(missing, sizeof missing, "no such model.graft");
    expect_refused(ctx, missing, GRAFT_ERR_IO, "missing file");

    /* The intact file still loads after all that. */
    graft_model *l = NULL;
    ck_assert_int_eq(graft_model_load(ctx, good, &l, NULL), GRAFT_OK);
    assert_same_params(m, l, "good file");
    graft_model_free(l);

    free(bytes);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
    rm_tmpdir();
}
END_TEST

/* ----------------------------------------------------------- atomicity */

START_TEST(save_replaces_atomically)
{
    make_tmpdir();
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *a = trained_refnet(ctx), *b = refnet(ctx, 99);
    char path[1024], keep[1024];
    path_in(path, sizeof path, "model.graft");
    path_in(keep, sizeof keep, "old-inode");
    ck_assert_int_eq(graft_model_save(a, NULL, path), GRAFT_OK);
    size_t na, nb;
    unsigned char *old = slurp(path, &na);
    /* A second name for the old inode: an in-place rewrite would show
     * through it, a rename does not. */
    ck_assert_int_eq(link(path, keep), 0);

    ck_assert_int_eq(graft_model_save(b, NULL, path), GRAFT_OK);
    unsigned char *still = slurp(keep, &nb);
    ck_assert_uint_eq(nb, na);
    ck_assert_int_eq(memcmp(still, old, na), 0);
    free(still);
    struct stat s1, s2;
    ck_assert_int_eq(stat(path, &s1), 0);
    ck_assert_int_eq(stat(keep, &s2), 0);
    ck_assert(s1.st_ino != s2.st_ino);
    ck_assert_int_eq(count_entries(g_dir), 2); /* no temp file left */

    graft_model *l = NULL;
    ck_assert_int_eq(graft_model_load(ctx, path, &l, NULL), GRAFT_OK);
    assert_same_params(b, l, "replaced file");
    graft_model_free(l);

    /* Into a missing directory: refused, nothing created. */
    char sub[1024], deep[1100];
    path_in(sub, sizeof sub, "missing-dir");
    snprintf(deep, sizeof deep, "%s/m.graft", sub);
    graft_status st = graft_model_save(a, NULL, deep);
    ck_assert_msg(st == GRAFT_ERR_IO, "save into a missing directory: %s", graft_status_name(st));
    ck_assert_msg(strstr(graft_last_error(ctx), deep) != NULL, "message '%s'",
                  graft_last_error(ctx));
    struct stat s3;
    ck_assert_int_ne(stat(sub, &s3), 0);
    ck_assert_int_eq(count_entries(g_dir), 2);

    free(old);
    graft_model_free(a);
    graft_model_free(b);
    graft_ctx_destroy(ctx);
    rm_tmpdir();
}
END_TEST

START_TEST(non_finite_weights_are_not_saved)
{
    make_tmpdir();
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    graft_model *m = trained_refnet(ctx);
    char path[1024];
    path_in(path, sizeof path, "model.graft");
    ck_assert_int_eq(graft_model_save(m, NULL, path), GRAFT_OK);
    size_t n0;
    unsigned char *old = slurp(path, &n0);

    const float bad_values[2] = {NAN, INFINITY};
    for (int t = 0; t < 2; t++) {
        int pi = -1;
        for (int i = 0; i < graft_model_num_params(m); i++)
            if (!strcmp(graft_model_param_name(m, i), "conv3.weight")) pi = i;
        ck_assert_int_ge(pi, 0);
        size_t n = graft_model_param_numel(m, pi);
        float *w = malloc(n * sizeof *w);
        ck_assert_int_eq(graft_model_param_get(m, pi, w, n), GRAFT_OK);
        float keep = w[17];
        w[17] = bad_values[t];
        ck_assert_int_eq(graft_model_param_set(m, pi, w, n), GRAFT_OK);
        graft_status s = graft_model_save(m, NULL, path);
        ck_assert_msg(s != GRAFT_OK, "saved a model with %g in it", (double)bad_values[t]);
        const char *msg = graft_last_error(ctx);
        ck_assert_msg(strstr(msg, path) != NULL, "message '%s' lacks the path", msg);
        ck_assert_msg(strstr(msg, "conv3.weight") != NULL, "message '%s' lacks the tensor", msg);
        size_t n1;
        unsigned char *now = slurp(path, &n1);
        ck_assert_uint_eq(n1, n0);
        ck_assert_int_eq(memcmp(now, old, n0), 0);
        free(now);
        ck_assert_int_eq(count_entries(g_dir), 1);
        w[17] = keep;
        ck_assert_int_eq(graft_model_param_set(m, pi, w, n), GRAFT_OK);
        free(w);
    }
    free(old);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
    rm_tmpdir();
}
END_TEST

/* ---------------------------------------------------------- checkpoints */

static void checkpoint_resume(graft_opt_params op, const char *label)
{
    make_tmpdir();
    graft_ctx *ctx = tu_ctx(GRAFT_GEMM_AUTO);
    char path[1024], err[1024];
    path_in(path, sizeof path, "ckpt.graft");

    graft_model *a = refnet(ctx, 21);
    graft_optimizer *oa;
    ck_assert_int_eq(graft_optimizer_create(a, &op, &oa), GRAFT_OK);
    train(a, oa, 0, 3);

    mf_model f;
    memset(&f, 0, sizeof f);
    graft_model_meta meta = make_meta();
    ck_assert_int_eq(model_to_mf(a, &meta, &f), GRAFT_OK);
    ck_assert_int_eq(optimizer_to_mf(oa, &f), GRAFT_OK);
    ck_assert_int_eq(f.step, 3);
    f.has_state = 1;
    f.epoch = 1;
    graft_status s = mf_write(&f, path, err, sizeof err);
    ck_assert_msg(s == GRAFT_OK, "%s: mf_write: %s", label, err);
    mf_model_free(&f);

    mf_model g;
    s = mf_read(path, &g, err, sizeof err);
    ck_assert_msg(s == GRAFT_OK, "%s: mf_read: %s", label, err);
    ck_assert_int_eq(g.has_state, 1);
    ck_assert_int_eq(g.epoch, 1);
    ck_assert_int_eq(g.step, 3);
    graft_model *b = NULL;
    ck_assert_int_eq(model_from_mf(ctx, &g, path, &b), GRAFT_OK);
    graft_optimizer *ob;
    ck_assert_int_eq(graft_optimizer_create(b, &op, &ob), GRAFT_OK);
    s = optimizer_from_mf(ob, &g, path);
    ck_assert_msg(s == GRAFT_OK, "%s: optimizer_from_mf: %s", label, graft_last_error(ctx));
    ck_assert_int_eq(graft_optimizer_steps(ob), 3);
    assert_same_params(a, b, label);

    /* State of the other optimizer kind is refused, naming the file. */
    graft_opt_params other = graft_opt_default_params(op.kind == GRAFT_OPT_SGD ? GRAFT_OPT_ADAMW
                                                                               : GRAFT_OPT_SGD);
    other.momentum = 0.9f;
    graft_optimizer *oc;
    ck_assert_int_eq(graft_optimizer_create(b, &other, &oc), GRAFT_OK);
    ck_assert_int_eq(optimizer_from_mf(oc, &g, path), GRAFT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(graft_last_error(ctx), path));
    graft_optimizer_free(oc);
    mf_model_free(&g);

    /* Two more steps each: resumed == uninterrupted, bit for bit. */
    train(a, oa, 3, 2);
    train(b, ob, 3, 2);
    ck_assert_int_eq(graft_optimizer_steps(oa), 5);
    ck_assert_int_eq(graft_optimizer_steps(ob), 5);
    ck_assert(graft_optimizer_current_lr(oa) == graft_optimizer_current_lr(ob));
    assert_same_params(a, b, label);

    graft_optimizer_free(oa);
    graft_optimizer_free(ob);
    graft_model_free(a);
    graft_model_free(b);
    graft_ctx_destroy(ctx);
    rm_tmpdir();
}

START_TEST(checkpoint_resume_sgd_momentum)
{
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    op.lr = 0.05f;
    op.momentum = 0.9f;
    op.nesterov = 1;
    op.weight_decay = 1e-3f;
    op.schedule = GRAFT_SCHED_COSINE;
    op.total_steps = 5;
    op.min_factor = 0.1f;
    checkpoint_resume(op, "sgd");
}
END_TEST

START_TEST(checkpoint_resume_adamw)
{
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_ADAMW);
    op.lr = 3e-3f;
    op.weight_decay = 0.01f;
    op.warmup_steps = 2;
    checkpoint_resume(op, "adamw");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model_io");
    TCase *tc = tcase_create("model_io");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, save_load_round_trip_is_bit_exact);
    tcase_add_test(tc, damaged_and_foreign_files_are_refused);
    tcase_add_test(tc, save_replaces_atomically);
    tcase_add_test(tc, non_finite_weights_are_not_saved);
    tcase_add_test(tc, checkpoint_resume_sgd_momentum);
    tcase_add_test(tc, checkpoint_resume_adamw);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
