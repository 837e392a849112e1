/* Dataset layer (internal API for the CLI): in-memory image datasets, file
 * format readers (IDX, PNG, class folders, CSV lists), preprocessing and
 * augmentation, class selection and splits, and a prefetching batch loader.
 *
 * Conventions:
 *  - Functions that can fail return graft_status and write a one-line message
 *    into the caller's err buffer (err may be NULL, errlen 0). Messages name
 *    the file (and the line for CSV) and what was expected.
 *  - Parsers work on memory buffers; the *_load_* functions read the file
 *    and call them, so a fuzzer can drive the parsers directly.
 *  - Images are float32 in [0, 1] before normalisation, laid out C x H x W.
 *  - Ownership is stated per function: "caller owns" = release with the
 *    matching _free; "borrowed" = valid while the source object lives.
 *  - No global mutable state; all randomness is explicitly seeded.
 */
#ifndef GRAFT_DATASET_H
#define GRAFT_DATASET_H
#include <stddef.h>
#include <stdint.h>

#include "graft.h"
#include "graft_data.h"

/* ------------------------------------------------------------------ */
/* In-memory dataset                                                    */

/* The public graft_dataset (graft_data.h) is this struct; the library's own
 * code uses the short name and reads the fields directly. */
typedef struct graft_dataset dataset;
struct graft_dataset {
    int n;              /* number of images */
    int cap;            /* allocated image slots */
    int c, h, w;        /* fixed per dataset */
    float *x;           /* n x c x h x w, values normally in [0, 1] */
    int *y;             /* n labels in [0, nclasses) */
    int nclasses;
    char **class_names; /* nclasses strings */
    char **paths;       /* NULL, or cap entries (each may be NULL) */
    struct dataset_lazy *lazy; /* images decoded on first use; NULL: all decoded */
};

/* Creates an empty dataset with the given image shape and class names
 * (copied; names may be NULL for "0".."nclasses-1"). Caller owns *out. */
graft_status dataset_create(int c, int h, int w, int nclasses, const char *const *names,
                            dataset **out, char *err, size_t errlen);
/* Frees everything the dataset owns; NULL is fine. */
void dataset_free(dataset *d);
/* Appends one image (c*h*w floats, copied), its label and an optional
 * source path (copied; NULL for none). */
graft_status dataset_append(dataset *d, const float *img, int label, const char *path, char *err,
                            size_t errlen);
/* Floats per image. */
size_t dataset_image_size(const dataset *d);
/* Borrowed pointer to image i, decoded first when it is pending (see
 * dataset_fetch); NULL when that decode fails. */
const float *dataset_image(const dataset *d, int i);

/* Images decoded on first use (src/data/lazy_images.c). A pending image
 * has its label and path; its pixels are decoded (to the dataset's shape,
 * as a folder load would) by the first dataset_fetch, under a lock, so
 * that any number of threads may read the dataset. */
/* Appends a pending image (path copied). */
graft_status dataset_append_pending(dataset *d, int label, const char *path, char *err,
                                    size_t errlen);
/* *img = image i (borrowed), decoding it first when pending. A file that
 * does not decode -> its status and message, the image stays pending. */
graft_status dataset_fetch(const dataset *d, int i, const float **img, char *err, size_t errlen);
/* Whether image i is pending; how many are. */
int dataset_is_pending(const dataset *d, int i);
int dataset_num_pending(const dataset *d);
/* Internal to dataset.c: a lazy dataset keeps one pixel buffer per decoded
 * image (none for a pending one) instead of d->x, so a rank holds the
 * images of its shard only; the flags and buffers follow the slots. */
graft_status dataset_lazy_reserve(dataset *d, int cap, char *err, size_t errlen);
/* Copies img into image i's own buffer; img NULL marks image i pending. */
graft_status dataset_lazy_store(dataset *d, int i, const float *img, char *err, size_t errlen);
void dataset_lazy_free(dataset *d);
/* Label histogram: counts[nclasses] (caller's array). */
void dataset_class_counts(const dataset *d, int *counts);

/* ------------------------------------------------------------------ */
/* IDX (MNIST layout), raw or gzip                                      */

/* gunzips buf when it starts with the gzip magic, else copies it. At most
 * max_out bytes of output. Caller owns *out (free()). name is for messages. */
graft_status gunzip_maybe(const unsigned char *buf, size_t n, size_t max_out, const char *name,
                          unsigned char **out, size_t *outn, char *err, size_t errlen);
/* Parses an uncompressed unsigned-byte IDX buffer (magic 0x000008dd, d = 1..3
 * dims). Checks the type byte, the dimension count against want_dims (0 =
 * any) and that the buffer holds exactly the declared data. *data is borrowed
 * from buf; dims[0..ndims-1] filled. */
graft_status idx_parse(const unsigned char *buf, size_t n, int want_dims, const char *name,
                       int *ndims, int dims[3], const unsigned char **data, char *err,
                       size_t errlen);
/* Builds a dataset from an images buffer (idx3) and a labels buffer (idx1),
 * both raw or gzip. names/nclasses: class names (copied); NULL means
 * "0".."max(label, 9)". Labels must be < nclasses. Caller owns *out. */
graft_status dataset_from_idx_mem(const unsigned char *img, size_t nimg, const char *img_name,
                                  const unsigned char *lab, size_t nlab, const char *lab_name,
                                  const char *const *names, int nclasses, dataset **out,
                                  char *err, size_t errlen);
/* File version of dataset_from_idx_mem. Caller owns *out. */
graft_status dataset_load_idx(const char *images_path, const char *labels_path,
                              const char *const *names, int nclasses, dataset **out, char *err,
                              size_t errlen);

/* The ten Fashion-MNIST class names (borrowed, static constant). */
const char *const *fashion_mnist_class_names(void);

typedef struct idx_source {
    char images[4096];
    char labels[4096];
    int fashion; /* 1: use the Fashion-MNIST class names */
} idx_source;
/* Resolves a data spec to an IDX image/label file pair:
 *  - "fashion-mnist": /usr/share/datasets/fashion-mnist/{train,t10k}-...gz
 *  - a directory holding {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
 *  - an images file path; its labels file is the same path with
 *    "images-idx3" replaced by "labels-idx1".
 * train selects train (1) or t10k (0) for the first two forms. The files
 * must exist. fashion is set for the built-in name and for paths containing
 * "fashion" (case-insensitive). */
graft_status dataset_resolve(const char *spec, int train, idx_source *src, char *err,
                             size_t errlen);
/* dataset_resolve + dataset_load_idx. Caller owns *out. */
graft_status dataset_load_spec(const char *spec, int train, dataset **out, char *err,
                               size_t errlen);

/* ------------------------------------------------------------------ */
/* PNG                                                                  */

/* Decodes a PNG (any colour type and bit depth, palette, tRNS) from memory
 * to channels = 1 (luminance 0.299R+0.587G+0.114B) or 3 (RGB; grey is
 * replicated) floats in [0, 1], C x H x W. Alpha is composited on black
 * (value * alpha). 16-bit samples keep their precision (v / 65535).
 * Gamma chunks are ignored. Not a PNG / truncated / corrupt ->
 * GRAFT_ERR_FORMAT naming `name`. Caller owns *pix (free()). */
graft_status png_decode_mem(const unsigned char *buf, size_t n, const char *name, int channels,
                            float **pix, int *w, int *h, char *err, size_t errlen);
/* Reads and decodes a PNG file. Caller owns *pix (free()). */
graft_status png_decode_file(const char *path, int channels, float **pix, int *w, int *h,
                             char *err, size_t errlen);

/* General encoder (used by tests and tools). color_type: 0 grey, 2 RGB,
 * 3 palette, 4 grey+alpha, 6 RGBA (libpng's PNG_COLOR_TYPE_* values).
 * bit_depth 8 or 16 (palette: 8). Pixels are interleaved samples, row
 * major: uint8_t for depth 8, host-order uint16_t for depth 16, one index
 * byte per pixel for palette. palette: npalette RGB triples; trns: ntrns
 * alpha values for palette entries (or NULL). Caller owns *out (free()). */
typedef struct png_spec {
    int w, h;
    int color_type;
    int bit_depth;
    const unsigned char *palette;
    int npalette;
    const unsigned char *trns;
    int ntrns;
    int interlace; /* 1: Adam7 */
} png_spec;
graft_status png_encode_mem(const png_spec *spec, const void *pix, unsigned char **out,
                            size_t *outn, char *err, size_t errlen);
/* Writes an 8-bit grey (channels 1) or RGB (3) PNG atomically (encoded in
 * memory, then file_write_atomic). */
graft_status png_write_file(const char *path, const unsigned char *pix, int w, int h,
                            int channels, char *err, size_t errlen);

/* ------------------------------------------------------------------ */
/* Class folders and CSV lists                                          */

typedef struct data_load_opts {
    int c;        /* 1 or 3 */
    int h, w;     /* target size; 0,0 = size of the first image */
    int skip_bad; /* skip (and count) undecodable files and formats graft does not read */
    graft_progress_fn progress; /* images decoded so far (label "load"); may be NULL */
    void *progress_user;
    int lazy;     /* decode on first use (dataset_fetch); ignored with skip_bad */
} data_load_opts;

/* What a folder / CSV load ignored. Free with data_report_free. */
typedef struct data_report {
    int hidden;        /* hidden entries ('.'-prefixed) ignored */
    int empty_classes; /* class folders without images, ignored */
    int stray_files;   /* regular files directly in the root, ignored */
    int bad_skipped;   /* bad files skipped because of skip_bad */
    int unsupported_skipped; /* ... of which in formats graft does not read (WebP, ...) */
    char *messages;    /* malloc'd, one line per ignored item; may be NULL */
} data_report;
void data_report_free(data_report *r);

/* root/<class>/<image>: every non-hidden regular file of a class folder,
 * PNG or JPEG by content (not by name). Classes are the non-hidden, non-empty
 * subdirectories sorted by strcmp; images in a class are sorted by strcmp.
 * Each image is decoded to opts->c channels and resized (shorter side) and
 * centre-cropped to h x w. report may be NULL. Caller owns *out. */
graft_status dataset_load_folder(const char *root, const data_load_opts *opts, data_report *report,
                                 dataset **out, char *err, size_t errlen);

/* One parsed CSV row (strings point into csv_rows.buf). */
typedef struct csv_row {
    char *path;
    char *label;
    int line;
} csv_row;
typedef struct csv_rows {
    csv_row *rows;
    int n;
    char *buf; /* owned copy of the text */
} csv_rows;
/* Parses "path,label" lines (optional first line header "path,label",
 * blank lines and CR ignored; the last comma separates the label). A line
 * without a comma or with an empty field -> GRAFT_ERR_FORMAT "name:line: ...".
 * Caller owns *out (csv_rows_free). */
graft_status csv_parse(const char *text, size_t n, const char *name, csv_rows *out, char *err,
                       size_t errlen);
void csv_rows_free(csv_rows *r);
/* Loads a CSV list. If every label is a non-negative integer, labels are
 * indices and classes are named "0".."max"; otherwise every label is a
 * class name and classes are the distinct names sorted by strcmp.
 * Relative paths are relative to the CSV's directory. Caller owns *out. */
graft_status dataset_load_csv(const char *csv_path, const data_load_opts *opts,
                              data_report *report, dataset **out, char *err, size_t errlen);
/* The rows of a CSV list that a class selection (cls[k]; k = 0: all) and
 * a per-class sample (per_class, seed; 0: all) would keep, decided from
 * the labels alone: only those images are decoded (a 1M-row list with
 * --per-class 2 decodes 2 per class; rows not kept are never opened).
 * Labels and class names are those of the whole list, so applying
 * dataset_select_classes and dataset_per_class to *out afterwards gives
 * the same images as on a full load (with skip_bad, a bad file in the
 * sample is skipped, not replaced). */
graft_status dataset_load_csv_sampled(const char *csv_path, const data_load_opts *opts,
                                      const int *cls, int k, int per_class, uint64_t seed,
                                      data_report *report, dataset **out, char *err, size_t errlen);
/* The same with the classes given as a list of names and/or indices
 * ("cat,rocket", "5-9"; NULL = every class), resolved against the CSV's
 * own class names before anything is decoded. A list that does not parse
 * keeps every row (the caller's selection then reports it). */
graft_status dataset_load_csv_selected(const char *csv_path, const data_load_opts *opts,
                                       const char *classes, int per_class, uint64_t seed,
                                       data_report *report, dataset **out, char *err,
                                       size_t errlen);

/* ------------------------------------------------------------------ */
/* Preprocessing and augmentation                                       */

/* Bilinear sampling (half-pixel centres, edge clamp) of the source region
 * [y0, y0+rh) x [x0, x0+rw) (fractional allowed) into dst (c x dh x dw). */
void preprocess_sample_region(const float *src, int c, int sh, int sw, double y0, double x0,
                              double rh, double rw, float *dst, int dh, int dw);
/* Bilinear resize so the shorter side fits (both dims >= target), then centre
 * crop to dh x dw. Same size is an exact copy. No antialiasing. */
void preprocess_resize_crop(const float *src, int c, int sh, int sw, float *dst, int dh, int dw);
/* Per-channel mean and (population) std over the whole dataset, computed in
 * double; a std below 1e-6 is reported as 1. mean/std: d->c floats. */
void dataset_channel_stats(const dataset *d, float *mean, float *std);
/* Its two halves, so that ranks can each sum a share: per channel the sum,
 * the sum of squares and the count of the pixel values of images
 * [lo, hi) (sum, sum2, count: d->c each; images that do not decode are
 * left out), and mean and std from such sums. */
void dataset_channel_sums(const dataset *d, int lo, int hi, double *sum, double *sum2, double *count);
void dataset_stats_from_sums(int c, const double *sum, const double *sum2, const double *count,
                             float *mean, float *std);
/* x = (x - mean[ch]) / std[ch] in place over one c x hw image. */
void preprocess_normalize(float *x, int c, int hw, const float *mean, const float *std);

/* The public graft_augment (graft_data.h). */
typedef graft_augment augment_opts;
/* Defaults: everything off, rrc ranges as torchvision. */
augment_opts augment_defaults(void);
/* Writes an augmented copy of src (c x h x w) into dst (same shape, must not
 * alias src). Deterministic in (seed, epoch, index). Order: rrc, pad-crop,
 * flip. */
void augment_image(const float *src, int c, int h, int w, float *dst, const augment_opts *o,
                   uint64_t seed, uint64_t epoch, uint64_t index);

/* ------------------------------------------------------------------ */
/* Selection and splits (all copy; the source dataset is not modified)  */

/* New dataset with images idx[0..n-1] (in that order). Caller owns *out. */
graft_status dataset_subset(const dataset *d, const int *idx, int n, dataset **out, char *err,
                            size_t errlen);
/* Images idx[0..n-1] with labels map[label] (NULL = as they are) in a
 * dataset of nclasses classes named names (NULL = "0".."nclasses-1").
 * Caller owns *out. */
graft_status dataset_subset_mapped(const dataset *d, const int *idx, int n, const int *map,
                                   int nclasses, const char *const *names, dataset **out,
                                   char *err, size_t errlen);
/* Keeps classes classes[0..k-1], relabelled 0..k-1 in the given order; the
 * class names are kept. Caller owns *out. */
graft_status dataset_select_classes(const dataset *d, const int *classes, int k, dataset **out,
                                    char *err, size_t errlen);
/* Seeded sample of per_class images of every class (all of a class with
 * fewer), original order kept. Caller owns *out. */
graft_status dataset_per_class(const dataset *d, int per_class, uint64_t seed, dataset **out,
                               char *err, size_t errlen);
/* Stratified split flags: is_val[n] (caller's array) set for
 * round(count*frac) images of each class, at least 1 and at most count-1
 * when the class has >= 2 images and 0 < frac < 1. */
graft_status dataset_split_stratified(const dataset *d, double val_frac, uint64_t seed,
                                      unsigned char *is_val, char *err, size_t errlen);
/* dataset_split_stratified materialised as two datasets. Caller owns both. */
graft_status dataset_split(const dataset *d, double val_frac, uint64_t seed, dataset **train,
                           dataset **val, char *err, size_t errlen);
/* Stratified k folds: fold[n] (caller's array) in 0..k-1; for every class
 * the per-fold counts differ by at most 1. */
graft_status dataset_kfold(const dataset *d, int k, uint64_t seed, int *fold, char *err,
                           size_t errlen);
/* Seeded Fisher-Yates shuffle of idx[0..n-1]. */
void shuffle_ints(int *idx, int n, uint64_t seed);

/* ------------------------------------------------------------------ */
/* Prefetching batch loader                                             */

typedef struct loader_opts {
    int batch;          /* batch size >= 1 */
    uint64_t seed;      /* shuffle and augmentation seed */
    int shuffle;        /* shuffle per epoch (seeded by seed, epoch) */
    int drop_last;      /* drop the last partial batch */
    const float *mean;  /* per-channel normalisation (copied); NULL = none */
    const float *std;
    int augment;        /* apply aug */
    augment_opts aug;
    int nbuf;           /* batch buffers (>= 2; 0 = 3) */
    const int *indices; /* optional subset of the dataset (copied) */
    int nindices;
    /* Shard of a data parallel run: of every batch of n images only the
     * images [n*shard/nshards, n*(shard+1)/nshards) are read (decoded,
     * augmented, normalised); the others' pixels are left unset, their
     * labels are filled. nshards 0 or 1: every image. */
    int shard, nshards;
} loader_opts;
typedef struct loader loader;

/* Starts a background thread. The dataset is borrowed and must outlive the
 * loader and not change meanwhile. Caller owns *out (loader_free). */
graft_status loader_create(const dataset *d, const loader_opts *o, loader **out, char *err,
                           size_t errlen);
/* Begins an epoch (discarding any rest of the previous one). */
void loader_start_epoch(loader *l, uint64_t epoch);
/* Next batch: *x (n x c x h x w) and *y (n) are borrowed until the next
 * loader_next / loader_start_epoch / loader_free. Returns 1 with a batch,
 * 0 at the end of the epoch (or before any loader_start_epoch), -1 when an
 * image of the batch could not be read (an image decoded on first use,
 * dataset_fetch): loader_error says why, and the epoch is over. */
int loader_next(loader *l, const float **x, const int **y, int *n);
/* The message of the last loader_next that returned -1 (borrowed). */
const char *loader_error(const loader *l);
/* Batches per epoch. */
int loader_num_batches(const loader *l);
void loader_free(loader *l);
#endif
