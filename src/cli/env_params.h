/* The GRAFT_* environment variables of the graft tool (and of the test and
 * developer tools, which share this file): the one place they are read.
 * The library itself reads none; it takes a graft_ctx_params. */
#ifndef GRAFT_ENV_PARAMS_H
#define GRAFT_ENV_PARAMS_H
#include <stddef.h>

#include "graft.h"

/* Overrides fields of *p (start from graft_ctx_default_params()) with the
 * variables that are set (docs/cli.md):
 *   GRAFT_DEVICE          device (points into the environment: keep it
 *                         unchanged while p is in use)
 *   GRAFT_GEMM            clblast|native (any case)
 *   GRAFT_KERNEL_STYLE    cpu|gpu (any case)
 *   GRAFT_FUSE            0|1
 *   GRAFT_PROFILE_KERNELS 1 turns profiling on; anything else is ignored
 *   GRAFT_CONV_IMPLICIT   1 implicit, 0 im2col; anything else is ignored
 *   GRAFT_CONV_POINTWISE  0 off, 1 on (conv_pointwise); anything else is ignored
 * A bad value of the first four (empty counts as unset) returns
 * GRAFT_ERR_INVALID_ARG with "NAME='value': expected ..." in err. */
graft_status graft_params_from_env(graft_ctx_params *p, char *err, size_t errlen);

/* GRAFT_PROGRESS_INTERVAL: seconds between plain (not a terminal) progress
 * lines, default 15; passes shorter than min(1 s, interval) show none, so
 * 0 prints every update (tests). A bad or negative value means the default. */
double graft_progress_interval_from_env(void);
/* Checks, once per process and before the first OpenCL call, that the
 * kernel caches can be written: $XDG_CACHE_HOME/graft (else
 * ~/.cache/graft) and $POCL_CACHE_DIR when set. When not (read-only, a
 * regular file in the way), turns both caches off for this process:
 * graft's (graft_params_from_env then sets cache_dir to "") and PoCL's
 * (POCL_KERNEL_CACHE=0 and POCL_CACHE_DIR set to a private temporary
 * directory removed at exit, since PoCL fails device discovery without a
 * usable one). Returns 1 with a one-line warning in warn when it did so,
 * else 0. */
int graft_cache_env_check(char *warn, size_t len);

/* The number of ranks of the MPI job this process was started in by
 * mpirun (OMPI_COMM_WORLD_SIZE of Open MPI, else PMI_SIZE of MPICH and
 * Slurm), 1 when none. */
int graft_mpi_world_size_from_env(void);

/* A graft_log_fn writing messages up to GRAFT_LOG_INFO (the kernel profile
 * table) to stderr, one newline after each; user is ignored. */
void graft_log_stderr(void *user, graft_log_level level, const char *msg);
#endif
