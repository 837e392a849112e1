/* .graft container: validation, encoding, a bounds-checked decoder, atomic
 * file I/O and architecture comparison. Host-only (no OpenCL). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "error.h"
#include "fileutil.h"
#include "layer_kind.h"
#include "modelfile.h"

#define HEADER_BYTES 24u
#define MIN_FILE_BYTES (HEADER_BYTES + 4u)
/* Smallest encodings, used to reject counts that cannot fit in what is
 * left before allocating anything for them. */
#define MIN_NODE_BYTES (4 + 1 + 4 + 3 + 9 * 4 + 4 * 4 + 4)
#define MIN_TENSOR_BYTES (4 + 1 + 4 + 4 + 8 + 4)
#define MIN_CLASS_BYTES (4 + 1)
/* Refuse to slurp absurd files; a large CNN checkpoint is well below. */
#define MF_MAX_FILE_BYTES ((size_t)(SIZE_MAX > 0xffffffffu ? (size_t)1 << 36 : 0x7fffffffu))

/* Layer spec fields in their encoded order. */
static const struct {
    const char *name;
    size_t off;
} spec_ints[] = {
    {"channels", offsetof(graft_layer_spec, channels)},
    {"height", offsetof(graft_layer_spec, height)},
    {"width", offsetof(graft_layer_spec, width)},
    {"kernel", offsetof(graft_layer_spec, kernel)},
    {"stride", offsetof(graft_layer_spec, stride)},
    {"pad", offsetof(graft_layer_spec, pad)},
    {"dilation", offsetof(graft_layer_spec, dilation)},
    {"groups", offsetof(graft_layer_spec, groups)},
    {"bias", offsetof(graft_layer_spec, bias)},
}, spec_floats[] = {
    {"eps", offsetof(graft_layer_spec, eps)},
    {"momentum", offsetof(graft_layer_spec, momentum)},
    {"slope", offsetof(graft_layer_spec, slope)},
    {"p", offsetof(graft_layer_spec, p)},
};
#define N_SPEC_INTS (sizeof spec_ints / sizeof spec_ints[0])

/* Window fields that came after the ARCH layout (non-square kernels,
 * per-side pads, pool rounding): stored in a GEOM section for the nodes
 * where one is nonzero, so a file without them is what it always was and
 * an older graft refuses (unknown section) only files it would misread. */
static const struct {
    const char *name;
    size_t off;
} spec_geom[] = {
    {"kernel_h", offsetof(graft_layer_spec, kernel_h)},
    {"kernel_w", offsetof(graft_layer_spec, kernel_w)},
    {"pad_top", offsetof(graft_layer_spec, pad_top)},
    {"pad_left", offsetof(graft_layer_spec, pad_left)},
    {"pad_bottom", offsetof(graft_layer_spec, pad_bottom)},
    {"pad_right", offsetof(graft_layer_spec, pad_right)},
    {"ceil_mode", offsetof(graft_layer_spec, ceil_mode)},
    {"exclude_pad", offsetof(graft_layer_spec, exclude_pad)},
};
#define N_SPEC_GEOM (sizeof spec_geom / sizeof spec_geom[0])
#define MIN_GEOM_BYTES (4 + N_SPEC_GEOM * 4)

static int *geom_int(graft_layer_spec *s, size_t i) { return (int *)((char *)s + spec_geom[i].off); }
static int geom_int_c(const graft_layer_spec *s, size_t i)
{
    int v;
    memcpy(&v, (const char *)s + spec_geom[i].off, sizeof v);
    return v;
}
static int has_geom(const graft_layer_spec *s)
{
    for (size_t f = 0; f < N_SPEC_GEOM; f++)
        if (geom_int_c(s, f)) return 1;
    return 0;
}
#define N_SPEC_FLOATS (sizeof spec_floats / sizeof spec_floats[0])

static int *spec_int(graft_layer_spec *s, size_t i) { return (int *)((char *)s + spec_ints[i].off); }
static int spec_int_c(const graft_layer_spec *s, size_t i)
{
    int v;
    memcpy(&v, (const char *)s + spec_ints[i].off, sizeof v);
    return v;
}
static float *spec_float(graft_layer_spec *s, size_t i)
{
    return (float *)((char *)s + spec_floats[i].off);
}
static float spec_float_c(const graft_layer_spec *s, size_t i)
{
    float v;
    memcpy(&v, (const char *)s + spec_floats[i].off, sizeof v);
    return v;
}

/* Kind names and arity come from the kinds' descriptors (layer_kind.h,
 * host-only): the name is what the file stores. */
static const char *kind_name(graft_layer_kind k)
{
    const layer_kind *d = layer_kind_of(k);
    return d ? d->name : "?";
}

/* ------------------------------------------------------------ model basics */

static void free_tensors(mf_tensor *t, int n)
{
    if (!t) return;
    for (int i = 0; i < n; i++) free(t[i].data);
    free(t);
}

void mf_model_free(mf_model *m)
{
    if (!m) return;
    free(m->nodes);
    if (m->class_names) {
        for (int i = 0; i < m->nclasses; i++) free(m->class_names[i]);
        free(m->class_names);
    }
    free_tensors(m->tensors, m->ntensors);
    free_tensors(m->state, m->nstate);
    free(m->meta_json);
    memset(m, 0, sizeof *m);
}

size_t mf_tensor_numel(const mf_tensor *t)
{
    if (t->ndim < 1 || t->ndim > GRAFT_MAX_DIMS) return 0;
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 1 || n > SIZE_MAX / sizeof(float) / (size_t)t->shape[d]) return 0;
        n *= (size_t)t->shape[d];
    }
    return n;
}

static const char *shape_str(const mf_tensor *t, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int d = 0; d < t->ndim && d < GRAFT_MAX_DIMS && o < len; d++)
        o += (size_t)snprintf(buf + o, len - o, d ? "x%d" : "%d", t->shape[d]);
    return buf;
}

/* ------------------------------------------------------------- validation */

static int name_ok(const char *s, size_t cap)
{
    size_t l = strnlen(s, cap);
    return l > 0 && l < cap;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Finds a repeated name in O(n log n) (a fuzzer feeds huge counts). The
 * names are at base + i*stride, or pointed to from there when indirect. */
static graft_status check_unique(const char *what, const void *base, size_t stride, int n,
                                 int indirect, char *err, size_t errlen)
{
    if (n < 2) return GRAFT_OK;
    const char **v = malloc((size_t)n * sizeof *v);
    if (!v) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    for (int i = 0; i < n; i++) {
        const char *p = (const char *)base + (size_t)i * stride;
        v[i] = indirect ? *(const char *const *)(const void *)p : p;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_str);
    graft_status s = GRAFT_OK;
    for (int i = 1; i < n; i++)
        if (strcmp(v[i - 1], v[i]) == 0) {
            s = error_set(err, errlen, GRAFT_ERR_FORMAT, "duplicate %s name '%s'", what, v[i]);
            break;
        }
    free(v);
    return s;
}

static graft_status validate_tensors(const char *what, const mf_tensor *t, int n, char *err,
                                     size_t errlen)
{
    if (n < 0 || n > MF_MAX_TENSORS || (n > 0 && !t))
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "bad %s count %d", what, n);
    for (int i = 0; i < n; i++) {
        if (!name_ok(t[i].name, MF_TENSOR_NAME_LEN))
            return error_set(err, errlen, GRAFT_ERR_FORMAT,
                             "%s %d: name empty or longer than %d bytes", what, i,
                             MF_TENSOR_NAME_LEN - 1);
        if (t[i].ndim < 1 || t[i].ndim > GRAFT_MAX_DIMS)
            return error_set(err, errlen, GRAFT_ERR_FORMAT,
                             "%s '%s': %d dimensions (1..%d allowed)", what, t[i].name, t[i].ndim,
                             GRAFT_MAX_DIMS);
        for (int d = 0; d < t[i].ndim; d++)
            if (t[i].shape[d] < 1)
                return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s '%s': dimension %d is %d", what,
                                 t[i].name, d, t[i].shape[d]);
        size_t numel = mf_tensor_numel(&t[i]);
        if (numel == 0)
            return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s '%s': size overflows", what,
                             t[i].name);
        if (!t[i].data)
            return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s '%s': no data", what, t[i].name);
        size_t bad = 0;
        for (size_t k = 0; k < numel; k++) bad += !isfinite(t[i].data[k]);
        if (bad)
            return error_set(err, errlen, GRAFT_ERR_FORMAT,
                             "%s '%s': %zu of %zu values are NaN or infinite", what, t[i].name, bad,
                             numel);
    }
    return check_unique(what, t, sizeof *t, n, 0, err, errlen);
}

graft_status mf_validate(const mf_model *m, char *err, size_t errlen)
{
    if (!m) return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "no model");
    if (!name_ok(m->arch, MF_ARCH_LEN))
        return error_set(err, errlen, GRAFT_ERR_FORMAT,
                         "architecture name empty or longer than %d bytes", MF_ARCH_LEN - 1);
    if (m->channels < 1 || m->channels > MF_MAX_CHANNELS)
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "input has %d channels (1..%d supported)",
                         m->channels, MF_MAX_CHANNELS);
    if (m->height < 1 || m->width < 1 || m->height > MF_MAX_DIM || m->width > MF_MAX_DIM)
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "bad input size %dx%d", m->height,
                         m->width);
    for (int c = 0; c < m->channels; c++)
        if (!isfinite(m->mean[c]) || !isfinite(m->std[c]) || !(m->std[c] > 0))
            return error_set(err, errlen, GRAFT_ERR_FORMAT,
                             "channel %d normalisation mean %g std %g: need finite values, std > 0",
                             c, (double)m->mean[c], (double)m->std[c]);

    if (m->nnodes < 1 || m->nnodes > MF_MAX_NODES || !m->nodes)
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "bad node count %d (1..%d)", m->nnodes,
                         MF_MAX_NODES);
    for (int i = 0; i < m->nnodes; i++) {
        const mf_node *nd = &m->nodes[i];
        if (!name_ok(nd->name, MF_NAME_LEN))
            return error_set(err, errlen, GRAFT_ERR_FORMAT,
                             "node %d: name empty or longer than %d bytes", i, MF_NAME_LEN - 1);
        graft_layer_kind k = nd->spec.kind;
        const layer_kind *kd = layer_kind_of(k);
        if (!kd)
            return error_set(err, errlen, GRAFT_ERR_FORMAT, "node '%s': unknown layer kind %d",
                        nd->name, (int)k);
        if (nd->ninputs < 0 || nd->ninputs > MF_MAX_INPUTS)
            return error_set(err, errlen, GRAFT_ERR_FORMAT, "node '%s': %d inputs (0..%d allowed)",
                        nd->name, nd->ninputs, MF_MAX_INPUTS);
        int want_ok = nd->ninputs >= kd->min_inputs && nd->ninputs <= kd->max_inputs;
        if (!want_ok)
            return error_set(err, errlen, GRAFT_ERR_FORMAT, "node '%s' (%s) has %d inputs",
                             nd->name, kind_name(k), nd->ninputs);
        for (int j = 0; j < nd->ninputs; j++) {
            int in = nd->inputs[j];
            if (in < 0 || in >= m->nnodes)
                return error_set(err, errlen, GRAFT_ERR_FORMAT,
                                 "node '%s' input %d refers to node %d, which does not exist",
                                 nd->name, j, in);
            if (in >= i)
                return error_set(err, errlen, GRAFT_ERR_FORMAT,
                                 "node '%s' input %d refers to node %d '%s', which does not come "
                                 "before it (nodes must be in topological order)",
                                 nd->name, j, in, m->nodes[in].name);
        }
        for (size_t f = 0; f < N_SPEC_FLOATS; f++)
            if (!isfinite(spec_float_c(&nd->spec, f)))
                return error_set(err, errlen, GRAFT_ERR_FORMAT, "node '%s': %s is not finite",
                                 nd->name, spec_floats[f].name);
    }
    graft_status s = check_unique("node", m->nodes, sizeof *m->nodes, m->nnodes, 0, err, errlen);
    if (s != GRAFT_OK) return s;

    if (m->nclasses < 0 || m->nclasses > MF_MAX_CLASSES || (m->nclasses > 0 && !m->class_names))
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "bad class count %d", m->nclasses);
    for (int i = 0; i < m->nclasses; i++) {
        const char *c = m->class_names[i];
        if (!c || !c[0] || strnlen(c, MF_MAX_CLASS_NAME + 1) > MF_MAX_CLASS_NAME)
            return error_set(err, errlen, GRAFT_ERR_FORMAT,
                             "class %d: name missing, empty or longer than %d bytes", i,
                             MF_MAX_CLASS_NAME);
    }
    s = check_unique("class", m->class_names, sizeof *m->class_names, m->nclasses, 1, err,
                     errlen);
    if (s != GRAFT_OK) return s;

    s = validate_tensors("tensor", m->tensors, m->ntensors, err, errlen);
    if (s != GRAFT_OK) return s;
    if (m->has_state) {
        s = validate_tensors("state tensor", m->state, m->nstate, err, errlen);
        if (s != GRAFT_OK) return s;
    }
    if (m->meta_json && strlen(m->meta_json) > MF_MAX_FILE_BYTES)
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "meta JSON too long");
    return GRAFT_OK;
}

/* ---------------------------------------------------------------- encoder */

typedef struct wbuf {
    unsigned char *p;
    size_t n, cap;
    int oom;
} wbuf;

static void put_le32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static void put_le64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static uint64_t get_le64(const unsigned char *b)
{
    return (uint64_t)get_le32(b) | (uint64_t)get_le32(b + 4) << 32;
}

static int w_reserve(wbuf *w, size_t k)
{
    if (w->oom) return 0;
    if (k <= w->cap - w->n) return 1;
    size_t nc = w->cap ? w->cap : 4096;
    while (nc - w->n < k) {
        if (nc > SIZE_MAX / 2) {
            w->oom = 1;
            return 0;
        }
        nc *= 2;
    }
    unsigned char *p = realloc(w->p, nc);
    if (!p) {
        w->oom = 1;
        return 0;
    }
    w->p = p;
    w->cap = nc;
    return 1;
}
static void w_bytes(wbuf *w, const void *src, size_t k)
{
    if (!w_reserve(w, k)) return;
    if (k) memcpy(w->p + w->n, src, k);
    w->n += k;
}
static void w_u32(wbuf *w, uint32_t v)
{
    if (!w_reserve(w, 4)) return;
    put_le32(w->p + w->n, v);
    w->n += 4;
}
static void w_u64(wbuf *w, uint64_t v)
{
    if (!w_reserve(w, 8)) return;
    put_le64(w->p + w->n, v);
    w->n += 8;
}
/* int -> u32 is defined modulo 2^32, so negative values survive. */
static void w_i32(wbuf *w, int v) { w_u32(w, (uint32_t)v); }
static void w_f32(wbuf *w, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    w_u32(w, u);
}
static void w_str(wbuf *w, const char *s)
{
    size_t l = strlen(s);
    w_u32(w, (uint32_t)l);
    w_bytes(w, s, l);
}
static size_t w_begin(wbuf *w, const char *tag)
{
    w_bytes(w, tag, 4);
    size_t at = w->n;
    w_u64(w, 0);
    return at;
}
static void w_end(wbuf *w, size_t at)
{
    if (!w->oom) put_le64(w->p + at, (uint64_t)(w->n - at - 8));
}
static void w_tensors(wbuf *w, const mf_tensor *t, int n)
{
    w_u32(w, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        w_str(w, t[i].name);
        w_u32(w, (uint32_t)t[i].ndim);
        for (int d = 0; d < t[i].ndim; d++) w_u32(w, (uint32_t)t[i].shape[d]);
        size_t numel = mf_tensor_numel(&t[i]);
        w_u64(w, numel);
        if (!w_reserve(w, numel * 4)) return;
        for (size_t k = 0; k < numel; k++) w_f32(w, t[i].data[k]);
    }
}

static uint32_t crc_of(const unsigned char *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (n) {
        uInt k = n > 0x40000000u ? 0x40000000u : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

graft_status mf_serialize(const mf_model *m, unsigned char **buf, size_t *n, char *err,
                          size_t errlen)
{
    *buf = NULL;
    *n = 0;
    graft_status s = mf_validate(m, err, errlen);
    if (s != GRAFT_OK) return s;
    wbuf w = {0};
    w_bytes(&w, MF_MAGIC, 8);
    w_u32(&w, MF_FORMAT_VERSION);
    w_u32(&w, m->has_state ? MF_FLAG_CHECKPOINT : 0);
    w_u64(&w, 0); /* file size, patched below */

    size_t at = w_begin(&w, "ARCH");
    w_str(&w, m->arch);
    w_u32(&w, (uint32_t)m->channels);
    w_u32(&w, (uint32_t)m->height);
    w_u32(&w, (uint32_t)m->width);
    for (int c = 0; c < MF_MAX_CHANNELS; c++) w_f32(&w, m->mean[c]);
    for (int c = 0; c < MF_MAX_CHANNELS; c++) w_f32(&w, m->std[c]);
    w_u32(&w, (uint32_t)m->nnodes);
    for (int i = 0; i < m->nnodes; i++) {
        const mf_node *nd = &m->nodes[i];
        w_str(&w, nd->name);
        w_str(&w, kind_name(nd->spec.kind));
        for (size_t f = 0; f < N_SPEC_INTS; f++) w_i32(&w, spec_int_c(&nd->spec, f));
        for (size_t f = 0; f < N_SPEC_FLOATS; f++) w_f32(&w, spec_float_c(&nd->spec, f));
        w_u32(&w, (uint32_t)nd->ninputs);
        for (int j = 0; j < nd->ninputs; j++) w_u32(&w, (uint32_t)nd->inputs[j]);
    }
    w_end(&w, at);

    int ngeom = 0;
    for (int i = 0; i < m->nnodes; i++) ngeom += has_geom(&m->nodes[i].spec);
    if (ngeom) {
        at = w_begin(&w, "GEOM");
        w_u32(&w, (uint32_t)ngeom);
        for (int i = 0; i < m->nnodes; i++) {
            if (!has_geom(&m->nodes[i].spec)) continue;
            w_u32(&w, (uint32_t)i);
            for (size_t f = 0; f < N_SPEC_GEOM; f++) w_i32(&w, geom_int_c(&m->nodes[i].spec, f));
        }
        w_end(&w, at);
    }

    at = w_begin(&w, "CLAS");
    w_u32(&w, (uint32_t)m->nclasses);
    for (int i = 0; i < m->nclasses; i++) w_str(&w, m->class_names[i]);
    w_end(&w, at);

    at = w_begin(&w, "TENS");
    w_tensors(&w, m->tensors, m->ntensors);
    w_end(&w, at);

    if (m->has_state) {
        at = w_begin(&w, "STAT");
        w_u64(&w, (uint64_t)m->epoch);
        w_u64(&w, (uint64_t)m->step);
        for (int i = 0; i < 4; i++) w_u64(&w, m->rng_state[i]);
        w_tensors(&w, m->state, m->nstate);
        w_end(&w, at);
    }
    if (m->meta_json) {
        at = w_begin(&w, "JSON");
        w_bytes(&w, m->meta_json, strlen(m->meta_json));
        w_end(&w, at);
    }
    if (!w.oom) put_le64(w.p + 16, (uint64_t)w.n + 4);
    if (!w.oom) w_u32(&w, crc_of(w.p, w.n));
    if (w.oom) {
        free(w.p);
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY,
                         "out of host memory encoding the model");
    }
    *buf = w.p;
    *n = w.n;
    return GRAFT_OK;
}

/* ---------------------------------------------------------------- decoder */

/* Cursor over one section's payload; every read checks what is left. */
typedef struct rd {
    const unsigned char *p;
    size_t n, off;
    const char *sec;
    char *err;
    size_t errlen;
    graft_status st; /* what a failed read returns */
} rd;

static size_t r_left(const rd *r) { return r->n - r->off; }

static int r_need(rd *r, size_t k, const char *what)
{
    if (k <= r_left(r)) return 1;
    r->st =
        error_set(r->err, r->errlen, GRAFT_ERR_FORMAT,
                  "bad section %s: %s needs %zu bytes, only %zu left", r->sec, what, k, r_left(r));
    return 0;
}
static int r_u32(rd *r, uint32_t *v, const char *what)
{
    if (!r_need(r, 4, what)) return 0;
    *v = get_le32(r->p + r->off);
    r->off += 4;
    return 1;
}
static int r_u64(rd *r, uint64_t *v, const char *what)
{
    if (!r_need(r, 8, what)) return 0;
    *v = get_le64(r->p + r->off);
    r->off += 8;
    return 1;
}
/* Two's complement decode without implementation-defined conversions. */
static int r_i32(rd *r, int *v, const char *what)
{
    uint32_t u;
    if (!r_u32(r, &u, what)) return 0;
    *v = u <= 0x7fffffffu ? (int)u : -(int)(0xffffffffu - u) - 1;
    return 1;
}
static int r_i64(rd *r, int64_t *v, const char *what)
{
    uint64_t u;
    if (!r_u64(r, &u, what)) return 0;
    *v = u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)(UINT64_MAX - u) - 1;
    return 1;
}
static int r_f32(rd *r, float *v, const char *what)
{
    uint32_t u;
    if (!r_u32(r, &u, what)) return 0;
    memcpy(v, &u, 4);
    return 1;
}
/* Reads a string into a fixed buffer of cap bytes (terminator included). */
static int r_str(rd *r, char *dst, size_t cap, const char *what)
{
    uint32_t len;
    if (!r_u32(r, &len, what)) return 0;
    if (len >= cap) {
        r->st = error_set(r->err, r->errlen, GRAFT_ERR_FORMAT,
                          "bad section %s: %s is %u bytes long, at most %zu allowed", r->sec, what,
                          (unsigned)len, cap - 1);
        return 0;
    }
    if (!r_need(r, len, what)) return 0;
    if (memchr(r->p + r->off, 0, len)) {
        r->st = error_set(r->err, r->errlen, GRAFT_ERR_FORMAT,
                          "bad section %s: %s contains a NUL byte", r->sec, what);
        return 0;
    }
    memcpy(dst, r->p + r->off, len);
    dst[len] = '\0';
    r->off += len;
    return 1;
}
static int r_oom(rd *r)
{
    r->st = error_set(r->err, r->errlen, GRAFT_ERR_HOST_MEMORY,
                      "out of host memory reading section %s", r->sec);
    return 0;
}
/* A count is refused unless that many minimal records fit in what is left,
 * so arrays sized from it stay proportional to the input. */
static int r_count(rd *r, int *out, uint32_t max, size_t min_record, const char *what)
{
    uint32_t c;
    if (!r_u32(r, &c, what)) return 0;
    if (c > max) {
        r->st = error_set(r->err, r->errlen, GRAFT_ERR_FORMAT,
                          "bad section %s: %s %u exceeds the limit of %u", r->sec, what,
                          (unsigned)c, (unsigned)max);
        return 0;
    }
    if ((size_t)c > r_left(r) / min_record) {
        r->st = error_set(r->err, r->errlen, GRAFT_ERR_FORMAT,
                          "bad section %s: %s %u cannot fit in the %zu bytes left", r->sec, what,
                          (unsigned)c, r_left(r));
        return 0;
    }
    *out = (int)c;
    return 1;
}

static int r_tensors(rd *r, mf_tensor **out, int *count)
{
    int n;
    if (!r_count(r, &n, MF_MAX_TENSORS, MIN_TENSOR_BYTES, "tensor count")) return 0;
    if (n == 0) return 1;
    mf_tensor *t = calloc((size_t)n, sizeof *t);
    if (!t) return r_oom(r);
    *out = t;
    *count = n; /* now, so that mf_model_free releases partial reads */
    for (int i = 0; i < n; i++) {
        if (!r_str(r, t[i].name, MF_TENSOR_NAME_LEN, "tensor name")) return 0;
        uint32_t nd;
        if (!r_u32(r, &nd, "tensor rank")) return 0;
        if (nd < 1 || nd > GRAFT_MAX_DIMS) {
            r->st = error_set(r->err, r->errlen, GRAFT_ERR_FORMAT,
                              "bad section %s: tensor '%s' has %u dimensions (1..%d allowed)",
                              r->sec, t[i].name, (unsigned)nd, GRAFT_MAX_DIMS);
            return 0;
        }
        t[i].ndim = (int)nd;
        for (uint32_t d = 0; d < nd; d++) {
            uint32_t s;
            if (!r_u32(r, &s, "tensor dimension")) return 0;
            if (s < 1 || s > INT_MAX) {
                r->st = error_set(r->err, r->errlen, GRAFT_ERR_FORMAT,
                                  "bad section %s: tensor '%s' dimension %u is %u", r->sec,
                                  t[i].name, (unsigned)d, (unsigned)s);
                return 0;
            }
            t[i].shape[d] = (int)s;
        }
        uint64_t declared;
        if (!r_u64(r, &declared, "tensor size")) return 0;
        size_t numel = mf_tensor_numel(&t[i]);
        char sb[64];
        shape_str(&t[i], sb, sizeof sb);
        if (numel == 0 || declared != numel) {
            r->st = error_set(r->err, r->errlen, GRAFT_ERR_FORMAT,
                              "bad section %s: tensor '%s' declares %llu elements but its shape %s "
                              "has %zu",
                              r->sec, t[i].name, (unsigned long long)declared, sb, numel);
            return 0;
        }
        if (numel > r_left(r) / 4) {
            r->st = error_set(r->err, r->errlen, GRAFT_ERR_FORMAT,
                              "bad section %s: tensor '%s' (%s) needs %zu bytes, only %zu left",
                              r->sec, t[i].name, sb, numel * 4, r_left(r));
            return 0;
        }
        t[i].data = malloc(numel * sizeof(float));
        if (!t[i].data) return r_oom(r);
        const unsigned char *b = r->p + r->off;
        for (size_t k = 0; k < numel; k++) {
            uint32_t u = get_le32(b + 4 * k);
            memcpy(&t[i].data[k], &u, 4);
        }
        r->off += numel * 4;
    }
    return 1;
}

static int r_arch(rd *r, mf_model *m)
{
    if (!r_str(r, m->arch, MF_ARCH_LEN, "architecture name")) return 0;
    uint32_t dims[3];
    for (int i = 0; i < 3; i++) {
        if (!r_u32(r, &dims[i], "input size")) return 0;
        if (dims[i] > MF_MAX_DIM) {
            r->st = error_set(r->err, r->errlen, GRAFT_ERR_FORMAT,
                              "bad section ARCH: input dimension %u too large", (unsigned)dims[i]);
            return 0;
        }
    }
    m->channels = (int)dims[0];
    m->height = (int)dims[1];
    m->width = (int)dims[2];
    for (int c = 0; c < MF_MAX_CHANNELS; c++)
        if (!r_f32(r, &m->mean[c], "mean")) return 0;
    for (int c = 0; c < MF_MAX_CHANNELS; c++)
        if (!r_f32(r, &m->std[c], "std")) return 0;
    int n;
    if (!r_count(r, &n, MF_MAX_NODES, MIN_NODE_BYTES, "node count")) return 0;
    if (n == 0) return 1; /* mf_validate names the problem */
    m->nodes = calloc((size_t)n, sizeof *m->nodes);
    if (!m->nodes) return r_oom(r);
    m->nnodes = n;
    for (int i = 0; i < n; i++) {
        mf_node *nd = &m->nodes[i];
        if (!r_str(r, nd->name, MF_NAME_LEN, "node name")) return 0;
        char kind[32];
        if (!r_str(r, kind, sizeof kind, "layer kind")) return 0;
        const layer_kind *kd = layer_kind_named(kind);
        if (!kd) {
            r->st = error_set(r->err, r->errlen, GRAFT_ERR_FORMAT,
                              "bad section ARCH: node '%s' has unknown layer kind '%s'", nd->name,
                              kind);
            return 0;
        }
        memset(&nd->spec, 0, sizeof nd->spec);
        nd->spec.kind = kd->kind;
        for (size_t f = 0; f < N_SPEC_INTS; f++)
            if (!r_i32(r, spec_int(&nd->spec, f), spec_ints[f].name)) return 0;
        for (size_t f = 0; f < N_SPEC_FLOATS; f++)
            if (!r_f32(r, spec_float(&nd->spec, f), spec_floats[f].name)) return 0;
        uint32_t nin;
        if (!r_u32(r, &nin, "input count")) return 0;
        if (nin > MF_MAX_INPUTS) {
            r->st = error_set(r->err, r->errlen, GRAFT_ERR_FORMAT,
                              "bad section ARCH: node '%s' has %u inputs, at most %d allowed",
                              nd->name, (unsigned)nin, MF_MAX_INPUTS);
            return 0;
        }
        nd->ninputs = (int)nin;
        for (uint32_t j = 0; j < nin; j++) {
            uint32_t in;
            if (!r_u32(r, &in, "node input")) return 0;
            nd->inputs[j] = in > INT_MAX ? -1 : (int)in; /* validate reports it */
        }
    }
    return 1;
}

static int r_classes(rd *r, mf_model *m)
{
    int n;
    if (!r_count(r, &n, MF_MAX_CLASSES, MIN_CLASS_BYTES, "class count")) return 0;
    if (n == 0) return 1;
    m->class_names = calloc((size_t)n, sizeof *m->class_names);
    if (!m->class_names) return r_oom(r);
    m->nclasses = n;
    char *tmp = malloc(MF_MAX_CLASS_NAME + 1);
    if (!tmp) return r_oom(r);
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
        ok = r_str(r, tmp, MF_MAX_CLASS_NAME + 1, "class name");
        if (ok && !(m->class_names[i] = strdup(tmp))) ok = r_oom(r);
    }
    free(tmp);
    return ok;
}

static int r_state(rd *r, mf_model *m)
{
    m->has_state = 1;
    if (!r_i64(r, &m->epoch, "epoch") || !r_i64(r, &m->step, "step")) return 0;
    for (int i = 0; i < 4; i++)
        if (!r_u64(r, &m->rng_state[i], "rng state")) return 0;
    return r_tensors(r, &m->state, &m->nstate);
}

static int r_json(rd *r, mf_model *m)
{
    if (memchr(r->p, 0, r->n)) {
        r->st =
            error_set(r->err, r->errlen, GRAFT_ERR_FORMAT, "bad section JSON: contains a NUL byte");
        return 0;
    }
    if (!(m->meta_json = malloc(r->n + 1))) return r_oom(r);
    memcpy(m->meta_json, r->p, r->n);
    m->meta_json[r->n] = '\0';
    r->off = r->n;
    return 1;
}

/* GEOM: u32 count, then per entry u32 node index and the spec_geom fields
 * (i32 each). It follows ARCH, whose nodes it amends. */
static int r_geom(rd *r, mf_model *m)
{
    if (!m->nodes) {
        r->st = error_set(r->err, r->errlen, GRAFT_ERR_FORMAT,
                          "bad section GEOM: comes before ARCH");
        return 0;
    }
    int n;
    if (!r_count(r, &n, (uint32_t)m->nnodes, MIN_GEOM_BYTES, "GEOM entry count")) return 0;
    for (int e = 0; e < n; e++) {
        uint32_t i;
        if (!r_u32(r, &i, "GEOM node")) return 0;
        if (i >= (uint32_t)m->nnodes || has_geom(&m->nodes[i].spec)) {
            r->st = error_set(r->err, r->errlen, GRAFT_ERR_FORMAT,
                              "bad section GEOM: entry %d names node %u (%s)", e, (unsigned)i,
                              i >= (uint32_t)m->nnodes ? "no such node" : "again");
            return 0;
        }
        for (size_t f = 0; f < N_SPEC_GEOM; f++)
            if (!r_i32(r, geom_int(&m->nodes[i].spec, f), spec_geom[f].name)) return 0;
    }
    return 1;
}

static const struct {
    char tag[5];
    int (*parse)(rd *, mf_model *);
} sections[] = {
    {"ARCH", r_arch}, {"CLAS", r_classes}, {"TENS", NULL}, {"STAT", r_state}, {"JSON", r_json},
    {"GEOM", r_geom},
};
enum { SEC_ARCH, SEC_CLAS, SEC_TENS, SEC_STAT, SEC_JSON, SEC_GEOM, SEC_COUNT };

static const char *tag_str(const unsigned char *t, char *buf, size_t len)
{
    for (int i = 0; i < 4; i++)
        if (t[i] < 0x20 || t[i] > 0x7e) {
            snprintf(buf, len, "0x%02x%02x%02x%02x", t[0], t[1], t[2], t[3]);
            return buf;
        }
    snprintf(buf, len, "'%c%c%c%c'", t[0], t[1], t[2], t[3]);
    return buf;
}

graft_status mf_parse(const unsigned char *buf, size_t n, mf_model *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!buf || n == 0)
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "empty file, not a graft model file");
    if (memcmp(buf, MF_MAGIC, n < 8 ? n : 8) != 0)
        return error_set(err, errlen, GRAFT_ERR_FORMAT,
                         "not a graft model file (bad magic, expected \"" MF_MAGIC "\")");
    if (n < 12)
        return error_set(err, errlen, GRAFT_ERR_FORMAT,
                         "truncated: expected at least %u bytes, file has %zu", MIN_FILE_BYTES, n);
    /* The version comes before anything else so that a newer layout is
     * reported as such, not as a checksum or size error. */
    uint32_t version = get_le32(buf + 8);
    if (version != MF_FORMAT_VERSION)
        return error_set(err, errlen, GRAFT_ERR_FORMAT,
                         "unsupported format version %u (this graft reads version %u%s)",
                         (unsigned)version, MF_FORMAT_VERSION,
                         version > MF_FORMAT_VERSION ? "; written by a newer graft" : "");
    if (n < MIN_FILE_BYTES)
        return error_set(err, errlen, GRAFT_ERR_FORMAT,
                         "truncated: expected at least %u bytes, file has %zu", MIN_FILE_BYTES, n);
    uint32_t flags = get_le32(buf + 12);
    uint64_t size = get_le64(buf + 16);
    if (size < MIN_FILE_BYTES)
        return error_set(err, errlen, GRAFT_ERR_FORMAT,
                         "bad header: declared file size %llu is below the %u-byte minimum",
                         (unsigned long long)size, MIN_FILE_BYTES);
    if (size > n)
        return error_set(err, errlen, GRAFT_ERR_FORMAT,
                         "truncated: expected %llu bytes, file has %zu", (unsigned long long)size,
                         n);
    if (size < n)
        return error_set(err, errlen, GRAFT_ERR_FORMAT,
                         "%zu unexpected bytes after the declared end (%llu bytes)",
                         n - (size_t)size, (unsigned long long)size);
    uint32_t stored = get_le32(buf + n - 4), computed = crc_of(buf, n - 4);
    if (stored != computed)
        return error_set(err, errlen, GRAFT_ERR_FORMAT,
                         "checksum mismatch (stored %08x, computed %08x): the file is corrupted",
                         (unsigned)stored, (unsigned)computed);
    if (flags & ~MF_FLAG_CHECKPOINT)
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "unknown header flags 0x%08x",
                         (unsigned)flags);

    graft_status s = GRAFT_OK;
    int seen[SEC_COUNT] = {0};
    size_t off = HEADER_BYTES, end = n - 4;
    char tb[24];
    while (off < end) {
        if (end - off < 12) {
            s = error_set(err, errlen, GRAFT_ERR_FORMAT,
                          "bad section header at offset %zu: %zu bytes left, 12 needed", off,
                          end - off);
            goto fail;
        }
        const unsigned char *tag = buf + off;
        uint64_t len = get_le64(buf + off + 4);
        off += 12;
        if (len > end - off) {
            s = error_set(err, errlen, GRAFT_ERR_FORMAT,
                          "bad section %s at offset %zu: declares %llu bytes, only %zu left",
                          tag_str(tag, tb, sizeof tb), off - 12, (unsigned long long)len,
                          end - off);
            goto fail;
        }
        int k = 0;
        while (k < SEC_COUNT && memcmp(tag, sections[k].tag, 4) != 0) k++;
        if (k == SEC_COUNT || seen[k]) {
            s = error_set(err, errlen, GRAFT_ERR_FORMAT, "bad section: %s %s at offset %zu",
                          k == SEC_COUNT ? "unknown" : "repeated", tag_str(tag, tb, sizeof tb),
                          off - 12);
            goto fail;
        }
        seen[k] = 1;
        rd r = {buf + off, (size_t)len, 0, sections[k].tag, err, errlen, GRAFT_ERR_FORMAT};
        int ok = k == SEC_TENS ? r_tensors(&r, &out->tensors, &out->ntensors)
                               : sections[k].parse(&r, out);
        if (!ok) {
            s = r.st;
            goto fail;
        }
        if (r.off != r.n) {
            s = error_set(err, errlen, GRAFT_ERR_FORMAT,
                          "bad section %s: %zu unexpected bytes at its end", sections[k].tag,
                          r.n - r.off);
            goto fail;
        }
        off += (size_t)len;
    }
    for (int k = SEC_ARCH; k <= SEC_TENS; k++)
        if (!seen[k]) {
            s = error_set(err, errlen, GRAFT_ERR_FORMAT, "missing section %s", sections[k].tag);
            goto fail;
        }
    if (!!(flags & MF_FLAG_CHECKPOINT) != seen[SEC_STAT]) {
        s = error_set(err, errlen, GRAFT_ERR_FORMAT,
                      seen[SEC_STAT] ? "STAT section in a file not flagged as a checkpoint"
                                     : "checkpoint flag set but no STAT section");
        goto fail;
    }
    s = mf_validate(out, err, errlen);
    if (s == GRAFT_OK) return GRAFT_OK;
fail:
    mf_model_free(out);
    return s;
}

/* --------------------------------------------------------------- file I/O */

graft_status mf_write(const mf_model *m, const char *path, char *err, size_t errlen)
{
    char msg[512];
    unsigned char *buf;
    size_t n;
    graft_status s = mf_serialize(m, &buf, &n, msg, sizeof msg);
    if (s != GRAFT_OK) return error_set(err, errlen, s, "%s: not written: %s", path, msg);
    int e = file_write_atomic(path, buf, n);
    free(buf);
    if (e) return error_set(err, errlen, GRAFT_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    return GRAFT_OK;
}

graft_status mf_read(const char *path, mf_model *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    unsigned char *buf;
    size_t n;
    int e = file_read_all(path, MF_MAX_FILE_BYTES, &buf, &n);
    if (e == EFBIG)
        return error_set(err, errlen, GRAFT_ERR_IO, "%s: larger than the %zu-byte limit", path,
                         MF_MAX_FILE_BYTES);
    if (e) return error_set(err, errlen, GRAFT_ERR_IO, "%s: cannot read: %s", path, strerror(e));
    char msg[512];
    graft_status s = mf_parse(buf, n, out, msg, sizeof msg);
    free(buf);
    if (s != GRAFT_OK) return error_set(err, errlen, s, "%s: %s", path, msg);
    return GRAFT_OK;
}

/* ---------------------------------------------------------- compatibility */

graft_status mf_check_compatible(const mf_model *a, const mf_model *b, char *err,
                                 size_t errlen)
{
    if (strcmp(a->arch, b->arch) != 0)
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "architecture differs: '%s' vs '%s'",
                         a->arch, b->arch);
    int nn = a->nnodes < b->nnodes ? a->nnodes : b->nnodes;
    for (int i = 0; i < nn; i++) {
        const mf_node *x = &a->nodes[i], *y = &b->nodes[i];
        if (strcmp(x->name, y->name) != 0)
            return error_set(err, errlen, GRAFT_ERR_FORMAT, "node %d differs: '%s' vs '%s'", i,
                             x->name, y->name);
        if (x->spec.kind != y->spec.kind)
            return error_set(err, errlen, GRAFT_ERR_FORMAT, "node '%s': kind %s vs %s", x->name,
                             kind_name(x->spec.kind), kind_name(y->spec.kind));
        for (size_t f = 0; f < N_SPEC_INTS; f++)
            if (spec_int_c(&x->spec, f) != spec_int_c(&y->spec, f))
                return error_set(err, errlen, GRAFT_ERR_FORMAT, "node '%s' (%s): %s %d vs %d",
                                 x->name, kind_name(x->spec.kind), spec_ints[f].name,
                                 spec_int_c(&x->spec, f), spec_int_c(&y->spec, f));
        for (size_t f = 0; f < N_SPEC_GEOM; f++)
            if (geom_int_c(&x->spec, f) != geom_int_c(&y->spec, f))
                return error_set(err, errlen, GRAFT_ERR_FORMAT, "node '%s' (%s): %s %d vs %d",
                                 x->name, kind_name(x->spec.kind), spec_geom[f].name,
                                 geom_int_c(&x->spec, f), geom_int_c(&y->spec, f));
        for (size_t f = 0; f < N_SPEC_FLOATS; f++)
            if (spec_float_c(&x->spec, f) != spec_float_c(&y->spec, f))
                return error_set(err, errlen, GRAFT_ERR_FORMAT, "node '%s' (%s): %s %g vs %g",
                                 x->name, kind_name(x->spec.kind), spec_floats[f].name,
                                 (double)spec_float_c(&x->spec, f),
                                 (double)spec_float_c(&y->spec, f));
        if (x->ninputs != y->ninputs)
            return error_set(err, errlen, GRAFT_ERR_FORMAT, "node '%s': %d inputs vs %d", x->name,
                             x->ninputs, y->ninputs);
        for (int j = 0; j < x->ninputs; j++)
            if (x->inputs[j] != y->inputs[j])
                return error_set(err, errlen, GRAFT_ERR_FORMAT,
                                 "node '%s': input %d is node %d vs node %d", x->name, j,
                                 x->inputs[j], y->inputs[j]);
    }
    if (a->nnodes != b->nnodes) {
        const mf_model *big = a->nnodes > b->nnodes ? a : b;
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "%d nodes vs %d; first extra node '%s'",
                         a->nnodes, b->nnodes, big->nodes[nn].name);
    }
    int nt = a->ntensors < b->ntensors ? a->ntensors : b->ntensors;
    char sa[64], sb[64];
    for (int i = 0; i < nt; i++) {
        const mf_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        if (strcmp(x->name, y->name) != 0)
            return error_set(err, errlen, GRAFT_ERR_FORMAT, "tensor %d differs: '%s' vs '%s'", i,
                             x->name, y->name);
        int same = x->ndim == y->ndim;
        for (int d = 0; same && d < x->ndim; d++) same = x->shape[d] == y->shape[d];
        if (!same)
            return error_set(err, errlen, GRAFT_ERR_FORMAT, "tensor '%s': shape %s vs %s", x->name,
                             shape_str(x, sa, sizeof sa), shape_str(y, sb, sizeof sb));
    }
    if (a->ntensors != b->ntensors) {
        const mf_model *big = a->ntensors > b->ntensors ? a : b;
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "%d tensors vs %d; first extra tensor '%s'",
                         a->ntensors, b->ntensors, big->tensors[nt].name);
    }
    return GRAFT_OK;
}
