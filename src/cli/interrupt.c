#define _POSIX_C_SOURCE 200809L
#include "interrupt.h"

#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    if (stop_signal) _exit(interrupt_exit_status(sig)); /* the second one: now */
    stop_signal = sig;
    static const char msg[] = "\ngraft: stopping after this step and writing a checkpoint "
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
