/* The ONNX goldens in data/onnx/ (NAME.onnx, NAME.in.f32, NAME.out.f32, made
 * by tools/make_onnx_*goldens.py), shared by the ONNX import tests. Every
 * helper fails the running Check test on a missing file or a graft error. */
#ifndef GRAFT_TESTS_ONNX_GOLDEN_H
#define GRAFT_TESTS_ONNX_GOLDEN_H
#include <stddef.h>

#include "graft.h"

/* A whole float32 file; *n values. Caller frees. */
float *og_read_f32(const char *path, size_t *n);
/* data/onnx/NAME.onnx imported on ctx. Caller frees the model. */
graft_model *og_import(graft_ctx *ctx, const char *name);
/* The stored input of golden name for m; *batch images. Caller frees. */
float *og_input(const graft_model *m, const char *name, int *batch);
/* Values per image of m's last node. */
int og_outputs(const graft_model *m);
/* Inference output of m on x (batch n). Caller frees. */
float *og_run(graft_model *m, const float *x, int n);
/* Worst relative error of m on the stored input against the stored output. */
double og_error(graft_model *m, const char *name);
/* steps SGD steps (lr 0.05) of m on the stored input of golden name with
 * labels 1, 0, 1, 0, ...; *first and *last get the first and last loss. */
void og_sgd_steps(graft_model *m, const char *name, int steps, float *first, float *last);
/* Nodes of kind k in m. */
int og_count_kind(const graft_model *m, graft_layer_kind k);
#endif
