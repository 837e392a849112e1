/* JPEG decoding (libjpeg-turbo through the libjpeg API, from memory) to
 * float C x H x W, with Adobe CMYK/YCCK converted to RGB and the EXIF
 * orientation applied. */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE */
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h> /* after jpeglib.h: its message list depends on jconfig.h */

#include "error.h"
#include "image.h"
#include "internal.h"

/* Same ceiling as the PNG reader: 64 Mpixel (a 50 Mpixel camera fits);
 * checked against the header before anything the size of the image is
 * allocated. */
#define JPEG_MAX_PIXELS ((size_t)1 << 26)

/* libjpeg's default error manager prints and calls exit(); this one keeps
 * the message and jumps back into jpeg_decode_mem's frame instead. */
typedef struct jpeg_fail {
    struct jpeg_error_mgr pub; /* first: libjpeg casts cinfo->err to it */
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_fail;

static void on_error_exit(j_common_ptr c)
{
    jpeg_fail *f = (jpeg_fail *)c->err;
    c->err->format_message(c, f->msg);
    longjmp(f->jump, 1);
}

/* Warnings after which libjpeg goes on with missing or garbled pixels
 * (grey fill at the end of a truncated file, a smeared block after a bad
 * code). A training set is better off without such an image, so they are
 * errors here. The others (extraneous bytes between markers, unknown
 * JFIF/Adobe versions, a bad ICC profile) leave the pixels intact. */
static int warning_loses_data(int code)
{
    switch (code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
#if JPEG_LIB_VERSION >= 70 || defined(C_ARITH_CODING_SUPPORTED) || defined(D_ARITH_CODING_SUPPORTED)
    case JWRN_ARITH_BAD_CODE: /* the enum has it only in these builds */
#endif
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_BOGUS_PROGRESSION:
        return 1;
    default:
        return 0;
    }
}

static void on_emit_message(j_common_ptr c, int level)
{
    if (level >= 0) return; /* trace output */
    if (warning_loses_data(c->err->msg_code)) on_error_exit(c);
    c->err->num_warnings++;
}

static void on_output_message(j_common_ptr c) { (void)c; } /* the library never prints */

static unsigned rd16(const unsigned char *p, int big)
{
    return big ? (unsigned)p[0] << 8 | p[1] : (unsigned)p[1] << 8 | p[0];
}

static uint32_t rd32(const unsigned char *p, int big)
{
    return big ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Orientation (1..8) from an APP1 payload, 0 when it holds none. The
 * payload is "Exif\0\0" then a TIFF file (either byte order) whose first IFD
 * may carry tag 0x0112, a SHORT. Every offset is bounds-checked: the data
 * comes from the file. */
static int exif_orientation(const unsigned char *d, size_t n)
{
    if (n < 6 || memcmp(d, "Exif\0\0", 6) != 0) return 0;
    d += 6; /* TIFF offsets count from here */
    n -= 6;
    if (n < 8) return 0;
    int big;
    if (d[0] == 'I' && d[1] == 'I') big = 0;
    else if (d[0] == 'M' && d[1] == 'M') big = 1;
    else return 0;
    if (rd16(d + 2, big) != 42) return 0;
    uint32_t ifd = rd32(d + 4, big);
    if (ifd < 8 || ifd > n || n - ifd < 2) return 0;
    unsigned count = rd16(d + ifd, big);
    for (unsigned i = 0; i < count; i++) {
        size_t e = ifd + 2 + (size_t)12 * i;
        if (e > n || n - e < 12) break;
        if (rd16(d + e, big) != 0x0112) continue;
        if (rd16(d + e + 2, big) != 3 || rd32(d + e + 4, big) < 1) return 0; /* SHORT, count >= 1 */
        unsigned v = rd16(d + e + 8, big);
        return v >= 1 && v <= 8 ? (int)v : 0;
    }
    return 0;
}

/* State kept outside the setjmp frame so it is valid after a longjmp. */
typedef struct jpeg_state {
    struct jpeg_decompress_struct cinfo;
    jpeg_fail fail;
    unsigned char *raw; /* h rows of w x comps samples, as stored */
    int w, h, comps;
    int inverted_cmyk;  /* Adobe APP14 present: CMYK samples are 255 - ink */
    int orientation;    /* EXIF 1..8 */
    size_t too_big;     /* pixel count of an image over JPEG_MAX_PIXELS */
    J_COLOR_SPACE unsupported;
} jpeg_state;

enum { DEC_OK, DEC_LIBJPEG, DEC_TOO_BIG, DEC_NO_MEMORY, DEC_UNSUPPORTED };

/* The smallest of libjpeg's fast DCT-domain reductions (1/8, 1/4, 1/2)
 * whose upright output is still at least min_w x min_h; 1/1 when none is. */
static void choose_scale(j_decompress_ptr ci, int rotated, int min_w, int min_h)
{
    if (min_w < 1 || min_h < 1) return;
    for (unsigned denom = 8; denom >= 2; denom /= 2) {
        ci->scale_num = 1;
        ci->scale_denom = denom;
        jpeg_calc_output_dimensions(ci);
        JDIMENSION uw = rotated ? ci->output_height : ci->output_width;
        JDIMENSION uh = rotated ? ci->output_width : ci->output_height;
        if (uw >= (JDIMENSION)min_w && uh >= (JDIMENSION)min_h) return;
    }
    ci->scale_num = ci->scale_denom = 1;
}

static int decode_raw(jpeg_state *st, const unsigned char *buf, size_t n, int min_w, int min_h)
{
    j_decompress_ptr ci = &st->cinfo;
    if (setjmp(st->fail.jump)) return DEC_LIBJPEG;
    jpeg_create_decompress(ci);
    jpeg_mem_src(ci, buf, (unsigned long)n);
    jpeg_save_markers(ci, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(ci, TRUE);

    size_t npix = (size_t)ci->image_width * ci->image_height;
    if (npix > JPEG_MAX_PIXELS) {
        st->too_big = npix;
        return DEC_TOO_BIG;
    }
    switch (ci->jpeg_color_space) {
    case JCS_GRAYSCALE: ci->out_color_space = JCS_GRAYSCALE; break;
    case JCS_YCbCr:
    case JCS_RGB: ci->out_color_space = JCS_RGB; break;
    case JCS_CMYK:
    case JCS_YCCK: ci->out_color_space = JCS_CMYK; break; /* libjpeg turns YCCK into CMYK */
    default: st->unsupported = ci->jpeg_color_space; return DEC_UNSUPPORTED;
    }
    st->inverted_cmyk = ci->saw_Adobe_marker;
    st->orientation = 1;
    for (jpeg_saved_marker_ptr m = ci->marker_list; m; m = m->next) {
        int o = m->marker == JPEG_APP0 + 1 ? exif_orientation(m->data, m->data_length) : 0;
        if (o) {
            st->orientation = o;
            break;
        }
    }
    choose_scale(ci, st->orientation >= 5, min_w, min_h);

    jpeg_start_decompress(ci);
    st->w = (int)ci->output_width;
    st->h = (int)ci->output_height;
    st->comps = ci->output_components;
    size_t stride = (size_t)st->w * (size_t)st->comps;
    st->raw = malloc(stride * (size_t)st->h);
    if (!st->raw) return DEC_NO_MEMORY;
    while (ci->output_scanline < ci->output_height) {
        JSAMPROW row = st->raw + stride * ci->output_scanline;
        jpeg_read_scanlines(ci, &row, 1);
    }
    jpeg_finish_decompress(ci); /* reads to EOI: a cut-off tail is caught too */
    return DEC_OK;
}

/* Where upright pixel (ox, oy) lives in the stored image: index base +
 * ox * dx + oy * dy. EXIF's eight orientations are the four rotations, each
 * with or without a mirror; 5..8 swap width and height. */
static void orientation_walk(int o, int w, int h, ptrdiff_t *base, ptrdiff_t *dx, ptrdiff_t *dy)
{
    const ptrdiff_t W = w, last_row = (ptrdiff_t)(h - 1) * W;
    switch (o) {
    case 2: *base = W - 1; *dx = -1; *dy = W; break;                 /* mirrored */
    case 3: *base = last_row + W - 1; *dx = -1; *dy = -W; break;     /* rotated 180 */
    case 4: *base = last_row; *dx = 1; *dy = -W; break;              /* flipped */
    case 5: *base = 0; *dx = W; *dy = 1; break;                      /* transposed */
    case 6: *base = last_row; *dx = -W; *dy = 1; break;              /* needs 90 clockwise */
    case 7: *base = last_row + W - 1; *dx = -W; *dy = -1; break;     /* transverse */
    case 8: *base = W - 1; *dx = W; *dy = -1; break;                 /* needs 90 anticlockwise */
    default: *base = 0; *dx = 1; *dy = W; break;
    }
}

/* Stored 8-bit samples -> upright float planes, one output row at a time
 * walking the stored image along the orientation's strides. Values are
 * computed in double and rounded once, as the PNG reader does, so a grey or
 * RGB sample v is exactly (float)(v / 255.0). */
static void to_float(const jpeg_state *st, int channels, float *o, int ow, int oh)
{
    double lut[256];
    for (int v = 0; v < 256; v++) lut[v] = v / 255.0;
    ptrdiff_t base, dx, dy;
    orientation_walk(st->orientation, st->w, st->h, &base, &dx, &dy);
    const size_t npix = (size_t)ow * oh;
    const int ic = st->comps;
    const ptrdiff_t step = dx * ic;
    float *o0 = o, *o1 = channels == 3 ? o + npix : NULL, *o2 = channels == 3 ? o + 2 * npix : NULL;
    for (int oy = 0; oy < oh; oy++) {
        /* pixel ox of this output row is at row0 + ox * step (step may be
         * negative; computed per pixel so no pointer leaves the image) */
        const unsigned char *row0 = st->raw + (base + oy * dy) * ic;
        const size_t row = (size_t)oy * ow;
        if (ic == 1) {
            for (int ox = 0; ox < ow; ox++) {
                const unsigned char *s = row0 + ox * step;
                const float g = (float)lut[s[0]];
                o0[row + ox] = g;
                if (channels == 3) o1[row + ox] = o2[row + ox] = g;
            }
        } else if (ic == 3 && channels == 3) {
            for (int ox = 0; ox < ow; ox++) {
                const unsigned char *s = row0 + ox * step;
                o0[row + ox] = (float)lut[s[0]];
                o1[row + ox] = (float)lut[s[1]];
                o2[row + ox] = (float)lut[s[2]];
            }
        } else if (ic == 3) {
            for (int ox = 0; ox < ow; ox++) {
                const unsigned char *s = row0 + ox * step;
                o0[row + ox] = (float)(0.299 * lut[s[0]] + 0.587 * lut[s[1]] + 0.114 * lut[s[2]]);
            }
        } else {
            /* CMYK: the light left after ink is (1 - c)(1 - k). Adobe files
             * store 255 - ink, so their samples are already 1 - c. */
            const int inv = !st->inverted_cmyk;
            for (int ox = 0; ox < ow; ox++) {
                const unsigned char *s = row0 + ox * step;
                double k = lut[inv ? 255 - s[3] : s[3]];
                double r = lut[inv ? 255 - s[0] : s[0]] * k, g = lut[inv ? 255 - s[1] : s[1]] * k,
                       b = lut[inv ? 255 - s[2] : s[2]] * k;
                if (channels == 1) {
                    o0[row + ox] = (float)(0.299 * r + 0.587 * g + 0.114 * b);
                } else {
                    o0[row + ox] = (float)r;
                    o1[row + ox] = (float)g;
                    o2[row + ox] = (float)b;
                }
            }
        }
    }
}

graft_status jpeg_decode_mem(const unsigned char *buf, size_t n, const char *name, int channels,
                             float **pix, int *w, int *h, char *err, size_t errlen)
{
    return jpeg_decode_mem_fit(buf, n, name, channels, 0, 0, pix, w, h, err, errlen);
}

graft_status jpeg_decode_mem_fit(const unsigned char *buf, size_t n, const char *name, int channels, int min_w,
                                 int min_h, float **pix, int *w, int *h, char *err, size_t errlen)
{
    *pix = NULL;
    *w = *h = 0;
    if (channels != 1 && channels != 3)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "%s: channels must be 1 or 3, not %d", name, channels);
    if (n < 3 || buf[0] != 0xff || buf[1] != 0xd8 || buf[2] != 0xff)
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: not a JPEG file (bad signature)", name);
    if (n > (unsigned long)-1)
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: JPEG file too large", name);
    jpeg_state *st = calloc(1, sizeof *st);
    if (!st) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", name);
    st->cinfo.err = jpeg_std_error(&st->fail.pub);
    st->fail.pub.error_exit = on_error_exit;
    st->fail.pub.emit_message = on_emit_message;
    st->fail.pub.output_message = on_output_message;

    graft_status s = GRAFT_OK;
    switch (decode_raw(st, buf, n, min_w, min_h)) {
    case DEC_OK: break;
    case DEC_LIBJPEG:
        s = st->fail.pub.msg_code == JERR_OUT_OF_MEMORY
                ? error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", name)
                : error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: corrupt or truncated JPEG: %s", name, st->fail.msg);
        goto done;
    case DEC_TOO_BIG:
        s = error_set(err, errlen, GRAFT_ERR_FORMAT,
                     "%s: JPEG of %ux%u pixels is too large (%zu pixels, the limit is %zu)", name, st->cinfo.image_width, st->cinfo.image_height, st->too_big, JPEG_MAX_PIXELS);
        goto done;
    case DEC_UNSUPPORTED:
        s = error_set(err, errlen, GRAFT_ERR_UNSUPPORTED,
                     "%s: unsupported JPEG colour space (%d components, libjpeg colour space %d); "
                     "graft reads grey, RGB/YCbCr and CMYK/YCCK JPEGs",
                     name, st->cinfo.num_components, (int)st->unsupported);
        goto done;
    default:
        s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", name);
        goto done;
    }
    {
        const int rot = st->orientation >= 5;
        const int ow = rot ? st->h : st->w, oh = rot ? st->w : st->h;
        float *o = malloc((size_t)ow * oh * channels * sizeof *o);
        if (!o) {
            s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "%s: out of memory", name);
            goto done;
        }
        to_float(st, channels, o, ow, oh);
        *pix = o;
        *w = ow;
        *h = oh;
    }
done:
    jpeg_destroy_decompress(&st->cinfo);
    free(st->raw);
    free(st);
    return s;
}
