/* graft datasets: opening labelled image data from a source string,
 * selecting classes and samples, splits and folds, and image files.
 *
 * Conventions (those of graft.h, plus):
 *  - Nothing here needs a context, so every function that can fail takes
 *    an error buffer (char *err, size_t errlen; err may be NULL) and writes
 *    a one-line message naming the file, line or value at fault.
 *  - Images are float32 in [0, 1] (before normalisation), C x H x W.
 *  - A graft_dataset is immutable once opened; selections, splits and
 *    subsets copy. Any number of threads may read one dataset at once.
 *  - The library never prints: notes about what a load skipped or ignored
 *    go to the caller's log callback (graft_log_fn).
 *  - No global state; every random choice is seeded by the caller.
 */
#ifndef GRAFT_DATA_H
#define GRAFT_DATA_H

#include "graft.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- callbacks */

/* Long calls report notes through graft_log_fn (graft.h): GRAFT_LOG_INFO
 * for the run's own story ("gradual: unfroze another stage after epoch
 * 4"), GRAFT_LOG_WARN for something skipped or ignored ("skipped 3 bad
 * files"). The message is borrowed for the duration of the call. Called on
 * the thread that made the library call, or (workflows running folds on
 * several devices) on a worker thread, never on two threads at once. */

/* -------------------------------------------------------------- datasets */

typedef struct graft_dataset graft_dataset;

/* Which split of a source that has them (IDX sources: train / t10k). */
typedef enum graft_split { GRAFT_SPLIT_TRAIN = 0, GRAFT_SPLIT_TEST } graft_split;

/* What to open. Start from graft_data_default_spec() and set what differs. */
typedef struct graft_data_spec {
    /* The source, in one of these forms (tried in this order):
     *  - "fashion-mnist": the system copy under /usr/share/datasets;
     *  - IDX: a directory holding {train,t10k}-{images-idx3,labels-idx1}-
     *    ubyte[.gz], or an images file whose name contains "idx3" (its
     *    labels file: the same name with "labels-idx1");
     *  - "*.csv": "path,label" lines, paths relative to the CSV;
     *  - a directory root/<class>/<image> (classes sorted by name; every
     *    non-hidden file of a class folder is an image, PNG or JPEG told by
     *    its content, not its name). */
    const char *source;
    graft_split split;     /* IDX directories and "fashion-mnist" only */
    /* Wanted image shape; 0 = as stored (folders and CSV lists decode to 3
     * channels and the first image's size then). Images are resized
     * (shorter side, bilinear) and centre-cropped; grey is replicated to
     * RGB, RGB turned grey by 0.299R+0.587G+0.114B. */
    int channels, height, width;
    int skip_bad;          /* skip (and report) undecodable files and formats graft does
                            * not read (WebP, BMP, ...) instead of failing */
    /* Class selection by name, index or index range, mixed and comma-
     * separated ("cat,rocket", "5,6,7", "5-9", "0,3-5,cat"; a class name
     * wins over an index that reads the same): only these classes,
     * relabelled 0..k-1 in the given order, names kept. NULL = every
     * class. */
    const char *classes;
    int per_class;         /* seeded sample of this many images per class; 0 = all */
    uint64_t seed;         /* of the per-class sample */
    graft_log_fn log;      /* notes on skipped/ignored entries; may be NULL */
    void *log_user;
    /* Progress of decoding image files (class folders, CSV lists): label
     * "load", done and total in images, after each image, on the calling
     * thread (the receiver throttles). May be NULL. */
    graft_progress_fn progress;
    void *progress_user;
    /* Decode on first use (class folders and CSV lists; ignored with
     * skip_bad, which must decode to know what to skip): opening lists the
     * files and decodes at most the first image (when it sets the size);
     * every other image is decoded when first read (training, evaluation,
     * graft_dataset_image), under a lock. A data parallel rank so decodes
     * only its shard. A file that does not decode then fails the training
     * or evaluation that reaches it (graft_dataset_image returns NULL). */
    int lazy;
} graft_data_spec;

/* source NULL, split TRAIN, shape as stored, everything else 0/NULL. */
graft_data_spec graft_data_default_spec(void);

/* Opens spec->source, converts to the wanted shape, selects classes, then
 * samples per class, in that order. On success the caller owns *out
 * (graft_dataset_free). Errors:
 *  GRAFT_ERR_INVALID_ARG  the source is none of the forms above, the class
 *                         list does not parse or names a class the data
 *                         lacks (message: "classes 'cat,x': 'x' is neither a
 *                         class name of the data (cat, dog, ...) nor an
 *                         index or range such as 5 or 5-9");
 *  GRAFT_ERR_IO / GRAFT_ERR_FORMAT  a file is missing, unreadable or bad
 *                         (unless skip_bad); FORMAT also when no image is
 *                         left after selection ("SOURCE: no images selected");
 *  GRAFT_ERR_HOST_MEMORY. */
graft_status graft_dataset_open(const graft_data_spec *spec, graft_dataset **out, char *err,
                                size_t errlen);

/* 1 when source is an IDX source with both a train and a test split (the
 * built-in name or an IDX directory holding both), else 0. Never fails. */
int graft_data_has_test_split(const char *source);

/* An empty dataset of c x h x w images and nclasses classes named names[]
 * (copied; names NULL = "0".."nclasses-1"). Caller owns *out. */
graft_status graft_dataset_create(int c, int h, int w, int nclasses, const char *const *names,
                                  graft_dataset **out, char *err, size_t errlen);
/* Appends a copy of img (c*h*w floats) with label in [0, nclasses) and an
 * optional source path (copied; NULL = none). */
graft_status graft_dataset_append(graft_dataset *d, const float *img, int label,
                                  const char *path, char *err, size_t errlen);
/* Releases everything the dataset owns; NULL is fine. */
void graft_dataset_free(graft_dataset *d);

/* Accessors. Pointers are borrowed and valid while d lives unchanged. */
int graft_dataset_size(const graft_dataset *d);
void graft_dataset_shape(const graft_dataset *d, int *c, int *h, int *w); /* any may be NULL */
int graft_dataset_num_classes(const graft_dataset *d);
const char *graft_dataset_class_name(const graft_dataset *d, int k); /* NULL when k is out of range */
const int *graft_dataset_labels(const graft_dataset *d);   /* size() labels */
/* c*h*w floats; NULL out of range, or for an image decoded on first use
 * (spec.lazy) whose file does not decode. */
const float *graft_dataset_image(const graft_dataset *d, int i);
/* Images of a dataset opened with spec.lazy not decoded yet (0 otherwise). */
int graft_dataset_num_pending(const graft_dataset *d);
const char *graft_dataset_path(const graft_dataset *d, int i);   /* NULL when not from a file */
/* Label histogram into counts[num_classes] (caller's array). */
void graft_dataset_class_counts(const graft_dataset *d, int *counts);
/* Refuses (GRAFT_ERR_INVALID_ARG, the reason in err) a dataset on which
 * training, cross-validation or transferability scores mean nothing: one
 * with fewer than two classes that have images (a one-class dataset
 * "trains" to 100%). what names the data in the message ("--data x.csv").
 * graft_train runs it on its training set. */
graft_status graft_dataset_check_classes(const graft_dataset *d, const char *what, char *err,
                                         size_t errlen);
/* Per-channel mean and population std over every pixel (double sums; a std
 * below 1e-6 reads as 1) into mean[c], std[c] (caller's arrays). */
void graft_dataset_channel_stats(const graft_dataset *d, float *mean, float *std);

/* Selections; all copy, d is not changed, caller owns the results. */
/* Images idx[0..n-1] in that order. */
graft_status graft_dataset_subset(const graft_dataset *d, const int *idx, int n,
                                  graft_dataset **out, char *err, size_t errlen);
/* Stratified split: round(count * val_frac) images of every class go to
 * *val (at least 1 and at most count-1 of a class with >= 2 images), the
 * rest to *train, each in the original order. 0 < val_frac < 1. */
graft_status graft_dataset_split(const graft_dataset *d, double val_frac, uint64_t seed,
                                 graft_dataset **train, graft_dataset **val, char *err,
                                 size_t errlen);
/* Stratified k-fold assignment: fold[size(d)] (caller's array) in 0..k-1;
 * per class, fold sizes differ by at most 1. */
graft_status graft_dataset_kfold(const graft_dataset *d, int k, uint64_t seed, int *fold,
                                 char *err, size_t errlen);

/* ------------------------------------------------------ class matching */

/* How a dataset's classes meet a model's (or another dataset's) classes.
 * Classes are matched by name wherever both sides name them; a side is
 * "nameless" when it has no names or its names read "0", "1", ... in order
 * (IDX data, integer-labelled CSV lists). Both sides numeric ("5","6","7"
 * against "0".."9") still match by name; one nameless side against real
 * names matches by position (by_name = 0; callers say so once). */
typedef struct graft_class_match {
    int by_name;        /* 1: matched by name; 0: by index */
    int data_named, model_named; /* whether each side has real (not "0".."n-1") names */
    int data_classes;   /* the dataset's classes */
    int model_classes;  /* the model's classes */
    int *to_model;      /* [data_classes]: model class of each data label, -1 when the
                         * model lacks it; owned */
    int nunknown;       /* data classes the model lacks ... */
    int *unknown;       /* ... their data labels, ascending; owned */
    int nabsent;        /* model classes no data class maps to ... */
    int *absent;        /* ... their model indices, ascending; owned */
} graft_class_match;

/* Matches d's classes against the model's model_names[model_classes]
 * (borrowed; NULL = nameless). Unknown data classes are not an error here:
 * the caller decides (eval refuses them unless told to skip them). On
 * success the caller owns *out (graft_class_match_free); on failure it is
 * zeroed. Errors: GRAFT_ERR_INVALID_ARG (no dataset, model_classes < 1),
 * GRAFT_ERR_HOST_MEMORY. */
graft_status graft_class_match_names(const char *const *model_names, int model_classes,
                                     const graft_dataset *d, graft_class_match *out, char *err,
                                     size_t errlen);
/* Releases what m owns and zeroes it; a zeroed match is fine. */
void graft_class_match_free(graft_class_match *m);
/* A copy of d in the model's classes: labels mapped by m->to_model, the
 * classes named model_names (borrowed; NULL = "0".."K-1"), images of
 * unknown classes left out (*dropped counts them; may be NULL). Caller owns
 * *out. GRAFT_ERR_INVALID_ARG when m was not made for d. */
graft_status graft_dataset_relabel(const graft_dataset *d, const graft_class_match *m,
                                   const char *const *model_names, graft_dataset **out,
                                   int *dropped, char *err, size_t errlen);

/* ----------------------------------------------------------- image files */

/* Decodes one image file, PNG (any colour type and depth) or JPEG (told by
 * content; a JPEG at a reduced size that still covers h x w) to c = 1 or 3 channels,
 * resizes (shorter side) and centre-crops it to h x w into dst (c*h*w
 * floats, caller's), values in [0, 1]. Errors name the file: GRAFT_ERR_FORMAT
 * (unreadable, corrupt, not an image), GRAFT_ERR_UNSUPPORTED (a format graft
 * does not read: "x.webp: unsupported image format (WebP); graft reads PNG
 * and JPEG"). Reentrant. */
graft_status graft_image_load(const char *path, int c, int h, int w, float *dst, char *err,
                              size_t errlen);
/* x = (x - mean[ch]) / std[ch] in place over one c x hw image. */
void graft_image_normalize(float *x, int c, int hw, const float *mean, const float *std);

/* Expands paths[0..n-1] into the image files to classify: a file stands for
 * itself (whatever its name), a directory for every file below it whose
 * name ends in an image extension (.png .jpg .jpeg .jpe .jfif, and .webp
 * .bmp .gif .tif .tiff .heic .heif .avif so those are reported, not passed
 * over)
 * (recursively, hidden entries skipped, sorted by path). A path that does
 * not exist fails with GRAFT_ERR_IO, or with skip_missing is reported to
 * log (GRAFT_LOG_WARN, "PATH: No such file or directory") and left out.
 * On success the caller owns *out, an array of *count strings
 * (graft_image_list_free); an empty result is not an error. */
graft_status graft_image_list(const char *const *paths, int n, int skip_missing,
                              graft_log_fn log, void *log_user, char ***out, int *count,
                              char *err, size_t errlen);
void graft_image_list_free(char **list, int count);

/* Writes n bytes to path atomically (a temporary file beside it, fsync,
 * rename): on failure an existing file is left as it was. For reports and
 * logs a caller writes whole. */
graft_status graft_file_write_atomic(const char *path, const void *data, size_t n, char *err,
                                     size_t errlen);

/* ---------------------------------------------------------- augmentation */

/* Training-time augmentation, applied per image and epoch, seeded. */
typedef struct graft_augment {
    int pad;                   /* random crop after zero padding by pad pixels; 0 = off */
    int hflip;                 /* horizontal flip with probability 1/2 */
    int rrc;                   /* random resized crop */
    double scale_lo, scale_hi; /* rrc area fraction (default 0.08..1) */
    double ratio_lo, ratio_hi; /* rrc aspect ratio w/h (default 3/4..4/3) */
} graft_augment;

/* Everything off, rrc ranges as torchvision's. */
graft_augment graft_augment_default(void);

#ifdef __cplusplus
}
#endif
#endif
