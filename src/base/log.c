#include "log.h"

#include <stdio.h>

void log_vemit(graft_log_fn fn, void *user, graft_log_level level, const char *fmt, va_list ap)
{
    if (!fn) return;
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fn(user, level, msg);
}

void log_emit(graft_log_fn fn, void *user, graft_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vemit(fn, user, level, fmt, ap);
    va_end(ap);
}
