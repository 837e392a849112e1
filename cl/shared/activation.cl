/* Elementwise activations. kind: 0 relu, 1 relu6, 2 leaky relu. */

__kernel void act_fwd(__global const float *x, __global float *y, int n, int kind, float slope)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float v = x[i];
    if (kind == 0) v = fmax(v, 0.0f);
    else if (kind == 1) v = fmin(fmax(v, 0.0f), 6.0f);
    else v = v > 0.0f ? v : slope * v;
    y[i] = v;
}

/* Gradient from the forward input; at the kinks (0, 6) the slope is taken
 * as 0 like PyTorch (1 for leaky relu only when x > 0). */
__kernel void act_bwd(__global const float *x, __global const float *dy, __global float *dx, int n,
                      int kind, float slope, float beta)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float v = x[i], g;
    if (kind == 0) g = v > 0.0f ? 1.0f : 0.0f;
    else if (kind == 1) g = (v > 0.0f && v < 6.0f) ? 1.0f : 0.0f;
    else g = v > 0.0f ? 1.0f : slope;
    float r = g * dy[i];
    dx[i] = beta == 0.0f ? r : r + beta * dx[i];
}

/* The derivative of an activation fused into the op that wrote y (a conv's
 * store epilogue), recovered from that output: positive exactly where the
 * input is (and below 6 for ReLU6), so equal to act_bwd's from the input.
 * Branch-free like bn_act_grad. */
static float act_grad_of_output(float v, int kind, float slope)
{
    float pos = (float)(v > 0.0f);
    return kind == 0 ? pos : kind == 1 ? pos * (float)(v < 6.0f) : pos + (1.0f - pos) * slope;
}

/* In place, dy *= act'(y). */
__kernel void act_grad_from_output(__global const float *y, __global float *dy, int n, int kind,
                                   float slope)
{
    int i = get_global_id(0);
    if (i >= n) return;
    dy[i] *= act_grad_of_output(y[i], kind, slope);
}

static float8 act_grad_of_output8(float8 v, int kind, float slope)
{
    float8 pos = select((float8)(0.0f), (float8)(1.0f), v > 0.0f);
    if (kind == 0) return pos;
    if (kind == 1) return select((float8)(0.0f), pos, v < 6.0f);
    return pos + (1.0f - pos) * slope;
}

/* The same on a conv's dy (n x c x spatial) and, in the same pass, its
 * bias gradient db[ch] = the sum of the masked dy over n and spatial. One
 * work-item per channel, each plane in float8 chunks with eight partial
 * sums (a scalar running sum is bound by the add's latency), the tail
 * scalar. */
__kernel void act_grad_bias_from_output(__global const float *y, __global float *dy, int n, int c,
                                        int spatial, int kind, float slope, __global float *db)
{
    int ch = get_global_id(0);
    if (ch >= c) return;
    float8 acc8 = 0.0f;
    float acc = 0.0f;
    for (int i = 0; i < n; i++) {
        size_t off = ((size_t)i * c + ch) * spatial;
        int s = 0;
        for (; s + 8 <= spatial; s += 8) {
            float8 d = vload8(0, dy + off + s) * act_grad_of_output8(vload8(0, y + off + s), kind,
                                                                     slope);
            vstore8(d, 0, dy + off + s);
            acc8 += d;
        }
        for (; s < spatial; s++) {
            float d = dy[off + s] * act_grad_of_output(y[off + s], kind, slope);
            dy[off + s] = d;
            acc += d;
        }
    }
    float4 a4 = acc8.lo + acc8.hi;
    float2 a2 = a4.lo + a4.hi;
    db[ch] = acc + (a2.lo + a2.hi);
}
