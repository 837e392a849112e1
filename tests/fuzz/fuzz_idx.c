/* IDX images + labels, raw or gzip. The input is a 4-byte little-endian
 * length k, then k bytes of the images file, then the labels file. */
#include <string.h>

#include "dataset.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    size_t k = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
    size -= 4;
    data += 4;
    if (k > size) k = size;
    dataset *d = NULL;
    char err[512] = "";
    graft_status s = dataset_from_idx_mem(data, k, "fuzz-images", data + k, size - k, "fuzz-labels",
                                          NULL, 0, &d, err, sizeof err);
    if (s == GRAFT_OK) {
        FUZZ_CHECK(d && d->n > 0 && d->c == 1 && d->h > 0 && d->w > 0, "a loaded IDX set has images");
        for (int i = 0; i < d->n; i++)
            FUZZ_CHECK(d->y[i] >= 0 && d->y[i] < d->nclasses, "labels lie in [0, classes)");
        dataset_free(d);
    } else {
        FUZZ_CHECK(!d, "no dataset on failure");
        FUZZ_CHECK(strstr(err, "fuzz-") != NULL, "the message names the file");
    }
    return 0;
}
