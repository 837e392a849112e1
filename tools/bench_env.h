/* Benchmark-only knobs, read from the environment by the benchmark tools
 * (bench_gemm, bench_graft; tools/bench.sh and docs/performance.md set
 * them). Neither the library nor the graft tool reads these. */
#ifndef GRAFT_BENCH_ENV_H
#define GRAFT_BENCH_ENV_H
#include "graft.h"

/* The native GEMM knobs: GRAFT_GEMM_NR, _KC, _PC, _QC, _QDIM, _LWS0, _LWS1
 * (integers; unset = 0 = graft's choice) and GRAFT_GEMM_VARIANT
 * (v1|packa|direct; anything else = auto). Every field is rewritten. */
void bench_gemm_tuning_from_env(graft_gemm_tuning *t);

/* The GEMM knobs above plus GRAFT_CONV_CHUNK_BYTES (a positive byte count;
 * anything else keeps p's value). */
void bench_params_from_env(graft_ctx_params *p);
#endif
