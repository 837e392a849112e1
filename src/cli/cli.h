/* Sub-commands of the graft tool. Each returns the process exit status:
 * 0 success, 1 failure while running, 2 bad usage. */
#ifndef GRAFT_CLI_H
#define GRAFT_CLI_H

#define EXIT_USAGE 2

/* One function per command (commands.def lists them). */
#define COMMAND(name, fn, summary) int fn(int argc, char **argv);
#include "commands.def"
#undef COMMAND

#endif
