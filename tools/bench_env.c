#include "bench_env.h"

#include <stdlib.h>
#include <string.h>

static int env_int(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : 0;
}

void bench_gemm_tuning_from_env(graft_gemm_tuning *t)
{
    t->nr = env_int("GRAFT_GEMM_NR");
    t->kc = env_int("GRAFT_GEMM_KC");
    t->pc = env_int("GRAFT_GEMM_PC");
    t->lws0 = env_int("GRAFT_GEMM_LWS0");
    t->lws1 = env_int("GRAFT_GEMM_LWS1");
    t->qdim = env_int("GRAFT_GEMM_QDIM");
    t->qc = env_int("GRAFT_GEMM_QC");
    const char *v = getenv("GRAFT_GEMM_VARIANT");
    t->variant = !v                     ? GRAFT_GEMM_VARIANT_AUTO
                 : !strcmp(v, "v1")     ? GRAFT_GEMM_VARIANT_V1
                 : !strcmp(v, "packa")  ? GRAFT_GEMM_VARIANT_PACKA
                 : !strcmp(v, "direct") ? GRAFT_GEMM_VARIANT_DIRECT
                                        : GRAFT_GEMM_VARIANT_AUTO;
}

void bench_params_from_env(graft_ctx_params *p)
{
    bench_gemm_tuning_from_env(&p->gemm_tuning);
    const char *e = getenv("GRAFT_CONV_CHUNK_BYTES");
    if (e && *e) {
        char *end;
        unsigned long long v = strtoull(e, &end, 10);
        if (*end == '\0' && v > 0) p->conv_chunk_bytes = (size_t)v;
    }
}
