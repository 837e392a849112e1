/* BatchNorm2d: per-channel statistics over N, H, W. One work-group of
 * BN_LWS items per channel reduces through local memory. */
#define BN_LWS 64

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
void bn_stats(__global const float *x, int n, int C, int S, __global float *mean,
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

/* Inference / frozen statistics: mean and invstd from the running stats. */
__kernel void bn_running_stats(__global const float *rmean, __global const float *rvar, int C,
                               float eps, __global float *mean, __global float *invstd)
{
    int c = get_global_id(0);
    if (c >= C) return;
    mean[c] = rmean[c];
    invstd[c] = 1.0f / sqrt(rvar[c] + eps);
}

__kernel void bn_apply(__global const float *x, __global float *y, int total, int C, int S,
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
void bn_bwd_reduce(__global const float *x, __global const float *dy, int n, int C, int S,
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
__kernel void bn_bwd_dx(__global const float *x, __global const float *dy, __global float *dx,
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

/* CPU variants (PoCL): one work-item per channel or per (sample, channel)
 * plane looping over contiguous memory; work-group reductions cost more
 * there than they save. Plane sums keep float rounding error small. */

/* Sums over one plane in eight lanes: without fast-math the compiler may
 * not reorder a float reduction, so a scalar loop is one dependent add
 * after another; eight independent lanes run at load speed. */
static float hsum8(float8 v)
{
    float4 h = v.lo + v.hi;
    return (h.x + h.y) + (h.z + h.w);
}

static float plane_sum(__global const float *p, int S)
{
    float8 acc = (float8)(0.0f);
    int s = 0;
    for (; s + 8 <= S; s += 8) acc += vload8(0, p + s);
    float r = hsum8(acc);
    for (; s < S; s++) r += p[s];
    return r;
}

static float plane_sqdev(__global const float *p, int S, float mu)
{
    float8 acc = (float8)(0.0f);
    int s = 0;
    for (; s + 8 <= S; s += 8) {
        float8 d = vload8(0, p + s) - mu;
        acc = fma(d, d, acc);
    }
    float r = hsum8(acc);
    for (; s < S; s++) {
        float d = p[s] - mu;
        r += d * d;
    }
    return r;
}

__kernel void bn_stats_cpu(__global const float *x, int n, int C, int S, __global float *mean,
                           __global float *invstd, __global float *rmean, __global float *rvar,
                           float eps, float momentum, int update)
{
    int c = get_global_id(0);
    if (c >= C) return;
    int m = n * S;
    float tot = 0.0f;
    for (int b = 0; b < n; b++) tot += plane_sum(x + ((size_t)b * C + c) * S, S);
    float mu = tot / (float)m;
    tot = 0.0f;
    for (int b = 0; b < n; b++) tot += plane_sqdev(x + ((size_t)b * C + c) * S, S, mu);
    float var = tot / (float)m;
    mean[c] = mu;
    invstd[c] = 1.0f / sqrt(var + eps);
    if (update) {
        float uvar = m > 1 ? var * (float)m / (float)(m - 1) : var;
        rmean[c] = (1.0f - momentum) * rmean[c] + momentum * mu;
        rvar[c] = (1.0f - momentum) * rvar[c] + momentum * uvar;
    }
}

__kernel void bn_apply_planes(__global const float *x, __global float *y, int n, int C, int S,
                              __global const float *mean, __global const float *invstd,
                              __global const float *gamma, __global const float *beta,
                              int act, float slope)
{
    int b = get_global_id(0), c = get_global_id(1);
    if (b >= n || c >= C) return;
    float sc = invstd[c] * gamma[c], sh = beta[c] - mean[c] * sc;
    size_t o = ((size_t)b * C + c) * S;
    /* Separate loops keep the common cases branch-free for vectorising. */
    if (act < 0)
        for (int s = 0; s < S; s++) y[o + s] = x[o + s] * sc + sh;
    else if (act == 0)
        for (int s = 0; s < S; s++) y[o + s] = fmax(x[o + s] * sc + sh, 0.0f);
    else
        for (int s = 0; s < S; s++) y[o + s] = bn_act(x[o + s] * sc + sh, act, slope);
}

__kernel void bn_bwd_reduce_cpu(__global const float *x, __global const float *dy, int n, int C,
                                int S, __global const float *mean, __global const float *invstd,
                                __global float *sums, __global float *dgamma,
                                __global float *dbeta, int pgrads, __global const float *y,
                                int act, float slope)
{
    int c = get_global_id(0);
    if (c >= C) return;
    float mu = mean[c], is = invstd[c];
    float sdy = 0.0f, sdyx = 0.0f;
    for (int b = 0; b < n; b++) {
        size_t o = ((size_t)b * C + c) * S;
        float a = 0.0f, q = 0.0f;
        if (act <= 0) {
            /* Eight lanes, as in plane_sum; ReLU's mask is a select. */
            float8 a8 = (float8)(0.0f), q8 = (float8)(0.0f);
            int s = 0;
            for (; s + 8 <= S; s += 8) {
                float8 g = vload8(0, dy + o + s);
                if (act == 0) g = select((float8)(0.0f), g, isgreater(vload8(0, y + o + s), (float8)(0.0f)));
                a8 += g;
                q8 = fma(g, vload8(0, x + o + s) - mu, q8);
            }
            a = hsum8(a8);
            q = hsum8(q8);
            for (; s < S; s++) {
                float g = dy[o + s] * (act == 0 ? (float)(y[o + s] > 0.0f) : 1.0f);
                a += g;
                q += g * (x[o + s] - mu);
            }
        } else
            for (int s = 0; s < S; s++) {
                float g = dy[o + s] * bn_act_grad(y[o + s], act, slope);
                a += g;
                q += g * (x[o + s] - mu);
            }
        sdy += a;
        sdyx += q * is;
    }
    sums[2 * c] = sdy;
    sums[2 * c + 1] = sdyx;
    if (pgrads) {
        dgamma[c] = sdyx;
        dbeta[c] = sdy;
    }
}

__kernel void bn_bwd_dx_planes(__global const float *x, __global const float *dy,
                               __global float *dx, int n, int C, int S, int m,
                               __global const float *mean, __global const float *invstd,
                               __global const float *gamma, __global const float *sums, int batch,
                               float beta, __global const float *y, int act, float slope)
{
    int b = get_global_id(0), c = get_global_id(1);
    if (b >= n || c >= C) return;
    float g = gamma[c] * invstd[c];
    float mdy = batch ? sums[2 * c] / (float)m : 0.0f;
    float mdyx = batch ? sums[2 * c + 1] / (float)m : 0.0f;
    float mu = mean[c], is = invstd[c];
    size_t o = ((size_t)b * C + c) * S;
    /* dx = k1 * d + k0 - k2 * x, per channel constants; one loop per case
     * so that each vectorises. */
    float k1 = g, k2 = g * is * mdyx, k0 = -g * mdy + g * mu * is * mdyx;
    __global const float *xs = x + o, *ds = dy + o, *ys = y + o;
    __global float *out = dx + o;
    if (act < 0 && beta == 0.0f)
        for (int s = 0; s < S; s++) out[s] = k1 * ds[s] + k0 - k2 * xs[s];
    else if (act == 0 && beta == 0.0f)
        for (int s = 0; s < S; s++) out[s] = k1 * ds[s] * (float)(ys[s] > 0.0f) + k0 - k2 * xs[s];
    else
        for (int s = 0; s < S; s++) {
            float d = act < 0 ? ds[s] : ds[s] * bn_act_grad(ys[s], act, slope);
            float v = k1 * d + k0 - k2 * xs[s];
            out[s] = beta == 0.0f ? v : v + beta * out[s];
        }
}
