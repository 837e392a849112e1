/* 2-D convolution helpers: im2col / col2im over the whole batch (column
 * index n*P + p, P = Hout*Wout), layout changes between NCHW and the
 * GEMM's [C][n*P], and direct kernels for convolutions with one input
 * channel per group (depthwise), where a GEMM would be tiny. */

/* col[r][j], r = ci*k*k + ky*k + kx over all Cin, j = nn*P + oy*Wout + ox. */
__kernel void conv_im2col(__global const float *x, __global float *col, int n, int cin, int h,
                          int w, int hout, int wout, int k, int stride, int pad, int dil)
{
    size_t i = get_global_id(0);
    int P = hout * wout;
    size_t np = (size_t)n * P;
    size_t total = (size_t)cin * k * k * np;
    if (i >= total) return;
    int r = (int)(i / np);
    int j = (int)(i % np);
    int nn = j / P, p = j % P;
    int oy = p / wout, ox = p % wout;
    int kx = r % k, ky = (r / k) % k, ci = r / (k * k);
    int iy = oy * stride - pad + ky * dil, ix = ox * stride - pad + kx * dil;
    float v = 0.0f;
    if (iy >= 0 && iy < h && ix >= 0 && ix < w)
        v = x[(((size_t)nn * cin + ci) * h + iy) * w + ix];
    col[i] = v;
}

/* Gather form of col2im: every input pixel sums the columns it fed, so no
 * two work-items write the same place (no atomics).
 * dx = beta * dx + sum (beta is 0 or 1; 0 ignores old contents). */
__kernel void conv_col2im(__global const float *dcol, __global float *dx, int n, int cin, int h,
                          int w, int hout, int wout, int k, int stride, int pad, int dil,
                          float beta)
{
    size_t i = get_global_id(0);
    size_t total = (size_t)n * cin * h * w;
    if (i >= total) return;
    int x = (int)(i % w);
    int y = (int)((i / w) % h);
    int ci = (int)((i / ((size_t)w * h)) % cin);
    int nn = (int)(i / ((size_t)w * h * cin));
    int P = hout * wout;
    size_t np = (size_t)n * P;
    float acc = 0.0f;
    for (int ky = 0; ky < k; ky++) {
        int ty = y + pad - ky * dil;
        if (ty < 0 || ty % stride) continue;
        int oy = ty / stride;
        if (oy >= hout) continue;
        for (int kx = 0; kx < k; kx++) {
            int tx = x + pad - kx * dil;
            if (tx < 0 || tx % stride) continue;
            int ox = tx / stride;
            if (ox >= wout) continue;
            size_t r = ((size_t)ci * k + ky) * k + kx;
            acc += dcol[r * np + (size_t)nn * P + oy * wout + ox];
        }
    }
    dx[i] = beta == 0.0f ? acc : acc + beta * dx[i];
}

/* out[nn][c][p] = y[c][nn*P + p] (+ bias[c]). Safe in place when n == 1. */
__kernel void conv_cnp_to_nchw(__global const float *y, __global float *out,
                               __global const float *bias, int has_bias, int n, int c, int P)
{
    size_t i = get_global_id(0);
    size_t total = (size_t)n * c * P;
    if (i >= total) return;
    int p = (int)(i % P);
    int ch = (int)((i / P) % c);
    int nn = (int)(i / ((size_t)P * c));
    float v = y[(size_t)ch * n * P + (size_t)nn * P + p];
    out[i] = has_bias ? v + bias[ch] : v;
}

/* y[c][nn*P + p] = dout[nn][c][p]: the GEMM view of an NCHW gradient. */
__kernel void conv_nchw_to_cnp(__global const float *dout, __global float *y, int n, int c, int P)
{
    size_t i = get_global_id(0);
    size_t total = (size_t)n * c * P;
    if (i >= total) return;
    int p = (int)(i % P);
    int ch = (int)((i / P) % c);
    int nn = (int)(i / ((size_t)P * c));
    y[(size_t)ch * n * P + (size_t)nn * P + p] = dout[i];
}

/* Direct convolution with one input channel per group: output channel co
 * reads input channel co / mult (mult = Cout / Cin). w is [Cout][k][k]. */
__kernel void conv_dw_forward(__global const float *x, __global const float *wt,
                              __global const float *bias, int has_bias, __global float *out,
                              int n, int cin, int h, int w, int cout, int hout, int wout, int k,
                              int stride, int pad, int dil)
{
    size_t i = get_global_id(0);
    size_t total = (size_t)n * cout * hout * wout;
    if (i >= total) return;
    int ox = (int)(i % wout);
    int oy = (int)((i / wout) % hout);
    int co = (int)((i / ((size_t)wout * hout)) % cout);
    int nn = (int)(i / ((size_t)wout * hout * cout));
    int ci = co / (cout / cin);
    __global const float *xp = x + ((size_t)nn * cin + ci) * h * w;
    __global const float *wp = wt + (size_t)co * k * k;
    float acc = has_bias ? bias[co] : 0.0f;
    for (int ky = 0; ky < k; ky++) {
        int iy = oy * stride - pad + ky * dil;
        if (iy < 0 || iy >= h) continue;
        for (int kx = 0; kx < k; kx++) {
            int ix = ox * stride - pad + kx * dil;
            if (ix < 0 || ix >= w) continue;
            acc += xp[iy * w + ix] * wp[ky * k + kx];
        }
    }
    out[i] = acc;
}

/* dx = beta * dx + sum over the mult output channels of input channel ci
 * and the taps that touched the pixel (gather, no atomics). */
__kernel void conv_dw_backward_data(__global const float *dout, __global const float *wt,
                                    __global float *dx, int n, int cin, int h, int w, int cout,
                                    int hout, int wout, int k, int stride, int pad, int dil,
                                    float beta)
{
    size_t i = get_global_id(0);
    size_t total = (size_t)n * cin * h * w;
    if (i >= total) return;
    int x = (int)(i % w);
    int y = (int)((i / w) % h);
    int ci = (int)((i / ((size_t)w * h)) % cin);
    int nn = (int)(i / ((size_t)w * h * cin));
    int mult = cout / cin;
    float acc = 0.0f;
    for (int m = 0; m < mult; m++) {
        int co = ci * mult + m;
        __global const float *dp = dout + ((size_t)nn * cout + co) * hout * wout;
        __global const float *wp = wt + (size_t)co * k * k;
        for (int ky = 0; ky < k; ky++) {
            int ty = y + pad - ky * dil;
            if (ty < 0 || ty % stride) continue;
            int oy = ty / stride;
            if (oy >= hout) continue;
            for (int kx = 0; kx < k; kx++) {
                int tx = x + pad - kx * dil;
                if (tx < 0 || tx % stride) continue;
                int ox = tx / stride;
                if (ox >= wout) continue;
                acc += dp[oy * wout + ox] * wp[ky * k + kx];
            }
        }
    }
    dx[i] = beta == 0.0f ? acc : acc + beta * dx[i];
}

#define CONV_DW_WG 64
/* dw[co][ky][kx] = sum over batch and output pixels; one work-group of
 * CONV_DW_WG items per weight, each striding over n*P, then a tree sum. */
__kernel __attribute__((reqd_work_group_size(CONV_DW_WG, 1, 1)))
void conv_dw_backward_weight(__global const float *dout, __global const float *x,
                             __global float *dw, int n, int cin, int h, int w, int cout,
                             int hout, int wout, int k, int stride, int pad, int dil)
{
    __local float part[CONV_DW_WG];
    int widx = (int)get_group_id(0);
    int lid = (int)get_local_id(0);
    int kx = widx % k, ky = (widx / k) % k, co = widx / (k * k);
    int ci = co / (cout / cin);
    int P = hout * wout;
    int np = n * P;
    float acc = 0.0f;
    for (int j = lid; j < np; j += CONV_DW_WG) {
        int nn = j / P, p = j % P;
        int oy = p / wout, ox = p % wout;
        int iy = oy * stride - pad + ky * dil, ix = ox * stride - pad + kx * dil;
        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
        acc += dout[((size_t)nn * cout + co) * P + p] *
               x[(((size_t)nn * cin + ci) * h + iy) * w + ix];
    }
    part[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = CONV_DW_WG / 2; s > 0; s >>= 1) {
        if (lid < s) part[lid] += part[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) dw[widx] = part[0];
}
