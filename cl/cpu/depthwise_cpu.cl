/* Depthwise convolution (one input channel per group; output channel co
 * reads input channel co / mult, mult = cout / cin; weights [cout][k][k]),
 * CPU-shaped: one work-item per plane (several when planes are small),
 * looping over its rows. The
 * one-output-per-item kernels of cl/shared/conv.c cost a dispatch per
 * output pixel on PoCL (27 ms for one MobileNetV2 layer at batch 16); here
 * the interior of every row runs in 8-pixel float8 chunks whose loads need
 * no bounds checks (stride 1: vload8; stride 2: vload16 and its even
 * lanes), and only the border columns take the scalar path with checks.
 * Any kernel size, pad and dilation; the vector chunks serve strides 1 and
 * 2, other strides run scalar. */

/* Floats of the local tile of a zero-padded plane: 64 KiB, enough for
 * MobileNetV2's 112x112 planes with their borders (PoCL gives CPU devices
 * 512 KiB of local memory). */
#define DW_TILE 16384

/* tile (th x tw) = the h x w plane src shifted by (pt, pl) >= 0, zeros
 * around it; the rows copied in float8 chunks. */
static void dw_tile_copy(__local float *tile, __global const float *src, int h, int w, int th,
                         int tw, int pt, int pl)
{
    for (int r = 0; r < th; r++) {
        __local float *d = tile + r * tw;
        int iy = r - pt, c = 0;
        if (iy < 0 || iy >= h) {
            for (; c + 8 <= tw; c += 8) vstore8((float8)(0.0f), 0, d + c);
            for (; c < tw; c++) d[c] = 0.0f;
            continue;
        }
        __global const float *row = src + (size_t)iy * w - pl;
        int lo = min(pl, tw), hi = min(pl + w, tw);
        for (; c < lo; c++) d[c] = 0.0f;
        for (; c + 8 <= hi; c += 8) vstore8(vload8(0, row + c), 0, d + c);
        for (; c < hi; c++) d[c] = row[c];
        for (; c < tw; c++) d[c] = 0.0f;
    }
}

/* Output columns [lo, hi) of a row whose 8-wide chunks read only inside
 * the input row: ox * stride - pad >= 0 and the widest read of the last
 * tap, (ox * stride - pad + (k - 1) * dil) plus stride - 1 for the odd
 * lane a stride-2 vload16 also fetches, <= w - 1. */
static inline int dw_vec_lo(int stride, int pad) { return (pad + stride - 1) / stride; }
static inline int dw_vec_hi(int w, int wout, int k, int stride, int pad, int dil)
{
    int last = (k - 1) * dil - pad + stride - 1;
    int hi = w - 1 - last < 0 ? 0 : (w - 1 - last) / stride + 1;
    return min(hi, wout);
}

static inline float8 dw_act8(float8 v, int act, float slope)
{
    if (act == 0) return fmax(v, 0.0f);
    if (act == 1) return fmin(fmax(v, 0.0f), 6.0f);
    if (act == 2) return select(v * slope, v, v > 0.0f);
    return v;
}

/* y[nn][co] = bias[co] + sum over taps of x[nn][ci] * w[co]; range: n*cout
 * planes. Inference epilogue (src/graph/fold_bn.c): has_bn folds a
 * following BatchNorm's running statistics in (y * scale + shift), then
 * the activation act (bn_act's codes, -1 none). */
static void dw_forward_plane(int pl, __local float *tile, __global const float *restrict x,
                             __global const float *restrict wt,
                             __global const float *restrict bias, int has_bias,
                             __global float *restrict y, int cin, int h, int w, int cout,
                             int hout, int wout, int k, int stride, int pad, int dil,
                             __global const float *bn_g, __global const float *bn_b,
                             __global const float *bn_m, __global const float *bn_v, float bn_eps,
                             int has_bn, int act, float slope)
{
    int nn = pl / cout, co = pl - nn * cout, ci = co / (cout / cin);
    __global const float *xp = x + ((size_t)nn * cin + ci) * h * w;
    __global const float *wp = wt + (size_t)co * k * k;
    __global float *yp = y + (size_t)pl * hout * wout;
    float b = has_bias ? bias[co] : 0.0f;
    float sc = 1.0f, sh = 0.0f;
    if (has_bn) {
        sc = bn_g[co] * (1.0f / sqrt(bn_v[co] + bn_eps));
        sh = bn_b[co] - bn_m[co] * sc;
    }
    /* Planes that fit are copied with their zero padding into local
     * memory first, so every chunk takes the vector path, the last one
     * partly stored (the scalar border columns cost as much as a row's
     * vector chunks at 56 wide, and were most of each row below 32). tw
     * covers the last chunk's widest read. */
    int tw = ((wout + 7) / 8 * 8 - 1) * stride + (k - 1) * dil + stride;
    int th = (hout - 1) * stride + (k - 1) * dil + 1;
    if (stride <= 2 && th * tw <= DW_TILE) {
        dw_tile_copy(tile, xp, h, w, th, tw, pad, pad);
        for (int oy = 0; oy < hout; oy++)
            for (int ox = 0; ox < wout; ox += 8) {
                float8 acc = (float8)(b);
                for (int ky = 0; ky < k; ky++) {
                    __local const float *row = tile + (oy * stride + ky * dil) * tw + ox * stride;
                    __global const float *wr = wp + ky * k;
                    if (stride == 1)
                        for (int kx = 0; kx < k; kx++)
                            acc = fma((float8)(wr[kx]), vload8(0, row + kx * dil), acc);
                    else
                        for (int kx = 0; kx < k; kx++)
                            acc = fma((float8)(wr[kx]), vload16(0, row + kx * dil).even, acc);
                }
                acc = dw_act8(fma(acc, (float8)(sc), (float8)(sh)), act, slope);
                __global float *yr = yp + (size_t)oy * wout + ox;
                if (ox + 8 <= wout) {
                    vstore8(acc, 0, yr);
                } else {
                    float t[8];
                    vstore8(acc, 0, t);
                    for (int j = 0; j < wout - ox; j++) yr[j] = t[j];
                }
            }
        return;
    }
    int vlo = stride <= 2 ? dw_vec_lo(stride, pad) : wout;
    int vhi = stride <= 2 ? dw_vec_hi(w, wout, k, stride, pad, dil) : 0;
    for (int oy = 0; oy < hout; oy++) {
        __global float *yr = yp + (size_t)oy * wout;
        int iy0 = oy * stride - pad;
        int ox = 0;
        while (ox < wout) {
            if (ox >= vlo && ox + 8 <= vhi) {
                float8 acc = (float8)(b);
                for (int ky = 0; ky < k; ky++) {
                    int iy = iy0 + ky * dil;
                    if (iy < 0 || iy >= h) continue;
                    __global const float *row = xp + (size_t)iy * w + ox * stride - pad;
                    __global const float *wr = wp + ky * k;
                    if (stride == 1)
                        for (int kx = 0; kx < k; kx++)
                            acc = fma((float8)(wr[kx]), vload8(0, row + kx * dil), acc);
                    else
                        for (int kx = 0; kx < k; kx++)
                            acc = fma((float8)(wr[kx]), vload16(0, row + kx * dil).even, acc);
                }
                vstore8(dw_act8(fma(acc, (float8)(sc), (float8)(sh)), act, slope), 0, yr + ox);
                ox += 8;
                continue;
            }
            float acc = b;
            for (int ky = 0; ky < k; ky++) {
                int iy = iy0 + ky * dil;
                if (iy < 0 || iy >= h) continue;
                __global const float *row = xp + (size_t)iy * w;
                for (int kx = 0; kx < k; kx++) {
                    int ix = ox * stride - pad + kx * dil;
                    if (ix >= 0 && ix < w) acc = fma(wp[ky * k + kx], row[ix], acc);
                }
            }
            yr[ox] = bn_act(fma(acc, sc, sh), act, slope);
            ox++;
        }
    }
}

/* Planes pl = gid * ppi .. (gid + 1) * ppi - 1 of n*cout: several small
 * planes per item, because PoCL pays about a microsecond per work-group
 * and MobileNetV2's 7x7 layers have 960 planes of 49 pixels. */
__kernel void dw_forward_cpu(__global const float *restrict x, __global const float *restrict wt,
                             __global const float *restrict bias, int has_bias,
                             __global float *restrict y, int n, int cin, int h, int w, int cout,
                             int hout, int wout, int k, int stride, int pad, int dil,
                             __global const float *bn_g, __global const float *bn_b,
                             __global const float *bn_m, __global const float *bn_v, float bn_eps,
                             int has_bn, int act, float slope, int ppi)
{
    __local float tile[DW_TILE]; /* one work-item per group: its own */
    int p0 = get_global_id(0) * ppi, p1 = min(p0 + ppi, n * cout);
    for (int pl = p0; pl < p1; pl++)
        dw_forward_plane(pl, tile, x, wt, bias, has_bias, y, cin, h, w, cout, hout, wout, k,
                         stride, pad, dil, bn_g, bn_b, bn_m, bn_v, bn_eps, has_bn, act, slope);
}

/* dx[nn][ci] = beta * dx + the gradient through the mult output channels
 * of ci (beta 0 ignores old contents); range: n*cin planes, each owned by
 * one item, so no atomics. Stride 1 gathers (a conv of dy with the kernel
 * rotated, vectorised like the forward); other strides scatter each dy row
 * into the plane. */
static void dw_backward_data_plane(int pl, __local float *tile, __global const float *restrict dy,
                                   __global const float *restrict wt, __global float *restrict dx,
                                   int cin, int h, int w, int cout, int hout, int wout,
                                   int k, int stride, int pad, int dil, float beta)
{
    int nn = pl / cin, ci = pl - nn * cin, mult = cout / cin;
    __global float *dxp = dx + (size_t)pl * h * w;
    __global const float *dyn = dy + ((size_t)nn * cout + (size_t)ci * mult) * hout * wout;
    __global const float *wn = wt + (size_t)ci * mult * k * k;
    size_t P = (size_t)hout * wout;
    /* Stride 1, one output channel per input channel, planes that fit: dy
     * padded by pad2 = (k-1)*dil - pad into a local tile (as in the
     * forward), dx[iy][ix] = sum tile[iy + (k-1-ky)*dil][ix + (k-1-kx)*dil]
     * * w[ky][kx], every 8-pixel chunk vectorised. */
    int pad2 = (k - 1) * dil - pad;
    int tw = (w + 7) / 8 * 8 + (k - 1) * dil, th = h + (k - 1) * dil;
    if (stride == 1 && mult == 1 && pad2 >= 0 && th * tw <= DW_TILE) {
        dw_tile_copy(tile, dyn, hout, wout, th, tw, pad2, pad2);
        for (int iy = 0; iy < h; iy++)
            for (int ix = 0; ix < w; ix += 8) {
                float8 acc = 0.0f;
                for (int ky = 0; ky < k; ky++) {
                    __local const float *row = tile + (iy + (k - 1 - ky) * dil) * tw + ix;
                    __global const float *wr = wn + ky * k;
                    for (int kx = 0; kx < k; kx++)
                        acc = fma((float8)(wr[kx]), vload8(0, row + (k - 1 - kx) * dil), acc);
                }
                __global float *dr = dxp + (size_t)iy * w + ix;
                float t[8];
                vstore8(acc, 0, t);
                for (int j = 0; j < min(8, w - ix); j++)
                    dr[j] = beta != 0.0f ? t[j] + beta * dr[j] : t[j];
            }
        return;
    }
    if (stride == 1) {
        /* dx[iy][ix] = sum dy[iy + pad - ky*dil][ix + pad - kx*dil] * w[ky][kx];
         * the 8-wide chunks need ix + pad - (k-1)*dil >= 0 and
         * ix + 7 + pad <= wout - 1. */
        int vlo = max((k - 1) * dil - pad, 0), vhi = min(wout - pad, w);
        for (int iy = 0; iy < h; iy++) {
            __global float *dr = dxp + (size_t)iy * w;
            int ix = 0;
            while (ix < w) {
                if (ix >= vlo && ix + 8 <= vhi) {
                    float8 acc = 0.0f;
                    for (int m = 0; m < mult; m++)
                        for (int ky = 0; ky < k; ky++) {
                            int oy = iy + pad - ky * dil;
                            if (oy < 0 || oy >= hout) continue;
                            __global const float *row = dyn + m * P + (size_t)oy * wout + ix + pad;
                            __global const float *wr = wn + (m * k + ky) * k;
                            for (int kx = 0; kx < k; kx++)
                                acc = fma((float8)(wr[kx]), vload8(0, row - kx * dil), acc);
                        }
                    if (beta != 0.0f) acc = fma((float8)(beta), vload8(0, dr + ix), acc);
                    vstore8(acc, 0, dr + ix);
                    ix += 8;
                    continue;
                }
                float acc = 0.0f;
                for (int m = 0; m < mult; m++)
                    for (int ky = 0; ky < k; ky++) {
                        int oy = iy + pad - ky * dil;
                        if (oy < 0 || oy >= hout) continue;
                        __global const float *row = dyn + m * P + (size_t)oy * wout;
                        for (int kx = 0; kx < k; kx++) {
                            int ox = ix + pad - kx * dil;
                            if (ox >= 0 && ox < wout)
                                acc = fma(wn[(m * k + ky) * k + kx], row[ox], acc);
                        }
                    }
                dr[ix] = beta != 0.0f ? acc + beta * dr[ix] : acc;
                ix++;
            }
        }
        return;
    }
    /* Stride 2, dilation 1, one output channel per input channel, planes
     * that fit: gathered by column parity instead of scattered. Column c =
     * 2j + ph of dx takes the taps kx = ph + pad (mod 2) at dy column
     * j - q, q = (kx - ph - pad) / 2, so each parity is a sum of shifted
     * dy rows (float8 chunks over j from the zero-padded tile: m columns
     * of margin), and the two parities are interleaved into 16 columns. */
    int m2 = (k + pad) / 2 + 1, jn = ((w + 1) / 2 + 7) / 8 * 8, tw2 = jn + 2 * m2;
    if (stride == 2 && dil == 1 && mult == 1 && hout * tw2 <= DW_TILE) {
        dw_tile_copy(tile, dyn, hout, wout, hout, tw2, 0, m2);
        const uint16 mix = (uint16)(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
        for (int iy = 0; iy < h; iy++) {
            __global float *dr = dxp + (size_t)iy * w;
            for (int j = 0; j < jn; j += 8) {
                float8 acc0 = 0.0f, acc1 = 0.0f;
                for (int ky = (iy + pad) & 1; ky < k; ky += 2) {
                    int oy = (iy + pad - ky) / 2;
                    if (oy < 0 || oy >= hout) continue;
                    __local const float *row = tile + oy * tw2 + m2 + j;
                    __global const float *wr = wn + ky * k;
                    /* kx - pad even: parity 0, q = (kx - pad) / 2; odd:
                     * parity 1, q = (kx - 1 - pad) / 2. */
                    for (int kx = 0; kx < k; kx++) {
                        int d = kx - pad;
                        if ((d & 1) == 0)
                            acc0 = fma((float8)(wr[kx]), vload8(0, row - d / 2), acc0);
                        else
                            acc1 = fma((float8)(wr[kx]), vload8(0, row - (d - 1) / 2), acc1);
                    }
                }
                float16 v = shuffle2(acc0, acc1, mix);
                int c0 = 2 * j;
                if (c0 + 16 <= w) {
                    if (beta != 0.0f) v = fma((float16)(beta), vload16(0, dr + c0), v);
                    vstore16(v, 0, dr + c0);
                } else {
                    float t[16];
                    vstore16(v, 0, t);
                    for (int c = c0; c < w; c++)
                        dr[c] = beta != 0.0f ? t[c - c0] + beta * dr[c] : t[c - c0];
                }
            }
        }
        return;
    }
    for (int i = 0; i < h * w; i++) dxp[i] = beta != 0.0f ? beta * dxp[i] : 0.0f;
    for (int m = 0; m < mult; m++)
        for (int oy = 0; oy < hout; oy++) {
            __global const float *dr = dyn + m * P + (size_t)oy * wout;
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * stride - pad + ky * dil;
                if (iy < 0 || iy >= h) continue;
                __global float *row = dxp + (size_t)iy * w;
                for (int kx = 0; kx < k; kx++) {
                    float wv = wn[(m * k + ky) * k + kx];
                    /* Outputs whose input column lies inside the row. */
                    int off = kx * dil - pad;
                    int ox0 = off >= 0 ? 0 : (-off + stride - 1) / stride;
                    int ox1 = min(w - 1 - off < 0 ? 0 : (w - 1 - off) / stride + 1, wout);
                    for (int ox = ox0; ox < ox1; ox++)
                        row[ox * stride + off] = fma(wv, dr[ox], row[ox * stride + off]);
                }
            }
        }
}

/* Planes gid * ppi .. (gid + 1) * ppi - 1 of n*cin (see dw_forward_cpu). */
__kernel void dw_backward_data_cpu(__global const float *restrict dy,
                                   __global const float *restrict wt, __global float *restrict dx,
                                   int n, int cin, int h, int w, int cout, int hout, int wout,
                                   int k, int stride, int pad, int dil, float beta, int ppi)
{
    __local float tile[DW_TILE]; /* one work-item per group: its own */
    int p0 = get_global_id(0) * ppi, p1 = min(p0 + ppi, n * cin);
    for (int pl = p0; pl < p1; pl++)
        dw_backward_data_plane(pl, tile, dy, wt, dx, cin, h, w, cout, hout, wout, k, stride, pad,
                               dil, beta);
}

/* dw[co][ky][kx] = sum over the batch and output pixels of dy[nn][co] *
 * the tap's input; range: cout items, each owning its k*k weights. Each
 * (row, tap) is a dot product of a dy row with an input row (stride 1 or
 * 2: float8 chunks), added into dw. */
__kernel void dw_backward_weight_cpu(__global const float *restrict dy,
                                     __global const float *restrict x,
                                     __global float *restrict dw, int n, int cin, int h, int w,
                                     int cout, int hout, int wout, int k, int stride, int pad,
                                     int dil)
{
    __local float tx[DW_TILE], td[DW_TILE]; /* one work-item per group: its own */
    int co = get_global_id(0);
    if (co >= cout) return;
    int ci = co / (cout / cin), kk = k * k;
    __global float *dwp = dw + (size_t)co * kk;
    /* 3x3, stride 1 or 2, dilation 1, planes that fit: each image's input
     * plane zero-padded into tx (as the forward's tile) and its dy plane
     * into td with rows rounded up to 8 (zero lanes past wout), then nine
     * float8 sums, one per tap, over every chunk of the batch, reduced
     * once at the end. */
    int tw = ((wout + 7) / 8 * 8 - 1) * stride + 2 + stride, th = (hout - 1) * stride + 3;
    int wd = (wout + 7) / 8 * 8;
    if (k == 3 && dil == 1 && stride <= 2 && th * tw <= DW_TILE && hout * wd <= DW_TILE) {
        float8 a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f, a4 = 0.0f, a5 = 0.0f, a6 = 0.0f,
               a7 = 0.0f, a8 = 0.0f;
        for (int nn = 0; nn < n; nn++) {
            dw_tile_copy(tx, x + ((size_t)nn * cin + ci) * h * w, h, w, th, tw, pad, pad);
            dw_tile_copy(td, dy + ((size_t)nn * cout + co) * hout * wout, hout, wout, hout, wd, 0,
                         0);
            for (int oy = 0; oy < hout; oy++)
                for (int ox = 0; ox < wout; ox += 8) {
                    float8 d = vload8(0, td + oy * wd + ox);
                    __local const float *r0 = tx + oy * stride * tw + ox * stride;
                    __local const float *r1 = r0 + tw, *r2 = r1 + tw;
                    if (stride == 1) {
                        a0 = fma(d, vload8(0, r0), a0), a1 = fma(d, vload8(0, r0 + 1), a1);
                        a2 = fma(d, vload8(0, r0 + 2), a2), a3 = fma(d, vload8(0, r1), a3);
                        a4 = fma(d, vload8(0, r1 + 1), a4), a5 = fma(d, vload8(0, r1 + 2), a5);
                        a6 = fma(d, vload8(0, r2), a6), a7 = fma(d, vload8(0, r2 + 1), a7);
                        a8 = fma(d, vload8(0, r2 + 2), a8);
                    } else {
                        float16 x0 = vload16(0, r0), x1 = vload16(0, r1), x2 = vload16(0, r2);
                        a0 = fma(d, x0.even, a0), a1 = fma(d, x0.odd, a1);
                        a2 = fma(d, vload16(0, r0 + 2).even, a2);
                        a3 = fma(d, x1.even, a3), a4 = fma(d, x1.odd, a4);
                        a5 = fma(d, vload16(0, r1 + 2).even, a5);
                        a6 = fma(d, x2.even, a6), a7 = fma(d, x2.odd, a7);
                        a8 = fma(d, vload16(0, r2 + 2).even, a8);
                    }
                }
        }
#define DW_HSUM(v) (((v).s0 + (v).s1) + ((v).s2 + (v).s3) + ((v).s4 + (v).s5) + ((v).s6 + (v).s7))
        dwp[0] = DW_HSUM(a0), dwp[1] = DW_HSUM(a1), dwp[2] = DW_HSUM(a2);
        dwp[3] = DW_HSUM(a3), dwp[4] = DW_HSUM(a4), dwp[5] = DW_HSUM(a5);
        dwp[6] = DW_HSUM(a6), dwp[7] = DW_HSUM(a7), dwp[8] = DW_HSUM(a8);
#undef DW_HSUM
        return;
    }
    for (int t = 0; t < kk; t++) dwp[t] = 0.0f;
    for (int nn = 0; nn < n; nn++) {
        __global const float *xp = x + ((size_t)nn * cin + ci) * h * w;
        __global const float *dyp = dy + ((size_t)nn * cout + co) * hout * wout;
        for (int oy = 0; oy < hout; oy++) {
            __global const float *dr = dyp + (size_t)oy * wout;
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * stride - pad + ky * dil;
                if (iy < 0 || iy >= h) continue;
                __global const float *row = xp + (size_t)iy * w;
                for (int kx = 0; kx < k; kx++) {
                    int off = kx * dil - pad;
                    int ox0 = off >= 0 ? 0 : (-off + stride - 1) / stride;
                    int ox1 = min(w - 1 - off < 0 ? 0 : (w - 1 - off) / stride + 1, wout);
                    float8 acc8 = 0.0f;
                    int ox = ox0;
                    if (stride == 1)
                        for (; ox + 8 <= ox1; ox += 8)
                            acc8 = fma(vload8(0, dr + ox), vload8(0, row + ox + off), acc8);
                    else if (stride == 2) /* the last column's odd lane may lie past the row */
                        for (; ox + 8 < ox1; ox += 8)
                            acc8 = fma(vload8(0, dr + ox), vload16(0, row + 2 * ox + off).even,
                                       acc8);
                    float4 a4 = acc8.lo + acc8.hi;
                    float2 a2 = a4.lo + a4.hi;
                    float acc = a2.lo + a2.hi;
                    for (; ox < ox1; ox++) acc = fma(dr[ox], row[ox * stride + off], acc);
                    dwp[ky * k + kx] += acc;
                }
            }
        }
    }
}
