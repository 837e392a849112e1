/* Channels-last marks of imported values (onnx_layout.h). */
#include <stdio.h>
#include <string.h>

#include "onnx_layout.h"
#include "onnx_map.h"

static const char *const layout_free_ops[] = {
    "Transpose", "MatMul", "Add", "Relu", "LeakyRelu", "Sigmoid", "Clip", "Identity", "Dropout",
    "Shape", "graft:Gelu", "LayerNormalization", "graft:LayerNormalization", NULL,
};

int onnx_layout_free(const char *domain, const char *op)
{
    char key[80];
    int dflt = !*domain || !strcmp(domain, "ai.onnx");
    if (strlen(op) + strlen(domain) + 2 > sizeof key) return 0;
    snprintf(key, sizeof key, "%s%s%s", dflt ? "" : domain, dflt ? "" : ":", op);
    for (const char *const *o = layout_free_ops; *o; o++)
        if (!strcmp(key, *o)) return 1;
    return 0;
}

static int perm_is(const int64_t *perm, size_t n, const int64_t *want, size_t nw)
{
    if (n != nw) return 0;
    for (size_t i = 0; i < n; i++)
        if (perm[i] != want[i]) return 0;
    return 1;
}

int onnx_layout_transpose(int rank, const int64_t *perm, size_t n)
{
    static const int64_t to_nhwc[4] = {0, 2, 3, 1}, to_nchw[4] = {0, 3, 1, 2},
                         same4[4] = {0, 1, 2, 3}, same2[2] = {0, 1};
    if (rank == 4 && perm_is(perm, n, to_nhwc, 4)) return ONNX_RANK_NHWC;
    if (rank == ONNX_RANK_NHWC && perm_is(perm, n, to_nchw, 4)) return 4;
    if ((rank == 4 || rank == ONNX_RANK_NHWC) && perm_is(perm, n, same4, 4)) return rank;
    if (rank == 2 && perm_is(perm, n, same2, 2)) return 2;
    return 0;
}
