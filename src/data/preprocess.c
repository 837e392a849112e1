/* Resize/crop, channel statistics, normalisation and seeded augmentation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "dataset.h"
#include "rng.h"

void preprocess_sample_region(const float *src, int c, int sh, int sw, double y0, double x0,
                              double rh, double rw, float *dst, int dh, int dw)
{
    const double sy = rh / dh, sx = rw / dw;
    for (int y = 0; y < dh; y++) {
        double fy = y0 + (y + 0.5) * sy - 0.5;
        if (fy < 0) fy = 0;
        if (fy > sh - 1) fy = sh - 1;
        int iy = (int)fy;
        if (iy > sh - 2) iy = sh > 1 ? sh - 2 : 0;
        double ty = fy - iy;
        int iy1 = sh > 1 ? iy + 1 : iy;
        for (int x = 0; x < dw; x++) {
            double fx = x0 + (x + 0.5) * sx - 0.5;
            if (fx < 0) fx = 0;
            if (fx > sw - 1) fx = sw - 1;
            int ix = (int)fx;
            if (ix > sw - 2) ix = sw > 1 ? sw - 2 : 0;
            double tx = fx - ix;
            int ix1 = sw > 1 ? ix + 1 : ix;
            for (int k = 0; k < c; k++) {
                const float *p = src + (size_t)k * sh * sw;
                double a = p[(size_t)iy * sw + ix], b = p[(size_t)iy * sw + ix1];
                double cc = p[(size_t)iy1 * sw + ix], d = p[(size_t)iy1 * sw + ix1];
                double top = a + (b - a) * tx, bot = cc + (d - cc) * tx;
                dst[((size_t)k * dh + y) * dw + x] = (float)(top + (bot - top) * ty);
            }
        }
    }
}

void preprocess_resize_crop(const float *src, int c, int sh, int sw, float *dst, int dh, int dw)
{
    if (sh == dh && sw == dw) {
        memcpy(dst, src, (size_t)c * sh * sw * sizeof *dst);
        return;
    }
    /* scale so that the shorter side (relative to the target) fits */
    double s = fmax((double)dh / sh, (double)dw / sw);
    double rh = fmax(dh, floor(sh * s + 0.5)), rw = fmax(dw, floor(sw * s + 0.5));
    double oy = floor((rh - dh) / 2), ox = floor((rw - dw) / 2);
    /* output pixel y of the crop is resized pixel y+oy, i.e. source
     * coordinate (y + oy + 0.5) * sh/rh - 0.5 */
    double fy = sh / rh, fx = sw / rw;
    preprocess_sample_region(src, c, sh, sw, oy * fy, ox * fx, dh * fy, dw * fx, dst, dh, dw);
}

void dataset_channel_sums(const dataset *d, int lo, int hi, double *sum, double *sum2, double *count)
{
    size_t hw = (size_t)d->h * d->w;
    for (int k = 0; k < d->c; k++) {
        double s = 0, s2 = 0;
        long used = 0;
        for (int i = lo; i < hi; i++) {
            /* An image decoded on first use that does not decode is left
             * out here; training reports it when it reaches it. */
            const float *img = dataset_image(d, i);
            if (!img) continue;
            used++;
            const float *p = img + (size_t)k * hw;
            double a = 0, a2 = 0;
            for (size_t j = 0; j < hw; j++) {
                a += p[j];
                a2 += (double)p[j] * p[j];
            }
            s += a;
            s2 += a2;
        }
        sum[k] = s;
        sum2[k] = s2;
        count[k] = (double)used * hw;
    }
}

void dataset_stats_from_sums(int c, const double *sum, const double *sum2, const double *count,
                             float *mean, float *std)
{
    for (int k = 0; k < c; k++) {
        double cnt = count[k];
        double m = cnt > 0 ? sum[k] / cnt : 0;
        double v = cnt > 0 ? sum2[k] / cnt - m * m : 0;
        double sd = v > 0 ? sqrt(v) : 0;
        mean[k] = (float)m;
        std[k] = sd < 1e-6 ? 1.0f : (float)sd;
    }
}

void dataset_channel_stats(const dataset *d, float *mean, float *std)
{
    double *v = malloc(sizeof(double) * 3 * (size_t)d->c);
    if (!v) { /* no statistics: normalisation by mean 0, std 1 */
        for (int k = 0; k < d->c; k++) {
            mean[k] = 0;
            std[k] = 1;
        }
        return;
    }
    dataset_channel_sums(d, 0, d->n, v, v + d->c, v + 2 * d->c);
    dataset_stats_from_sums(d->c, v, v + d->c, v + 2 * d->c, mean, std);
    free(v);
}

void preprocess_normalize(float *x, int c, int hw, const float *mean, const float *std)
{
    for (int k = 0; k < c; k++) {
        float m = mean[k], inv = 1.0f / std[k];
        float *p = x + (size_t)k * hw;
        for (int j = 0; j < hw; j++) p[j] = (p[j] - m) * inv;
    }
}

augment_opts augment_defaults(void)
{
    augment_opts o = {0, 0, 0, 0.08, 1.0, 3.0 / 4.0, 4.0 / 3.0};
    return o;
}

/* torchvision RandomResizedCrop.get_params */
static void rrc_params(rng *r, int h, int w, const augment_opts *o, double *y0, double *x0, double *ch,
                       double *cw)
{
    augment_opts def = augment_defaults();
    if (!(o->scale_lo > 0 && o->scale_lo <= o->scale_hi && o->scale_hi <= 1 && o->ratio_lo > 0 &&
          o->ratio_lo <= o->ratio_hi)) {
        def.rrc = 1;
        o = &def; /* invalid ranges: torchvision defaults */
    }
    double area = (double)h * w;
    double lr0 = log(o->ratio_lo), lr1 = log(o->ratio_hi);
    for (int t = 0; t < 10; t++) {
        double ta = area * (o->scale_lo + (o->scale_hi - o->scale_lo) * rng_uniform(r));
        double ar = exp(lr0 + (lr1 - lr0) * rng_uniform(r));
        int cw_ = (int)floor(sqrt(ta * ar) + 0.5), ch_ = (int)floor(sqrt(ta / ar) + 0.5);
        if (cw_ > 0 && cw_ <= w && ch_ > 0 && ch_ <= h) {
            *y0 = (double)rng_below(r, (uint64_t)(h - ch_ + 1));
            *x0 = (double)rng_below(r, (uint64_t)(w - cw_ + 1));
            *ch = ch_;
            *cw = cw_;
            return;
        }
    }
    double in_ratio = (double)w / h;
    int cw_, ch_;
    if (in_ratio < o->ratio_lo) {
        cw_ = w;
        ch_ = (int)floor(w / o->ratio_lo + 0.5);
    } else if (in_ratio > o->ratio_hi) {
        ch_ = h;
        cw_ = (int)floor(h * o->ratio_hi + 0.5);
    } else {
        cw_ = w;
        ch_ = h;
    }
    if (ch_ < 1) ch_ = 1;
    if (cw_ < 1) cw_ = 1;
    if (ch_ > h) ch_ = h;
    if (cw_ > w) cw_ = w;
    *y0 = (h - ch_) / 2;
    *x0 = (w - cw_) / 2;
    *ch = ch_;
    *cw = cw_;
}

void augment_image(const float *src, int c, int h, int w, float *dst, const augment_opts *o,
                   uint64_t seed, uint64_t epoch, uint64_t index)
{
    /* One stream per stage so that turning a stage on or off does not
     * change the others' draws. */
    uint64_t base = data_mix(seed, epoch, index);
    rng r = {data_mix(base, 1, 0)}, rr = {data_mix(base, 2, 0)};
    size_t hw = (size_t)h * w;
    double y0 = 0, x0 = 0, ch = h, cw = w;
    if (o->rrc) rrc_params(&rr, h, w, o, &y0, &x0, &ch, &cw);
    int pad = o->pad > 0 ? o->pad : 0;
    int dy = (int)rng_below(&r, (uint64_t)(2 * pad + 1)) - pad;
    int dx = (int)rng_below(&r, (uint64_t)(2 * pad + 1)) - pad;
    int flip = (rng_next(&r) >> 63) != 0;

    if (o->rrc) preprocess_sample_region(src, c, h, w, y0, x0, ch, cw, dst, h, w);
    else memcpy(dst, src, (size_t)c * hw * sizeof *dst);
    if (pad > 0 && (dy || dx)) {
        /* shift in place: out(y,x) = in(y+dy, x+dx), zero outside; iterate
         * so that reads happen before the cell is overwritten */
        for (int k = 0; k < c; k++) {
            float *p = dst + (size_t)k * hw;
            int ys = dy > 0 ? 0 : h - 1, ye = dy > 0 ? h : -1, yi = dy > 0 ? 1 : -1;
            int xs = dx > 0 ? 0 : w - 1, xe = dx > 0 ? w : -1, xi = dx > 0 ? 1 : -1;
            for (int y = ys; y != ye; y += yi)
                for (int x = xs; x != xe; x += xi) {
                    int sy = y + dy, sx = x + dx;
                    p[(size_t)y * w + x] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? p[(size_t)sy * w + sx] : 0.0f;
                }
        }
    }
    if (o->hflip && flip) {
        for (int k = 0; k < c; k++)
            for (int y = 0; y < h; y++) {
                float *row = dst + (size_t)k * hw + (size_t)y * w;
                for (int x = 0; x < w / 2; x++) {
                    float t = row[x];
                    row[x] = row[w - 1 - x];
                    row[w - 1 - x] = t;
                }
            }
    }
}
