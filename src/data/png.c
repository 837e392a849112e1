/* PNG decoding (libpng full API, from memory) to float C x H x W, and an
 * in-memory encoder plus atomic file writer. */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "dataset.h"
#include "fileutil.h"

#define PNG_MAX_FILE ((size_t)1 << 30)
#define PNG_MAX_DIM 16384u
#define PNG_MAX_PIXELS ((size_t)1 << 26)

typedef struct png_mem {
    const unsigned char *buf;
    size_t n, pos;
    char msg[200];
} png_mem;

static void on_error(png_structp png, png_const_charp msg)
{
    png_mem *m = png_get_error_ptr(png);
    snprintf(m->msg, sizeof m->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void read_mem(png_structp png, png_bytep out, size_t len)
{
    png_mem *m = png_get_io_ptr(png);
    if (len > m->n - m->pos) png_error(png, "unexpected end of data (truncated file)");
    memcpy(out, m->buf + m->pos, len);
    m->pos += len;
}

/* State kept outside the setjmp frame so it is valid after a longjmp. */
typedef struct dec_state {
    png_structp png;
    png_infop info;
    unsigned char *raw;
    png_bytep *rows;
    int w, h, chans, depth;
} dec_state;

/* Returns 0 on success; on error the message is in m->msg. */
static int decode_raw(dec_state *st)
{
    if (setjmp(png_jmpbuf(st->png))) return 1;
    png_set_user_limits(st->png, PNG_MAX_DIM, PNG_MAX_DIM);
    png_read_info(st->png, st->info);
    png_uint_32 w = png_get_image_width(st->png, st->info), h = png_get_image_height(st->png, st->info);
    if ((size_t)w * h > PNG_MAX_PIXELS) png_error(st->png, "image too large");
    int ct = png_get_color_type(st->png, st->info);
    int depth = png_get_bit_depth(st->png, st->info);
    if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(st->png);
    if (ct == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(st->png);
    if (png_get_valid(st->png, st->info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(st->png);
    if (depth == 16) png_set_swap(st->png); /* host order on little-endian; fixed below */
    png_set_interlace_handling(st->png);
    png_read_update_info(st->png, st->info);
    st->chans = png_get_channels(st->png, st->info);
    st->depth = png_get_bit_depth(st->png, st->info);
    st->w = (int)w;
    st->h = (int)h;
    size_t rowbytes = png_get_rowbytes(st->png, st->info);
    if (rowbytes != (size_t)w * st->chans * (st->depth / 8)) png_error(st->png, "unexpected row layout");
    st->raw = malloc(rowbytes * h);
    st->rows = malloc(sizeof *st->rows * h);
    if (!st->raw || !st->rows) png_error(st->png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) st->rows[y] = st->raw + rowbytes * y;
    png_read_image(st->png, st->rows);
    png_read_end(st->png, NULL);
    return 0;
}

graft_status png_decode_mem(const unsigned char *buf, size_t n, const char *name, int channels,
                            float **pix, int *w, int *h, char *err, size_t errlen)
{
    *pix = NULL;
    *w = *h = 0;
    if (channels != 1 && channels != 3)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "%s: channels must be 1 or 3, not %d",
                         name, channels);
    if (n < 8 || png_sig_cmp(buf, 0, 8) != 0)
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: not a PNG file (bad signature)", name);
    png_mem m = {buf, n, 0, ""};
    dec_state st;
    memset(&st, 0, sizeof st);
    st.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &m, on_error, on_warning);
    if (!st.png) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", name);
    st.info = png_create_info_struct(st.png);
    if (!st.info) {
        png_destroy_read_struct(&st.png, NULL, NULL);
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", name);
    }
    png_set_read_fn(st.png, &m, read_mem);
    graft_status s = GRAFT_OK;
    if (decode_raw(&st)) {
        s = strcmp(m.msg, "out of memory") == 0
                ? error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", name)
                : error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: corrupt or truncated PNG: %s", name,
                            m.msg);
        goto done;
    }
    size_t npix = (size_t)st.w * st.h;
    float *o = malloc(npix * channels * sizeof *o);
    if (!o) {
        s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", name);
        goto done;
    }
    const int ic = st.chans, color = ic >= 3, alpha = (ic == 2 || ic == 4);
    const double scale = st.depth == 16 ? 1.0 / 65535.0 : 1.0 / 255.0;
    for (size_t p = 0; p < npix; p++) {
        double v[4] = {0, 0, 0, 0};
        for (int k = 0; k < ic; k++) {
            if (st.depth == 16) {
                uint16_t u;
                memcpy(&u, st.raw + (p * ic + k) * 2, 2);
                /* png_set_swap gives little-endian samples; decode portably */
                const unsigned char *b = (const unsigned char *)&u;
                v[k] = (double)(b[0] | (unsigned)b[1] << 8) * scale;
            } else {
                v[k] = st.raw[p * ic + k] * scale;
            }
        }
        double a = alpha ? v[ic - 1] : 1.0;
        double r = v[0], g = color ? v[1] : v[0], b = color ? v[2] : v[0];
        if (channels == 1) {
            double l = color ? 0.299 * r + 0.587 * g + 0.114 * b : r;
            o[p] = (float)(l * a);
        } else {
            o[p] = (float)(r * a);
            o[npix + p] = (float)(g * a);
            o[2 * npix + p] = (float)(b * a);
        }
    }
    *pix = o;
    *w = st.w;
    *h = st.h;
done:
    png_destroy_read_struct(&st.png, &st.info, NULL);
    free(st.raw);
    free(st.rows);
    return s;
}

graft_status png_decode_file(const char *path, int channels, float **pix, int *w, int *h,
                             char *err, size_t errlen)
{
    *pix = NULL;
    unsigned char *buf;
    size_t n;
    int e = file_read_all(path, PNG_MAX_FILE, &buf, &n);
    if (e) return error_set(err, errlen, GRAFT_ERR_IO, "%s: cannot read: %s", path, strerror(e));
    graft_status s = png_decode_mem(buf, n, path, channels, pix, w, h, err, errlen);
    free(buf);
    return s;
}

typedef struct png_out {
    unsigned char *buf;
    size_t n, cap;
    int oom;
    char msg[200];
} png_out;

static void on_write(png_structp png, png_bytep data, size_t len)
{
    png_out *o = png_get_io_ptr(png);
    if (o->n + len > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->n + len) cap *= 2;
        unsigned char *p = realloc(o->buf, cap);
        if (!p) {
            o->oom = 1;
            png_error(png, "out of memory");
        }
        o->buf = p;
        o->cap = cap;
    }
    memcpy(o->buf + o->n, data, len);
    o->n += len;
}

static void on_flush(png_structp png) { (void)png; }

static void on_write_error(png_structp png, png_const_charp msg)
{
    png_out *o = png_get_error_ptr(png);
    snprintf(o->msg, sizeof o->msg, "%s", msg);
    png_longjmp(png, 1);
}

typedef struct enc_state {
    png_structp png;
    png_infop info;
    png_bytep *rows;
    unsigned char *swapped;
} enc_state;

static int encode(enc_state *st, const png_spec *sp, const void *pix)
{
    if (setjmp(png_jmpbuf(st->png))) return 1;
    png_set_IHDR(st->png, st->info, (png_uint_32)sp->w, (png_uint_32)sp->h, sp->bit_depth, sp->color_type,
                 sp->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (sp->color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256];
        for (int i = 0; i < sp->npalette; i++) {
            pal[i].red = sp->palette[3 * i];
            pal[i].green = sp->palette[3 * i + 1];
            pal[i].blue = sp->palette[3 * i + 2];
        }
        png_set_PLTE(st->png, st->info, pal, sp->npalette);
        if (sp->trns && sp->ntrns > 0) png_set_tRNS(st->png, st->info, sp->trns, sp->ntrns, NULL);
    }
    int ch = sp->color_type == PNG_COLOR_TYPE_GRAY || sp->color_type == PNG_COLOR_TYPE_PALETTE ? 1
             : sp->color_type == PNG_COLOR_TYPE_GRAY_ALPHA                                     ? 2
             : sp->color_type == PNG_COLOR_TYPE_RGB                                            ? 3
                                                                                               : 4;
    size_t rowbytes = (size_t)sp->w * ch * (sp->bit_depth / 8);
    st->rows = malloc(sizeof *st->rows * (size_t)sp->h);
    if (!st->rows) png_error(st->png, "out of memory");
    const unsigned char *src = pix;
    if (sp->bit_depth == 16) {
        /* PNG stores big-endian samples */
        st->swapped = malloc(rowbytes * (size_t)sp->h);
        if (!st->swapped) png_error(st->png, "out of memory");
        const uint16_t *s16 = pix;
        for (size_t i = 0; i < rowbytes * (size_t)sp->h / 2; i++) {
            st->swapped[2 * i] = (unsigned char)(s16[i] >> 8);
            st->swapped[2 * i + 1] = (unsigned char)(s16[i] & 0xff);
        }
        src = st->swapped;
    }
    for (int y = 0; y < sp->h; y++) st->rows[y] = (png_bytep)(uintptr_t)(src + rowbytes * (size_t)y);
    png_write_info(st->png, st->info);
    if (sp->interlace) png_set_interlace_handling(st->png);
    png_write_image(st->png, st->rows);
    png_write_end(st->png, NULL);
    return 0;
}

graft_status png_encode_mem(const png_spec *sp, const void *pix, unsigned char **out,
                            size_t *outn, char *err, size_t errlen)
{
    *out = NULL;
    *outn = 0;
    int ct = sp->color_type;
    if (sp->w < 1 || sp->h < 1 || (unsigned)sp->w > PNG_MAX_DIM || (unsigned)sp->h > PNG_MAX_DIM ||
        !(ct == 0 || ct == 2 || ct == 3 || ct == 4 || ct == 6) ||
        !(sp->bit_depth == 8 || (sp->bit_depth == 16 && ct != 3)) ||
        (ct == 3 && (!sp->palette || sp->npalette < 1 || sp->npalette > 256 || sp->ntrns > sp->npalette)))
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                         "png encode: unsupported %dx%d type %d depth %d", sp->w, sp->h, ct,
                         sp->bit_depth);
    png_out o;
    memset(&o, 0, sizeof o);
    enc_state st;
    memset(&st, 0, sizeof st);
    st.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &o, on_write_error, on_warning);
    if (!st.png) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "png encode: out of memory");
    st.info = png_create_info_struct(st.png);
    graft_status s = GRAFT_OK;
    if (!st.info) {
        s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "png encode: out of memory");
        goto done;
    }
    png_set_write_fn(st.png, &o, on_write, on_flush);
    if (encode(&st, sp, pix)) {
        s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "png encode: %s", o.msg);
        goto done;
    }
    *out = o.buf;
    *outn = o.n;
    o.buf = NULL;
done:
    png_destroy_write_struct(&st.png, &st.info);
    free(st.rows);
    free(st.swapped);
    free(o.buf);
    return s;
}

graft_status png_write_file(const char *path, const unsigned char *pix, int w, int h,
                            int channels, char *err, size_t errlen)
{
    if (channels != 1 && channels != 3)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                         "%s: PNG writer takes 1 or 3 channels, not %d", path, channels);
    png_spec sp = {w, h, channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, 8, NULL, 0, NULL, 0, 0};
    unsigned char *buf;
    size_t n;
    graft_status s = png_encode_mem(&sp, pix, &buf, &n, err, errlen);
    if (s) return s;
    int e = file_write_atomic(path, buf, n);
    free(buf);
    if (e) return error_set(err, errlen, GRAFT_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    return GRAFT_OK;
}
