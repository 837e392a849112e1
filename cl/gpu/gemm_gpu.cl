/* graft's native GEMM for GPUs (when CLBlast is not used). TS is a build
 * option (src/runtime/kernel_options.h). */

/* Plain tiled GEMM for GPUs when CLBlast is not used: 16x16 tiles in local
 * memory, general strides so it serves every transpose combination. */
__kernel __attribute__((reqd_work_group_size(TS, TS, 1)))
void gemm_tiled_gpu(__global const float *a, int aoff, int asr, int ask,
                __global const float *b, int boff, int bsk, int bsc,
                int M, int N, int K, float alpha, float beta,
                __global float *c, int coff, int ldc)
{
    __local float ta[TS][TS + 1], tb[TS][TS + 1];
    int lj = get_local_id(0), li = get_local_id(1);
    int j = get_global_id(0), i = get_global_id(1);
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += TS) {
        int ka = k0 + lj, kb = k0 + li;
        ta[li][lj] = (i < M && ka < K) ? a[aoff + (size_t)i * asr + (size_t)ka * ask] : 0.0f;
        tb[li][lj] = (kb < K && j < N) ? b[boff + (size_t)kb * bsk + (size_t)j * bsc] : 0.0f;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int t = 0; t < TS; t++) acc = fma(ta[li][t], tb[t][lj], acc);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (i < M && j < N) {
        __global float *p = c + coff + (size_t)i * ldc + j;
        *p = beta != 0.0f ? alpha * acc + beta * *p : alpha * acc;
    }
}
