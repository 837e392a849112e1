/* Per-layer forward/backward times of a built-in architecture on random
 * data: `profile_layers [arch] [batch] [iters]`. Used by the benchmark
 * and for finding slow kernels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env_params.h"
#include "graft.h"

int main(int argc, char **argv)
{
    const char *arch = argc > 1 ? argv[1] : "refnet";
    int batch = argc > 2 ? atoi(argv[2]) : 64, iters = argc > 3 ? atoi(argv[3]) : 5;
    graft_ctx *ctx;
    char err[1024];
    graft_ctx_params p = graft_ctx_default_params();
    if (graft_params_from_env(&p, err, sizeof err) != GRAFT_OK ||
        graft_ctx_create(&p, &ctx, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "profile_layers: %s\n", err);
        return 1;
    }
    graft_model *m;
    graft_arch_params ap = graft_arch_default_params(arch);
    if (strcmp(arch, "refnet")) ap.height = ap.width = 32;
    if (graft_model_create(ctx, &m) != GRAFT_OK || graft_model_build_arch(m, arch, &ap) != GRAFT_OK) {
        fprintf(stderr, "profile_layers: %s\n", graft_last_error(ctx));
        return 1;
    }
    size_t per = (size_t)ap.channels * ap.height * ap.width;
    float *x = malloc(per * batch * sizeof *x);
    int *y = malloc(batch * sizeof *y);
    for (size_t i = 0; i < per * batch; i++) x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
    for (int i = 0; i < batch; i++) y[i] = i % ap.classes;
    graft_optimizer *o;
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    graft_optimizer_create(m, &op, &o);
    /* Warm-up (kernel compilation, buffer allocation). */
    graft_model_forward(m, x, batch, 1, NULL);
    graft_model_backward(m, y, 0, NULL, NULL);
    graft_model_set_profiling(m, 1);
    for (int it = 0; it < iters; it++) {
        if (graft_model_forward(m, x, batch, 1, NULL) != GRAFT_OK ||
            graft_model_backward(m, y, 0, NULL, NULL) != GRAFT_OK ||
            graft_optimizer_step(o) != GRAFT_OK) {
            fprintf(stderr, "profile_layers: %s\n", graft_last_error(ctx));
            return 1;
        }
    }
    double tf = 0, tb = 0;
    printf("%-28s %-14s %10s %10s\n", "layer", "kind", "fwd ms", "bwd ms");
    for (int i = 1; i < graft_model_num_nodes(m); i++) {
        double f, b;
        graft_model_node_profile(m, i, &f, &b);
        tf += f;
        tb += b;
        printf("%-28s %-14s %10.2f %10.2f\n", graft_model_node_name(m, i),
               graft_layer_kind_name(graft_model_node_spec(m, i)->kind), f * 1e3, b * 1e3);
    }
    printf("%-28s %-14s %10.2f %10.2f  -> %.0f img/s (fwd+bwd)\n", "total", "", tf * 1e3, tb * 1e3,
           batch / (tf + tb));
    graft_optimizer_free(o);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
    free(x);
    free(y);
    return 0;
}
