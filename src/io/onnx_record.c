/* The import record of an ONNX model (onnx_record.h). */
#include "onnx_record.h"

#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

/* s as a JSON string literal: quotes, backslashes and controls escaped. */
static void json_str(strbuf *b, const char *s)
{
    strbuf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') strbuf_printf(b, "\\%c", ch);
        else if (ch < 0x20) strbuf_printf(b, "\\u%04x", ch);
        else strbuf_put(b, s, 1);
    }
    strbuf_put(b, "\"", 1);
}

char *onnx_record_json(const Onnx__ModelProto *mp, const char *path, int opset, int c, int h,
                       int w)
{
    strbuf b = {0};
    const char *base = strrchr(path, '/');
    strbuf_printf(&b, "{\"source\":\"onnx\",\"file\":");
    json_str(&b, base ? base + 1 : path);
    strbuf_printf(&b, ",\"opset\":%d", opset);
    const char *pn = onnx_str(mp->producer_name), *pv = onnx_str(mp->producer_version);
    if (*pn) {
        strbuf_printf(&b, ",\"producer\":");
        strbuf s = {0};
        strbuf_printf(&s, "%s%s%s", pn, *pv ? " " : "", pv);
        json_str(&b, s.oom ? pn : s.s);
        free(s.s);
    }
    strbuf_printf(&b, ",\"input\":[%d,%d,%d]}", c, h, w);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
