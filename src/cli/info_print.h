/* What graft info prints about a model: the layer table, the totals with
 * the memory estimate, and a model file's metadata. */
#ifndef GRAFT_CLI_INFO_PRINT_H
#define GRAFT_CLI_INFO_PRINT_H
#include "graft.h"

/* Index, name, kind, inputs, output shape, parameters, MFLOPs per node. */
void info_print_table(const graft_model *m);
/* Parameter count, forward MFLOP per image, training and inference memory
 * at batch (with AdamW's two state tensors when adamw). */
void info_print_totals(const graft_model *m, int batch, int adamw);
/* Class names, normalisation of the first channels, the meta JSON. */
void info_print_meta(const graft_model_meta *meta, int channels);
#endif
