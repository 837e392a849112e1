/* .graft model files: whatever parses and validates must serialise and
 * parse again to the same bytes. */
#include <string.h>

#include "fuzz.h"
#include "modelfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mf_model m;
    char err[512] = "";
    if (mf_parse(data, size, &m, err, sizeof err) != GRAFT_OK) {
        FUZZ_CHECK(err[0] != '\0', "a refused file gets a message");
        return 0;
    }
    if (mf_validate(&m, err, sizeof err) == GRAFT_OK) {
        unsigned char *buf = NULL, *buf2 = NULL;
        size_t n = 0, n2 = 0;
        FUZZ_CHECK(mf_serialize(&m, &buf, &n, err, sizeof err) == GRAFT_OK, "a valid model serialises");
        mf_model again;
        FUZZ_CHECK(mf_parse(buf, n, &again, err, sizeof err) == GRAFT_OK, "its bytes parse");
        FUZZ_CHECK(mf_serialize(&again, &buf2, &n2, err, sizeof err) == GRAFT_OK, "and serialise");
        FUZZ_CHECK(n == n2 && !memcmp(buf, buf2, n), "the round trip is exact");
        mf_model_free(&again);
        free(buf);
        free(buf2);
    }
    mf_model_free(&m);
    return 0;
}
