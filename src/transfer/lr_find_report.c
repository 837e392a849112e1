/* What an LR range test shows: the curve as CSV, as an HTML page with an
 * inline SVG chart, and as a text table for the terminal. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileutil.h"
#include "graft_transfer.h"

/* Text built in memory (open_memstream), then written or handed over. */
typedef struct text {
    FILE *f;
    char *s;
    size_t n;
} text;

static int text_open(text *t)
{
    t->s = NULL;
    t->n = 0;
    t->f = open_memstream(&t->s, &t->n);
    return t->f != NULL;
}

/* Closes the stream; 0 on success (t->s holds the text). */
static int text_close(text *t)
{
    int bad = ferror(t->f);
    return (fclose(t->f) != 0 || bad) ? -1 : 0;
}

static graft_status write_file(text *t, const char *path, char *err, size_t errlen)
{
    int e = text_close(t) ? ENOMEM : file_write_atomic(path, t->s, t->n);
    free(t->s);
    if (e) {
        if (err) snprintf(err, errlen, "%s: %s", path, strerror(e));
        return GRAFT_ERR_IO;
    }
    return GRAFT_OK;
}

static void chart(FILE *f, const graft_lr_find_result *r)
{
    const double W = 640, H = 320, L = 60, B = 40, T = 10, R = 10;
    double x0 = log10(r->points[0].lr), x1 = log10(r->points[r->npoints - 1].lr);
    double y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < r->npoints; i++) {
        y0 = fmin(y0, r->points[i].smoothed);
        y1 = fmax(y1, r->points[i].smoothed);
    }
    if (x1 <= x0) x1 = x0 + 1;
    if (y1 <= y0) y1 = y0 + 1;
#define PX(lr) (L + (log10(lr) - x0) / (x1 - x0) * (W - L - R))
#define PY(v) (T + (y1 - (v)) / (y1 - y0) * (H - T - B))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\">\n"
               "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
               "stroke=\"#999\"/>\n", W, H, L, T, W - L - R, H - T - B);
    for (int d = (int)ceil(x0); d <= (int)floor(x1); d++)
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">1e%d</text>\n",
                PX(pow(10, d)), H - B + 18, d);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%.3g</text>\n"
               "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%.3g</text>\n",
            L - 4, T + 12, y1, L - 4, H - B, y0);
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">learning rate (log "
               "scale)</text>\n<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" "
               "points=\"", (W + L) / 2, H - 4);
    for (int i = 0; i < r->npoints; i++)
        fprintf(f, "%.1f,%.1f ", PX(r->points[i].lr), PY(r->points[i].smoothed));
    fprintf(f, "\"/>\n<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#d62728\" "
               "stroke-dasharray=\"4 3\"/>\n</svg>\n",
            PX(r->suggested), PX(r->suggested), T, H - B);
#undef PX
#undef PY
}

graft_status graft_lr_find_write(const graft_lr_find_result *r, const char *prefix, char *err,
                                 size_t errlen)
{
    if (!r->npoints) {
        if (err) snprintf(err, errlen, "lr-find: no points to write");
        return GRAFT_ERR_INVALID_ARG;
    }
    char path[4096];
    text t;
    if (!text_open(&t)) return GRAFT_ERR_HOST_MEMORY;
    fprintf(t.f, "step,lr,loss,smoothed\n");
    for (int i = 0; i < r->npoints; i++)
        fprintf(t.f, "%d,%.6g,%.6f,%.6f\n", i + 1, (double)r->points[i].lr, r->points[i].loss,
                r->points[i].smoothed);
    snprintf(path, sizeof path, "%s.csv", prefix);
    graft_status s = write_file(&t, path, err, errlen);
    if (s != GRAFT_OK) return s;
    if (!text_open(&t)) return GRAFT_ERR_HOST_MEMORY;
    fprintf(t.f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>graft lr-find"
                 "</title>\n<style>body{font-family:sans-serif;margin:2em}svg text{font-size:"
                 "12px}</style></head><body>\n<h1>Learning-rate range test</h1>\n<p>Smoothed "
                 "training loss while the learning rate grows exponentially over %d steps%s. "
                 "Suggested learning rate (dashed): <b>%.3g</b>, a tenth of %.3g where the "
                 "loss leaves 1.5x its minimum (lowest loss at %.3g, steepest descent at "
                 "%.3g).</p>\n", r->npoints,
            r->stopped ? ", stopped when the loss blew up" : "", (double)r->suggested,
            (double)r->lr_edge, (double)r->lr_min_loss, (double)r->lr_steepest);
    chart(t.f, r);
    fprintf(t.f, "</body></html>\n");
    snprintf(path, sizeof path, "%s.html", prefix);
    return write_file(&t, path, err, errlen);
}

graft_status graft_lr_find_table(const graft_lr_find_result *r, int rows, char **text_out,
                                 char *err, size_t errlen)
{
    *text_out = NULL;
    if (!r->npoints || rows < 2) {
        if (err) snprintf(err, errlen, "lr-find: nothing to show");
        return GRAFT_ERR_INVALID_ARG;
    }
    text t;
    if (!text_open(&t)) return GRAFT_ERR_HOST_MEMORY;
    int n = r->npoints, shown = rows < n ? rows : n;
    fprintf(t.f, "%6s  %10s  %9s  %9s\n", "step", "lr", "loss", "smoothed");
    for (int k = 0; k < shown; k++) {
        int i = (int)((long)k * (n - 1) / (shown - 1));
        int next = k + 1 < shown ? (int)((long)(k + 1) * (n - 1) / (shown - 1)) : n;
        /* The row whose span holds the suggestion carries the mark (the
         * first row when it lies below the range). */
        int mark = (k == 0 || r->points[i].lr <= r->suggested) &&
                   (next >= n || r->points[next].lr > r->suggested);
        fprintf(t.f, "%6d  %10.3g  %9.4f  %9.4f%s\n", i + 1, (double)r->points[i].lr,
                r->points[i].loss, r->points[i].smoothed, mark ? "  <- suggested" : "");
    }
    fprintf(t.f, "suggested lr %.3g: a tenth of %.3g, where the loss leaves 1.5x its minimum "
            "(lowest loss at %.3g, steepest descent at %.3g%s)\n", (double)r->suggested,
            (double)r->lr_edge, (double)r->lr_min_loss, (double)r->lr_steepest,
            r->stopped ? "; stopped when the loss blew up" : "");
    if (text_close(&t)) {
        free(t.s);
        return GRAFT_ERR_HOST_MEMORY;
    }
    *text_out = t.s;
    return GRAFT_OK;
}
