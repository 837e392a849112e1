/* .graft container: bit-exact round trips, and refusal (never a crash) of
 * truncated, corrupted, foreign, future and hostile files. Host-only. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "layer_kind.h"
#include "modelfile.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* ---------------------------------------------------------------- helpers */

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    ck_assert_ptr_nonnull(p);
    return p;
}

static void add_node(mf_model *m, const char *name, graft_layer_kind k, int nin, const int *in)
{
    mf_node *nd = &m->nodes[m->nnodes];
    memset(nd, 0, sizeof *nd);
    snprintf(nd->name, sizeof nd->name, "%s", name);
    nd->spec = graft_layer_default(k);
    nd->ninputs = nin;
    for (int i = 0; i < nin; i++) nd->inputs[i] = in[i];
    m->nnodes++;
}

static void fill_tensor(tu_rng *r, mf_tensor *t, const char *name, int ndim, const int *shape)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    size_t n = mf_tensor_numel(t);
    t->data = malloc(n * sizeof(float));
    ck_assert_ptr_nonnull(t->data);
    tu_fill(r, t->data, n, -2, 2);
    for (size_t i = 0; i < n; i++)
        if (t->data[i] == 0) t->data[i] = 1e-30f; /* non-zero, and a denormal-ish extreme */
}

/* A small DAG that uses every layer kind once, with tensors, UTF-8 class
 * names and meta JSON; with state it is a checkpoint. */
static void make_model(mf_model *m, uint64_t seed, int with_state)
{
    tu_rng r = {seed};
    memset(m, 0, sizeof *m);
    snprintf(m->arch, sizeof m->arch, "custom");
    m->channels = 3;
    m->height = 8;
    m->width = 8;
    for (int c = 0; c < 3; c++) {
        m->mean[c] = 0.4f + 0.01f * c;
        m->std[c] = 0.2f + 0.03f * c;
    }
    m->nodes = calloc(16, sizeof *m->nodes);
    ck_assert_ptr_nonnull(m->nodes);
    int i0 = 0;
    add_node(m, "input", GRAFT_LAYER_INPUT, 0, NULL);
    m->nodes[0].spec.channels = 3;
    m->nodes[0].spec.height = 8;
    m->nodes[0].spec.width = 8;
    int x = 0;
    add_node(m, "conv", GRAFT_LAYER_CONV2D, 1, &i0);
    m->nodes[1].spec.channels = 4;
    m->nodes[1].spec.bias = 1;
    x = 1;
    add_node(m, "bn", GRAFT_LAYER_BATCHNORM2D, 1, &x);
    x = 2;
    add_node(m, "relu", GRAFT_LAYER_RELU, 1, &x);
    x = 3;
    add_node(m, "relu6", GRAFT_LAYER_RELU6, 1, &x);
    m->nodes[4].spec.groups = -3; /* unused field: negative values must survive */
    x = 4;
    add_node(m, "leaky", GRAFT_LAYER_LEAKY_RELU, 1, &x);
    m->nodes[5].spec.slope = 0.125f;
    int both[2] = {3, 5};
    add_node(m, "add", GRAFT_LAYER_ADD, 2, both);
    x = 6;
    add_node(m, "maxpool", GRAFT_LAYER_MAXPOOL2D, 1, &x);
    x = 6;
    add_node(m, "avgpool", GRAFT_LAYER_AVGPOOL2D, 1, &x);
    int cat[2] = {7, 8};
    add_node(m, "cat", GRAFT_LAYER_CONCAT, 2, cat);
    x = 9;
    add_node(m, "gap", GRAFT_LAYER_GLOBAL_AVGPOOL, 1, &x);
    x = 10;
    add_node(m, "flat", GRAFT_LAYER_FLATTEN, 1, &x);
    x = 11;
    add_node(m, "drop", GRAFT_LAYER_DROPOUT, 1, &x);
    m->nodes[12].spec.p = 0.3f;
    x = 12;
    add_node(m, "fc", GRAFT_LAYER_LINEAR, 1, &x);
    m->nodes[13].spec.channels = 4;

    static const char *classes[] = {"cat", "big dog", "caf\xc3\xa9 \xe2\x98\x95",
                                    "\xe6\x97\xa5\xe6\x9c\xac"};
    m->nclasses = 4;
    m->class_names = calloc(4, sizeof *m->class_names);
    ck_assert_ptr_nonnull(m->class_names);
    for (int i = 0; i < 4; i++) m->class_names[i] = xstrdup(classes[i]);

    static const struct {
        const char *name;
        int ndim, shape[4];
    } ts[] = {{"conv.weight", 4, {4, 3, 3, 3}}, {"conv.bias", 1, {4}},
              {"bn.weight", 1, {4}},           {"bn.bias", 1, {4}},
              {"bn.running_mean", 1, {4}},     {"bn.running_var", 1, {4}},
              {"fc.weight", 2, {4, 8}},        {"fc.bias", 1, {4}}};
    int nt = (int)(sizeof ts / sizeof ts[0]);
    m->tensors = calloc((size_t)nt, sizeof *m->tensors);
    ck_assert_ptr_nonnull(m->tensors);
    for (int i = 0; i < nt; i++) fill_tensor(&r, &m->tensors[i], ts[i].name, ts[i].ndim, ts[i].shape);
    m->ntensors = nt;
    m->meta_json = xstrdup("{\"lr\": 0.01, \"note\": \"\xc3\xbcn\xc3\xaf \\\"q\\\"\", \"acc\": [0.5, 0.75]}");

    if (with_state) {
        m->has_state = 1;
        m->epoch = 7;
        m->step = 12345678901LL;
        for (int i = 0; i < 4; i++) m->rng_state[i] = tu_next(&r) | 0x8000000000000000ULL;
        m->state = calloc(4, sizeof *m->state);
        ck_assert_ptr_nonnull(m->state);
        int s4[4] = {4, 3, 3, 3}, s1[1] = {4};
        fill_tensor(&r, &m->state[0], "conv.weight.m", 4, s4);
        fill_tensor(&r, &m->state[1], "conv.weight.v", 4, s4);
        fill_tensor(&r, &m->state[2], "conv.bias.m", 1, s1);
        fill_tensor(&r, &m->state[3], "conv.bias.v", 1, s1);
        m->nstate = 4;
    }
}

static void assert_tensors_equal(const mf_tensor *a, const mf_tensor *b, int n)
{
    for (int i = 0; i < n; i++) {
        ck_assert_str_eq(a[i].name, b[i].name);
        ck_assert_int_eq(a[i].ndim, b[i].ndim);
        for (int d = 0; d < a[i].ndim; d++) ck_assert_int_eq(a[i].shape[d], b[i].shape[d]);
        /* bit-exact, not merely equal as floats */
        ck_assert(memcmp(a[i].data, b[i].data, mf_tensor_numel(&a[i]) * sizeof(float)) == 0);
    }
}

static void assert_models_equal(const mf_model *a, const mf_model *b)
{
    ck_assert_str_eq(a->arch, b->arch);
    ck_assert_int_eq(a->channels, b->channels);
    ck_assert_int_eq(a->height, b->height);
    ck_assert_int_eq(a->width, b->width);
    ck_assert(memcmp(a->mean, b->mean, sizeof a->mean) == 0);
    ck_assert(memcmp(a->std, b->std, sizeof a->std) == 0);
    ck_assert_int_eq(a->nnodes, b->nnodes);
    for (int i = 0; i < a->nnodes; i++) {
        const mf_node *x = &a->nodes[i], *y = &b->nodes[i];
        ck_assert_str_eq(x->name, y->name);
        ck_assert_int_eq(x->spec.kind, y->spec.kind);
        ck_assert_int_eq(x->spec.channels, y->spec.channels);
        ck_assert_int_eq(x->spec.height, y->spec.height);
        ck_assert_int_eq(x->spec.width, y->spec.width);
        ck_assert_int_eq(x->spec.kernel, y->spec.kernel);
        ck_assert_int_eq(x->spec.stride, y->spec.stride);
        ck_assert_int_eq(x->spec.pad, y->spec.pad);
        ck_assert_int_eq(x->spec.dilation, y->spec.dilation);
        ck_assert_int_eq(x->spec.groups, y->spec.groups);
        ck_assert_int_eq(x->spec.bias, y->spec.bias);
        ck_assert(memcmp(&x->spec.eps, &y->spec.eps, sizeof(float)) == 0);
        ck_assert(memcmp(&x->spec.momentum, &y->spec.momentum, sizeof(float)) == 0);
        ck_assert(memcmp(&x->spec.slope, &y->spec.slope, sizeof(float)) == 0);
        ck_assert(memcmp(&x->spec.p, &y->spec.p, sizeof(float)) == 0);
        ck_assert_int_eq(x->spec.kernel_h, y->spec.kernel_h);
        ck_assert_int_eq(x->spec.kernel_w, y->spec.kernel_w);
        ck_assert_int_eq(x->spec.pad_top, y->spec.pad_top);
        ck_assert_int_eq(x->spec.pad_left, y->spec.pad_left);
        ck_assert_int_eq(x->spec.pad_bottom, y->spec.pad_bottom);
        ck_assert_int_eq(x->spec.pad_right, y->spec.pad_right);
        ck_assert_int_eq(x->spec.ceil_mode, y->spec.ceil_mode);
        ck_assert_int_eq(x->spec.exclude_pad, y->spec.exclude_pad);
        ck_assert_int_eq(x->ninputs, y->ninputs);
        for (int j = 0; j < x->ninputs; j++) ck_assert_int_eq(x->inputs[j], y->inputs[j]);
    }
    ck_assert_int_eq(a->nclasses, b->nclasses);
    for (int i = 0; i < a->nclasses; i++) ck_assert_str_eq(a->class_names[i], b->class_names[i]);
    ck_assert_int_eq(a->ntensors, b->ntensors);
    assert_tensors_equal(a->tensors, b->tensors, a->ntensors);
    ck_assert_int_eq(a->has_state, b->has_state);
    if (a->has_state) {
        ck_assert(a->epoch == b->epoch && a->step == b->step);
        ck_assert(memcmp(a->rng_state, b->rng_state, sizeof a->rng_state) == 0);
        ck_assert_int_eq(a->nstate, b->nstate);
        assert_tensors_equal(a->state, b->state, a->nstate);
    }
    ck_assert_int_eq(!a->meta_json, !b->meta_json);
    if (a->meta_json) ck_assert_str_eq(a->meta_json, b->meta_json);
}

static void serialize(const mf_model *m, unsigned char **buf, size_t *n)
{
    char err[512] = "";
    graft_status s = mf_serialize(m, buf, n, err, sizeof err);
    ck_assert_msg(s == GRAFT_OK, "serialize: %s", err);
}

/* Parses a private exact-size copy so that ASan sees any over-read. */
static graft_status parse_copy(const unsigned char *buf, size_t n, char *err, size_t errlen)
{
    if (n > ((size_t)1 << 30)) return GRAFT_ERR_INVALID_ARG; /* test sizes are small */
    unsigned char *c = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(c);
    if (n) memcpy(c, buf, n);
    mf_model m;
    graft_status s = mf_parse(c, n, &m, err, errlen);
    if (s == GRAFT_OK) mf_model_free(&m);
    free(c);
    return s;
}

static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static void set_le32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static void set_le64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static void fix_crc(unsigned char *buf, size_t n)
{
    set_le32(buf + n - 4, (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)(n - 4)));
}
/* Offset of the payload of section tag (its length goes to *len). */
static size_t find_section(const unsigned char *buf, size_t n, const char *tag, size_t *len)
{
    size_t off = 24;
    while (off + 12 <= n - 4) {
        uint64_t l = (uint64_t)le32(buf + off + 4) | (uint64_t)le32(buf + off + 8) << 32;
        if (memcmp(buf + off, tag, 4) == 0) {
            *len = (size_t)l;
            return off + 12;
        }
        off += 12 + (size_t)l;
    }
    ck_abort_msg("section %s not found", tag);
    return 0;
}

static char *make_tmpdir(void)
{
    char *d = xstrdup("/tmp/graft_mf_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}
static void rm_tmpdir(char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

/* ------------------------------------------------------------------ tests */

START_TEST(test_roundtrip_model)
{
    mf_model a, b;
    make_model(&a, 1, 0);
    unsigned char *buf, *buf2;
    size_t n, n2;
    serialize(&a, &buf, &n);
    char err[512] = "";
    ck_assert_msg(mf_parse(buf, n, &b, err, sizeof err) == GRAFT_OK, "%s", err);
    assert_models_equal(&a, &b);
    ck_assert(!b.has_state && b.nstate == 0 && b.state == NULL);
    /* re-encoding is byte-identical: the format has no hidden state */
    serialize(&b, &buf2, &n2);
    ck_assert_uint_eq(n, n2);
    ck_assert(memcmp(buf, buf2, n) == 0);
    free(buf);
    free(buf2);
    mf_model_free(&a);
    mf_model_free(&b);
}
END_TEST

START_TEST(test_roundtrip_checkpoint_file)
{
    char *dir = make_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/ck.graft", dir);
    mf_model a, b;
    make_model(&a, 2, 1);
    char err[512] = "";
    ck_assert_msg(mf_write(&a, path, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert_msg(mf_read(path, &b, err, sizeof err) == GRAFT_OK, "%s", err);
    assert_models_equal(&a, &b);
    ck_assert_int_eq(count_entries(dir), 1);
    mf_model_free(&a);
    mf_model_free(&b);
    /* no meta JSON, no classes: both optional in content */
    make_model(&a, 3, 1);
    free(a.meta_json);
    a.meta_json = NULL;
    for (int i = 0; i < a.nclasses; i++) free(a.class_names[i]);
    free(a.class_names);
    a.class_names = NULL;
    a.nclasses = 0;
    ck_assert_msg(mf_write(&a, path, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert_msg(mf_read(path, &b, err, sizeof err) == GRAFT_OK, "%s", err);
    assert_models_equal(&a, &b);
    ck_assert_ptr_null(b.meta_json);
    mf_model_free(&a);
    mf_model_free(&b);
    rm_tmpdir(dir);
}
END_TEST

/* Kind names in files are those of graft_layer_kind_name. */
START_TEST(test_kind_names_match_layer)
{
    mf_model a;
    make_model(&a, 4, 0);
    /* Kinds make_model does not use (ones added later): a node each. */
    for (int k = 1; k < GRAFT_LAYER_KIND_COUNT; k++) {
        int used = 0;
        for (int i = 0; i < a.nnodes; i++) used |= a.nodes[i].spec.kind == (graft_layer_kind)k;
        const layer_kind *kd = layer_kind_of((graft_layer_kind)k);
        ck_assert_ptr_nonnull(kd);
        if (used) continue;
        mf_node *nodes = realloc(a.nodes, (size_t)(a.nnodes + 1) * sizeof *nodes);
        ck_assert_ptr_nonnull(nodes);
        a.nodes = nodes;
        int ins[MF_MAX_INPUTS] = {0}, nin = kd->min_inputs;
        for (int j = 0; j < nin; j++) ins[j] = a.nnodes - 1;
        char nm[16];
        snprintf(nm, sizeof nm, "kind%d", k);
        add_node(&a, nm, (graft_layer_kind)k, nin, ins);
    }
    unsigned char *buf;
    size_t n;
    serialize(&a, &buf, &n);
    for (int k = 0; k < GRAFT_LAYER_KIND_COUNT; k++) {
        const char *name = graft_layer_kind_name((graft_layer_kind)k);
        ck_assert_ptr_nonnull(name);
        size_t l = strlen(name);
        unsigned char pat[40];
        set_le32(pat, (uint32_t)l);
        memcpy(pat + 4, name, l);
        int found = 0;
        for (size_t i = 0; i + 4 + l <= n && !found; i++) found = memcmp(buf + i, pat, 4 + l) == 0;
        ck_assert_msg(found, "kind '%s' not encoded by name", name);
    }
    free(buf);
    mf_model_free(&a);
}
END_TEST

START_TEST(test_truncated_every_length)
{
    mf_model a;
    make_model(&a, 5, 1);
    unsigned char *buf;
    size_t n;
    serialize(&a, &buf, &n);
    char err[512];
    for (size_t len = 0; len < n; len++) {
        err[0] = '\0';
        graft_status s = parse_copy(buf, len, err, sizeof err);
        ck_assert_msg(s == GRAFT_ERR_FORMAT, "length %zu accepted (%d)", len, s);
        if (len > 0) ck_assert_msg(strstr(err, "truncated"), "length %zu: %s", len, err);
    }
    /* the size is spelled out */
    parse_copy(buf, n - 10, err, sizeof err);
    char want[128];
    snprintf(want, sizeof want, "expected %zu bytes, file has %zu", n, n - 10);
    ck_assert_msg(strstr(err, want), "%s", err);
    free(buf);
    mf_model_free(&a);
}
END_TEST

START_TEST(test_truncated_files)
{
    char *dir = make_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/t.graft", dir);
    mf_model a, b;
    make_model(&a, 6, 1);
    char err[512];
    ck_assert(mf_write(&a, path, err, sizeof err) == GRAFT_OK);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    for (off_t len = st.st_size - 1; len >= 0; len -= 37) {
        ck_assert_int_eq(truncate(path, len), 0);
        err[0] = '\0';
        graft_status s = mf_read(path, &b, err, sizeof err);
        ck_assert_msg(s == GRAFT_ERR_FORMAT, "length %ld accepted", (long)len);
        ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "message lacks the path: %s", err);
    }
    /* missing file: an I/O error naming it */
    unlink(path);
    ck_assert_int_eq(mf_read(path, &b, err, sizeof err), GRAFT_ERR_IO);
    ck_assert_msg(strstr(err, path) && strstr(err, "No such file"), "%s", err);
    mf_model_free(&a);
    rm_tmpdir(dir);
}
END_TEST

START_TEST(test_bit_flips)
{
    mf_model a;
    make_model(&a, 7, 1);
    unsigned char *buf;
    size_t n;
    serialize(&a, &buf, &n);
    char err[512];
    for (size_t pos = 0; pos < n; pos++) {
        buf[pos] ^= (unsigned char)(1u << (pos % 8));
        err[0] = '\0';
        graft_status s = parse_copy(buf, n, err, sizeof err);
        ck_assert_msg(s == GRAFT_ERR_FORMAT, "flip at %zu accepted", pos);
        if (pos >= 24) ck_assert_msg(strstr(err, "checksum mismatch"), "pos %zu: %s", pos, err);
        buf[pos] ^= (unsigned char)(1u << (pos % 8));
    }
    ck_assert_int_eq(parse_copy(buf, n, err, sizeof err), GRAFT_OK);
    free(buf);
    mf_model_free(&a);
}
END_TEST

START_TEST(test_bad_magic)
{
    mf_model a;
    make_model(&a, 8, 0);
    unsigned char *buf;
    size_t n;
    serialize(&a, &buf, &n);
    char err[512];
    buf[7] = 'X';
    ck_assert_int_eq(parse_copy(buf, n, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "not a graft model file"), "%s", err);
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0};
    ck_assert_int_eq(parse_copy(png, sizeof png, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "not a graft model file"), "%s", err);
    ck_assert_int_eq(parse_copy((const unsigned char *)"GR", 2, err, sizeof err),
                     GRAFT_ERR_FORMAT);
    ck_assert_int_eq(parse_copy(NULL, 0, err, sizeof err), GRAFT_ERR_FORMAT);
    free(buf);
    mf_model_free(&a);
}
END_TEST

START_TEST(test_future_version)
{
    mf_model a;
    make_model(&a, 9, 0);
    unsigned char *buf;
    size_t n;
    serialize(&a, &buf, &n);
    char err[512];
    set_le32(buf + 8, 2);
    fix_crc(buf, n);
    ck_assert_int_eq(parse_copy(buf, n, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "version 2") && strstr(err, "version 1") && strstr(err, "newer"),
                  "%s", err);
    set_le32(buf + 8, 0);
    fix_crc(buf, n);
    ck_assert_int_eq(parse_copy(buf, n, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "unsupported format version 0"), "%s", err);
    /* unknown flag bits are refused too */
    set_le32(buf + 8, 1);
    set_le32(buf + 12, 6);
    fix_crc(buf, n);
    ck_assert_int_eq(parse_copy(buf, n, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "flags"), "%s", err);
    free(buf);
    mf_model_free(&a);
}
END_TEST

START_TEST(test_atomic_write)
{
    char *dir = make_tmpdir();
    char path[512], bad[600];
    snprintf(path, sizeof path, "%s/m.graft", dir);
    snprintf(bad, sizeof bad, "%s/no/such/dir/m.graft", dir);
    mf_model a, b, c;
    make_model(&a, 10, 0);
    make_model(&b, 11, 1);
    char err[512];
    ck_assert_int_eq(mf_write(&a, bad, err, sizeof err), GRAFT_ERR_IO);
    ck_assert_msg(strstr(err, bad) && strstr(err, "No such file"), "%s", err);
    ck_assert_int_eq(access(bad, F_OK), -1);
    ck_assert_int_eq(count_entries(dir), 0);

    ck_assert(mf_write(&a, path, err, sizeof err) == GRAFT_OK);
    ck_assert(mf_write(&b, path, err, sizeof err) == GRAFT_OK);
    ck_assert_msg(mf_read(path, &c, err, sizeof err) == GRAFT_OK, "%s", err);
    assert_models_equal(&b, &c);
    mf_model_free(&c);
    ck_assert_int_eq(count_entries(dir), 1); /* no temp files left */

    /* an invalid model is refused before anything touches the old file */
    b.tensors[0].data[3] = NAN;
    ck_assert_int_eq(mf_write(&b, path, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, path) && strstr(err, "conv.weight") && strstr(err, "NaN"), "%s",
                  err);
    b.tensors[0].data[3] = 1;
    ck_assert(mf_read(path, &c, err, sizeof err) == GRAFT_OK);
    ck_assert_int_eq(c.has_state, 1);
    mf_model_free(&c);
    ck_assert_int_eq(count_entries(dir), 1);
    mf_model_free(&a);
    mf_model_free(&b);
    rm_tmpdir(dir);
}
END_TEST

/* Keeps this (forked) test process from allocating much: a parser that
 * trusted a declared count would fail with HOST_MEMORY instead of FORMAT.
 * ASan reserves huge address ranges, so there the limit is skipped and a
 * giant allocation would be caught by ASan itself. */
static void limit_memory(void)
{
#ifndef UNDER_ASAN
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1) pages = 0;
        fclose(f);
    }
    if (pages) {
        rlim_t cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE);
        struct rlimit rl = {cur + (64u << 20), cur + (64u << 20)};
        ck_assert_int_eq(setrlimit(RLIMIT_AS, &rl), 0);
    }
#endif
}

static void expect_refused(const unsigned char *buf, size_t n, const char *want)
{
    char err[512] = "";
    graft_status s = parse_copy(buf, n, err, sizeof err);
    ck_assert_msg(s == GRAFT_ERR_FORMAT, "status %d: %s", s, err);
    ck_assert_msg(strstr(err, want), "expected '%s' in: %s", want, err);
}

/* Whether the encoded model has section tag. */
static int has_section(const unsigned char *buf, size_t n, const char *tag)
{
    for (size_t off = 24; off + 12 <= n - 4;) {
        if (memcmp(buf + off, tag, 4) == 0) return 1;
        off += 12 + (size_t)((uint64_t)le32(buf + off + 4) | (uint64_t)le32(buf + off + 8) << 32);
    }
    return 0;
}

/* Non-square windows, per-side pads and pool rounding travel in the GEOM
 * section, written only when a node uses them (files without them are
 * encoded as before); hostile GEOM entries are refused. */
START_TEST(test_geometry_section)
{
    mf_model a, b;
    make_model(&a, 3, 0);
    unsigned char *buf, *buf2;
    size_t n, n2;
    serialize(&a, &buf, &n);
    ck_assert(!has_section(buf, n, "GEOM"));
    free(buf);
    a.nodes[1].spec.kernel_h = 1;
    a.nodes[1].spec.kernel_w = 5;
    a.nodes[1].spec.pad_left = a.nodes[1].spec.pad_right = 2;
    a.nodes[7].spec.ceil_mode = 1;
    a.nodes[8].spec.exclude_pad = 1;
    a.nodes[8].spec.pad_bottom = 1;
    a.nodes[8].spec.pad_top = -2; /* values pass through; layers check them */
    serialize(&a, &buf, &n);
    ck_assert(has_section(buf, n, "GEOM"));
    char err[512] = "";
    ck_assert_msg(mf_parse(buf, n, &b, err, sizeof err) == GRAFT_OK, "%s", err);
    assert_models_equal(&a, &b);
    serialize(&b, &buf2, &n2);
    ck_assert(n == n2 && memcmp(buf, buf2, n) == 0);
    free(buf2);
    mf_model_free(&b);
    ck_assert_int_eq(mf_check_compatible(&a, &a, err, sizeof err), GRAFT_OK);
    /* Entries: count 3, then node 1's, node 7's, node 8's (4 + 8 * 4 bytes each). */
    size_t len, g = find_section(buf, n, "GEOM", &len);
    ck_assert_uint_eq(len, 4 + 3 * 36);
    ck_assert_uint_eq(le32(buf + g), 3);
    ck_assert_uint_eq(le32(buf + g + 4), 1);
    unsigned char *c = malloc(n);
    ck_assert_ptr_nonnull(c);
    memcpy(c, buf, n);
    set_le32(c + g + 4, 99);
    fix_crc(c, n);
    expect_refused(c, n, "no such node");
    memcpy(c, buf, n);
    set_le32(c + g + 4 + 36, 1); /* node 1 twice */
    fix_crc(c, n);
    expect_refused(c, n, "again");
    memcpy(c, buf, n);
    set_le32(c + g, 1000); /* more entries than nodes */
    fix_crc(c, n);
    expect_refused(c, n, "GEOM");
    free(c);
    free(buf);
    mf_model_free(&a);
}
END_TEST

START_TEST(test_hostile_counts)
{
    mf_model a;
    make_model(&a, 12, 1);
    unsigned char *buf;
    size_t n, len;
    serialize(&a, &buf, &n);
    unsigned char *w = malloc(n);
    ck_assert_ptr_nonnull(w);
    limit_memory();

    size_t tens = find_section(buf, n, "TENS", &len);
    uint32_t counts[] = {999999, 0x7fffffff, 0xffffffff};
    for (int i = 0; i < 3; i++) {
        memcpy(w, buf, n);
        set_le32(w + tens, counts[i]);
        fix_crc(w, n);
        expect_refused(w, n, i == 0 ? "cannot fit" : "exceeds the limit");
    }
    /* first tensor "conv.weight" 4x3x3x3: make it 2^31-1 x ... with a
     * matching element count but no data behind it */
    size_t t0 = tens + 4 + 4 + strlen("conv.weight");
    memcpy(w, buf, n);
    set_le32(w + t0, 1);
    set_le32(w + t0 + 4, 0x7fffffff);
    set_le64(w + t0 + 8, 0x7fffffff);
    fix_crc(w, n);
    expect_refused(w, n, "needs 8589934588 bytes");
    /* element count that disagrees with the shape */
    memcpy(w, buf, n);
    set_le64(w + t0 + 4 + 16, 109);
    fix_crc(w, n);
    expect_refused(w, n, "declares 109 elements but its shape 4x3x3x3 has 108");
    /* a huge name length */
    memcpy(w, buf, n);
    set_le32(w + tens + 4, 0xfffffff0u);
    fix_crc(w, n);
    expect_refused(w, n, "tensor name");

    size_t arch = find_section(buf, n, "ARCH", &len);
    size_t nn = arch + 4 + strlen("custom") + 12 + 32;
    ck_assert_uint_eq(le32(buf + nn), 14);
    memcpy(w, buf, n);
    set_le32(w + nn, 99999);
    fix_crc(w, n);
    expect_refused(w, n, "node count 99999 cannot fit");
    /* a section length beyond the file */
    memcpy(w, buf, n);
    set_le64(w + arch - 8, 0x7fffffffffffffffULL);
    fix_crc(w, n);
    expect_refused(w, n, "bad section 'ARCH'");

    size_t clas = find_section(buf, n, "CLAS", &len);
    memcpy(w, buf, n);
    set_le32(w + clas, 1000000);
    fix_crc(w, n);
    expect_refused(w, n, "class count 1000000 cannot fit");

    size_t stat = find_section(buf, n, "STAT", &len);
    memcpy(w, buf, n);
    set_le32(w + stat + 48, 0x40000000);
    fix_crc(w, n);
    expect_refused(w, n, "exceeds the limit");

    free(w);
    free(buf);
    mf_model_free(&a);
}
END_TEST

START_TEST(test_bad_content)
{
    mf_model a;
    make_model(&a, 13, 0);
    unsigned char *buf;
    size_t n, len;
    serialize(&a, &buf, &n);
    unsigned char *w = malloc(n);
    ck_assert_ptr_nonnull(w);

    /* the last thing in ARCH is fc's only input (node 12): point it at
     * itself, then at a node that does not exist */
    size_t arch = find_section(buf, n, "ARCH", &len);
    ck_assert_uint_eq(le32(buf + arch + len - 4), 12);
    memcpy(w, buf, n);
    set_le32(w + arch + len - 4, 13);
    fix_crc(w, n);
    expect_refused(w, n, "node 'fc' input 0 refers to node 13 'fc', which does not come before");
    set_le32(w + arch + len - 4, 40);
    fix_crc(w, n);
    expect_refused(w, n, "refers to node 40, which does not exist");

    /* the last float of TENS (fc.bias[3]) becomes NaN, then +inf */
    size_t tens = find_section(buf, n, "TENS", &len);
    memcpy(w, buf, n);
    set_le32(w + tens + len - 4, 0x7fc00000u);
    fix_crc(w, n);
    expect_refused(w, n, "tensor 'fc.bias': 1 of 4 values are NaN or infinite");
    set_le32(w + tens + len - 4, 0x7f800000u);
    fix_crc(w, n);
    expect_refused(w, n, "NaN or infinite");

    /* an unknown section tag */
    memcpy(w, buf, n);
    memcpy(w + tens - 12, "TENZ", 4);
    fix_crc(w, n);
    expect_refused(w, n, "unknown 'TENZ'");
    /* a repeated section: rename CLAS to ARCH */
    size_t clas = find_section(buf, n, "CLAS", &len);
    memcpy(w, buf, n);
    memcpy(w + clas - 12, "ARCH", 4);
    fix_crc(w, n);
    expect_refused(w, n, "repeated 'ARCH'");
    /* checkpoint flag without a STAT section */
    memcpy(w, buf, n);
    set_le32(w + 12, 1);
    fix_crc(w, n);
    expect_refused(w, n, "no STAT section");
    /* unknown layer kind name: "conv2d" -> "conv3d" */
    memcpy(w, buf, n);
    unsigned char *k = NULL;
    for (size_t i = 0; i + 6 <= n && !k; i++)
        if (memcmp(w + i, "conv2d", 6) == 0) k = w + i;
    ck_assert_ptr_nonnull(k);
    k[4] = '3';
    fix_crc(w, n);
    expect_refused(w, n, "unknown layer kind 'conv3d'");

    /* the writer applies the same rules */
    char err[512];
    unsigned char *out;
    size_t on;
    snprintf(a.nodes[2].name, sizeof a.nodes[2].name, "conv");
    ck_assert_int_eq(mf_serialize(&a, &out, &on, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "duplicate node name 'conv'"), "%s", err);
    ck_assert_ptr_null(out);
    snprintf(a.nodes[2].name, sizeof a.nodes[2].name, "bn");
    a.tensors[1].shape[0] = 0;
    ck_assert_int_eq(mf_serialize(&a, &out, &on, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "tensor 'conv.bias': dimension 0 is 0"), "%s", err);
    a.tensors[1].shape[0] = 4;
    a.nodes[6].ninputs = 1;
    ck_assert_int_eq(mf_serialize(&a, &out, &on, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "node 'add' (add) has 1 inputs"), "%s", err);
    a.nodes[6].ninputs = 2;
    a.std[1] = 0;
    ck_assert_int_eq(mf_serialize(&a, &out, &on, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "channel 1 normalisation"), "%s", err);
    a.std[1] = 0.5f;
    ck_assert_int_eq(mf_serialize(&a, &out, &on, err, sizeof err), GRAFT_OK);
    free(out);

    free(w);
    free(buf);
    mf_model_free(&a);
}
END_TEST

START_TEST(test_compatible)
{
    mf_model a, b;
    make_model(&a, 14, 0);
    make_model(&b, 15, 1); /* other weights, has state: still compatible */
    char err[512] = "";
    ck_assert_msg(mf_check_compatible(&a, &b, err, sizeof err) == GRAFT_OK, "%s", err);
    b.nodes[1].spec.kernel = 5;
    ck_assert_int_eq(mf_check_compatible(&a, &b, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "node 'conv' (conv2d): kernel 3 vs 5"), "%s", err);
    b.nodes[1].spec.kernel = 3;
    b.tensors[6].shape[0] = 10;
    ck_assert_int_eq(mf_check_compatible(&a, &b, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "tensor 'fc.weight': shape 4x8 vs 10x8"), "%s", err);
    b.tensors[6].shape[0] = 4;
    b.ntensors--; /* fc.bias missing */
    ck_assert_int_eq(mf_check_compatible(&a, &b, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "'fc.bias'"), "%s", err);
    b.ntensors++;
    b.nodes[13].inputs[0] = 11;
    ck_assert_int_eq(mf_check_compatible(&a, &b, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "node 'fc': input 0 is node 12 vs node 11"), "%s", err);
    b.nodes[13].inputs[0] = 12;
    snprintf(b.arch, sizeof b.arch, "resnet18");
    ck_assert_int_eq(mf_check_compatible(&a, &b, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "'custom' vs 'resnet18'"), "%s", err);
    mf_model_free(&a);
    mf_model_free(&b);
}
END_TEST

/* Random byte edits with a repaired checksum reach the section decoders;
 * any outcome but a crash or an over-read (ASan) is fine, and an accepted
 * file must be a valid model. */
START_TEST(test_mutations_with_valid_crc)
{
    mf_model a;
    make_model(&a, 16, 1);
    unsigned char *buf;
    size_t n;
    serialize(&a, &buf, &n);
    tu_rng r = {99};
    char err[512];
    int refused = 0;
    for (int it = 0; it < 4000; it++) {
        size_t len = n;
        unsigned char *w = malloc(n);
        ck_assert_ptr_nonnull(w);
        memcpy(w, buf, n);
        int edits = 1 + (int)(tu_next(&r) % 4);
        for (int e = 0; e < edits; e++) {
            size_t pos = 24 + (size_t)(tu_next(&r) % (n - 28));
            uint64_t v = tu_next(&r);
            w[pos] = (v & 3) == 0 ? 0xff : (v & 3) == 1 ? 0 : (unsigned char)(v >> 8);
        }
        if (it % 3 == 0) { /* also cut the body short, keeping the header honest */
            len = 28 + (size_t)(tu_next(&r) % (n - 28));
            set_le64(w + 16, len);
        }
        fix_crc(w, len);
        unsigned char *exact = malloc(len); /* so ASan sees reads past len */
        ck_assert_ptr_nonnull(exact);
        memcpy(exact, w, len);
        mf_model m;
        graft_status s = mf_parse(exact, len, &m, err, sizeof err);
        free(exact);
        ck_assert_msg(s == GRAFT_OK || s == GRAFT_ERR_FORMAT, "status %d: %s", s, err);
        if (s == GRAFT_OK) {
            ck_assert_int_eq(mf_validate(&m, err, sizeof err), GRAFT_OK);
            mf_model_free(&m);
        } else {
            refused++;
        }
        free(w);
    }
    ck_assert_int_gt(refused, 1000);
    free(buf);
    mf_model_free(&a);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("modelfile");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_roundtrip_model);
    tcase_add_test(tc, test_roundtrip_checkpoint_file);
    tcase_add_test(tc, test_geometry_section);
    tcase_add_test(tc, test_kind_names_match_layer);
    tcase_add_test(tc, test_truncated_every_length);
    tcase_add_test(tc, test_truncated_files);
    tcase_add_test(tc, test_bit_flips);
    tcase_add_test(tc, test_bad_magic);
    tcase_add_test(tc, test_future_version);
    tcase_add_test(tc, test_atomic_write);
    tcase_add_test(tc, test_hostile_counts);
    tcase_add_test(tc, test_bad_content);
    tcase_add_test(tc, test_compatible);
    tcase_add_test(tc, test_mutations_with_valid_crc);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run(suite()); }
