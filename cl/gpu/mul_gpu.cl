/* mul's per-channel operand gradient, GPU-shaped: one work-group of
 * PLANE_LWS items per (sample, channel) plane, strided over the plane,
 * then a tree sum in local memory. PLANE_LWS is a build option
 * (src/runtime/kernel_options.h). */

__kernel __attribute__((reqd_work_group_size(PLANE_LWS, 1, 1)))
void mul_bwd_plane_gpu(__global const float *dy, __global const float *a, __global float *db,
                       int S, float beta)
{
    __local float red[PLANE_LWS];
    int p = get_group_id(0), t = get_local_id(0);
    __global const float *d = dy + (size_t)p * S, *x = a + (size_t)p * S;
    float acc = 0.0f;
    for (int s = t; s < S; s += PLANE_LWS) acc += d[s] * x[s];
    red[t] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = PLANE_LWS / 2; h > 0; h >>= 1) {
        if (t < h) red[t] += red[t + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (t == 0) db[p] = beta == 0.0f ? red[0] : red[0] + beta * db[p];
}
