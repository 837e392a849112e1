#define _POSIX_C_SOURCE 200809L
#include "epoch_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileutil.h"

struct epoch_log {
    char *path;
    char ename[32];
    int csv;
    char *text; /* the whole file */
    size_t len, cap;
};

static int put(epoch_log *l, const char *s, size_t n)
{
    if (l->len + n + 1 > l->cap) {
        size_t cap = (l->len + n + 1) * 2;
        char *t = realloc(l->text, cap);
        if (!t) return -1;
        l->text = t;
        l->cap = cap;
    }
    memcpy(l->text + l->len, s, n);
    l->len += n;
    l->text[l->len] = '\0';
    return 0;
}

static graft_status flush(epoch_log *l, char *err, size_t errlen)
{
    int e = file_write_atomic(l->path, l->text, l->len);
    if (e) return error_set(err, errlen, GRAFT_ERR_IO, "%s: cannot write the log: %s", l->path,
                            strerror(e));
    return GRAFT_OK;
}

/* The epoch a line logs, or -1 (header, garbage, a half line). */
static long line_epoch(const char *s, size_t n, int csv)
{
    if (!csv) {
        static const char key[] = "{\"epoch\":";
        if (n < sizeof key || memcmp(s, key, sizeof key - 1)) return -1;
        s += sizeof key - 1;
    }
    char *end;
    long e = strtol(s, &end, 10);
    return end == s ? -1 : e;
}

/* Keeps the existing file's complete lines of epochs 1..upto (and a CSV
 * header) from a previous run. */
static int keep_old_lines(epoch_log *l, int upto)
{
    unsigned char *old;
    size_t n;
    if (file_read_all(l->path, (size_t)1 << 30, &old, &n)) return 0; /* nothing to keep */
    size_t i = 0;
    int first = 1;
    while (i < n) {
        const char *s = (const char *)old + i;
        const char *nl = memchr(s, '\n', n - i);
        if (!nl) break; /* a half line */
        size_t L = (size_t)(nl - s) + 1;
        long e = line_epoch(s, L, l->csv);
        int header = first && l->csv && e < 0;
        if ((header || (e >= 1 && e <= upto)) && put(l, s, L)) {
            free(old);
            return -1;
        }
        first = 0;
        i += L;
    }
    free(old);
    return 0;
}

graft_status epoch_log_open(const char *path, const char *eval_name, int start_epoch,
                            epoch_log **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!path) return GRAFT_OK;
    epoch_log *l = calloc(1, sizeof *l);
    if (!l || !(l->path = strdup(path))) {
        free(l);
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    }
    size_t L = strlen(path);
    l->csv = L > 4 && !strcmp(path + L - 4, ".csv");
    snprintf(l->ename, sizeof l->ename, "%s", eval_name);
    int rc = start_epoch > 0 ? keep_old_lines(l, start_epoch) : 0;
    if (!rc && l->len == 0 && l->csv) {
        char h[256];
        int n = snprintf(h, sizeof h, "epoch,train_loss,train_acc,%s_loss,%s_acc,train_seconds,"
                         "total_train_seconds,images_per_s,lr\n", l->ename, l->ename);
        rc = put(l, h, (size_t)n);
    }
    if (rc) {
        epoch_log_free(l);
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    }
    graft_status s = flush(l, err, errlen);
    if (s != GRAFT_OK) {
        epoch_log_free(l);
        return s;
    }
    *out = l;
    return GRAFT_OK;
}

graft_status epoch_log_append(epoch_log *l, const graft_epoch_stats *st, char *err, size_t errlen)
{
    if (!l) return GRAFT_OK;
    char line[512];
    int n;
    if (l->csv)
        n = snprintf(line, sizeof line, "%d,%.6f,%.6f,%.6f,%.6f,%.3f,%.3f,%.1f,%.6g\n", st->epoch,
                     st->train_loss, st->train_acc, st->eval_loss, st->eval_acc, st->train_seconds,
                     st->total_train_seconds, st->images_per_s, (double)st->lr);
    else
        n = snprintf(line, sizeof line,
                     "{\"epoch\":%d,\"train_loss\":%.6f,\"train_acc\":%.6f,\"%s_loss\":%.6f,"
                     "\"%s_acc\":%.6f,\"train_seconds\":%.3f,\"total_train_seconds\":%.3f,"
                     "\"images_per_s\":%.1f,\"lr\":%.6g}\n",
                     st->epoch, st->train_loss, st->train_acc, l->ename, st->eval_loss, l->ename,
                     st->eval_acc, st->train_seconds, st->total_train_seconds, st->images_per_s,
                     (double)st->lr);
    if (n < 0 || (size_t)n >= sizeof line || put(l, line, (size_t)n))
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    return flush(l, err, errlen);
}

void epoch_log_free(epoch_log *l)
{
    if (!l) return;
    free(l->path);
    free(l->text);
    free(l);
}
