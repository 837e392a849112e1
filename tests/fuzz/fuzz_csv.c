/* "path,label" lists (header, blank lines, CR, the last comma splits). */
#include <string.h>

#include "dataset.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    csv_rows rows;
    memset(&rows, 0, sizeof rows);
    char err[512] = "";
    graft_status s = csv_parse((const char *)data, size, "fuzz.csv", &rows, err, sizeof err);
    if (s == GRAFT_OK) {
        for (int i = 0; i < rows.n; i++) {
            FUZZ_CHECK(rows.rows[i].path[0] && rows.rows[i].label[0], "fields are not empty");
            FUZZ_CHECK(rows.rows[i].line >= 1, "line numbers start at 1");
        }
    } else {
        FUZZ_CHECK(strstr(err, "fuzz.csv") != NULL, "the message names the file");
    }
    csv_rows_free(&rows);
    return 0;
}
