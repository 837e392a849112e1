/* Optimizer updates, one work-item per parameter element. */

/* SGD with momentum (buf starts at 0, so the first step uses the gradient
 * itself), optional Nesterov, L2 weight decay added to the gradient. */
__kernel void optim_sgd(__global float *w, __global const float *g, __global float *buf, int n,
                        float lr, float momentum, float wd, int nesterov)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float d = g[i] + wd * w[i];
    if (momentum != 0.0f) {
        float b = momentum * buf[i] + d;
        buf[i] = b;
        d = nesterov ? d + momentum * b : b;
    }
    w[i] -= lr * d;
}

/* AdamW: decoupled weight decay, bias-corrected moments. */
__kernel void optim_adamw(__global float *w, __global const float *g, __global float *m,
                          __global float *v, int n, float lr, float b1, float b2, float eps,
                          float wd, float bc1, float bc2)
{
    int i = get_global_id(0);
    if (i >= n) return;
    float gi = g[i];
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float wi = w[i] * (1.0f - lr * wd);
    w[i] = wi - lr * (mi / bc1) / (sqrt(vi / bc2) + eps);
}
