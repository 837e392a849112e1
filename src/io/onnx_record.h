/* What graft import remembers about the ONNX file a model came from, as
 * the meta JSON of the .graft it writes (graft info shows it): the file's
 * name, its opset, producer and the input size. */
#ifndef GRAFT_ONNX_RECORD_H
#define GRAFT_ONNX_RECORD_H
#include "onnx_common.h"

/* {"source":"onnx","file":"NAME","opset":N,"producer":"P V","input":[C,H,W]}
 * with NAME path's last component; strings JSON-escaped. Returns a malloc'd
 * string (caller frees), or NULL when out of memory. */
char *onnx_record_json(const Onnx__ModelProto *mp, const char *path, int opset, int c, int h,
                       int w);
#endif
