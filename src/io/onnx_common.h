/* Shared bits of the ONNX importer and exporter (protobuf-c bindings
 * generated from third_party/onnx/onnx.proto). */
#ifndef GRAFT_ONNX_COMMON_H
#define GRAFT_ONNX_COMMON_H
#include "onnx.pb-c.h"

/* Opset range the importer accepts; the exporter writes ONNX_EXPORT_OPSET. */
#define ONNX_MIN_OPSET 9
#define ONNX_MAX_OPSET 17
#define ONNX_EXPORT_OPSET 13
#define ONNX_EXPORT_IR_VERSION 7
/* Largest .onnx file read (weights are inline). */
#define ONNX_MAX_FILE_BYTES ((size_t)2 << 30)

/* "" for a NULL protobuf-c string. */
static inline const char *onnx_str(const char *s) { return s ? s : ""; }
#endif
