/* File helpers used by the kernel cache and model files. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileutil.h"

int mkdir_p(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) return ENAMETOOLONG;
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) return errno;
            buf[i] = c;
        }
    }
    return 0;
}

int file_write_atomic(const char *path, const void *data, size_t n)
{
    size_t len = strlen(path);
    char *tmp = malloc(len + 32);
    if (!tmp) return ENOMEM;
    snprintf(tmp, len + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return e;
    }
    const unsigned char *p = data;
    size_t left = n;
    int e = 0;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            e = errno;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (!e && fsync(fd) != 0) e = errno;
    if (close(fd) != 0 && !e) e = errno;
    if (!e && rename(tmp, path) != 0) e = errno;
    if (e) unlink(tmp);
    free(tmp);
    return e;
}

int file_read_all(const char *path, size_t max_bytes, unsigned char **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return errno;
    if (fseek(f, 0, SEEK_END) != 0) {
        int e = errno;
        fclose(f);
        return e;
    }
    long sz = ftell(f);
    if (sz < 0) {
        int e = errno;
        fclose(f);
        return e;
    }
    if ((size_t)sz > max_bytes) {
        fclose(f);
        return EFBIG;
    }
    rewind(f);
    unsigned char *buf = malloc((size_t)sz + 1);
    if (!buf) {
        fclose(f);
        return ENOMEM;
    }
    size_t got = fread(buf, 1, (size_t)sz, f);
    int e = ferror(f) ? EIO : 0;
    fclose(f);
    if (e || got != (size_t)sz) {
        free(buf);
        return e ? e : EIO;
    }
    *out = buf;
    *n = got;
    return 0;
}
