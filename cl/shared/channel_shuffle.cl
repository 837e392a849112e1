/* ShuffleNet's channel shuffle of g groups (both kernel styles): the
 * channels viewed as a g x (C/g) matrix are transposed, so output channel
 * j * g + i is input channel i * (C/g) + j. */

/* One item per input element: it goes to its output channel. */
__kernel void channel_shuffle_fwd(__global const float *x, __global float *y, int n, int C,
                                  int g, int S)
{
    int i = get_global_id(0);
    if (i >= n * C * S) return;
    int s = i % S, c = (i / S) % C, b = i / (S * C);
    int per = C / g, co = (c % per) * g + c / per;
    y[((size_t)b * C + co) * S + s] = x[i];
}

/* One item per input element: the gradient of the output it went to. */
__kernel void channel_shuffle_bwd(__global const float *dy, __global float *dx, int n, int C,
                                  int g, int S, float beta)
{
    int i = get_global_id(0);
    if (i >= n * C * S) return;
    int s = i % S, c = (i / S) % C, b = i / (S * C);
    int per = C / g, co = (c % per) * g + c / per;
    float v = dy[((size_t)b * C + co) * S + s];
    dx[i] = beta == 0.0f ? v : v + beta * dx[i];
}
