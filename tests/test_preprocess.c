/* Resize/crop against a float64 reference; augmentation determinism,
 * flip and pad-crop correctness. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "testutil.h"

/* Reference: full bilinear resize (half-pixel centres, edge clamp) of the
 * shorter side to the target, in double, then centre crop. */
static void ref_resize_crop(const float *src, int c, int sh, int sw, double *dst, int dh, int dw)
{
    double s = fmax((double)dh / sh, (double)dw / sw);
    int rh = (int)fmax(dh, floor(sh * s + 0.5)), rw = (int)fmax(dw, floor(sw * s + 0.5));
    double *full = malloc((size_t)c * rh * rw * sizeof *full);
    ck_assert_ptr_nonnull(full);
    for (int k = 0; k < c; k++)
        for (int y = 0; y < rh; y++)
            for (int x = 0; x < rw; x++) {
                double fy = (y + 0.5) * sh / rh - 0.5, fx = (x + 0.5) * sw / rw - 0.5;
                fy = fmin(fmax(fy, 0), sh - 1);
                fx = fmin(fmax(fx, 0), sw - 1);
                int y0 = (int)floor(fy), x0 = (int)floor(fx);
                int y1 = y0 + 1 < sh ? y0 + 1 : y0, x1 = x0 + 1 < sw ? x0 + 1 : x0;
                double ty = fy - y0, tx = fx - x0;
                const float *p = src + (size_t)k * sh * sw;
                double v = (1 - ty) * ((1 - tx) * p[y0 * sw + x0] + tx * p[y0 * sw + x1]) +
                           ty * ((1 - tx) * p[y1 * sw + x0] + tx * p[y1 * sw + x1]);
                full[((size_t)k * rh + y) * rw + x] = v;
            }
    int oy = (rh - dh) / 2, ox = (rw - dw) / 2;
    for (int k = 0; k < c; k++)
        for (int y = 0; y < dh; y++)
            for (int x = 0; x < dw; x++)
                dst[((size_t)k * dh + y) * dw + x] = full[((size_t)k * rh + y + oy) * rw + x + ox];
    free(full);
}

START_TEST(resize_crop)
{
    static const int cases[][4] = {{28, 28, 32, 32}, {32, 32, 28, 28}, {10, 30, 8, 8}, {30, 10, 12, 9},
                                   {7, 5, 16, 16}, {1, 6, 3, 3}, {64, 48, 24, 32}, {5, 5, 5, 5}};
    tu_rng r = {99};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int sh = cases[i][0], sw = cases[i][1], dh = cases[i][2], dw = cases[i][3], c = 3;
        float *src = malloc((size_t)c * sh * sw * sizeof *src), *dst = malloc((size_t)c * dh * dw * sizeof *dst);
        double *ref = malloc((size_t)c * dh * dw * sizeof *ref);
        ck_assert(src && dst && ref);
        tu_fill(&r, src, (size_t)c * sh * sw, 0, 1);
        preprocess_resize_crop(src, c, sh, sw, dst, dh, dw);
        ref_resize_crop(src, c, sh, sw, ref, dh, dw);
        double e = tu_rel_err(dst, ref, (size_t)c * dh * dw);
        ck_assert_msg(e < 1e-6, "%dx%d -> %dx%d: rel err %g", sh, sw, dh, dw, e);
        if (sh == dh && sw == dw) ck_assert_mem_eq(src, dst, (size_t)c * sh * sw * sizeof *src);
        free(src);
        free(dst);
        free(ref);
    }
}
END_TEST

#define C 2
#define H 6
#define W 7
#define SZ (C * H * W)

START_TEST(augment_determinism)
{
    tu_rng r = {5};
    float src[SZ], keep[SZ], a[SZ], b[SZ];
    tu_fill(&r, src, SZ, 0.1f, 1);
    memcpy(keep, src, sizeof src);
    augment_opts o = augment_defaults();
    o.pad = 2;
    o.hflip = 1;
    o.rrc = 1;
    augment_image(src, C, H, W, a, &o, 1, 0, 3);
    augment_image(src, C, H, W, b, &o, 1, 0, 3);
    ck_assert_mem_eq(a, b, sizeof a);
    ck_assert_mem_eq(src, keep, sizeof src); /* source untouched */
    int differ_seed = 0, differ_epoch = 0, differ_index = 0;
    for (int s = 2; s < 12; s++) {
        augment_image(src, C, H, W, b, &o, (uint64_t)s, 0, 3);
        differ_seed += memcmp(a, b, sizeof a) != 0;
        augment_image(src, C, H, W, b, &o, 1, (uint64_t)s, 3);
        differ_epoch += memcmp(a, b, sizeof a) != 0;
        augment_image(src, C, H, W, b, &o, 1, 0, (uint64_t)s);
        differ_index += memcmp(a, b, sizeof a) != 0;
    }
    ck_assert(differ_seed >= 8 && differ_epoch >= 8 && differ_index >= 8);
    /* all off: identity */
    augment_opts off = augment_defaults();
    augment_image(src, C, H, W, b, &off, 1, 0, 3);
    ck_assert_mem_eq(src, b, sizeof src);
}
END_TEST

START_TEST(flip_and_pad)
{
    tu_rng r = {6};
    float src[SZ], out[SZ];
    tu_fill(&r, src, SZ, 0.1f, 1);
    augment_opts o = augment_defaults();
    o.hflip = 1;
    int flipped = 0, same = 0;
    for (int i = 0; i < 64; i++) {
        augment_image(src, C, H, W, out, &o, 42, 0, (uint64_t)i);
        int is_same = memcmp(out, src, sizeof out) == 0, is_flip = 1;
        for (int k = 0; k < C; k++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    if (out[(k * H + y) * W + x] != src[(k * H + y) * W + (W - 1 - x)]) is_flip = 0;
        ck_assert(is_same || is_flip);
        flipped += is_flip;
        same += is_same;
    }
    ck_assert(flipped > 10 && same > 10);

    o = augment_defaults();
    o.pad = 3;
    int shifted = 0;
    for (int i = 0; i < 64; i++) {
        augment_image(src, C, H, W, out, &o, 43, 1, (uint64_t)i);
        /* find the shift (dy, dx) in [-3, 3] that explains the output */
        int found = 0;
        for (int dy = -3; dy <= 3 && !found; dy++)
            for (int dx = -3; dx <= 3 && !found; dx++) {
                int ok = 1;
                for (int k = 0; k < C && ok; k++)
                    for (int y = 0; y < H && ok; y++)
                        for (int x = 0; x < W && ok; x++) {
                            int sy = y + dy, sx = x + dx;
                            float want = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? src[(k * H + sy) * W + sx] : 0.0f;
                            ok = out[(k * H + y) * W + x] == want;
                        }
                if (ok) {
                    found = 1;
                    shifted += dy != 0 || dx != 0;
                }
            }
        ck_assert_msg(found, "index %d: output is not a zero-padded shift", i);
    }
    ck_assert(shifted > 32);

    /* random resized crop stays within the input's value range */
    o = augment_defaults();
    o.rrc = 1;
    float lo = 1e9f, hi = -1e9f;
    for (int i = 0; i < SZ; i++) {
        lo = fminf(lo, src[i]);
        hi = fmaxf(hi, src[i]);
    }
    for (int i = 0; i < 32; i++) {
        augment_image(src, C, H, W, out, &o, 44, 0, (uint64_t)i);
        for (int j = 0; j < SZ; j++) ck_assert(out[j] >= lo - 1e-6f && out[j] <= hi + 1e-6f);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("preprocess");
    TCase *tc = tcase_create("preprocess");
    tcase_add_test(tc, resize_crop);
    tcase_add_test(tc, augment_determinism);
    tcase_add_test(tc, flip_and_pad);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
