/* Growable text buffer for building JSON and CSV in memory before an
 * atomic write. After an allocation failure the buffer is marked failed
 * and further appends are ignored; check tb.failed before using tb.s. */
#ifndef GRAFT_TEXTBUF_H
#define GRAFT_TEXTBUF_H
#include <stddef.h>

typedef struct textbuf {
    char *s;      /* NUL-terminated, owned; NULL while empty */
    size_t len, cap;
    int failed;
} textbuf;

void tb_printf(textbuf *tb, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Appends s as a quoted JSON string (escapes quotes, backslash, controls). */
void tb_json_str(textbuf *tb, const char *s);
/* Appends s as one CSV field (quoted when it holds , " CR or LF). */
void tb_csv_field(textbuf *tb, const char *s);
void tb_free(textbuf *tb);
/* file_write_atomic of the contents; prints "cmd: path: reason" on failure
 * and returns non-zero. */
int tb_write(const textbuf *tb, const char *cmd, const char *path);
#endif
