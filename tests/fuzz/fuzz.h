/* Shared by the fuzz targets: the libFuzzer entry point each one defines,
 * and a check that stays active in release builds (assert() may not). */
#ifndef GRAFT_FUZZ_H
#define GRAFT_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional one-time set-up (targets that need an OpenCL context). */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken invariant is a finding: abort so libFuzzer keeps the input. */
#define FUZZ_CHECK(cond, what)                                                        \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "fuzz: invariant failed: %s (%s:%d)\n", (what), __FILE__, \
                    __LINE__);                                                        \
            abort();                                                                  \
        }                                                                             \
    } while (0)
#endif
