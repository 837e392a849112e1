/* mul's per-channel operand gradient, CPU-shaped: one work-item per
 * (sample, channel) plane loops over its S contiguous elements. */

__kernel void mul_bwd_plane_cpu(__global const float *dy, __global const float *a,
                                __global float *db, int planes, int S, float beta)
{
    int p = get_global_id(0);
    if (p >= planes) return;
    __global const float *d = dy + (size_t)p * S, *x = a + (size_t)p * S;
    float acc = 0.0f;
    for (int s = 0; s < S; s++) acc += d[s] * x[s];
    db[p] = beta == 0.0f ? acc : acc + beta * db[p];
}
