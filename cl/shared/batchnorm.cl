/* BatchNorm2d, shared by both kernel styles: the fused activation and the
 * statistics read from the running estimates. The batch statistics,
 * normalisation and backward passes are style-specific:
 * cl/cpu/batchnorm_cpu.cl and cl/gpu/batchnorm_gpu.cl. */

/* A following ReLU / ReLU6 / leaky ReLU (slope >= 0) can be fused into the
 * BatchNorm (act 0 / 1 / 2; -1 = none): forward applies it to the output,
 * and backward recovers its derivative from that output y, which is
 * positive exactly where the pre-activation is (and below 6 for ReLU6). */
static float bn_act(float v, int act, float slope)
{
    if (act == 0) return fmax(v, 0.0f);
    if (act == 1) return fmin(fmax(v, 0.0f), 6.0f);
    if (act == 2) return v > 0.0f ? v : slope * v;
    return v;
}

/* Branch-free: the sign of y is random, and a branch on it mispredicts
 * half the time (it made the fused backward 2.5x slower on PoCL). */
static float bn_act_grad(float y, int act, float slope)
{
    float pos = (float)(y > 0.0f);
    if (act == 0) return pos;
    if (act == 1) return pos * (float)(y < 6.0f);
    if (act == 2) return pos + (1.0f - pos) * slope;
    return 1.0f;
}

/* Inference / frozen statistics: mean and invstd from the running stats. */
__kernel void bn_running_stats(__global const float *rmean, __global const float *rvar, int C,
                               float eps, __global float *mean, __global float *invstd)
{
    int c = get_global_id(0);
    if (c >= C) return;
    mean[c] = rmean[c];
    invstd[c] = 1.0f / sqrt(rvar[c] + eps);
}
