/* The input node: the model's first node, holding the uploaded batch. It
 * has no layer (no ops); graft_model_add checks its shape. The importer
 * creates it from the ONNX graph input, not from an op. */
#include "layer_kind.h"

const layer_kind input_kind = {
    .kind = GRAFT_LAYER_INPUT, .name = "input", .min_inputs = 0, .max_inputs = 0,
};
