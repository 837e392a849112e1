/* Softmax cross-entropy, one work-item per sample. buf holds n int labels
 * followed by n (loss, correct) float pairs. dlogits is the gradient of the
 * mean loss over the n samples. Target: (1-s)*onehot + s/classes. */
__kernel void loss_softmax_ce(__global const float *logits, __global int *buf, int n, int classes,
                              float smoothing, __global float *dlogits)
{
    int b = get_global_id(0);
    if (b >= n) return;
    __global const float *z = logits + (size_t)b * classes;
    __global float *dz = dlogits + (size_t)b * classes;
    __global float *res = (__global float *)(buf + n) + 2 * b;
    int label = buf[b];
    float mx = z[0];
    int am = 0;
    for (int j = 1; j < classes; j++)
        if (z[j] > mx) {
            mx = z[j];
            am = j;
        }
    float se = 0.0f;
    for (int j = 0; j < classes; j++) se += exp(z[j] - mx);
    float lse = mx + log(se);
    float off = smoothing / (float)classes, on = 1.0f - smoothing + off;
    float loss = 0.0f, inv_n = 1.0f / (float)n;
    for (int j = 0; j < classes; j++) {
        float t = j == label ? on : off;
        float logp = z[j] - lse;
        loss -= t * logp;
        dz[j] = (exp(logp) - t) * inv_n;
    }
    res[0] = loss;
    res[1] = am == label ? 1.0f : 0.0f;
}
