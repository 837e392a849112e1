#define _POSIX_C_SOURCE 200809L
#include "interrupt.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    if (stop_signal) _exit(interrupt_exit_status(sig)); /* the second one: now */
    stop_signal = sig;
    static const char msg[] = "\ngraft: stopping after this step "
                              "(signal again to quit at once)\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
}

volatile sig_atomic_t *interrupt_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return &stop_signal;
}

int interrupt_exit_status(int sig) { return 128 + sig; }

int interrupt_report(const char *cmd, int argc, char **argv, const graft_train_result *res,
                     const char *ckpt, int sig)
{
    fprintf(stderr, "%s: interrupted in epoch %d after batch %ld; wrote the checkpoint %s\n"
            "continue with: graft", cmd, res->interrupted_epoch, res->interrupted_batch, ckpt);
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--resume")) fprintf(stderr, " %s", argv[i]);
        else i++; /* drop an earlier --resume and its value */
    fprintf(stderr, " --resume %s\n", ckpt);
    return interrupt_exit_status(sig);
}
