/* Inverted dropout with a counter-based RNG: the mask of element i is a pure
 * function of (seed, call, i), so backward recomputes it instead of storing
 * it, and runs are reproducible. */

static ulong drop_mix(ulong z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
    return z ^ (z >> 31);
}

/* 1 when element i survives: uniform in [0, 1) from 24 hash bits >= p. */
static int drop_keep(ulong seed, ulong call, int i, float p)
{
    ulong z = drop_mix(seed ^ (call * 0x9e3779b97f4a7c15UL));
    z = drop_mix(z + (ulong)(uint)i * 0xd1b54a32d192ed03UL + 0x9e3779b97f4a7c15UL);
    float u = (float)(uint)(z >> 40) * (1.0f / 16777216.0f);
    return u >= p;
}

__kernel void drop_fwd(__global const float *x, __global float *y, int n, ulong seed, ulong call,
                       float p, float scale)
{
    int i = get_global_id(0);
    if (i >= n) return;
    y[i] = drop_keep(seed, call, i, p) ? x[i] * scale : 0.0f;
}

__kernel void drop_bwd(__global const float *dy, __global float *dx, int n, ulong seed, ulong call,
                       float p, float scale, float beta)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float v = drop_keep(seed, call, i, p) ? dy[i] * scale : 0.0f;
    dx[i] = beta == 0.0f ? v : v + beta * dx[i];
}
