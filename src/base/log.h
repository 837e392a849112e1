/* Formatting a message for a caller's log callback (graft_log_fn): the
 * library's only way of saying something that is not an error. */
#ifndef GRAFT_LOG_H
#define GRAFT_LOG_H
#include <stdarg.h>

#include "graft.h"

/* Formats one message and hands it to fn (nothing when fn is NULL).
 * Longer messages are cut at 4 KiB. */
void log_emit(graft_log_fn fn, void *user, graft_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void log_vemit(graft_log_fn fn, void *user, graft_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
#endif
