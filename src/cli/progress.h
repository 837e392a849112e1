/* Progress for long work: on a terminal a live line rewritten in place
 * (batch, loss, accuracy, images/s, ETA); otherwise plain lines at a
 * modest interval, with no control characters, fit for logs. A pass that
 * ends within a second shows nothing. */
#ifndef GRAFT_PROGRESS_H
#define GRAFT_PROGRESS_H
#include <stdio.h>

typedef struct progress {
    FILE *out;
    int tty;
    int quiet;
    double start, last_print;
    double interval; /* seconds between plain lines (GRAFT_PROGRESS_INTERVAL, default 15) */
    double delay;    /* nothing before this many seconds of a pass: min(1, interval) */
    int live;        /* a live line is on screen */
} progress;

/* Prepares reporting to out; quiet suppresses everything. */
void progress_init(progress *p, FILE *out, int quiet);
/* Reports `done` of `total` units; label and the rest are preformatted. */
void progress_update(progress *p, const char *label, long done, long total, const char *fields);
/* Ends the live line (if any) so that ordinary output can follow. */
void progress_clear(progress *p);
/* Formats seconds as "1h02m", "3m05s" or "12.3s". */
void format_duration(double s, char *buf, size_t n);
#endif
