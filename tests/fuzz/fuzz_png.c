/* PNG decoding through graft's loader (any colour type, depth, interlace),
 * to one and three channels. */
#include <string.h>

#include "dataset.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int channels[2] = {1, 3};
    for (int k = 0; k < 2; k++) {
        float *pix = NULL;
        int w = 0, h = 0;
        char err[512] = "";
        graft_status s = png_decode_mem(data, size, "fuzz.png", channels[k], &pix, &w, &h, err,
                                        sizeof err);
        if (s == GRAFT_OK) {
            FUZZ_CHECK(pix && w > 0 && h > 0, "decoded PNG has pixels");
            size_t n = (size_t)channels[k] * (size_t)w * (size_t)h;
            FUZZ_CHECK(pix[0] >= 0.0f && pix[0] <= 1.0f && pix[n - 1] >= 0.0f && pix[n - 1] <= 1.0f,
                       "PNG samples lie in [0, 1]");
            free(pix);
        } else {
            FUZZ_CHECK(!pix, "no pixels on failure");
            FUZZ_CHECK(strstr(err, "fuzz.png") != NULL, "the message names the file");
        }
    }
    return 0;
}
