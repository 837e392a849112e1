/* Synchronised BatchNorm: host-side combination of per-replica statistics
 * (a few floats per channel, so the round trip is cheap next to the
 * convolutions around it). Variances are combined exactly: the global
 * mean first, then each replica's sum of squared deviations from it. */
#include "batchnorm_sync.h"

#include <math.h>
#include <stdlib.h>

int bn_sync_now(const layer *l) { return l->sync && l->sync->active(l->sync->user); }

static graft_status read_vec(graft_ctx *ctx, cl_mem buf, size_t n, float *f)
{
    return ctx_read(ctx, buf, 0, f, n);
}

static graft_status sync_sum(graft_ctx *ctx, layer *l, double *v, int n, int weighted)
{
    graft_status s = l->sync->sum(l->sync->user, v, n, weighted);
    if (s != GRAFT_OK)
        return ctx_fail(ctx, s, "batchnorm2d '%s': synchronising statistics: another replica or "
                        "rank failed", l->name);
    return GRAFT_OK;
}

graft_status bn_sync_stats(graft_ctx *ctx, layer *l, int n, cl_mem mean, cl_mem invstd)
{
    int C = l->in[0].c;
    double m = (double)n * l->in[0].h * l->in[0].w;
    float *f = malloc(sizeof(float) * 4 * (size_t)C);
    double *v = malloc(sizeof(double) * (size_t)(C + 1));
    graft_status s = f && v ? GRAFT_OK : ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    float *mu_r = f, *is_r = f + C, *rmean = f + 2 * C, *rvar = f + 3 * C;
    if (s == GRAFT_OK) s = read_vec(ctx, mean, (size_t)C, mu_r);
    if (s == GRAFT_OK) s = read_vec(ctx, invstd, (size_t)C, is_r);
    double M = 0;
    if (s == GRAFT_OK) {
        for (int c = 0; c < C; c++) v[c] = m * mu_r[c];
        v[C] = m;
        s = sync_sum(ctx, l, v, C + 1, 0);
        M = v[C];
    }
    if (s == GRAFT_OK && !(M > 0)) s = ctx_fail(ctx, GRAFT_ERR_INTERNAL, "batchnorm2d '%s': no images to synchronise", l->name);
    double *gmu = NULL;
    if (s == GRAFT_OK && !(gmu = malloc(sizeof(double) * (size_t)C)))
        s = ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    if (s == GRAFT_OK) {
        for (int c = 0; c < C; c++) {
            gmu[c] = v[c] / M;
            double var = 1.0 / ((double)is_r[c] * is_r[c]) - l->spec.eps;
            double d = mu_r[c] - gmu[c];
            v[c] = m * ((var > 0 ? var : 0) + d * d);
        }
        s = sync_sum(ctx, l, v, C, 0);
    }
    if (s == GRAFT_OK) s = read_vec(ctx, l->params[2].data, (size_t)C, rmean);
    if (s == GRAFT_OK) s = read_vec(ctx, l->params[3].data, (size_t)C, rvar);
    if (s == GRAFT_OK) {
        float mom = l->spec.momentum;
        for (int c = 0; c < C; c++) {
            double var = v[c] / M, uvar = M > 1 ? var * M / (M - 1) : var;
            mu_r[c] = (float)gmu[c];
            is_r[c] = (float)(1.0 / sqrt(var + l->spec.eps));
            rmean[c] = (1.0f - mom) * rmean[c] + mom * (float)gmu[c];
            rvar[c] = (1.0f - mom) * rvar[c] + mom * (float)uvar;
        }
        s = ctx_write(ctx, mean, 0, mu_r, (size_t)C);
        if (s == GRAFT_OK) s = ctx_write(ctx, invstd, 0, is_r, (size_t)C);
        if (s == GRAFT_OK) s = ctx_write(ctx, l->params[2].data, 0, rmean, (size_t)C);
        if (s == GRAFT_OK) s = ctx_write(ctx, l->params[3].data, 0, rvar, (size_t)C);
    }
    free(gmu);
    free(f);
    free(v);
    return s;
}

graft_status bn_sync_sums(graft_ctx *ctx, layer *l, cl_mem sums)
{
    size_t n = 2 * (size_t)l->in[0].c;
    float *f = malloc(sizeof(float) * n);
    double *v = malloc(sizeof(double) * n);
    graft_status s = f && v ? GRAFT_OK : ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    if (s == GRAFT_OK) s = read_vec(ctx, sums, n, f);
    if (s == GRAFT_OK) {
        for (size_t k = 0; k < n; k++) v[k] = f[k];
        s = sync_sum(ctx, l, v, (int)n, 1);
    }
    if (s == GRAFT_OK) {
        for (size_t k = 0; k < n; k++) f[k] = (float)v[k];
        s = ctx_write(ctx, sums, 0, f, n);
    }
    free(f);
    free(v);
    return s;
}
