/* Image decoding by content (image_decode_mem: PNG or JPEG, libjpeg-turbo
 * underneath for JPEG), to one and three channels, at full size and at a
 * reduced size (the DCT-scaled JPEG path of image_decode_mem_fit). */
#include <string.h>

#include "fuzz.h"
#include "image.h"

static void check(graft_status s, float *pix, int w, int h, int c, const char *err)
{
    if (s == GRAFT_OK) {
        FUZZ_CHECK(pix && w > 0 && h > 0, "decoded image has pixels");
        size_t n = (size_t)c * (size_t)w * (size_t)h;
        FUZZ_CHECK(pix[0] >= 0.0f && pix[0] <= 1.0f && pix[n - 1] >= 0.0f && pix[n - 1] <= 1.0f,
                   "samples lie in [0, 1]");
        free(pix);
    } else {
        FUZZ_CHECK(!pix, "no pixels on failure");
        FUZZ_CHECK(strstr(err, "fuzz.img") != NULL, "the message names the file");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int channels[2] = {1, 3};
    for (int k = 0; k < 2; k++) {
        float *pix = NULL;
        int w = 0, h = 0;
        char err[512] = "";
        graft_status s = image_decode_mem(data, size, "fuzz.img", channels[k], &pix, &w, &h, err,
                                          sizeof err);
        check(s, pix, w, h, channels[k], err);
    }
    float *pix = NULL;
    int w = 0, h = 0;
    char err[512] = "";
    graft_status s = image_decode_mem_fit(data, size, "fuzz.img", 3, 4, 4, &pix, &w, &h, err,
                                          sizeof err);
    check(s, pix, w, h, 3, err);
    return 0;
}
