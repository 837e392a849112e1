#include "console.h"

#include <stdio.h>
#include <string.h>

void console_init(console *c, const char *cmd, int quiet, int epochs, const char *eval_name)
{
    memset(c, 0, sizeof *c);
    c->cmd = cmd;
    c->quiet = quiet;
    c->epochs = epochs;
    c->eval_name = eval_name ? eval_name : "val";
    progress_init(&c->pr, stderr, 1);
}

void console_log(void *user, graft_log_level level, const char *msg)
{
    console *c = user;
    if (c->quiet || level > GRAFT_LOG_INFO) return;
    if (level == GRAFT_LOG_WARN) {
        fprintf(stderr, "%s: %s\n", c->cmd, msg);
    } else {
        progress_clear(&c->pr);
        printf("%s\n", msg);
        fflush(stdout);
    }
}

void console_progress(void *user, const graft_progress *p)
{
    console *c = user;
    if (c->quiet) return;
    if (p->done <= 1) {
        /* A new pass: its ETA counts from the pass's start. */
        progress_init(&c->pr, stderr, c->quiet);
        c->pr.start -= p->elapsed_s;
    }
    char fields[160];
    if (p->loss >= 0)
        snprintf(fields, sizeof fields, "loss %.4f acc %5.1f%% %.0f img/s", p->loss,
                 100.0 * p->accuracy, p->images_per_s);
    else if (p->images > 0)
        snprintf(fields, sizeof fields, "%ld images %.0f img/s", p->images, p->images_per_s);
    else
        fields[0] = '\0';
    progress_update(&c->pr, p->label, p->done, p->total, fields);
}

static int on_epoch(void *user, const graft_epoch_stats *st)
{
    console *c = user;
    progress_clear(&c->pr);
    if (!c->quiet) {
        char ev[64] = "";
        if (st->eval_acc >= 0)
            snprintf(ev, sizeof ev, "  %s loss %.4f acc %.2f%%", c->eval_name, st->eval_loss,
                     100 * st->eval_acc);
        printf("epoch %d/%d  train loss %.4f acc %.2f%%%s  %.0f img/s  %.1f s  lr %.4g\n",
               st->epoch, c->epochs, st->train_loss, 100 * st->train_acc, ev, st->images_per_s,
               st->train_seconds, (double)st->lr);
        fflush(stdout);
    }
    return c->chain ? c->chain(c->chain_user, st) : 0;
}

graft_callbacks console_callbacks(console *c)
{
    graft_callbacks cb = {c->quiet ? NULL : console_progress, on_epoch, console_log, c};
    return cb;
}
