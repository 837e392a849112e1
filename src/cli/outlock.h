/* A lock file beside a command's output (OUT.lock holding the pid), so
 * that two runs writing the same --out do not interleave checkpoints and
 * logs. Taken with O_EXCL; a lock whose pid no longer runs (a killed run)
 * is stale and taken over; removed at exit. */
#ifndef GRAFT_CLI_OUTLOCK_H
#define GRAFT_CLI_OUTLOCK_H

/* Takes the lock for out; 0, or 1 after printing why (another run holds
 * it, or it cannot be created). One lock per process. */
int outlock_take(const char *cmd, const char *out);
#endif
