/* Small file helpers: atomic replace and recursive mkdir. */
#ifndef GRAFT_FILEUTIL_H
#define GRAFT_FILEUTIL_H
#include <stddef.h>

/* Writes data to path atomically: a temp file beside it, fsync, rename.
 * On failure nothing at path changes; returns 0 or an errno value. */
int file_write_atomic(const char *path, const void *data, size_t n);
/* Creates dir and its parents (mode 0755); returns 0 or an errno value. */
int mkdir_p(const char *dir);
/* Reads a whole file into a malloc'd buffer; returns 0 or an errno value
 * (EFBIG above max_bytes). */
int file_read_all(const char *path, size_t max_bytes, unsigned char **out, size_t *n);
#endif
