/* Image decoding throughput on one thread: how many images per second the
 * data loader can decode (image_decode_mem), decode + resize/centre-crop to
 * the training size, and do that with JPEGs decoded at a reduced size
 * (image_decode_mem_fit), to compare with the images/s training consumes.
 *
 *   bench_decode [--seconds S] [--size N] [--channels C] FILE...
 *
 * Files are read into memory first, so the disk is not measured. Rates are
 * given per wall second and per CPU second of this thread; on a busy machine
 * the CPU-second figure is the one-core capacity. Make a photo-like test
 * file with: tools/make_jpeg_fixtures.py --bench DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataset.h"
#include "fileutil.h"
#include "image.h"

static double clock_s(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_decode [--seconds S] [--size N] [--channels 1|3] FILE...\n");
    return 2;
}

int main(int argc, char **argv)
{
    double seconds = 3;
    int size = 224, channels = 3, first = 1;
    for (; first < argc && !strncmp(argv[first], "--", 2); first += 2) {
        if (first + 1 >= argc) return usage();
        if (!strcmp(argv[first], "--seconds")) seconds = atof(argv[first + 1]);
        else if (!strcmp(argv[first], "--size")) size = atoi(argv[first + 1]);
        else if (!strcmp(argv[first], "--channels")) channels = atoi(argv[first + 1]);
        else return usage();
    }
    const int nfiles = argc - first;
    if (nfiles < 1 || seconds <= 0 || size < 1 || (channels != 1 && channels != 3)) return usage();
    unsigned char **buf = calloc((size_t)nfiles, sizeof *buf);
    size_t *len = calloc((size_t)nfiles, sizeof *len);
    float *crop = malloc((size_t)channels * size * size * sizeof *crop);
    if (!buf || !len || !crop) return 1;
    for (int i = 0; i < nfiles; i++) {
        if (file_read_all(argv[first + i], (size_t)1 << 30, &buf[i], &len[i])) {
            fprintf(stderr, "bench_decode: cannot read %s\n", argv[first + i]);
            return 1;
        }
    }
    for (int mode = 0; mode <= 2; mode++) {
        const int resize = mode > 0, fit = mode == 2 ? size : 0;
        long n = 0;
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID), w1;
        int iw = 0, ih = 0;
        do {
            float *pix;
            char err[512];
            const int i = (int)(n % nfiles);
            if (image_decode_mem_fit(buf[i], len[i], argv[first + i], channels, fit, fit, &pix, &iw, &ih, err, sizeof err)) {
                fprintf(stderr, "bench_decode: %s\n", err);
                return 1;
            }
            if (resize) preprocess_resize_crop(pix, channels, ih, iw, crop, size, size);
            free(pix);
            n++;
            w1 = clock_s(CLOCK_MONOTONIC);
        } while (w1 - w0 < seconds);
        const double cpu = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
        char what[64];
        snprintf(what, sizeof what, mode == 2 ? "fit-decode + crop to %dx%d" : resize ? "decode + crop to %dx%d" : "decode",
                 size, size);
        printf("%-26s %6ld images (%dx%d) in %.2f s: %5.0f images/s wall, %5.0f images/s per CPU second\n", what,
               n, iw, ih, w1 - w0, n / (w1 - w0), n / cpu);
    }
    for (int i = 0; i < nfiles; i++) free(buf[i]);
    free(buf);
    free(len);
    free(crop);
    return 0;
}
