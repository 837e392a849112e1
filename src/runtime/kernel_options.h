/* Kernel tunables, defined once: the C side sizes its launches with these
 * constants and the kernels receive the same values as build options
 * ("-DMR=6 ..."), so cl/ defines none of them. */
#ifndef GRAFT_KERNEL_OPTIONS_H
#define GRAFT_KERNEL_OPTIONS_H
#include <stddef.h>

#include "graft.h"

#define GEMM_MR 6        /* rows of a register block (GEMM, conv_tall_cpu, implicit dW) */
#define GEMM_NR 16       /* columns of the narrow block (float8 halves) */
#define GEMM_NRW 32      /* columns of the wide block (float16 halves) */
#define GEMM_KC 256      /* largest K chunk of the blocked GEMM: its local array size */
#define GEMM_TS 16       /* tile edge of gemm_tiled_gpu: its work-group is TS x TS */
#define CONV_TALL_KC 1152 /* K chunk of conv_tall_cpu: the whole K of 3x3 convs up to 128
                          * input channels (144 KiB of local memory) */
#define CONV_DW_WG 64    /* work-group of conv_dw_backward_weight */
#define BN_LWS 64        /* work-group of the GPU-shaped BatchNorm reductions */
#define PLANE_LWS 64     /* work-group of the GPU-shaped per-plane sums (mul's gradient) */
#define WINO_M 4         /* Winograd output tile edge: F(WINO_M x WINO_M, 3x3), 2 or 4 */
#define WINO_PP 11       /* 6-channel panels per item of winograd_gemm_cpu (its local array) */
#define WINO_LROW 1032   /* local row of winograd_input_cpu: the widest padded tile row */

/* Name in the kernels, value: each becomes -D<name>=<value>. */
#define KERNEL_TUNABLES(X)                                                     \
    X(MR, GEMM_MR)                                                             \
    X(NR, GEMM_NR)                                                             \
    X(NRW, GEMM_NRW)                                                           \
    X(KC, GEMM_KC)                                                             \
    X(TS, GEMM_TS)                                                             \
    X(TALL_KC, CONV_TALL_KC)                                                   \
    X(CONV_DW_WG, CONV_DW_WG)                                                  \
    X(BN_LWS, BN_LWS)                                                          \
    X(PLANE_LWS, PLANE_LWS)                                                    \
    X(WINO_M, WINO_M)                                                          \
    X(WINO_PP, WINO_PP)                                                        \
    X(WINO_LROW, WINO_LROW)

/* Writes the build options of the context's program for a device of this
 * type into buf (NUL-terminated, truncated to len; 256 bytes are plenty).
 * Returns the length the full string needs. */
size_t kernel_build_options(graft_device_type type, char *buf, size_t len);
#endif
