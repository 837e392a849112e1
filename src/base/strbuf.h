/* A growing text buffer. An allocation failure sets oom and later appends
 * do nothing, so a writer checks once at the end. Zero-initialise to start;
 * s is NUL-terminated once anything was appended; free(s) releases it. */
#ifndef GRAFT_STRBUF_H
#define GRAFT_STRBUF_H
#include <stddef.h>

typedef struct strbuf {
    char *s;
    size_t n, cap;
    int oom;
} strbuf;

/* Appends n bytes of s. */
void strbuf_put(strbuf *b, const char *s, size_t n);
/* Appends formatted text. */
void strbuf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
