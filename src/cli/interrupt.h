/* SIGINT/SIGTERM during a long command: the first signal asks the library
 * to stop after the current step (through graft_train_config.stop), a
 * second one exits at once. Files are written atomically, so exiting at
 * once still leaves none half-written. */
#ifndef GRAFT_CLI_INTERRUPT_H
#define GRAFT_CLI_INTERRUPT_H
#include <signal.h>

#include "graft_train.h"

/* Installs the handlers; returns the flag they set (the signal number). */
volatile sig_atomic_t *interrupt_install(void);
/* The exit status of a run stopped by signal sig: 128 + sig (130 for SIGINT). */
int interrupt_exit_status(int sig);
/* After an interrupted graft_train: says where it stopped and the command
 * line that continues it (argv with "--resume ckpt" in place of any earlier
 * --resume; argv[0] is the command's name); returns the exit status. */
int interrupt_report(const char *cmd, int argc, char **argv, const graft_train_result *res,
                     const char *ckpt, int sig);
#endif
