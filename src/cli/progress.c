#define _POSIX_C_SOURCE 200809L
#include "progress.h"
#include "common.h"
#include "env_params.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

void progress_init(progress *p, FILE *out, int quiet)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->quiet = quiet;
    p->tty = isatty(fileno(out));
    p->start = cli_seconds();
    p->last_print = 0;
    p->interval = graft_progress_interval_from_env();
    p->delay = p->interval < 1.0 ? p->interval : 1.0;
}

void format_duration(double s, char *buf, size_t n)
{
    if (s < 0) s = 0;
    if (s >= 3600)
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else if (s >= 60)
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(buf, n, "%.1fs", s);
}

void progress_update(progress *p, const char *label, long done, long total, const char *fields)
{
    if (p->quiet) return;
    double t = cli_seconds();
    /* A terminal gets at most 10 redraws a second, a log one line per
     * interval (and the last one). */
    double gap = p->tty ? 0.1 : p->interval;
    if (done < total && t - p->last_print < gap) return;
    if (t - p->start < p->delay) return; /* a pass under a second goes unannounced */
    if (!p->tty && done >= total) return; /* the caller prints a summary line */
    p->last_print = t;
    char eta[32] = "?";
    double el = t - p->start;
    if (done > 0 && total > done) format_duration(el / (double)done * (double)(total - done), eta, sizeof eta);
    else if (done >= total) snprintf(eta, sizeof eta, "0s");
    if (p->tty) {
        fprintf(p->out, "\r\033[K%s [%ld/%ld] %s ETA %s", label, done, total, fields, eta);
        p->live = 1;
    } else {
        fprintf(p->out, "%s [%ld/%ld] %s ETA %s\n", label, done, total, fields, eta);
    }
    fflush(p->out);
}

void progress_clear(progress *p)
{
    if (p->live && p->tty) {
        fprintf(p->out, "\r\033[K");
        fflush(p->out);
    }
    p->live = 0;
}
