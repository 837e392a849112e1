/* Helpers shared by the dataset layer's files (not part of its API). */
#ifndef GRAFT_DATA_INTERNAL_H
#define GRAFT_DATA_INTERNAL_H
#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "error.h"
#include "graft.h"

#if defined(__GNUC__)
#define DATA_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DATA_PRINTF(a, b)
#endif

/* malloc'd copy of s, or NULL. */
char *data_strdup(const char *s);
/* Mixes a seed with two stream ids into a new rng state. */
uint64_t data_mix(uint64_t seed, uint64_t a, uint64_t b);
/* Appends a formatted line to r->messages (r may be NULL; best effort). */
void data_report_add(data_report *r, const char *fmt, ...) DATA_PRINTF(2, 3);
/* Decodes the image at path (PNG or JPEG, told by content) and appends it,
 * resized and centre-cropped to the target size, to *d (created with
 * nclasses/names and the target size, or the first image's size when
 * o->h,w are 0, if *d is NULL). Undecodable files give GRAFT_ERR_FORMAT,
 * formats graft does not read (WebP, BMP, ...) GRAFT_ERR_UNSUPPORTED; with
 * o->skip_bad both are counted in r instead and GRAFT_OK is returned. */
graft_status data_append_image(dataset **d, const data_load_opts *o, int nclasses,
                               const char *const *names, const char *path, int label,
                               data_report *r, char *err, size_t errlen);
/* data_append_image, or with o->lazy (and no skip_bad) a pending image
 * that dataset_fetch decodes on first use; the first image is decoded now
 * when it sets the size (o->h, o->w 0). */
graft_status data_append_lazy(dataset **d, const data_load_opts *o, int nclasses,
                              const char *const *names, const char *path, int label,
                              data_report *r, char *err, size_t errlen);
/* dataset_append's body; img NULL appends a pending image of a lazy
 * dataset (see dataset_lazy_store). */
graft_status data_append_slot(dataset *d, const float *img, int label, const char *path,
                              char *err, size_t errlen);
/* Decodes the image file at path to c x h x w (resized, centre-cropped). */
graft_status data_decode_image(const char *path, int c, int h, int w, float *dst, char *err,
                               size_t errlen);
/* Parses a class list of d: comma-separated class names ("cat,rocket"),
 * indices ("5,6,7") and index ranges ("5-9"), mixed; a name wins over an
 * index that reads the same. Fills classes[] and returns the count, or -1
 * after writing why into err (src/data/source.c). */
int data_parse_class_list(const char *s, const dataset *d, int *classes, int max, char *err,
                          size_t errlen);

/* A growing list of owned strings (file names, paths). Zero-initialise. */
typedef struct strlist {
    char **v;
    int n, cap;
} strlist;
/* Appends a copy of s; 0, or -1 when out of memory. */
int strlist_add(strlist *l, const char *s);
/* Frees the strings and the list, and zeroes it. */
void strlist_free(strlist *l);

/* Reports done of total images decoded since t0 (now_seconds) to
 * o->progress, when set. */
void data_progress(const data_load_opts *o, long done, long total, double t0);

#endif
