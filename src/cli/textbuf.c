#include "textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graft_data.h"

static int reserve(textbuf *tb, size_t extra)
{
    if (tb->failed) return -1;
    if (tb->len + extra + 1 <= tb->cap) return 0;
    size_t cap = tb->cap ? tb->cap : 1024;
    while (cap < tb->len + extra + 1) cap *= 2;
    char *s = realloc(tb->s, cap);
    if (!s) {
        tb->failed = 1;
        return -1;
    }
    tb->s = s;
    tb->cap = cap;
    return 0;
}

void tb_printf(textbuf *tb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        tb->failed = 1;
        return;
    }
    if (reserve(tb, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(tb->s + tb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    tb->len += (size_t)n;
}

void tb_json_str(textbuf *tb, const char *s)
{
    tb_printf(tb, "\"");
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') tb_printf(tb, "\\%c", *p);
        else if (*p == '\n') tb_printf(tb, "\\n");
        else if (*p == '\t') tb_printf(tb, "\\t");
        else if (*p < 0x20) tb_printf(tb, "\\u%04x", *p);
        else tb_printf(tb, "%c", *p);
    }
    tb_printf(tb, "\"");
}

void tb_csv_field(textbuf *tb, const char *s)
{
    if (!s) s = "";
    if (!strpbrk(s, ",\"\r\n")) {
        tb_printf(tb, "%s", s);
        return;
    }
    tb_printf(tb, "\"");
    for (const char *p = s; *p; p++) {
        if (*p == '"') tb_printf(tb, "\"\"");
        else tb_printf(tb, "%c", *p);
    }
    tb_printf(tb, "\"");
}

void tb_free(textbuf *tb)
{
    free(tb->s);
    memset(tb, 0, sizeof *tb);
}

int tb_write(const textbuf *tb, const char *cmd, const char *path)
{
    if (tb->failed) {
        fprintf(stderr, "%s: %s: out of memory building the file\n", cmd, path);
        return -1;
    }
    char err[4200];
    if (graft_file_write_atomic(path, tb->s ? tb->s : "", tb->len, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "%s: cannot write %s\n", cmd, err);
        return -1;
    }
    return 0;
}
