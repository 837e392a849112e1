/* Conversion between a live model (plus optimizer) and the .graft
 * container, for model files and training checkpoints. */
#ifndef GRAFT_MODEL_IO_H
#define GRAFT_MODEL_IO_H
#include "modelfile.h"
#include "optimizer.h"

/* Fills out (zeroed by the caller) with m's graph, parameters read back
 * from the device, and meta. Caller owns out (mf_model_free). */
graft_status model_to_mf(graft_model *m, const graft_model_meta *meta, mf_model *out);
/* Builds a model from f's graph and loads its tensors. Caller owns *out. */
graft_status model_from_mf(graft_ctx *ctx, const mf_model *f, const char *path, graft_model **out);
/* Copies f's metadata into meta (caller owns; graft_model_meta_free). */
graft_status meta_from_mf(graft_ctx *ctx, const mf_model *f, graft_model_meta *meta);

/* Optimizer moments as named tensors ("<param>.m", "<param>.v") into
 * f->state, and back. The step count travels in f->step. */
graft_status optimizer_to_mf(graft_optimizer *o, mf_model *f);
graft_status optimizer_from_mf(graft_optimizer *o, const mf_model *f, const char *path);
#endif
