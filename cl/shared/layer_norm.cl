/* Layer norm over the channels of each pixel (ConvNeXt's LayerNorm on the
 * channel axis): y[b, c, s] = (x - mean_c) * invstd * gamma[c] + beta[c]
 * with mean and biased variance over c at fixed (b, s). Both kernel styles:
 * one work-item per pixel, neighbouring items read neighbouring pixels. */

/* Forward; stats[2 * (b * S + s)] gets mean and invstd for the backward. */
__kernel void layer_norm_fwd(__global const float *x, __global float *y, int n, int C, int S,
                             __global const float *gamma, __global const float *beta, float eps,
                             __global float *stats)
{
    int i = get_global_id(0);
    if (i >= n * S) return;
    int s = i % S, b = i / S;
    __global const float *xp = x + (size_t)b * C * S + s;
    __global float *yp = y + (size_t)b * C * S + s;
    float sum = 0.0f;
    for (int c = 0; c < C; c++) sum += xp[(size_t)c * S];
    float mean = sum / C, var = 0.0f;
    /* Two passes: the variance of centred values keeps its accuracy when
     * the mean is large. */
    for (int c = 0; c < C; c++) {
        float d = xp[(size_t)c * S] - mean;
        var += d * d;
    }
    float invstd = rsqrt(var / C + eps);
    for (int c = 0; c < C; c++)
        yp[(size_t)c * S] = (xp[(size_t)c * S] - mean) * invstd * gamma[c] + beta[c];
    stats[2 * i] = mean;
    stats[2 * i + 1] = invstd;
}

/* dx = invstd * (g - mean_c(g) - xhat * mean_c(g * xhat)), g = dy * gamma,
 * per pixel. */
__kernel void layer_norm_bwd_data(__global const float *x, __global const float *dy,
                                  __global float *dx, int n, int C, int S,
                                  __global const float *gamma, __global const float *stats,
                                  float beta)
{
    int i = get_global_id(0);
    if (i >= n * S) return;
    int s = i % S, b = i / S;
    size_t base = (size_t)b * C * S + s;
    float mean = stats[2 * i], invstd = stats[2 * i + 1];
    float sg = 0.0f, sgx = 0.0f;
    for (int c = 0; c < C; c++) {
        size_t k = base + (size_t)c * S;
        float g = dy[k] * gamma[c], xh = (x[k] - mean) * invstd;
        sg += g;
        sgx += g * xh;
    }
    sg /= C;
    sgx /= C;
    for (int c = 0; c < C; c++) {
        size_t k = base + (size_t)c * S;
        float xh = (x[k] - mean) * invstd;
        float r = invstd * (dy[k] * gamma[c] - sg - xh * sgx);
        dx[k] = beta == 0.0f ? r : r + beta * dx[k];
    }
}

/* dgamma[c] = sum over b, s of dy * xhat; dbeta[c] = sum of dy. One
 * work-item per channel. */
__kernel void layer_norm_bwd_params(__global const float *x, __global const float *dy, int n,
                                    int C, int S, __global const float *stats,
                                    __global float *dgamma, __global float *dbeta)
{
    int c = get_global_id(0);
    if (c >= C) return;
    float sg = 0.0f, sb = 0.0f;
    for (int b = 0; b < n; b++) {
        size_t base = ((size_t)b * C + c) * S;
        __global const float *st = stats + 2 * (size_t)b * S;
        for (int s = 0; s < S; s++) {
            float d = dy[base + s];
            sb += d;
            sg += d * (x[base + s] - st[2 * s]) * st[2 * s + 1];
        }
    }
    dgamma[c] = sg;
    dbeta[c] = sb;
}
