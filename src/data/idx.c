/* IDX (MNIST layout) reader, raw or gzip, and data-spec resolution. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "internal.h"
#include "dataset.h"
#include "fileutil.h"

#define IDX_MAX_BYTES ((size_t)1 << 31)

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

const char *const *fashion_mnist_class_names(void) { return fashion_names; }

graft_status gunzip_maybe(const unsigned char *buf, size_t n, size_t max_out, const char *name,
                          unsigned char **out, size_t *outn, char *err, size_t errlen)
{
    *out = NULL;
    *outn = 0;
    if (n < 2 || buf[0] != 0x1f || buf[1] != 0x8b) {
        if (n > max_out)
            return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: larger than %zu bytes", name,
                             max_out);
        *out = malloc(n ? n : 1);
        if (!*out) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", name);
        if (n) memcpy(*out, buf, n);
        *outn = n;
        return GRAFT_OK;
    }
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: zlib init failed", name);
    size_t cap = n * 4 + 1024, len = 0;
    if (cap > max_out) cap = max_out + 1;
    unsigned char *o = malloc(cap);
    graft_status s = GRAFT_OK;
    if (!o) {
        s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", name);
        goto done;
    }
    const unsigned char *in = buf;
    size_t inleft = n;
    for (;;) {
        if (len == cap) {
            if (cap > max_out) {
                s = error_set(err, errlen, GRAFT_ERR_FORMAT,
                              "%s: decompresses to more than %zu bytes", name, max_out);
                goto done;
            }
            size_t nc = cap * 2 > max_out + 1 ? max_out + 1 : cap * 2;
            unsigned char *p = realloc(o, nc);
            if (!p) {
                s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", name);
                goto done;
            }
            o = p;
            cap = nc;
        }
        uInt inchunk = inleft > UINT_MAX ? UINT_MAX : (uInt)inleft;
        size_t avail = cap - len;
        uInt outchunk = avail > UINT_MAX ? UINT_MAX : (uInt)avail;
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = inchunk;
        zs.next_out = o + len;
        zs.avail_out = outchunk;
        int r = inflate(&zs, Z_NO_FLUSH);
        in += inchunk - zs.avail_in;
        inleft -= inchunk - zs.avail_in;
        len += outchunk - zs.avail_out;
        if (r == Z_STREAM_END) {
            /* concatenated gzip members are rare for IDX; stop at the first */
            break;
        }
        if (r == Z_BUF_ERROR && inleft == 0 && len < cap) {
            s = error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: truncated gzip stream", name);
            goto done;
        }
        if (r != Z_OK && r != Z_BUF_ERROR) {
            s = error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: corrupt gzip data (%s)", name,
                          zs.msg ? zs.msg : "inflate error");
            goto done;
        }
    }
    *out = o;
    *outn = len;
    o = NULL;
done:
    inflateEnd(&zs);
    free(o);
    return s;
}

/* The first `want` bytes of a gzip stream into head; *got is how many
 * there were (fewer for a short stream). Returns 0, or -1 when the stream
 * is corrupt before that. */
static int gunzip_prefix(const unsigned char *buf, size_t n, unsigned char *head, size_t want,
                         size_t *got)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    *got = 0;
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return -1;
    zs.next_in = (Bytef *)(uintptr_t)buf;
    zs.avail_in = n > UINT_MAX ? UINT_MAX : (uInt)n;
    zs.next_out = head;
    zs.avail_out = (uInt)want;
    int r = inflate(&zs, Z_SYNC_FLUSH);
    *got = want - zs.avail_out;
    inflateEnd(&zs);
    return r == Z_OK || r == Z_STREAM_END || r == Z_BUF_ERROR ? 0 : -1;
}

/* Total bytes (header + data) an IDX header declares, or 0 when head does
 * not hold a well-formed header (idx_parse then says what is wrong). */
static size_t idx_declared_bytes(const unsigned char *head, size_t n)
{
    if (n < 4 || head[0] != 0 || head[1] != 0 || head[2] != 0x08 || head[3] < 1 || head[3] > 3)
        return 0;
    size_t hdr = 4 + 4 * (size_t)head[3];
    if (n < hdr) return 0;
    size_t total = 1;
    for (int i = 0; i < head[3]; i++) {
        const unsigned char *p = head + 4 + 4 * i;
        uint32_t v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (v == 0 || total > IDX_MAX_BYTES / v) return 0;
        total *= v;
    }
    return hdr + total;
}

/* gunzip_maybe for an IDX file, with the output limited to what the file's
 * own header declares: a small file that inflates to gigabytes (a
 * decompression bomb) is refused once it passes that size, not read to
 * the end first. */
static graft_status idx_inflate(const unsigned char *buf, size_t n, const char *name,
                                unsigned char **out, size_t *outn, char *err, size_t errlen)
{
    size_t limit = IDX_MAX_BYTES;
    unsigned char head[16];
    size_t got;
    if (n >= 2 && buf[0] == 0x1f && buf[1] == 0x8b && gunzip_prefix(buf, n, head, sizeof head, &got) == 0) {
        size_t declared = idx_declared_bytes(head, got);
        if (declared && declared < limit) limit = declared;
    }
    graft_status s = gunzip_maybe(buf, n, limit, name, out, outn, err, errlen);
    if (s == GRAFT_ERR_FORMAT && limit < IDX_MAX_BYTES && err && strstr(err, "decompresses to more than"))
        s = error_set(err, errlen, s, "%s: decompresses to more than the %zu bytes its IDX header declares",
                     name, limit);
    return s;
}

graft_status idx_parse(const unsigned char *buf, size_t n, int want_dims, const char *name,
                       int *ndims, int dims[3], const unsigned char **data, char *err,
                       size_t errlen)
{
    if (n < 4)
        return error_set(err, errlen, GRAFT_ERR_FORMAT,
                         "%s: %zu bytes, too short for an IDX header", name, n);
    if (buf[0] != 0 || buf[1] != 0 || buf[2] != 0x08 || buf[3] < 1 || buf[3] > 3 ||
        (want_dims && buf[3] != want_dims))
        return error_set(
            err, errlen, GRAFT_ERR_FORMAT,
            "%s: bad IDX magic 0x%02x%02x%02x%02x, expected 0x000008%02x (unsigned byte, %d dims)",
            name, buf[0], buf[1], buf[2], buf[3], want_dims ? want_dims : 3,
            want_dims ? want_dims : 3);
    int nd = buf[3];
    size_t hdr = 4 + 4 * (size_t)nd;
    if (n < hdr) return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: truncated IDX header", name);
    size_t total = 1;
    for (int i = 0; i < nd; i++) {
        const unsigned char *p = buf + 4 + 4 * i;
        uint32_t v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (v == 0 || v > (1u << 30))
            return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: IDX dimension %d is %u", name, i,
                             v);
        dims[i] = (int)v;
        if (total > IDX_MAX_BYTES / v)
            return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: IDX data too large", name);
        total *= v;
    }
    if (n - hdr != total)
        return error_set(err, errlen, GRAFT_ERR_FORMAT,
                         "%s: IDX header declares %zu data bytes but the file has %zu%s", name,
                         total, n - hdr, n - hdr < total ? " (truncated)" : "");
    *ndims = nd;
    *data = buf + hdr;
    return GRAFT_OK;
}

graft_status dataset_from_idx_mem(const unsigned char *img, size_t nimg, const char *img_name,
                                  const unsigned char *lab, size_t nlab, const char *lab_name,
                                  const char *const *names, int nclasses, dataset **out,
                                  char *err, size_t errlen)
{
    *out = NULL;
    unsigned char *ri = NULL, *rl = NULL;
    size_t ni, nl;
    dataset *d = NULL;
    float *tmp = NULL;
    graft_status s;
    if ((s = idx_inflate(img, nimg, img_name, &ri, &ni, err, errlen))) goto done;
    if ((s = idx_inflate(lab, nlab, lab_name, &rl, &nl, err, errlen))) goto done;
    int ndi, ndl, di[3], dl[3];
    const unsigned char *pi, *pl;
    if ((s = idx_parse(ri, ni, 3, img_name, &ndi, di, &pi, err, errlen))) goto done;
    if ((s = idx_parse(rl, nl, 1, lab_name, &ndl, dl, &pl, err, errlen))) goto done;
    if (di[0] != dl[0]) {
        s = error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: %d labels but %s has %d images", lab_name,
                      dl[0], img_name, di[0]);
        goto done;
    }
    if ((size_t)di[1] * di[2] > ((size_t)1 << 24)) {
        s = error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: images of %dx%d are too large", img_name,
                      di[1], di[2]);
        goto done;
    }
    int maxl = 0;
    for (int i = 0; i < dl[0]; i++)
        if (pl[i] > maxl) maxl = pl[i];
    char buf[10][4];
    const char *digits[10];
    if (!names) {
        nclasses = maxl + 1 > 10 ? maxl + 1 : 10;
        if (nclasses == 10) {
            for (int i = 0; i < 10; i++) {
                snprintf(buf[i], sizeof buf[i], "%d", i);
                digits[i] = buf[i];
            }
            names = digits;
        }
    } else if (maxl >= nclasses) {
        s = error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: label %d but only %d classes", lab_name,
                      maxl, nclasses);
        goto done;
    }
    if ((s = dataset_create(1, di[1], di[2], nclasses, names, &d, err, errlen))) goto done;
    size_t isz = (size_t)di[1] * di[2];
    tmp = malloc(isz * sizeof *tmp);
    if (!tmp) {
        s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", img_name);
        goto done;
    }
    for (int i = 0; i < di[0]; i++) {
        const unsigned char *p = pi + (size_t)i * isz;
        for (size_t j = 0; j < isz; j++) tmp[j] = (float)p[j] * (1.0f / 255.0f);
        if ((s = dataset_append(d, tmp, pl[i], NULL, err, errlen))) goto done;
    }
    *out = d;
    d = NULL;
done:
    dataset_free(d);
    free(tmp);
    free(ri);
    free(rl);
    return s;
}

static graft_status read_file(const char *path, unsigned char **buf, size_t *n, char *err, size_t errlen)
{
    int e = file_read_all(path, IDX_MAX_BYTES, buf, n);
    if (e) return error_set(err, errlen, GRAFT_ERR_IO, "%s: cannot read: %s", path, strerror(e));
    return GRAFT_OK;
}

graft_status dataset_load_idx(const char *images_path, const char *labels_path,
                              const char *const *names, int nclasses, dataset **out, char *err,
                              size_t errlen)
{
    *out = NULL;
    unsigned char *a = NULL, *b = NULL;
    size_t na, nb;
    graft_status s = read_file(images_path, &a, &na, err, errlen);
    if (!s) s = read_file(labels_path, &b, &nb, err, errlen);
    if (!s)
        s = dataset_from_idx_mem(a, na, images_path, b, nb, labels_path, names, nclasses, out, err, errlen);
    free(a);
    free(b);
    return s;
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int contains_fashion(const char *s)
{
    for (; *s; s++) {
        const char *w = "fashion";
        size_t i = 0;
        while (w[i] && s[i] && tolower((unsigned char)s[i]) == w[i]) i++;
        if (!w[i]) return 1;
    }
    return 0;
}

/* Finds dir/<split>-<kind>-ubyte[.gz]. */
static int find_in_dir(const char *dir, const char *split, const char *kind, char *out, size_t n)
{
    int k = snprintf(out, n, "%s/%s-%s-ubyte.gz", dir, split, kind);
    if (k > 0 && (size_t)k < n && is_file(out)) return 1;
    k = snprintf(out, n, "%s/%s-%s-ubyte", dir, split, kind);
    return k > 0 && (size_t)k < n && is_file(out);
}

graft_status dataset_resolve(const char *spec, int train, idx_source *src, char *err,
                             size_t errlen)
{
    memset(src, 0, sizeof *src);
    if (!spec || !*spec)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "data: empty data spec");
    const char *split = train ? "train" : "t10k";
    const char *dir = NULL;
    if (strcmp(spec, "fashion-mnist") == 0) {
        dir = "/usr/share/datasets/fashion-mnist";
        src->fashion = 1;
    } else if (is_dir(spec)) {
        dir = spec;
        src->fashion = contains_fashion(spec);
    }
    if (dir) {
        if (!find_in_dir(dir, split, "images-idx3", src->images, sizeof src->images) ||
            !find_in_dir(dir, split, "labels-idx1", src->labels, sizeof src->labels))
            return error_set(
                err, errlen, GRAFT_ERR_IO,
                "data '%s': expected %s/%s-images-idx3-ubyte[.gz] and %s-labels-idx1-ubyte[.gz]%s",
                spec, dir, split, split,
                src->fashion && dir != spec ? " (install Debian's dataset-fashion-mnist)" : "");
        return GRAFT_OK;
    }
    const char *p = strstr(spec, "images-idx3");
    if (!p) {
        return error_set(
            err, errlen, GRAFT_ERR_INVALID_ARG,
            "data '%s': not 'fashion-mnist', a directory, or a path containing 'images-idx3'",
            spec);
    }
    if (!is_file(spec))
        return error_set(err, errlen, GRAFT_ERR_IO, "data '%s': no such file", spec);
    size_t len = strlen(spec);
    if (len >= sizeof src->images)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "data '%s': path too long", spec);
    memcpy(src->images, spec, len + 1);
    size_t pre = (size_t)(p - spec);
    int k = snprintf(src->labels, sizeof src->labels, "%.*s%s%s", (int)pre, spec, "labels-idx1",
                     p + strlen("images-idx3"));
    if (k < 0 || (size_t)k >= sizeof src->labels)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "data '%s': path too long", spec);
    if (!is_file(src->labels))
        return error_set(err, errlen, GRAFT_ERR_IO, "data '%s': labels file %s not found", spec,
                         src->labels);
    src->fashion = contains_fashion(spec);
    return GRAFT_OK;
}

graft_status dataset_load_spec(const char *spec, int train, dataset **out, char *err,
                               size_t errlen)
{
    *out = NULL;
    idx_source *src = malloc(sizeof *src);
    if (!src) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "data: out of memory");
    graft_status s = dataset_resolve(spec, train, src, err, errlen);
    if (!s)
        s = dataset_load_idx(src->images, src->labels, src->fashion ? fashion_names : NULL,
                             src->fashion ? 10 : 0, out, err, errlen);
    free(src);
    return s;
}
