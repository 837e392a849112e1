/* The one way graft writes an error message. Functions with a context
 * report through it (ctx_fail in runtime/ctx.h is this helper writing into
 * the context's buffer); functions without one take the caller's buffer. */
#ifndef GRAFT_ERROR_H
#define GRAFT_ERROR_H
#include <stdarg.h>
#include <stddef.h>

#include "graft.h"

/* Formats a one-line message into buf (nothing when buf is NULL or n is 0)
 * and returns s, so that a failing path reads
 *   return error_set(err, errlen, GRAFT_ERR_IO, "%s: %s", path, strerror(errno)); */
graft_status error_set(char *buf, size_t n, graft_status s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
graft_status error_vset(char *buf, size_t n, graft_status s, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
#endif
