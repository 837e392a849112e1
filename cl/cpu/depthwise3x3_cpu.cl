/* Stride-1 3x3 depthwise forward (dilation 1, any pad), CPU-shaped: one
 * work-item per output plane, as dw_forward_cpu (cl/cpu/depthwise_cpu.cl),
 * whose 8-pixel chunks each run one chain of 9 dependent FMAs and whose
 * narrow rows (MobileNetV2's 7..28-pixel planes) waste most lanes. Here
 * the plane is copied with its zero padding into a local tile of width
 * tw = w + 2 * pad, and the outputs are computed over the tile's width:
 * virtual output q = oy * tw + ox reads tile[q + ky * tw + kx], so the
 * whole plane is one contiguous 1-D run of 9 taps, computed in 16-lane
 * vectors, four independent chains at a time, whatever the row width. The
 * columns ox >= wout of each virtual row are discarded when the rows are
 * copied out (with the epilogue). The 1-D form is what ORT-style NCHWc
 * kernels get from the channel block, without changing the layout.
 * dw3x3_backward_data_cpu is the same on dy (the input gradient of a
 * stride-1 conv: dy padded by 2 - pad, the kernel rotated by 180 degrees,
 * summed over the input channel's mult output channels). */

/* Floats of each local buffer (padded plane, virtual outputs): 64 KiB, so
 * planes up to 112x112 (pad 1) fit. The host checks dw3x3_fits. */
#define DW3_TILE 16384
#define DW3_Q 64 /* virtual outputs per step: four float16 chains */
#define DW3_ROW 256 /* floats of dw3x3s2_forward_cpu's padded row: w + 2 * pad + 16 <= 256 */

/* Copies n floats (n >= 1) from src to dst: 16-float chunks, the last one
 * overlapping its neighbour (same values), 8- or 4-float chunks below 16,
 * scalars below 4. */
static inline void dw3_copy_g2l(__local float *dst, __global const float *src, int n)
{
    if (n >= 16) {
        for (int i = 0; i + 16 <= n; i += 16) vstore16(vload16(0, src + i), 0, dst + i);
        vstore16(vload16(0, src + n - 16), 0, dst + n - 16);
    } else if (n >= 8) {
        vstore8(vload8(0, src), 0, dst);
        vstore8(vload8(0, src + n - 8), 0, dst + n - 8);
    } else if (n >= 4) {
        vstore4(vload4(0, src), 0, dst);
        vstore4(vload4(0, src + n - 4), 0, dst + n - 4);
    } else {
        for (int i = 0; i < n; i++) dst[i] = src[i];
    }
}

/* The same from local to global with the epilogue v * sc + sh, then the
 * activation (recomputing an overlapped chunk stores the same values). */
static inline void dw3_copy_l2g(__global float *dst, __local const float *src, int n, float sc,
                                float sh, int act, float slope)
{
    if (n >= 16) {
        for (int i = 0; ; i += 16) {
            if (i + 16 > n) i = n - 16;
            float16 v = fma(vload16(0, src + i), (float16)(sc), (float16)(sh));
            if (act == 0) v = fmax(v, 0.0f);
            else if (act == 1) v = fmin(fmax(v, 0.0f), 6.0f);
            else if (act == 2) v = select(v * slope, v, v > 0.0f);
            vstore16(v, 0, dst + i);
            if (i + 16 >= n) break;
        }
    } else if (n >= 8) {
        for (int i = 0; ; i = n - 8) {
            float8 v = fma(vload8(0, src + i), (float8)(sc), (float8)(sh));
            if (act == 0) v = fmax(v, 0.0f);
            else if (act == 1) v = fmin(fmax(v, 0.0f), 6.0f);
            else if (act == 2) v = select(v * slope, v, v > 0.0f);
            vstore8(v, 0, dst + i);
            if (i == n - 8) break;
        }
    } else {
        for (int i = 0; i < n; i++) dst[i] = bn_act(fma(src[i], sc, sh), act, slope);
    }
}

/* The h x w plane src padded by pad into tile (width tw = w + 2 * pad),
 * then zeros up to the last virtual output's widest read, nqr + 2 * tw + 2
 * (those feed discarded outputs only, but stay finite). */
static inline void dw3_fill(__local float *tile, __global const float *src, int h, int w, int pad,
                            int nqr)
{
    int tw = w + 2 * pad;
    for (int i = 0; i < pad * tw; i++) tile[i] = 0.0f;
    for (int r = 0; r < h; r++) {
        __local float *row = tile + (r + pad) * tw;
        for (int i = 0; i < pad; i++) row[i] = 0.0f, row[pad + w + i] = 0.0f;
        dw3_copy_g2l(row + pad, src + (size_t)r * w, w);
    }
    for (int i = (h + pad) * tw; i < nqr + 2 * tw + 2; i++) tile[i] = 0.0f;
}

/* vout[q] (+)= the 9 taps of the tile at virtual outputs q < nq (row width
 * tw), weights wk[0..8] (rot: rotated by 180 degrees); acc 0 overwrites. */
static inline void dw3_taps(__local const float *tile, __local float *vout, int nq, int tw,
                            __global const float *wk, int rot, int acc)
{
    float w0 = wk[rot ? 8 : 0], w1 = wk[rot ? 7 : 1], w2 = wk[rot ? 6 : 2];
    float w3 = wk[rot ? 5 : 3], w4 = wk[4], w5 = wk[rot ? 3 : 5];
    float w6 = wk[rot ? 2 : 6], w7 = wk[rot ? 1 : 7], w8 = wk[rot ? 0 : 8];
    int t1 = tw, t2 = 2 * tw;
    for (int q = 0; q < nq; q += DW3_Q) {
        __local const float *s = tile + q;
        __local float *o = vout + q;
        float16 a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
        if (acc) a0 = vload16(0, o), a1 = vload16(1, o), a2 = vload16(2, o), a3 = vload16(3, o);
#define DW3_TAP(wk, off)                                                       \
    a0 = fma((float16)(wk), vload16(0, s + (off)), a0);                        \
    a1 = fma((float16)(wk), vload16(0, s + (off) + 16), a1);                   \
    a2 = fma((float16)(wk), vload16(0, s + (off) + 32), a2);                   \
    a3 = fma((float16)(wk), vload16(0, s + (off) + 48), a3);
        DW3_TAP(w0, 0) DW3_TAP(w1, 1) DW3_TAP(w2, 2)
        DW3_TAP(w3, t1) DW3_TAP(w4, t1 + 1) DW3_TAP(w5, t1 + 2)
        DW3_TAP(w6, t2) DW3_TAP(w7, t2 + 1) DW3_TAP(w8, t2 + 2)
#undef DW3_TAP
        vstore16(a0, 0, o), vstore16(a1, 1, o), vstore16(a2, 2, o), vstore16(a3, 3, o);
    }
}

/* y[nn][co] = bias[co] + the 3x3 taps of x[nn][co / mult] (mult = cout /
 * cin), then the inference epilogue (has_bn: a following BatchNorm's
 * running statistics; act: bn_act's codes, -1 none); range: n*cout
 * planes, ppi per item (conv_depthwise.c). */
__kernel void dw3x3_forward_cpu(__global const float *restrict x, __global const float *restrict wt,
                                __global const float *restrict bias, int has_bias,
                                __global float *restrict y, int n, int cin, int h, int w, int cout,
                                int pad, __global const float *bn_g, __global const float *bn_b,
                                __global const float *bn_m, __global const float *bn_v,
                                float bn_eps, int has_bn, int act, float slope, int ppi)
{
    __local float tile[DW3_TILE], vout[DW3_TILE];
    int p0 = get_global_id(0) * ppi, p1 = min(p0 + ppi, n * cout);
    for (int pl = p0; pl < p1; pl++) {
        int nn = pl / cout, co = pl - nn * cout, ci = co / (cout / cin);
        int tw = w + 2 * pad, hout = h + 2 * pad - 2, wout = tw - 2;
        int nq = hout * tw, nqr = (nq + DW3_Q - 1) / DW3_Q * DW3_Q;
        __global float *yp = y + (size_t)pl * hout * wout;
        float sc = 1.0f, sh = 0.0f;
        if (has_bn) {
            sc = bn_g[co] * (1.0f / sqrt(bn_v[co] + bn_eps));
            sh = bn_b[co] - bn_m[co] * sc;
        }
        if (has_bias) sh = fma(bias[co], sc, sh);
        dw3_fill(tile, x + ((size_t)nn * cin + ci) * h * w, h, w, pad, nqr);
        dw3_taps(tile, vout, nq, tw, wt + (size_t)co * 9, 0, 0);
        for (int oy = 0; oy < hout; oy++)
            dw3_copy_l2g(yp + (size_t)oy * wout, vout + oy * tw, wout, sc, sh, act, slope);
    }
}

/* dx[nn][ci] = beta * dx + sum over the mult output channels co of ci of
 * the stride-1 conv of dy[nn][co] (padded by 2 - pad) with w[co] rotated
 * by 180 degrees (beta 0 ignores old contents); h x w is the input plane
 * (pad <= 2); range: n*cin planes, ppi per item, each plane owned by one. */
__kernel void dw3x3_backward_data_cpu(__global const float *restrict dy,
                                      __global const float *restrict wt,
                                      __global float *restrict dx, int n, int cin, int h, int w,
                                      int cout, int pad, float beta, int ppi)
{
    __local float tile[DW3_TILE], vout[DW3_TILE];
    int p0 = get_global_id(0) * ppi, p1 = min(p0 + ppi, n * cin);
    for (int pl = p0; pl < p1; pl++) {
        int nn = pl / cin, ci = pl - nn * cin, mult = cout / cin;
        int hout = h + 2 * pad - 2, wout = w + 2 * pad - 2, pad2 = 2 - pad, tw = wout + 2 * pad2;
        int nq = h * tw, nqr = (nq + DW3_Q - 1) / DW3_Q * DW3_Q;
        for (int m = 0; m < mult; m++) {
            int co = ci * mult + m;
            dw3_fill(tile, dy + ((size_t)nn * cout + co) * hout * wout, hout, wout, pad2, nqr);
            dw3_taps(tile, vout, nq, tw, wt + (size_t)co * 9, 1, m > 0);
        }
        __global float *dxp = dx + (size_t)pl * h * w;
        for (int iy = 0; iy < h; iy++) {
            __global float *d = dxp + (size_t)iy * w;
            __local const float *v = vout + iy * tw;
            int i = 0;
            /* No overlapping chunks here: with beta they would add twice. */
            for (; i + 16 <= w; i += 16) {
                float16 r = vload16(0, v + i);
                if (beta != 0.0f) r = fma((float16)(beta), vload16(0, d + i), r);
                vstore16(r, 0, d + i);
            }
            for (; i < w; i++) d[i] = beta != 0.0f ? fma(beta, d[i], v[i]) : v[i];
        }
    }
}

/* dw[co] (overwritten) = sum over the images of the 3x3 taps' products of
 * the padded x[nn][co / mult] plane with dy[nn][co]: dy goes into local
 * memory at the tile's row width with zeros in the virtual columns, so
 * dw[ky][kx] = sum over q of dyv[q] * tile[q + ky * tw + kx], nine float16
 * chains over one contiguous run (stride 1, dilation 1); range: cout. */
__kernel void dw3x3_backward_weight_cpu(__global const float *restrict dy,
                                        __global const float *restrict x,
                                        __global float *restrict dw, int n, int cin, int h, int w,
                                        int cout, int pad)
{
    __local float tile[DW3_TILE], dyv[DW3_TILE];
    int co = get_global_id(0);
    if (co >= cout) return;
    int ci = co / (cout / cin), tw = w + 2 * pad, hout = h + 2 * pad - 2, wout = tw - 2;
    int nq = hout * tw, nqr = (nq + DW3_Q - 1) / DW3_Q * DW3_Q, t1 = tw, t2 = 2 * tw;
    float16 a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f, a4 = 0.0f, a5 = 0.0f, a6 = 0.0f;
    float16 a7 = 0.0f, a8 = 0.0f;
    for (int nn = 0; nn < n; nn++) {
        dw3_fill(tile, x + ((size_t)nn * cin + ci) * h * w, h, w, pad, nqr);
        __global const float *dyp = dy + ((size_t)nn * cout + co) * hout * wout;
        for (int oy = 0; oy < hout; oy++) {
            __local float *row = dyv + oy * tw;
            dw3_copy_g2l(row, dyp + (size_t)oy * wout, wout);
            for (int i = wout; i < tw; i++) row[i] = 0.0f;
        }
        for (int i = nq; i < nqr; i++) dyv[i] = 0.0f;
        for (int q = 0; q < nqr; q += 16) {
            __local const float *s = tile + q;
            float16 d = vload16(0, dyv + q);
            a0 = fma(d, vload16(0, s), a0);
            a1 = fma(d, vload16(0, s + 1), a1);
            a2 = fma(d, vload16(0, s + 2), a2);
            a3 = fma(d, vload16(0, s + t1), a3);
            a4 = fma(d, vload16(0, s + t1 + 1), a4);
            a5 = fma(d, vload16(0, s + t1 + 2), a5);
            a6 = fma(d, vload16(0, s + t2), a6);
            a7 = fma(d, vload16(0, s + t2 + 1), a7);
            a8 = fma(d, vload16(0, s + t2 + 2), a8);
        }
    }
    __global float *dwp = dw + (size_t)co * 9;
#define DW3_SUM(j)                                                             \
    {                                                                          \
        float8 h8 = a##j.lo + a##j.hi;                                         \
        float4 h4 = h8.lo + h8.hi;                                             \
        float2 h2 = h4.lo + h4.hi;                                             \
        dwp[j] = h2.lo + h2.hi;                                                \
    }
    DW3_SUM(0) DW3_SUM(1) DW3_SUM(2) DW3_SUM(3) DW3_SUM(4) DW3_SUM(5) DW3_SUM(6) DW3_SUM(7)
    DW3_SUM(8)
#undef DW3_SUM
}

/* Stride-2 3x3 forward, the same idea on the padded plane split by the
 * parity of its rows and columns: S[pr][pc][i][j] = padded[2i+pr][2j+pc],
 * four sub-planes of rows te = ceil(tw / 2) wide. Output (oy, ox) reads
 * padded[2oy+ky][2ox+kx], which is S[ky&1][kx&1] at row oy + (ky>>1),
 * column ox + (kx>>1): with virtual outputs q = oy * te + ox every tap is
 * again a fixed offset of q (te - wout virtual columns per row, one at
 * pad 1, are discarded). Each sub-plane takes sp floats of the tile. */
__kernel void dw3x3s2_forward_cpu(__global const float *restrict x,
                                  __global const float *restrict wt,
                                  __global const float *restrict bias, int has_bias,
                                  __global float *restrict y, int n, int cin, int h, int w,
                                  int cout, int hout, int wout, int pad,
                                  __global const float *bn_g, __global const float *bn_b,
                                  __global const float *bn_m, __global const float *bn_v,
                                  float bn_eps, int has_bn, int act, float slope, int ppi)
{
    __local float tile[DW3_TILE], vout[DW3_TILE];
    __local float rowbuf[DW3_ROW];
    int p0 = get_global_id(0) * ppi, p1 = min(p0 + ppi, n * cout);
    for (int pl = p0; pl < p1; pl++) {
        int nn = pl / cout, co = pl - nn * cout, ci = co / (cout / cin);
        int tw = w + 2 * pad, th = h + 2 * pad, te = (tw + 1) / 2;
        int nq = hout * te, nqr = (nq + DW3_Q - 1) / DW3_Q * DW3_Q, sp = nqr + te + 24;
        __global const float *xp = x + ((size_t)nn * cin + ci) * h * w;
        __global float *yp = y + (size_t)pl * hout * wout;
        float sc = 1.0f, sh = 0.0f;
        if (has_bn) {
            sc = bn_g[co] * (1.0f / sqrt(bn_v[co] + bn_eps));
            sh = bn_b[co] - bn_m[co] * sc;
        }
        if (has_bias) sh = fma(bias[co], sc, sh);

        /* Each padded row into rowbuf (zeros past tw), then its even and odd
         * columns into the row's two sub-planes, 8 at a time (a chunk past te
         * spills into the next sub-plane row, rewritten when that row comes). */
        for (int i = 0; i < DW3_ROW; i++) rowbuf[i] = 0.0f;
        int rows = min(th, 2 * hout + 1);
        for (int r = 0; r < rows; r++) {
            int iy = r - pad;
            if (iy >= 0 && iy < h) dw3_copy_g2l(rowbuf + pad, xp + (size_t)iy * w, w);
            else for (int i = pad; i < pad + w; i++) rowbuf[i] = 0.0f;
            __local float *se = tile + (r & 1) * 2 * sp + (r >> 1) * te, *so = se + sp;
            for (int j = 0; j < te; j += 8) {
                float16 v = vload16(0, rowbuf + 2 * j);
                vstore8(v.even, 0, se + j);
                vstore8(v.odd, 0, so + j);
            }
        }
        /* Zeros after the last row of each sub-plane up to the widest read. */
        for (int s = 0; s < 4; s++) {
            int filled = ((rows - (s >> 1) + 1) / 2) * te;
            for (int i = filled; i < sp; i++) tile[s * sp + i] = 0.0f;
        }

        float w0 = wt[co * 9 + 0], w1 = wt[co * 9 + 1], w2 = wt[co * 9 + 2];
        float w3 = wt[co * 9 + 3], w4 = wt[co * 9 + 4], w5 = wt[co * 9 + 5];
        float w6 = wt[co * 9 + 6], w7 = wt[co * 9 + 7], w8 = wt[co * 9 + 8];
        __local const float *s00 = tile, *s01 = tile + sp;
        __local const float *s10 = tile + 2 * sp, *s11 = tile + 3 * sp;
        for (int q = 0; q < nq; q += DW3_Q) {
            float16 a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    #define DW3_TAP(wk, sub, off)                                                  \
        a0 = fma((float16)(wk), vload16(0, sub + q + (off)), a0);                  \
        a1 = fma((float16)(wk), vload16(0, sub + q + (off) + 16), a1);             \
        a2 = fma((float16)(wk), vload16(0, sub + q + (off) + 32), a2);             \
        a3 = fma((float16)(wk), vload16(0, sub + q + (off) + 48), a3);
            DW3_TAP(w0, s00, 0) DW3_TAP(w1, s01, 0) DW3_TAP(w2, s00, 1)
            DW3_TAP(w3, s10, 0) DW3_TAP(w4, s11, 0) DW3_TAP(w5, s10, 1)
            DW3_TAP(w6, s00, te) DW3_TAP(w7, s01, te) DW3_TAP(w8, s00, te + 1)
    #undef DW3_TAP
            __local float *o = vout + q;
            vstore16(a0, 0, o), vstore16(a1, 1, o), vstore16(a2, 2, o), vstore16(a3, 3, o);
        }
        for (int oy = 0; oy < hout; oy++)
            dw3_copy_l2g(yp + (size_t)oy * wout, vout + oy * te, wout, sc, sh, act, slope);
    }
}

/* Stride-2 3x3 input gradient (pad 0 or 1), gathered by the parity of
 * the input pixel: dx[2i+py][2j+px] takes the taps ky = py + pad (mod 2),
 * kx = px + pad (mod 2) (one, two or four of them) at dy[i + dyo][j + dxo],
 * dyo = (py + pad - ky) / 2 and dxo likewise, both in -1 .. 1. dy padded
 * by one on each side sits in the tile (rows tw = wout + 2 wide), so each
 * tap is a fixed offset of the virtual output q = i * tw + j of a parity
 * sub-plane; the two column parities of a row parity are computed into
 * the halves of vout, then interleaved into dx rows (beta 0 or 1). */
__kernel void dw3x3s2_backward_data_cpu(__global const float *restrict dy,
                                        __global const float *restrict wt,
                                        __global float *restrict dx, int n, int cin, int h, int w,
                                        int cout, int hout, int wout, int pad, float beta,
                                        int ppi)
{
    __local float tile[DW3_TILE], vout[DW3_TILE];
    int p0 = get_global_id(0) * ppi, p1 = min(p0 + ppi, n * cin);
    for (int pl = p0; pl < p1; pl++) {
        int nn = pl / cin, ci = pl - nn * cin, mult = cout / cin, tw = wout + 2;
        int hv = DW3_TILE / 2; /* floats of each half of vout */
        __global float *dxp = dx + (size_t)pl * h * w;
        const uint16 mix = (uint16)(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        for (int py = 0; py < 2; py++) {
            int hi = (h - py + 1) / 2; /* rows of this parity */
            int nq = hi * tw;
            for (int m = 0; m < mult; m++) {
                int co = ci * mult + m;
                int nqr = (nq + DW3_Q - 1) / DW3_Q * DW3_Q;
                if (py == 0 || mult > 1) /* with one channel the tile serves both */
                    dw3_fill(tile, dy + ((size_t)nn * cout + co) * hout * wout, hout, wout, 1,
                             nqr + tw);
                __global const float *wk = wt + (size_t)co * 9;
                for (int px = 0; px < 2; px++) {
                    __local float *o = vout + px * hv;
                    int ky0 = (py + pad) & 1, kx0 = (px + pad) & 1;
                    for (int q = 0; q < nq; q += DW3_Q) {
                        float16 a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
                        if (m > 0)
                            a0 = vload16(0, o + q), a1 = vload16(1, o + q), a2 = vload16(2, o + q),
                            a3 = vload16(3, o + q);
                        for (int ky = ky0; ky < 3; ky += 2)
                            for (int kx = kx0; kx < 3; kx += 2) {
                                float wv = wk[ky * 3 + kx];
                                int off = ((py + pad - ky) / 2 + 1) * tw + (px + pad - kx) / 2 + 1;
                                __local const float *s = tile + q + off;
                                a0 = fma((float16)(wv), vload16(0, s), a0);
                                a1 = fma((float16)(wv), vload16(0, s + 16), a1);
                                a2 = fma((float16)(wv), vload16(0, s + 32), a2);
                                a3 = fma((float16)(wv), vload16(0, s + 48), a3);
                            }
                        vstore16(a0, 0, o + q), vstore16(a1, 1, o + q), vstore16(a2, 2, o + q);
                        vstore16(a3, 3, o + q);
                    }
                }
            }
            /* Interleave the column parities: dx[2i+py][2j+px] = vout[px][i * tw + j]. */
            for (int i = 0; i < hi; i++) {
                __global float *d = dxp + (size_t)(2 * i + py) * w;
                __local const float *e = vout + i * tw, *od = vout + hv + i * tw;
                int c = 0;
                for (; c + 16 <= w; c += 16) {
                    float16 v = shuffle2(vload16(0, e + c / 2), vload16(0, od + c / 2), mix);
                    if (beta != 0.0f) v = fma((float16)(beta), vload16(0, d + c), v);
                    vstore16(v, 0, d + c);
                }
                for (; c < w; c++) {
                    float v = (c & 1) ? od[c / 2] : e[c / 2];
                    d[c] = beta != 0.0f ? fma(beta, d[c], v) : v;
                }
            }
        }
    }
}
