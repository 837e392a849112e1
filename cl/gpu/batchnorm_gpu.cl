/* BatchNorm2d, GPU-shaped: one work-group of BN_LWS items per channel
 * reduces through local memory; normalisation and dx run one item per
 * element. BN_LWS is a build option (src/runtime/kernel_options.h). */

/* Tree sum of v over the work-group; every item gets the total. */
static float bn_group_sum(__local float *red, float v)
{
    int t = get_local_id(0);
    red[t] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = BN_LWS / 2; h > 0; h >>= 1) {
        if (t < h) red[t] += red[t + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float r = red[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* red is reused by the next call */
    return r;
}

/* Batch mean and invstd (biased variance, two passes for accuracy); when
 * update, running stats move towards mean and the unbiased variance. */
__kernel __attribute__((reqd_work_group_size(BN_LWS, 1, 1)))
void bn_stats_gpu(__global const float *x, int n, int C, int S, __global float *mean,
              __global float *invstd, __global float *rmean, __global float *rvar,
              float eps, float momentum, int update)
{
    __local float red[BN_LWS];
    int c = get_group_id(0), t = get_local_id(0);
    int m = n * S;
    float acc = 0.0f;
    for (int i = t; i < m; i += BN_LWS) {
        int b = i / S, s = i - b * S;
        acc += x[((size_t)b * C + c) * S + s];
    }
    float mu = bn_group_sum(red, acc) / (float)m;
    acc = 0.0f;
    for (int i = t; i < m; i += BN_LWS) {
        int b = i / S, s = i - b * S;
        float d = x[((size_t)b * C + c) * S + s] - mu;
        acc += d * d;
    }
    float var = bn_group_sum(red, acc) / (float)m;
    if (t == 0) {
        mean[c] = mu;
        invstd[c] = 1.0f / sqrt(var + eps);
        if (update) {
            float uvar = m > 1 ? var * (float)m / (float)(m - 1) : var;
            rmean[c] = (1.0f - momentum) * rmean[c] + momentum * mu;
            rvar[c] = (1.0f - momentum) * rvar[c] + momentum * uvar;
        }
    }
}

__kernel void bn_apply_gpu(__global const float *x, __global float *y, int total, int C, int S,
                       __global const float *mean, __global const float *invstd,
                       __global const float *gamma, __global const float *beta, int act,
                       float slope)
{
    int i = get_global_id(0);
    if (i >= total) return;
    int c = (i / S) % C;
    y[i] = bn_act((x[i] - mean[c]) * invstd[c] * gamma[c] + beta[c], act, slope);
}

/* Per channel: sums[2c] = sum dy, sums[2c+1] = sum dy * xhat; these are also
 * dbeta and dgamma, written when pgrads. */
__kernel __attribute__((reqd_work_group_size(BN_LWS, 1, 1)))
void bn_bwd_reduce_gpu(__global const float *x, __global const float *dy, int n, int C, int S,
                   __global const float *mean, __global const float *invstd,
                   __global float *sums, __global float *dgamma, __global float *dbeta,
                   int pgrads, __global const float *y, int act, float slope)
{
    __local float red[BN_LWS];
    int c = get_group_id(0), t = get_local_id(0);
    int m = n * S;
    float mu = mean[c], is = invstd[c];
    float a = 0.0f, b = 0.0f;
    for (int i = t; i < m; i += BN_LWS) {
        int k = i / S, s = i - k * S;
        size_t j = ((size_t)k * C + c) * S + s;
        float g = act < 0 ? dy[j] : dy[j] * bn_act_grad(y[j], act, slope);
        a += g;
        b += g * (x[j] - mu) * is;
    }
    float sdy = bn_group_sum(red, a);
    float sdyx = bn_group_sum(red, b);
    if (t == 0) {
        sums[2 * c] = sdy;
        sums[2 * c + 1] = sdyx;
        if (pgrads) {
            dgamma[c] = sdyx;
            dbeta[c] = sdy;
        }
    }
}

/* dx = beta*dx + gamma*invstd*(dy - mean(dy) - xhat*mean(dy*xhat)) with batch
 * statistics; with constant (running) statistics just gamma*invstd*dy. */
__kernel void bn_bwd_dx_gpu(__global const float *x, __global const float *dy, __global float *dx,
                        int total, int C, int S, int m, __global const float *mean,
                        __global const float *invstd, __global const float *gamma,
                        __global const float *sums, int batch, float beta,
                        __global const float *y, int act, float slope)
{
    int i = get_global_id(0);
    if (i >= total) return;
    int c = (i / S) % C;
    float g = gamma[c] * invstd[c];
    float d = act < 0 ? dy[i] : dy[i] * bn_act_grad(y[i], act, slope);
    float v;
    if (batch) {
        float xhat = (x[i] - mean[c]) * invstd[c];
        v = g * (d - sums[2 * c] / (float)m - xhat * sums[2 * c + 1] / (float)m);
    } else {
        v = g * d;
    }
    dx[i] = beta == 0.0f ? v : v + beta * dx[i];
}
