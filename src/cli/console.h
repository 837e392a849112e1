/* What the commands show while the library works: the library reports
 * through callbacks (graft_callbacks, graft_log_fn) and these print them as
 * the commands always have: a live progress line on stderr, one line per
 * epoch and the run's events on stdout, notes on what was skipped on
 * stderr prefixed with the command's name. */
#ifndef GRAFT_CLI_CONSOLE_H
#define GRAFT_CLI_CONSOLE_H
#include "graft_train.h"
#include "progress.h"

typedef struct console {
    const char *cmd;
    int quiet;               /* print nothing; chained epoch hooks still run */
    int epochs;              /* for the epoch lines */
    const char *eval_name;   /* "val", "test", "eval" */
    progress pr;
    graft_epoch_fn chain;    /* called after the epoch line; may be NULL */
    void *chain_user;
} console;

void console_init(console *c, const char *cmd, int quiet, int epochs, const char *eval_name);
/* The callbacks that print to this console (user = c). */
graft_callbacks console_callbacks(console *c);
/* A graft_progress_fn for user = console *: the live line on a terminal,
 * plain lines otherwise (progress.h); nothing when quiet. Also the sink
 * for a context (graft_ctx_set_progress) in the commands that run
 * evaluations, predictions, feature passes and imports. */
void console_progress(void *user, const graft_progress *p);
/* A graft_log_fn for user = console *: INFO lines to stdout, WARN lines
 * to stderr as "cmd: msg"; nothing when quiet. */
void console_log(void *user, graft_log_level level, const char *msg);
#endif
