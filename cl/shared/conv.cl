/* 2-D convolution helpers: im2col / col2im over a chunk of n images that
 * starts at image n0 of the NCHW tensor (column index nn*P + p within the
 * chunk, P = Hout*Wout), layout changes between NCHW and the GEMM's
 * [C][n*P] for such a chunk, and direct kernels for convolutions with one input
 * channel per group (depthwise), where a GEMM would be tiny. */

/* On CPU devices (PoCL) every work-group costs a dispatch, so these layout
 * kernels give each work-item a whole image plane (sample nn, channel ci)
 * and loop inside it; the inner loops run over contiguous memory. */

/* Kernels are kh x kw; pt and pl are the top and left pads (the bottom
 * and right ones only set hout and wout). */

/* col[r][j], r = (ci*kh + ky)*kw + kx over all Cin, j = nn*P + oy*Wout + ox,
 * from image n0 + nn of x. Range (nn, ci) over the chunk's n images. */
__kernel void conv_im2col(__global const float *x, __global float *col, int n0, int n, int cin,
                          int h, int w, int hout, int wout, int kh, int kw, int stride, int pt,
                          int pl, int dil)
{
    int nn = get_global_id(0), ci = get_global_id(1);
    if (nn >= n || ci >= cin) return;
    int P = hout * wout;
    size_t np = (size_t)n * P;
    __global const float *src = x + ((size_t)(n0 + nn) * cin + ci) * h * w;
    for (int ky = 0; ky < kh; ky++)
        for (int kx = 0; kx < kw; kx++) {
            __global float *dst = col + (size_t)((ci * kh + ky) * kw + kx) * np + (size_t)nn * P;
            /* Output columns whose input column lies inside the image. */
            int off = kx * dil - pl;
            int ox0 = off >= 0 ? 0 : (-off + stride - 1) / stride;
            int ox1 = (w - 1 - off) < 0 ? 0 : (w - 1 - off) / stride + 1;
            if (ox1 > wout) ox1 = wout;
            if (ox0 > ox1) ox0 = ox1;
            for (int oy = 0; oy < hout; oy++) {
                __global float *d = dst + oy * wout;
                int iy = oy * stride - pt + ky * dil;
                if (iy < 0 || iy >= h) {
                    for (int ox = 0; ox < wout; ox++) d[ox] = 0.0f;
                    continue;
                }
                __global const float *row = src + (size_t)iy * w + off;
                for (int ox = 0; ox < ox0; ox++) d[ox] = 0.0f;
                if (stride == 1)
                    for (int ox = ox0; ox < ox1; ox++) d[ox] = row[ox];
                else
                    for (int ox = ox0; ox < ox1; ox++) d[ox] = row[ox * stride];
                for (int ox = ox1; ox < wout; ox++) d[ox] = 0.0f;
            }
        }
}

/* col2im: dx = beta * dx + the sum of the columns each pixel fed
 * (beta 0 or 1; 0 ignores old contents), for images n0 .. n0+n-1 of dx.
 * One work-item owns a whole (nn, ci) plane and scatters into it, so no
 * two items touch the same pixel and no atomics are needed. Range (nn, ci)
 * over the chunk's n images. */
__kernel void conv_col2im(__global const float *dcol, __global float *dx, int n0, int n, int cin,
                          int h, int w, int hout, int wout, int kh, int kw, int stride, int pt,
                          int pl, int dil, float beta)
{
    int nn = get_global_id(0), ci = get_global_id(1);
    if (nn >= n || ci >= cin) return;
    int P = hout * wout;
    size_t np = (size_t)n * P;
    __global float *dst = dx + ((size_t)(n0 + nn) * cin + ci) * h * w;
    if (beta == 0.0f)
        for (int i = 0; i < h * w; i++) dst[i] = 0.0f;
    for (int ky = 0; ky < kh; ky++)
        for (int kx = 0; kx < kw; kx++) {
            __global const float *src =
                dcol + (size_t)((ci * kh + ky) * kw + kx) * np + (size_t)nn * P;
            int off = kx * dil - pl;
            int ox0 = off >= 0 ? 0 : (-off + stride - 1) / stride;
            int ox1 = (w - 1 - off) < 0 ? 0 : (w - 1 - off) / stride + 1;
            if (ox1 > wout) ox1 = wout;
            if (ox0 > ox1) ox0 = ox1;
            for (int oy = 0; oy < hout; oy++) {
                int iy = oy * stride - pt + ky * dil;
                if (iy < 0 || iy >= h) continue;
                __global const float *s = src + oy * wout;
                __global float *row = dst + (size_t)iy * w + off;
                if (stride == 1)
                    for (int ox = ox0; ox < ox1; ox++) row[ox] += s[ox];
                else
                    for (int ox = ox0; ox < ox1; ox++) row[ox * stride] += s[ox];
            }
        }
}

/* out[n0 + nn][c][p] = y[c][nn*P + p] (+ bias[c]); range (nn, c) over the
 * chunk's n images. */
__kernel void conv_cnp_to_nchw(__global const float *y, __global float *out,
                               __global const float *bias, int has_bias, int n0, int n, int c,
                               int P)
{
    int nn = get_global_id(0), ch = get_global_id(1);
    if (nn >= n || ch >= c) return;
    __global const float *s = y + ((size_t)ch * n + nn) * P;
    __global float *d = out + ((size_t)(n0 + nn) * c + ch) * P;
    float b = has_bias ? bias[ch] : 0.0f;
    for (int p = 0; p < P; p++) d[p] = s[p] + b;
}

/* y[c][nn*P + p] = dout[n0 + nn][c][p]: the GEMM view of a chunk of an NCHW
 * gradient; range (nn, c) over the chunk's n images. */
__kernel void conv_nchw_to_cnp(__global const float *dout, __global float *y, int n0, int n, int c,
                               int P)
{
    int nn = get_global_id(0), ch = get_global_id(1);
    if (nn >= n || ch >= c) return;
    __global const float *s = dout + ((size_t)(n0 + nn) * c + ch) * P;
    __global float *d = y + ((size_t)ch * n + nn) * P;
    for (int p = 0; p < P; p++) d[p] = s[p];
}

/* Direct convolution with one input channel per group: output channel co
 * reads input channel co / mult (mult = Cout / Cin). w is [Cout][kh][kw]. */
__kernel void conv_dw_forward(__global const float *x, __global const float *wt,
                              __global const float *bias, int has_bias, __global float *out,
                              int n, int cin, int h, int w, int cout, int hout, int wout, int kh,
                              int kw, int stride, int pt, int pl, int dil)
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
    __global const float *wp = wt + (size_t)co * kh * kw;
    float acc = has_bias ? bias[co] : 0.0f;
    for (int ky = 0; ky < kh; ky++) {
        int iy = oy * stride - pt + ky * dil;
        if (iy < 0 || iy >= h) continue;
        for (int kx = 0; kx < kw; kx++) {
            int ix = ox * stride - pl + kx * dil;
            if (ix < 0 || ix >= w) continue;
            acc += xp[iy * w + ix] * wp[ky * kw + kx];
        }
    }
    out[i] = acc;
}

/* dx = beta * dx + sum over the mult output channels of input channel ci
 * and the taps that touched the pixel (gather, no atomics). */
__kernel void conv_dw_backward_data(__global const float *dout, __global const float *wt,
                                    __global float *dx, int n, int cin, int h, int w, int cout,
                                    int hout, int wout, int kh, int kw, int stride, int pt,
                                    int pl, int dil, float beta)
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
        __global const float *wp = wt + (size_t)co * kh * kw;
        for (int ky = 0; ky < kh; ky++) {
            int ty = y + pt - ky * dil;
            if (ty < 0 || ty % stride) continue;
            int oy = ty / stride;
            if (oy >= hout) continue;
            for (int kx = 0; kx < kw; kx++) {
                int tx = x + pl - kx * dil;
                if (tx < 0 || tx % stride) continue;
                int ox = tx / stride;
                if (ox >= wout) continue;
                acc += dp[oy * wout + ox] * wp[ky * kw + kx];
            }
        }
    }
    dx[i] = beta == 0.0f ? acc : acc + beta * dx[i];
}

/* dw[co][ky][kx] = sum over batch and output pixels; one work-group of
 * CONV_DW_WG items per weight (a build option), each striding over n*P,
 * then a tree sum. */
__kernel __attribute__((reqd_work_group_size(CONV_DW_WG, 1, 1)))
void conv_dw_backward_weight(__global const float *dout, __global const float *x,
                             __global float *dw, int n, int cin, int h, int w, int cout,
                             int hout, int wout, int kh, int kw, int stride, int pt, int pl,
                             int dil)
{
    __local float part[CONV_DW_WG];
    int widx = (int)get_group_id(0);
    int lid = (int)get_local_id(0);
    int kx = widx % kw, ky = (widx / kw) % kh, co = widx / (kh * kw);
    int ci = co / (cout / cin);
    int P = hout * wout;
    int np = n * P;
    float acc = 0.0f;
    for (int j = lid; j < np; j += CONV_DW_WG) {
        int nn = j / P, p = j % P;
        int oy = p / wout, ox = p % wout;
        int iy = oy * stride - pt + ky * dil, ix = ox * stride - pl + kx * dil;
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
