/* JPEG decoding and the content-sniffing image reader, against the committed
 * fixtures in data/fixtures/jpeg (tools/make_jpeg_fixtures.py) and Pillow's
 * decoding of them (expected.txt): baseline, progressive, grey, Adobe CMYK,
 * YCCK and plain CMYK made here with libjpeg's encoder, all eight EXIF
 * orientations in both byte orders, reduced-size (DCT-scaled) decoding,
 * truncated and corrupt files, every
 * prefix and every single-byte corruption, huge dimensions, and formats
 * graft recognises but does not read. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "fileutil.h"
#include "image.h"
#include "testutil.h"
#include "tu_data.h"

#define FIX GRAFT_DATA_DIR "/fixtures/jpeg/"

/* libjpeg-turbo here and the libjpeg Pillow links agree exactly when they
 * are the same build, but the JPEG standard lets IDCTs differ by one level
 * per sample (and fancy chroma upsampling adds another rounding), so a
 * different build may be off by 1-2 levels. Pillow's CMYK -> RGB also rounds
 * to 8 bits where graft keeps the product. 2.5 levels covers all of that;
 * a wrong colour transform, channel order or orientation is off by tens. */
#define TOL_JPEG (2.5 / 255.0)
#define TOL_PNG 1e-6

typedef struct ref_image {
    char name[64];
    int w, h, c;
    unsigned char *px; /* h x w x c, interleaved */
} ref_image;

static ref_image refs[32];
static int nrefs;

static void load_refs(void)
{
    if (nrefs) return;
    FILE *f = fopen(FIX "expected.txt", "r");
    ck_assert_msg(f != NULL, "cannot open %sexpected.txt", FIX);
    char line[256];
    long pos = ftell(f);
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') {
            pos = ftell(f);
            continue;
        }
        fseek(f, pos, SEEK_SET);
        break;
    }
    ref_image r;
    while (fscanf(f, "%63s %d %d %d", r.name, &r.w, &r.h, &r.c) == 4) {
        ck_assert_int_lt(nrefs, 32);
        size_t n = (size_t)r.w * r.h * r.c;
        r.px = malloc(n);
        ck_assert_ptr_nonnull(r.px);
        for (size_t i = 0; i < n; i++) {
            int v;
            ck_assert_int_eq(fscanf(f, "%d", &v), 1);
            r.px[i] = (unsigned char)v;
        }
        refs[nrefs++] = r;
    }
    fclose(f);
    ck_assert_int_ge(nrefs, 13);
}

static void free_refs(void)
{
    for (int i = 0; i < nrefs; i++) free(refs[i].px);
    nrefs = 0;
}

static unsigned char *read_fixture(const char *name, size_t *n)
{
    char p[4096];
    snprintf(p, sizeof p, FIX "%s", name);
    unsigned char *buf;
    ck_assert_msg(file_read_all(p, 1 << 20, &buf, n) == 0, "cannot read %s", p);
    return buf;
}

/* Largest |decoded - reference| over all samples of both channel counts. */
static double compare_with_ref(const float *x, int ch, const ref_image *r)
{
    const size_t np = (size_t)r->w * r->h;
    double worst = 0;
    for (size_t p = 0; p < np; p++) {
        double v[3];
        for (int k = 0; k < 3; k++) v[k] = r->px[p * r->c + (r->c == 3 ? k : 0)] / 255.0;
        if (ch == 1) {
            double l = r->c == 1 ? v[0] : 0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2];
            worst = fmax(worst, fabs(x[p] - l));
        } else {
            for (int k = 0; k < 3; k++) worst = fmax(worst, fabs(x[k * np + p] - v[k]));
        }
    }
    return worst;
}

static float *decode_file_ok(const char *name, int ch, int *w, int *h)
{
    char p[4096], err[512];
    snprintf(p, sizeof p, FIX "%s", name);
    float *x;
    graft_status s = image_decode_file(p, ch, &x, w, h, err, sizeof err);
    ck_assert_msg(s == GRAFT_OK, "%s: %s", name, err);
    return x;
}

START_TEST(matches_pillow)
{
    load_refs();
    for (int i = 0; i < nrefs; i++) {
        const ref_image *r = &refs[i];
        const int is_png = strstr(r->name, "png") != NULL;
        for (int ch = 1; ch <= 3; ch += 2) {
            int w, h;
            float *x = decode_file_ok(r->name, ch, &w, &h);
            ck_assert_msg(w == r->w && h == r->h, "%s: %dx%d, Pillow %dx%d", r->name, w, h, r->w, r->h);
            double d = compare_with_ref(x, ch, r);
            ck_assert_msg(d <= (is_png ? TOL_PNG : TOL_JPEG), "%s, %d channel(s): off by %.2f levels", r->name, ch,
                          d * 255);
            free(x);
            if (!is_png) {
                /* the JPEG entry point directly gives the same */
                size_t n;
                unsigned char *buf = read_fixture(r->name, &n);
                float *y;
                char err[512];
                ck_assert_msg(jpeg_decode_mem(buf, n, r->name, ch, &y, &w, &h, err, sizeof err) == GRAFT_OK, "%s", err);
                ck_assert_double_le(compare_with_ref(y, ch, r), TOL_JPEG);
                free(y);
                free(buf);
            }
        }
    }
    /* grey JPEG, 1 channel: libjpeg's grey samples exactly (v / 255) */
    int w, h;
    float *x = decode_file_ok("grey.jpg", 1, &w, &h);
    float *x3 = decode_file_ok("grey.jpg", 3, &w, &h);
    const size_t np = (size_t)w * h;
    for (size_t p = 0; p < np; p++) {
        float q = x[p] * 255.0f;
        ck_assert_msg(fabsf(q - rintf(q)) < 1e-4f, "grey sample %zu not v/255: %g", p, q);
        for (int k = 0; k < 3; k++) ck_assert(x3[k * np + p] == x[p]); /* replicated */
    }
    free(x);
    free(x3);
}
END_TEST

START_TEST(exif_orientation)
{
    /* The same upright picture stored in each orientation; after decoding,
     * every one is 13x7 with the bright mark at the top left, and close to
     * the plain one (the files were encoded separately, so block-boundary
     * errors differ a little). Pillow's exif_transpose agrees within
     * TOL_JPEG: matches_pillow covers those files too. */
    int w1, h1;
    float *up = decode_file_ok("exif1_le.jpg", 3, &w1, &h1);
    ck_assert_int_eq(w1, 13);
    ck_assert_int_eq(h1, 7);
    const size_t np = 13 * 7;
    for (int o = 1; o <= 8; o++) {
        char name[32];
        snprintf(name, sizeof name, "exif%d_%s.jpg", o, o % 2 == 0 ? "be" : "le");
        for (int ch = 1; ch <= 3; ch += 2) {
            int w, h;
            float *x = decode_file_ok(name, ch, &w, &h);
            ck_assert_msg(w == 13 && h == 7, "%s: %dx%d, not upright 13x7", name, w, h);
            double worst = 0;
            if (ch == 3) {
                /* the mark (bright in all three channels) is at the top left,
                 * and no other corner is bright in all three */
                const size_t corners[4] = {0, 12, 6 * 13, np - 1};
                for (int k = 0; k < 4; k++) {
                    const size_t p = corners[k];
                    float lo = fminf(x[p], fminf(x[np + p], x[2 * np + p]));
                    ck_assert_msg(k == 0 ? lo > 0.9f : lo < 0.9f, "%s: corner %d %s the mark", name, k,
                                  k ? "is" : "is not");
                }
                for (size_t i = 0; i < 3 * np; i++) worst = fmax(worst, fabs(x[i] - up[i]));
            } else {
                for (size_t p = 0; p < np; p++)
                    worst = fmax(worst, fabs(x[p] - (0.299 * up[p] + 0.587 * up[np + p] + 0.114 * up[2 * np + p])));
            }
            ck_assert_msg(worst < 6.0 / 255, "%s, %d channel(s): %.1f levels from the upright file", name, ch,
                          worst * 255);
            free(x);
        }
    }
    free(up);

    /* Malformed EXIF is ignored, never trusted: orientation 9, an IFD offset
     * past the end. exif6_be is stored 7 wide and 13 high. */
    size_t n;
    unsigned char *buf = read_fixture("exif6_be.jpg", &n);
    unsigned char *e = NULL;
    for (size_t i = 0; i + 8 <= n && !e; i++)
        if (!memcmp(buf + i, "Exif\0\0MM", 8)) e = buf + i;
    ck_assert_ptr_nonnull(e);
    float *x;
    int w, h;
    char err[512];
    ck_assert_int_eq(e[25], 6);
    e[25] = 9;
    ck_assert_msg(jpeg_decode_mem(buf, n, "o9.jpg", 3, &x, &w, &h, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert(w == 7 && h == 13);
    free(x);
    e[25] = 6;
    e[12] = 0x7f; /* IFD offset 0x7f08, past the end */
    ck_assert_msg(jpeg_decode_mem(buf, n, "ifd.jpg", 3, &x, &w, &h, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert(w == 7 && h == 13);
    free(x);
    e[12] = 0;
    ck_assert_msg(jpeg_decode_mem(buf, n, "ok.jpg", 3, &x, &w, &h, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert(w == 13 && h == 7);
    free(x);
    free(buf);
}
END_TEST

/* A JPEG made with libjpeg's encoder, no chroma subsampling, quality 100:
 * comps = 4 gives CMYK or YCCK (space) with or without the Adobe marker
 * (Pillow cannot write YCCK, hence here), comps = 3 RGB stored as YCbCr,
 * other counts JCS_UNKNOWN. */
static unsigned char *encode_jpeg(const unsigned char *samples, int w, int h, int comps, J_COLOR_SPACE space,
                                  int adobe, size_t *n)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    unsigned char *out = NULL;
    unsigned long outn = 0;
    jpeg_mem_dest(&ci, &out, &outn);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = comps;
    ci.in_color_space = comps == 4 ? JCS_CMYK : comps == 3 ? JCS_RGB : JCS_UNKNOWN;
    jpeg_set_defaults(&ci);
    jpeg_set_colorspace(&ci, space);
    jpeg_set_quality(&ci, 100, TRUE);
    for (int k = 0; k < comps; k++) ci.comp_info[k].h_samp_factor = ci.comp_info[k].v_samp_factor = 1;
    if (comps == 4) ci.write_Adobe_marker = adobe ? TRUE : FALSE;
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)(samples + (size_t)ci.next_scanline * w * comps);
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    *n = outn;
    return out;
}

static void expect_refused(const unsigned char *buf, size_t n, const char *name, graft_status want,
                           const char *words);

START_TEST(cmyk_and_ycck)
{
    enum { W = 11, H = 9 };
    unsigned char s[W * H * 4];
    for (int p = 0; p < W * H; p++)
        for (int k = 0; k < 4; k++) s[p * 4 + k] = (unsigned char)(40 + (p * 37 + k * 61) % 200);
    const struct {
        J_COLOR_SPACE space;
        int adobe;
    } cases[] = {{JCS_YCCK, 1}, {JCS_CMYK, 1}, {JCS_CMYK, 0}};
    for (int c = 0; c < 3; c++) {
        size_t n;
        unsigned char *jpg = encode_jpeg(s, W, H, 4, cases[c].space, cases[c].adobe, &n);
        float *x;
        int w, h;
        char err[512];
        ck_assert_msg(image_decode_mem(jpg, n, "cmyk.jpg", 3, &x, &w, &h, err, sizeof err) == GRAFT_OK, "%s", err);
        ck_assert(w == W && h == H);
        double worst = 0;
        for (int p = 0; p < W * H; p++) {
            /* Adobe files store 255 - ink; plain CMYK stores ink */
            double k = s[p * 4 + 3] / 255.0;
            if (!cases[c].adobe) k = 1 - k;
            for (int ch = 0; ch < 3; ch++) {
                double v = s[p * 4 + ch] / 255.0;
                if (!cases[c].adobe) v = 1 - v;
                worst = fmax(worst, fabs(x[ch * W * H + p] - v * k));
            }
        }
        /* q100, no subsampling: quantisation and YCC rounding only */
        ck_assert_msg(worst < 3.0 / 255, "case %d: off by %.2f levels", c, worst * 255);
        free(x);
        free(jpg);
    }
    /* two components: a valid JPEG, but no colour model graft knows */
    size_t n;
    unsigned char *two = encode_jpeg(s, W, H / 2, 2, JCS_UNKNOWN, 0, &n);
    expect_refused(two, n, "two.jpg", GRAFT_ERR_UNSUPPORTED, "unsupported JPEG colour space (2 components");
    free(two);
}
END_TEST

START_TEST(reduced_size_decode)
{
    /* a smooth 64x48 picture: decoded at 1/2, 1/4 or 1/8 size, each pixel is
     * close to the mean of the block of the full decode it stands for */
    enum { W = 64, H = 48 };
    unsigned char s[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            unsigned char *p = s + (y * W + x) * 3;
            p[0] = (unsigned char)(x * 4);
            p[1] = (unsigned char)(y * 5);
            p[2] = (unsigned char)(128 + 60 * sin(x * 0.1 + y * 0.07));
        }
    size_t n;
    unsigned char *jpg = encode_jpeg(s, W, H, 3, JCS_YCbCr, 0, &n);
    float *full;
    int fw, fh;
    char err[512];
    ck_assert_msg(jpeg_decode_mem(jpg, n, "f.jpg", 3, &full, &fw, &fh, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert(fw == W && fh == H);
    /* {min_w, min_h} -> expected reduction */
    const int cases[][3] = {{8, 6, 8}, {8, 7, 4}, {16, 12, 4}, {17, 12, 2}, {32, 24, 2}, {33, 10, 1},
                            {64, 48, 1}, {100, 100, 1}, {0, 5, 1}, {5, 0, 1}};
    for (int c = 0; c < 10; c++) {
        const int f = cases[c][2];
        for (int ch = 1; ch <= 3; ch += 2) {
            float *x;
            int w, h;
            ck_assert_msg(image_decode_mem_fit(jpg, n, "f.jpg", ch, cases[c][0], cases[c][1], &x, &w, &h, err,
                                               sizeof err) == GRAFT_OK, "%s", err);
            ck_assert_msg(w == W / f && h == H / f, "min %dx%d: %dx%d, expected 1/%d", cases[c][0], cases[c][1], w, h, f);
            double worst = 0;
            for (int k = 0; k < ch; k++)
                for (int y = 0; y < h; y++)
                    for (int xx = 0; xx < w; xx++) {
                        double m = 0;
                        for (int dy = 0; dy < f; dy++)
                            for (int dx = 0; dx < f; dx++) {
                                const size_t q = (size_t)(y * f + dy) * W + xx * f + dx;
                                m += ch == 3 ? full[k * W * H + q]
                                             : 0.299 * full[q] + 0.587 * full[W * H + q] + 0.114 * full[2 * W * H + q];
                            }
                        worst = fmax(worst, fabs(x[(k * h + y) * w + xx] - m / (f * f)));
                    }
            ck_assert_msg(worst < 3.0 / 255, "1/%d, %d channel(s): %.2f levels from the block means", f, ch, worst * 255);
            free(x);
        }
    }
    free(full);
    free(jpg);

    /* orientation is taken into account: exif6_be is stored 7x13, upright
     * 13x7; asking for 4x2 upright allows 1/4 (upright 4x2), not 1/8 */
    char p[4096];
    snprintf(p, sizeof p, FIX "exif6_be.jpg");
    float *x;
    int w, h;
    ck_assert_msg(image_decode_file_fit(p, 3, 4, 2, &x, &w, &h, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert_msg(w == 4 && h == 2, "%dx%d", w, h);
    free(x);
    ck_assert_msg(image_decode_file_fit(p, 3, 2, 4, &x, &w, &h, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert_msg(w == 7 && h == 4, "%dx%d", w, h); /* 1/4 would be 4x2: too short */
    free(x);
    /* PNG: full size whatever the hint */
    snprintf(p, sizeof p, FIX "png_named.jpg");
    ck_assert_msg(image_decode_file_fit(p, 1, 2, 2, &x, &w, &h, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert(w == 13 && h == 7);
    free(x);
}
END_TEST

static void expect_refused(const unsigned char *buf, size_t n, const char *name, graft_status want,
                           const char *words)
{
    float *x = (float *)&x;
    int w = -1, h = -1;
    char err[512] = "";
    graft_status s = image_decode_mem(buf, n, name, 3, &x, &w, &h, err, sizeof err);
    ck_assert_msg(s == want, "%s: status %s (%s), expected %s", name, graft_status_name(s), err,
                  graft_status_name(want));
    ck_assert_ptr_null(x);
    ck_assert(w == 0 && h == 0);
    ck_assert_msg(strstr(err, name) && strstr(err, words), "%s: message '%s' lacks '%s'", name, err, words);
}

static void expect_file_refused(const char *name, graft_status want, const char *words)
{
    char p[4096], err[512] = "";
    snprintf(p, sizeof p, FIX "%s", name);
    float *x;
    int w, h;
    graft_status s = image_decode_file(p, 1, &x, &w, &h, err, sizeof err);
    ck_assert_msg(s == want, "%s: status %s (%s)", name, graft_status_name(s), err);
    ck_assert_ptr_null(x);
    ck_assert_msg(strstr(err, p) && strstr(err, words), "%s: message '%s' lacks '%s'", name, err, words);
}

START_TEST(broken_files)
{
    expect_file_refused("truncated.jpg", GRAFT_ERR_FORMAT, "corrupt or truncated JPEG: Premature end");
    expect_file_refused("corrupt_marker.jpg", GRAFT_ERR_FORMAT, "corrupt or truncated JPEG");
    expect_file_refused("corrupt_scan.jpg", GRAFT_ERR_FORMAT, "corrupt or truncated JPEG: Corrupt JPEG data");

    /* every proper prefix of a baseline and a progressive file is refused:
     * libjpeg would hand back a grey-filled image */
    const char *names[] = {"baseline.jpg", "progressive.jpg"};
    for (int f = 0; f < 2; f++) {
        size_t n;
        unsigned char *buf = read_fixture(names[f], &n);
        for (size_t k = 0; k < n; k++) {
            float *x;
            int w, h;
            char err[512];
            graft_status s = image_decode_mem(buf, k, "cut.jpg", 1, &x, &w, &h, err, sizeof err);
            ck_assert_msg(s == GRAFT_ERR_FORMAT, "%s cut to %zu of %zu bytes: %s", names[f], k, n, graft_status_name(s));
            ck_assert_ptr_null(x);
            ck_assert_msg(strstr(err, "cut.jpg"), "%s", err);
        }
        /* every single corrupted byte: decoded or refused, never a crash,
         * an exit or a leak (ASan run) */
        int refused = 0;
        for (size_t k = 0; k < n; k++) {
            unsigned char keep = buf[k];
            buf[k] ^= 0xa5;
            float *x;
            int w, h;
            char err[512];
            graft_status s = jpeg_decode_mem(buf, n, "flip.jpg", 3, &x, &w, &h, err, sizeof err);
            ck_assert_msg(s == GRAFT_OK || s == GRAFT_ERR_FORMAT || s == GRAFT_ERR_UNSUPPORTED, "byte %zu: %s", k,
                          graft_status_name(s));
            ck_assert(s == GRAFT_OK ? x != NULL && w > 0 && h > 0 : x == NULL);
            if (s) refused++;
            free(x);
            buf[k] = keep;
        }
        ck_assert_int_gt(refused, 0);
        free(buf);
    }
}
END_TEST

START_TEST(huge_dimensions)
{
    size_t n;
    unsigned char *buf = read_fixture("baseline.jpg", &n);
    unsigned char *sof = NULL;
    for (size_t i = 0; i + 9 < n && !sof; i++)
        if (buf[i] == 0xff && buf[i + 1] == 0xc0) sof = buf + i;
    ck_assert_ptr_nonnull(sof);
    /* SOF0: FF C0, length(2), precision(1), height(2), width(2) */
    const unsigned dims[][2] = {{60000, 60000}, {9000, 8000}};
    for (int d = 0; d < 2; d++) {
        sof[5] = (unsigned char)(dims[d][1] >> 8);
        sof[6] = (unsigned char)dims[d][1];
        sof[7] = (unsigned char)(dims[d][0] >> 8);
        sof[8] = (unsigned char)dims[d][0];
        expect_refused(buf, n, "huge.jpg", GRAFT_ERR_FORMAT, "too large");
    }
    free(buf);
}
END_TEST

START_TEST(formats_by_content)
{
    /* a PNG named .jpg decodes (checked against Pillow in matches_pillow);
     * the JPEG entry point itself refuses it */
    int w, h;
    float *x = decode_file_ok("png_named.jpg", 3, &w, &h);
    ck_assert(w == 13 && h == 7);
    free(x);
    size_t n;
    unsigned char *buf = read_fixture("png_named.jpg", &n);
    char err[512];
    ck_assert_int_eq(jpeg_decode_mem(buf, n, "p.jpg", 3, &x, &w, &h, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "p.jpg") && strstr(err, "not a JPEG"), "%s", err);
    ck_assert_int_eq(image_sniff(buf, n), IMAGE_PNG);
    free(buf);

    expect_file_refused("sample.webp", GRAFT_ERR_UNSUPPORTED, "unsupported image format (WebP); graft reads PNG and JPEG");
    expect_file_refused("sample.bmp", GRAFT_ERR_UNSUPPORTED, "unsupported image format (BMP); graft reads PNG and JPEG");
    expect_file_refused("sample.gif", GRAFT_ERR_UNSUPPORTED, "unsupported image format (GIF); graft reads PNG and JPEG");
    expect_file_refused("sample.tiff", GRAFT_ERR_UNSUPPORTED, "unsupported image format (TIFF); graft reads PNG and JPEG");

    static const unsigned char heic[] = "\0\0\0\x18" "ftypheic\0\0\0\0mif1heic";
    expect_refused(heic, sizeof heic - 1, "phone.heic", GRAFT_ERR_UNSUPPORTED, "(HEIF/AVIF)");
    static const unsigned char tiff_be[] = "MM\0*\0\0\0\x08";
    expect_refused(tiff_be, sizeof tiff_be - 1, "mm.tif", GRAFT_ERR_UNSUPPORTED, "(TIFF)");
    static const char text[] = "BM is how this text file starts, which is not a bitmap";
    expect_refused((const unsigned char *)text, sizeof text - 1, "notes.png", GRAFT_ERR_FORMAT,
                   "graft reads PNG and JPEG");
    expect_refused((const unsigned char *)"", 0, "empty.jpg", GRAFT_ERR_FORMAT, "empty file");
    static const unsigned char soi[] = {0xff, 0xd8, 0xff};
    expect_refused(soi, 3, "soi.jpg", GRAFT_ERR_FORMAT, "corrupt or truncated JPEG");

    ck_assert_int_eq(image_decode_file(FIX "no-such-file.jpg", 3, &x, &w, &h, err, sizeof err), GRAFT_ERR_IO);
    ck_assert_msg(strstr(err, "no-such-file.jpg"), "%s", err);
    buf = read_fixture("baseline.jpg", &n);
    ck_assert_int_eq(image_decode_mem(buf, n, "b.jpg", 2, &x, &w, &h, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    ck_assert_ptr_null(x);
    free(buf);
    ck_assert_str_eq(image_format_name(IMAGE_JPEG), "JPEG");
    ck_assert_str_eq(image_format_name(IMAGE_UNKNOWN), "unknown");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("data_jpeg");
    TCase *tc = tcase_create("jpeg");
    tcase_add_test(tc, matches_pillow);
    tcase_add_test(tc, exif_orientation);
    tcase_add_test(tc, cmyk_and_ycck);
    tcase_add_test(tc, reduced_size_decode);
    tcase_add_test(tc, broken_files);
    tcase_add_test(tc, huge_dimensions);
    tcase_add_test(tc, formats_by_content);
    suite_add_tcase(s, tc);
    int rc = tu_run(s);
    free_refs();
    return rc;
}
