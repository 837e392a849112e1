/* Fully connected layer helpers. */

/* y[i][o] += b[o] for an n x nout row-major output. */
__kernel void linear_bias_add(__global float *y, __global const float *b, int n, int nout)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)n * nout) return;
    y[i] += b[i % nout];
}
