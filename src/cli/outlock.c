#define _POSIX_C_SOURCE 200809L
#include "outlock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char lock_path[4200];

static void release(void)
{
    if (lock_path[0]) unlink(lock_path);
}

/* The pid written in the lock file, or 0. */
static long lock_owner(const char *path)
{
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (!f) return 0;
    if (fscanf(f, "%ld", &pid) != 1) pid = 0;
    fclose(f);
    return pid;
}

int outlock_take(const char *cmd, const char *out)
{
    char path[sizeof lock_path];
    snprintf(path, sizeof path, "%s.lock", out);
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd >= 0) {
            char pid[32];
            int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            int ok = write(fd, pid, (size_t)n) == n;
            close(fd);
            if (!ok) {
                unlink(path);
                fprintf(stderr, "%s: cannot write the lock file %s\n", cmd, path);
                return 1;
            }
            memcpy(lock_path, path, sizeof lock_path);
            atexit(release);
            return 0;
        }
        if (errno != EEXIST) {
            fprintf(stderr, "%s: cannot create the lock file %s: %s\n", cmd, path, strerror(errno));
            return 1;
        }
        long owner = lock_owner(path);
        if (owner > 0 && (kill((pid_t)owner, 0) == 0 || errno == EPERM)) {
            fprintf(stderr, "%s: another run (pid %ld) is writing %s (lock file %s); wait for it, "
                    "or choose another --out\n", cmd, owner, out, path);
            return 1;
        }
        /* A stale lock of a run that no longer exists (killed). A lock of
         * pid 0 may be one being written right now: give it a moment. */
        if (owner <= 0) nanosleep(&(struct timespec){0, 100000000}, NULL);
        if (owner > 0 || lock_owner(path) <= 0) unlink(path);
    }
    fprintf(stderr, "%s: cannot take the lock file %s\n", cmd, path);
    return 1;
}
