/* ONNX import into a model on the default OpenCL device (PoCL in CI). The
 * input goes through a temporary file because import reads a path, as the
 * CLI does. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "graft.h"

static graft_ctx *ctx;
static char path[512];

static void cleanup(void)
{
    if (path[0]) unlink(path);
    graft_ctx_destroy(ctx);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[1024];
    if (graft_ctx_create(NULL, &ctx, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "fuzz_onnx: %s\n", err);
        exit(1);
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/graft-fuzz-onnx-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("fuzz_onnx: mkstemp");
        exit(1);
    }
    close(fd);
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL, "the scratch file opens");
    FUZZ_CHECK(fwrite(data, 1, size, f) == size && fclose(f) == 0, "the scratch file is written");
    graft_model *m = NULL;
    char note[512];
    graft_model_meta meta;
    int keys = -1;
    graft_status s = graft_onnx_import_meta(ctx, path, &m, &meta, &keys, note, sizeof note);
    if (s == GRAFT_OK) {
        FUZZ_CHECK(m && graft_model_num_nodes(m) >= 2, "an imported model has an input and a layer");
        FUZZ_CHECK(keys >= 0 && meta.nclasses >= 0, "the model card reads as a count");
        for (int k = 0; k < meta.nclasses; k++)
            FUZZ_CHECK(meta.class_names && meta.class_names[k], "every card class has a name");
        for (int c = 0; c < 4; c++) FUZZ_CHECK(meta.std[c] > 0, "a card std is positive");
        graft_model_meta_free(&meta);
        graft_model_free(m);
    } else {
        FUZZ_CHECK(!m, "no model on failure");
        FUZZ_CHECK(graft_last_error(ctx)[0] != '\0', "a refused file gets a message");
    }
    return 0;
}
