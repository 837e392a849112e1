/* The public dataset API (graft_data.h) over the dataset layer. */
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "error.h"
#include "fileutil.h"
#include "graft_data.h"

graft_status graft_dataset_create(int c, int h, int w, int nclasses, const char *const *names,
                                  graft_dataset **out, char *err, size_t errlen)
{
    return dataset_create(c, h, w, nclasses, names, out, err, errlen);
}

graft_status graft_dataset_append(graft_dataset *d, const float *img, int label,
                                  const char *path, char *err, size_t errlen)
{
    return dataset_append(d, img, label, path, err, errlen);
}

void graft_dataset_free(graft_dataset *d) { dataset_free(d); }

int graft_dataset_size(const graft_dataset *d) { return d->n; }

void graft_dataset_shape(const graft_dataset *d, int *c, int *h, int *w)
{
    if (c) *c = d->c;
    if (h) *h = d->h;
    if (w) *w = d->w;
}

int graft_dataset_num_classes(const graft_dataset *d) { return d->nclasses; }

const char *graft_dataset_class_name(const graft_dataset *d, int k)
{
    return k >= 0 && k < d->nclasses ? d->class_names[k] : NULL;
}

const int *graft_dataset_labels(const graft_dataset *d) { return d->y; }

const float *graft_dataset_image(const graft_dataset *d, int i)
{
    return i >= 0 && i < d->n ? dataset_image(d, i) : NULL;
}

int graft_dataset_num_pending(const graft_dataset *d) { return dataset_num_pending(d); }

const char *graft_dataset_path(const graft_dataset *d, int i)
{
    return d->paths && i >= 0 && i < d->n ? d->paths[i] : NULL;
}

void graft_dataset_class_counts(const graft_dataset *d, int *counts)
{
    dataset_class_counts(d, counts);
}

graft_status graft_dataset_check_classes(const graft_dataset *d, const char *what, char *err,
                                         size_t errlen)
{
    int *counts = calloc((size_t)(d->nclasses > 0 ? d->nclasses : 1), sizeof *counts);
    if (!counts) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    dataset_class_counts(d, counts);
    int present = 0, only = -1;
    for (int k = 0; k < d->nclasses; k++)
        if (counts[k] > 0) {
            present++;
            only = k;
        }
    free(counts);
    if (present >= 2) return GRAFT_OK;
    if (present == 0)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "%s: the dataset has no images",
                         what ? what : "the data");
    return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                     "%s: all %d images are of one class ('%s'): a classifier needs at least two "
                     "classes (check --classes, or the labels)", what ? what : "the data", d->n,
                     d->class_names && d->class_names[only] ? d->class_names[only] : "?");
}

void graft_dataset_channel_stats(const graft_dataset *d, float *mean, float *std)
{
    dataset_channel_stats(d, mean, std);
}

graft_status graft_dataset_subset(const graft_dataset *d, const int *idx, int n,
                                  graft_dataset **out, char *err, size_t errlen)
{
    return dataset_subset(d, idx, n, out, err, errlen);
}

graft_status graft_dataset_split(const graft_dataset *d, double val_frac, uint64_t seed,
                                 graft_dataset **train, graft_dataset **val, char *err,
                                 size_t errlen)
{
    return dataset_split(d, val_frac, seed, train, val, err, errlen);
}

graft_status graft_dataset_kfold(const graft_dataset *d, int k, uint64_t seed, int *fold,
                                 char *err, size_t errlen)
{
    return dataset_kfold(d, k, seed, fold, err, errlen);
}

graft_augment graft_augment_default(void) { return augment_defaults(); }

void graft_image_normalize(float *x, int c, int hw, const float *mean, const float *std)
{
    preprocess_normalize(x, c, hw, mean, std);
}

graft_status graft_file_write_atomic(const char *path, const void *data, size_t n, char *err,
                                     size_t errlen)
{
    int e = file_write_atomic(path, data, n);
    return e ? error_set(err, errlen, GRAFT_ERR_IO, "%s: %s", path, strerror(e)) : GRAFT_OK;
}
