#include "error.h"

#include <stdio.h>

graft_status error_vset(char *buf, size_t n, graft_status s, const char *fmt, va_list ap)
{
    if (buf && n) vsnprintf(buf, n, fmt, ap);
    return s;
}

graft_status error_set(char *buf, size_t n, graft_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(buf, n, s, fmt, ap);
    va_end(ap);
    return s;
}
