/* Softmax cross-entropy: per-sample work on the device, the final mean on
 * the host (n values, so a device reduction is not worth a kernel). */
#include <stdlib.h>

#include "loss.h"

graft_status loss_softmax_ce(graft_ctx *ctx, cl_mem logits, const int *labels, int n, int classes,
                             float smoothing, cl_mem dlogits, float *loss_mean, int *correct)
{
    if (n < 1 || classes < 1 || !labels)
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "loss: %d samples, %d classes", n, classes);
    if (!(smoothing >= 0.0f && smoothing < 1.0f))
        return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "loss: label smoothing %g not in [0, 1)",
                        (double)smoothing);
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG,
                            "loss: label %d of sample %d not in [0, %d)", labels[i], i, classes);
    /* Slot 5: n int labels, then n (loss, correct) float pairs. */
    cl_mem buf;
    TRY(ctx_scratch(ctx, 5, (size_t)n * 3 * sizeof(cl_int), &buf));
    CL_TRY(ctx, clEnqueueWriteBuffer(ctx->queue, buf, CL_TRUE, 0, (size_t)n * sizeof(cl_int),
                                     labels, 0, NULL, NULL), "uploading labels");
    size_t g = (size_t)n;
    TRY(LAUNCH(ctx, "loss_softmax_ce", 1, &g, NULL, KA_MEM(logits), KA_MEM(buf), KA_INT(n),
               KA_INT(classes), KA_FLT(smoothing), KA_MEM(dlogits)));
    float *res = malloc((size_t)n * 2 * sizeof *res);
    if (!res) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    graft_status s = ctx_read(ctx, buf, (size_t)n, res, (size_t)n * 2);
    if (s == GRAFT_OK) {
        double sum = 0;
        int hits = 0;
        for (int i = 0; i < n; i++) {
            sum += res[2 * i];
            hits += res[2 * i + 1] != 0.0f;
        }
        if (loss_mean) *loss_mean = (float)(sum / n);
        if (correct) *correct = hits;
    }
    free(res);
    return s;
}
