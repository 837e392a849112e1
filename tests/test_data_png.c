/* PNG decoder over every colour type (8/16-bit, palette + tRNS) with
 * exact pixel checks, bad inputs, and the atomic writer. */
#include <math.h>
#include <stdint.h>

#include "dataset.h"
#include "testutil.h"
#include "tu_data.h"

#define W 5
#define H 3

static float *decode(const unsigned char *buf, size_t n, int ch)
{
    float *pix;
    int w, h;
    char err[512];
    graft_status s = png_decode_mem(buf, n, "mem.png", ch, &pix, &w, &h, err, sizeof err);
    ck_assert_msg(s == GRAFT_OK, "%s", err);
    ck_assert_int_eq(w, W);
    ck_assert_int_eq(h, H);
    return pix;
}

static unsigned char *encode(const png_spec *sp, const void *pix, size_t *n)
{
    unsigned char *out;
    char err[512];
    ck_assert_msg(png_encode_mem(sp, pix, &out, n, err, sizeof err) == GRAFT_OK, "%s", err);
    return out;
}

/* expected r,g,b,a in [0,1] of pixel p, given interleaved samples */
typedef void (*expect_fn)(int p, double *rgba);

static void check(const unsigned char *png, size_t n, expect_fn f, double tol)
{
    for (int ch = 1; ch <= 3; ch += 2) {
        float *x = decode(png, n, ch);
        for (int p = 0; p < W * H; p++) {
            double v[4];
            f(p, v);
            if (ch == 1) {
                double l = (0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2]) * v[3];
                if (v[0] == v[1] && v[1] == v[2]) l = v[0] * v[3];
                ck_assert_msg(fabs(x[p] - l) <= tol, "pixel %d: luminance %.9g, expected %.9g", p, x[p], l);
            } else {
                for (int k = 0; k < 3; k++)
                    ck_assert_msg(fabs(x[k * W * H + p] - v[k] * v[3]) <= tol, "pixel %d ch %d: %.9g, expected %.9g",
                                  p, k, x[k * W * H + p], v[k] * v[3]);
            }
        }
        free(x);
    }
}

static unsigned char s8(int p, int k) { return (unsigned char)((p * 53 + k * 97 + 7) % 256); }
static uint16_t s16(int p, int k) { return (uint16_t)((p * 12345u + k * 4099u + 3u) % 65536u); }

static void e_grey8(int p, double *v) { v[0] = v[1] = v[2] = s8(p, 0) / 255.0; v[3] = 1; }
static void e_ga8(int p, double *v) { v[0] = v[1] = v[2] = s8(p, 0) / 255.0; v[3] = s8(p, 1) / 255.0; }
static void e_rgb8(int p, double *v) { for (int k = 0; k < 3; k++) v[k] = s8(p, k) / 255.0; v[3] = 1; }
static void e_rgba8(int p, double *v) { for (int k = 0; k < 4; k++) v[k] = s8(p, k) / 255.0; }
static void e_grey16(int p, double *v) { v[0] = v[1] = v[2] = s16(p, 0) / 65535.0; v[3] = 1; }
static void e_rgb16(int p, double *v) { for (int k = 0; k < 3; k++) v[k] = s16(p, k) / 65535.0; v[3] = 1; }
static void e_rgba16(int p, double *v) { for (int k = 0; k < 4; k++) v[k] = s16(p, k) / 65535.0; }
static void e_ga16(int p, double *v) { v[0] = v[1] = v[2] = s16(p, 0) / 65535.0; v[3] = s16(p, 1) / 65535.0; }

static const unsigned char pal[4 * 3] = {255, 0, 0, 0, 200, 10, 30, 60, 90, 17, 17, 17};
static const unsigned char trns[2] = {255, 128};
static void e_pal(int p, double *v)
{
    int i = p % 4;
    for (int k = 0; k < 3; k++) v[k] = pal[3 * i + k] / 255.0;
    v[3] = i < 2 ? trns[i] / 255.0 : 1.0;
}

static unsigned char *make8(int ch, size_t *n, int ct)
{
    unsigned char px[W * H * 4];
    for (int p = 0; p < W * H; p++)
        for (int k = 0; k < ch; k++) px[p * ch + k] = s8(p, k);
    png_spec sp = {W, H, ct, 8, NULL, 0, NULL, 0, 0};
    return encode(&sp, px, n);
}

static unsigned char *make16(int ch, size_t *n, int ct)
{
    uint16_t px[W * H * 4];
    for (int p = 0; p < W * H; p++)
        for (int k = 0; k < ch; k++) px[p * ch + k] = s16(p, k);
    png_spec sp = {W, H, ct, 16, NULL, 0, NULL, 0, 0};
    return encode(&sp, px, n);
}

START_TEST(colour_types)
{
    /* 8-bit values are exact: x == v/255 within float rounding */
    const double t8 = 1e-7, t16 = 1e-7;
    size_t n;
    unsigned char *b;
    b = make8(1, &n, 0); check(b, n, e_grey8, t8); free(b);
    b = make8(2, &n, 4); check(b, n, e_ga8, t8); free(b);
    b = make8(3, &n, 2); check(b, n, e_rgb8, t8); free(b);
    b = make8(4, &n, 6); check(b, n, e_rgba8, t8); free(b);
    b = make16(1, &n, 0); check(b, n, e_grey16, t16); free(b);
    b = make16(2, &n, 4); check(b, n, e_ga16, t16); free(b);
    b = make16(3, &n, 2); check(b, n, e_rgb16, t16); free(b);
    b = make16(4, &n, 6); check(b, n, e_rgba16, t16); free(b);
    unsigned char idx[W * H];
    for (int p = 0; p < W * H; p++) idx[p] = (unsigned char)(p % 4);
    png_spec sp = {W, H, 3, 8, pal, 4, trns, 2, 0};
    b = encode(&sp, idx, &n);
    check(b, n, e_pal, t8);
    free(b);

    /* Adam7-interlaced RGBA */
    {
        unsigned char px[W * H * 4];
        for (int p = 0; p < W * H; p++)
            for (int k = 0; k < 4; k++) px[p * 4 + k] = s8(p, k);
        png_spec si = {W, H, 6, 8, NULL, 0, NULL, 0, 1};
        b = encode(&si, px, &n);
        check(b, n, e_rgba8, t8);
        free(b);
    }
    /* exact 8-bit identity: grey decodes to v/255 and quantises back */
    b = make8(1, &n, 0);
    float *x = decode(b, n, 1);
    for (int p = 0; p < W * H; p++) ck_assert_int_eq((int)lrintf(x[p] * 255.0f), s8(p, 0));
    free(x);
    free(b);
    /* 16-bit keeps its precision */
    b = make16(1, &n, 0);
    x = decode(b, n, 1);
    for (int p = 0; p < W * H; p++) ck_assert_int_eq((int)lrint(x[p] * 65535.0), s16(p, 0));
    free(x);
    free(b);
}
END_TEST

START_TEST(bad_inputs)
{
    size_t n;
    unsigned char *b = make8(3, &n, 2);
    float *x;
    int w, h;
    char err[512];
    /* truncated */
    ck_assert_int_eq(png_decode_mem(b, n / 2, "cut.png", 3, &x, &w, &h, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_ptr_null(x);
    ck_assert_msg(strstr(err, "cut.png"), "%s", err);
    /* every prefix fails cleanly */
    for (size_t k = 0; k < n; k++) {
        ck_assert_int_eq(png_decode_mem(b, k, "p.png", 1, &x, &w, &h, err, sizeof err), GRAFT_ERR_FORMAT);
        ck_assert_ptr_null(x);
    }
    /* corrupt byte inside the data (CRC mismatch or bad deflate) */
    unsigned char *c = malloc(n);
    ck_assert_ptr_nonnull(c);
    memcpy(c, b, n);
    c[n - 20] ^= 0x5a;
    ck_assert_int_eq(png_decode_mem(c, n, "crc.png", 3, &x, &w, &h, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "crc.png"), "%s", err);
    free(c);
    /* not a PNG at all, named .png, through the file reader */
    char dir[256], p[512];
    tu_tmpdir(dir, sizeof dir);
    tu_path(p, sizeof p, dir, "text.png");
    const char *txt = "hello, this is not an image\n";
    tu_write(p, txt, strlen(txt));
    ck_assert_int_eq(png_decode_file(p, 1, &x, &w, &h, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, p) && strstr(err, "not a PNG"), "%s", err);
    tu_path(p, sizeof p, dir, "missing.png");
    ck_assert_int_eq(png_decode_file(p, 1, &x, &w, &h, err, sizeof err), GRAFT_ERR_IO);
    ck_assert_int_eq(png_decode_mem(b, n, "x.png", 2, &x, &w, &h, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    free(b);
    tu_rmtree(dir);
}
END_TEST

START_TEST(writer_roundtrip)
{
    char dir[256], p[512], err[512];
    tu_tmpdir(dir, sizeof dir);
    unsigned char px[W * H * 3];
    for (int i = 0; i < W * H * 3; i++) px[i] = (unsigned char)(i * 29 + 1);
    for (int ch = 1; ch <= 3; ch += 2) {
        tu_path(p, sizeof p, dir, ch == 1 ? "g.png" : "rgb.png");
        ck_assert_msg(png_write_file(p, px, W, H, ch, err, sizeof err) == GRAFT_OK, "%s", err);
        float *x;
        int w, h;
        ck_assert_msg(png_decode_file(p, ch, &x, &w, &h, err, sizeof err) == GRAFT_OK, "%s", err);
        ck_assert_int_eq(w, W);
        ck_assert_int_eq(h, H);
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++)
                for (int k = 0; k < ch; k++)
                    ck_assert_int_eq((int)lrintf(x[(k * H + y) * W + xx] * 255.0f), px[(y * W + xx) * ch + k]);
        free(x);
    }
    /* no temp files left behind */
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') count++;
    closedir(d);
    ck_assert_int_eq(count, 2);
    ck_assert_int_eq(png_write_file(p, px, W, H, 2, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    tu_path(p, sizeof p, dir, "no/such/dir.png");
    ck_assert_int_eq(png_write_file(p, px, W, H, 1, err, sizeof err), GRAFT_ERR_IO);
    ck_assert_msg(strstr(err, "no/such/dir.png"), "%s", err);
    tu_rmtree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("data_png");
    TCase *tc = tcase_create("png");
    tcase_add_test(tc, colour_types);
    tcase_add_test(tc, bad_inputs);
    tcase_add_test(tc, writer_roundtrip);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
