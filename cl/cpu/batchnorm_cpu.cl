/* BatchNorm2d, CPU-shaped (PoCL): one work-item per channel or per
 * (sample, channel) plane looping over contiguous memory; work-group
 * reductions cost more there than they save. Plane sums keep float
 * rounding error small. */

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

__kernel void bn_apply_cpu(__global const float *x, __global float *y, int n, int C, int S,
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

__kernel void bn_bwd_dx_cpu(__global const float *x, __global const float *dy,
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
