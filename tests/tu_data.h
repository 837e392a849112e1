/* Helpers for the dataset-layer tests: temp dirs and small files. */
#ifndef GRAFT_TU_DATA_H
#define GRAFT_TU_DATA_H
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Creates a fresh temp dir (under $TMPDIR or /tmp) into buf. */
static inline void tu_tmpdir(char *buf, size_t n)
{
    const char *t = getenv("TMPDIR");
    snprintf(buf, n, "%s/graft-data-XXXXXX", t && *t ? t : "/tmp");
    ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp %s failed", buf);
}

static inline void tu_path(char *buf, size_t n, const char *dir, const char *name)
{
    int k = snprintf(buf, n, "%s/%s", dir, name);
    ck_assert(k > 0 && (size_t)k < n);
}

static inline void tu_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert(fwrite(data, 1, n, f) == n);
    ck_assert(fclose(f) == 0);
}

static inline void tu_mkdir(const char *path) { ck_assert_msg(mkdir(path, 0755) == 0, "mkdir %s", path); }

/* Recursive removal of a test directory. */
static inline void tu_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[4096];
        int k = snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (k < 0 || (size_t)k >= sizeof p) continue;
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) tu_rmtree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}
#endif
