/* graft: command-line entry point and sub-command dispatch. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "graft.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
#define COMMAND(name, fn, summary) {name, fn, summary},
#include "commands.def"
#undef COMMAND
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: graft COMMAND [OPTIONS]\n\n"
               "Transfer-learning image classification on OpenCL devices.\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'graft COMMAND --help' describes each command.\n"
               "Environment: GRAFT_DEVICE (device selector), GRAFT_GEMM=clblast|native.\n");
}

int main(int argc, char **argv)
{
    /* A file-size limit (ulimit -f) then fails the write with EFBIG, which
     * the atomic writers report and clean up, instead of killing us. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("graft %d.%d.%d\n", GRAFT_VERSION_MAJOR, GRAFT_VERSION_MINOR, GRAFT_VERSION_PATCH);
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "graft: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
