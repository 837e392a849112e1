/* Transfer report writer: see report.h. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileutil.h"
#include "strbuf.h"


static void sb_html(strbuf *b, const char *s)
{
    for (; *s; s++) switch (*s) {
        case '&': strbuf_printf(b, "&amp;"); break;
        case '<': strbuf_printf(b, "&lt;"); break;
        case '>': strbuf_printf(b, "&gt;"); break;
        case '"': strbuf_printf(b, "&quot;"); break;
        case '\'': strbuf_printf(b, "&#39;"); break;
        default: strbuf_printf(b, "%c", *s);
        }
}

static void sb_csv(strbuf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        strbuf_printf(b, "%s", s);
        return;
    }
    strbuf_printf(b, "\"");
    for (; *s; s++) strbuf_printf(b, *s == '"' ? "\"\"" : "%c", *s);
    strbuf_printf(b, "\"");
}

static graft_status sb_write(strbuf *b, const char *path, char *err, size_t errlen)
{
    graft_status st = GRAFT_OK;
    if (b->oom)
        st = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "report: out of memory building %s", path);
    else {
        int e = file_write_atomic(path, b->s ? b->s : "", b->n);
        if (e) st = error_set(err, errlen, GRAFT_ERR_IO, "report: cannot write %s: %s", path, strerror(e));
    }
    free(b->s);
    memset(b, 0, sizeof *b);
    return st;
}

graft_status report_validate(const report_input *in, char *err, size_t errlen)
{
    if (!in || !in->arms || in->narms < 1)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "report: no arms");
    if (in->scratch_arm < -1 || in->scratch_arm >= in->narms)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "report: scratch arm %d outside [-1, %d)",
                    in->scratch_arm, in->narms);
    if (!isfinite(in->target_accuracy))
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "report: target accuracy not finite");
    if (in->nmeta < 0 || (in->nmeta && !in->meta))
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "report: bad metadata list");
    for (int i = 0; i < in->nmeta; i++)
        if (!in->meta[i].key || !in->meta[i].value)
            return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "report: metadata %d has NULL", i);
    for (int a = 0; a < in->narms; a++) {
        const report_arm *arm = &in->arms[a];
        if (!arm->name || arm->nreps < 1 || !arm->reps)
            return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                        "report: arm %d needs a name and at least one repetition", a);
        for (int r = 0; r < arm->nreps; r++) {
            const report_rep *rep = &arm->reps[r];
            if (rep->npoints < 0 || (rep->npoints && !rep->points) ||
                !isfinite(rep->final_accuracy) || !isfinite(rep->seconds_to_target))
                return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                            "report: arm %s repetition %d: bad points or numbers", arm->name, r);
            for (int i = 0; i < rep->npoints; i++)
                if (!isfinite(rep->points[i].seconds) || !isfinite(rep->points[i].accuracy))
                    return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                                "report: arm %s repetition %d point %d is not finite", arm->name,
                                r, i);
        }
    }
    if (in->nclasses < 0 || (in->nclasses && (!in->class_names || !in->confusion)))
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "report: bad confusion matrix");
    for (int i = 0; i < in->nclasses; i++) {
        if (!in->class_names[i])
            return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "report: class %d has no name", i);
        for (int j = 0; j < in->nclasses; j++)
            if (in->confusion[i * in->nclasses + j] < 0)
                return error_set(err, errlen, GRAFT_ERR_INVALID_ARG,
                            "report: confusion[%d][%d] is negative", i, j);
    }
    return GRAFT_OK;
}

static void mean_std(const double *x, int n, double *mean, double *std)
{
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++) s += x[i];
    double m = n ? s / n : 0;
    for (int i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *std = n > 1 ? sqrt(ss / (n - 1)) : 0;
}

/* Aggregates without validation (callers validated once). */
static graft_status summarize(const report_input *in, int a, report_arm_summary *o, char *err,
                              size_t errlen)
{
    const report_arm *arm = &in->arms[a];
    double *acc = malloc((size_t)arm->nreps * sizeof *acc), *t = malloc((size_t)arm->nreps * sizeof *t);
    if (!acc || !t) {
        free(acc), free(t);
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "report: out of memory");
    }
    memset(o, 0, sizeof *o);
    o->nreps = arm->nreps;
    for (int r = 0; r < arm->nreps; r++) {
        acc[r] = arm->reps[r].final_accuracy;
        if (arm->reps[r].seconds_to_target >= 0) t[o->nreached++] = arm->reps[r].seconds_to_target;
    }
    mean_std(acc, arm->nreps, &o->acc_mean, &o->acc_std);
    mean_std(t, o->nreached, &o->t_mean, &o->t_std);
    free(acc), free(t);
    if (in->scratch_arm >= 0 && o->nreached == o->nreps) {
        const report_arm *sa = &in->arms[in->scratch_arm];
        double ts = 0;
        int all = 1;
        for (int r = 0; r < sa->nreps; r++) {
            if (sa->reps[r].seconds_to_target < 0) all = 0;
            ts += sa->reps[r].seconds_to_target;
        }
        ts /= sa->nreps;
        if (all && ts > 0) {
            o->has_saved = 1;
            o->saved_pct = 100.0 * (1.0 - o->t_mean / ts);
        }
    }
    return GRAFT_OK;
}

graft_status report_summarize(const report_input *in, int arm, report_arm_summary *out,
                              char *err, size_t errlen)
{
    graft_status st = report_validate(in, err, errlen);
    if (st) return st;
    if (arm < 0 || arm >= in->narms || !out)
        return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "report: arm %d outside [0, %d)", arm,
                    in->narms);
    return summarize(in, arm, out, err, errlen);
}

/* ------------------------------------------------------------ HTML */

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

/* Tick step of 1, 2 or 5 times a power of ten giving about 5 ticks. */
static double nice_step(double range)
{
    if (!(range > 0)) return 1;
    double raw = range / 5, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static int max_points(const report_arm *arm)
{
    int m = 0;
    for (int r = 0; r < arm->nreps; r++)
        if (arm->reps[r].npoints > m) m = arm->reps[r].npoints;
    return m;
}

/* Mean over the repetitions that have point i. */
static void mean_point(const report_arm *arm, int i, double *sec, double *acc)
{
    double s = 0, a = 0;
    int k = 0;
    for (int r = 0; r < arm->nreps; r++)
        if (i < arm->reps[r].npoints) {
            s += arm->reps[r].points[i].seconds;
            a += arm->reps[r].points[i].accuracy;
            k++;
        }
    *sec = s / k, *acc = a / k;
}

static void html_chart(strbuf *b, const report_input *in)
{
    const double W = 760, H = 420, L = 64, R = 180, T = 20, B = 50;
    double xmax = 0, ymin = in->target_accuracy, ymax = in->target_accuracy;
    for (int a = 0; a < in->narms; a++)
        for (int i = 0, n = max_points(&in->arms[a]); i < n; i++) {
            double s, acc;
            mean_point(&in->arms[a], i, &s, &acc);
            if (s > xmax) xmax = s;
            if (acc < ymin) ymin = acc;
            if (acc > ymax) ymax = acc;
        }
    double xs = nice_step(xmax), ys = nice_step(ymax - ymin);
    xmax = xmax > 0 ? ceil(xmax / xs) * xs : 1;
    double y0 = floor(ymin / ys) * ys, y1 = ceil(ymax / ys) * ys;
    if (y1 <= y0) y1 = y0 + ys;
    double pw = W - L - R, ph = H - T - B;
#define PX(v) (L + (v) / xmax * pw)
#define PY(v) (T + (1 - ((v) - y0) / (y1 - y0)) * ph)
    strbuf_printf(b, "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
                 "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">\n", W, H, W, H);
    strbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fff\" "
                 "stroke=\"#999\"/>\n", L, T, pw, ph);
    for (int k = 0; k * xs <= xmax * (1 + 1e-9); k++) {
        double v = k * xs, x = PX(v);
        strbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                     "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%g</text>\n",
                  x, T, x, T + ph, x, T + ph + 16, v);
    }
    for (int k = 0; y0 + k * ys <= y1 + ys * 1e-9; k++) {
        double v = y0 + k * ys, y = PY(v);
        strbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                     "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n",
                  L, y, L + pw, y, L - 6, y + 4, v);
    }
    strbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">training seconds</text>\n",
              L + pw / 2, H - 10);
    strbuf_printf(b, "<text transform=\"translate(16 %.1f) rotate(-90)\" text-anchor=\"middle\">"
                 "accuracy</text>\n", T + ph / 2);
    double ty = PY(in->target_accuracy);
    strbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\" "
                 "stroke-dasharray=\"6 4\"/>\n", L, ty, L + pw, ty);
    strbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">target %.4f</text>\n",
              L + pw + 6, ty + 4, in->target_accuracy);
    for (int a = 0; a < in->narms; a++) {
        const char *col = palette[a % 10];
        int n = max_points(&in->arms[a]);
        strbuf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
        for (int i = 0; i < n; i++) {
            double s, acc;
            mean_point(&in->arms[a], i, &s, &acc);
            strbuf_printf(b, "%s%.1f,%.1f", i ? " " : "", PX(s), PY(acc));
        }
        strbuf_printf(b, "\"/>\n");
        for (int i = 0; i < n; i++) { /* a dot per epoch */
            double sx, acc;
            mean_point(&in->arms[a], i, &sx, &acc);
            strbuf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", PX(sx),
                      PY(acc), col);
        }
        /* Legend at the bottom of the right margin: the target label sits
         * near the top, since the target is scratch's best accuracy. */
        double ly = T + ph - 20 * (in->narms - a) + 10;
        strbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                     "stroke-width=\"3\"/><text x=\"%.1f\" y=\"%.1f\">", L + pw + 6, ly,
                  L + pw + 26, ly, col, L + pw + 32, ly + 4);
        sb_html(b, in->arms[a].name);
        strbuf_printf(b, "</text>\n");
    }
    strbuf_printf(b, "</svg>\n");
#undef PX
#undef PY
}

static void html_confusion(strbuf *b, const report_input *in)
{
    int C = in->nclasses;
    double cell = 480.0 / C;
    if (cell > 40) cell = 40;
    if (cell < 8) cell = 8;
    /* Rotated column labels lean right: leave room for them. */
    double lm = 130, tm = 130, W = lm + cell * C + 90, H = tm + cell * C + 10;
    strbuf_printf(b, "<svg class=\"confusion\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
                 "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\">\n", W, H, W, H);
    for (int i = 0; i < C; i++) {
        double rowsum = 0;
        for (int j = 0; j < C; j++) rowsum += in->confusion[i * C + j];
        for (int j = 0; j < C; j++) {
            int v = in->confusion[i * C + j];
            double f = rowsum > 0 ? v / rowsum : 0; /* row-normalised: recall colours */
            int rr = (int)(255 - f * (255 - 8)), gg = (int)(255 - f * (255 - 48)),
                bb = (int)(255 - f * (255 - 107));
            strbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                         "fill=\"rgb(%d,%d,%d)\" stroke=\"#ddd\"><title>",
                      lm + j * cell, tm + i * cell, cell, cell, rr, gg, bb);
            sb_html(b, in->class_names[i]);
            strbuf_printf(b, " &#8594; ");
            sb_html(b, in->class_names[j]);
            strbuf_printf(b, ": %d</title></rect>\n", v);
            if (cell >= 18)
                strbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
                             "font-size=\"%.0f\" fill=\"%s\">%d</text>\n",
                          lm + (j + 0.5) * cell, tm + (i + 0.5) * cell + 4, cell * 0.3,
                          f > 0.5 ? "#fff" : "#000", v);
        }
    }
    double fs = cell < 12 ? cell : 12;
    for (int i = 0; i < C; i++) {
        strbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" font-size=\"%.0f\">",
                  lm - 4, tm + (i + 0.5) * cell + fs / 3, fs);
        sb_html(b, in->class_names[i]);
        strbuf_printf(b, "</text>\n<text transform=\"translate(%.1f %.1f) rotate(-60)\" "
                     "font-size=\"%.0f\">", lm + (i + 0.5) * cell + fs / 3, tm - 4, fs);
        sb_html(b, in->class_names[i]);
        strbuf_printf(b, "</text>\n");
    }
    strbuf_printf(b, "<text x=\"4\" y=\"14\" font-size=\"11\">rows: true, columns: predicted"
                 "</text>\n</svg>\n");
}

graft_status report_write_html(const report_input *in, const char *path, char *err,
                               size_t errlen)
{
    graft_status st = report_validate(in, err, errlen);
    if (st) return st;
    if (!path) return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "report: NULL path");
    const char *title = in->title ? in->title : "graft transfer report";
    strbuf b = {0};
    strbuf_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>");
    sb_html(&b, title);
    strbuf_printf(&b, "</title>\n<style>\nbody{font-family:sans-serif;margin:2em;color:#222}\n"
                  "table{border-collapse:collapse;margin:1em 0}\n"
                  "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}\n"
                  "td:first-child,th:first-child{text-align:left}\n"
                  "svg text{font-family:sans-serif;font-size:12px}\n"
                  "dt{font-weight:bold;float:left;clear:left;width:10em}dd{margin-left:11em}\n"
                  "</style></head><body>\n<h1>");
    sb_html(&b, title);
    strbuf_printf(&b, "</h1>\n<dl>\n");
    for (int i = 0; i < in->nmeta; i++) {
        strbuf_printf(&b, "<dt>");
        sb_html(&b, in->meta[i].key);
        strbuf_printf(&b, "</dt><dd>");
        sb_html(&b, in->meta[i].value);
        strbuf_printf(&b, "</dd>\n");
    }
    strbuf_printf(&b, "</dl>\n<h2>Accuracy over training time</h2>\n"
                  "<p>Mean over repetitions; dashed line: target accuracy %.4f (%s).</p>\n",
              in->target_accuracy, in->target_given ? "given" : in->scratch_arm >= 0
                  ? "best accuracy of the scratch arm" : "best accuracy of any arm");
    html_chart(&b, in);
    strbuf_printf(&b, "<h2>Summary</h2>\n<table>\n<tr><th>arm</th><th>reps</th>"
                  "<th>final accuracy</th><th>seconds to target</th>"
                  "<th>%% training time saved</th></tr>\n");
    for (int a = 0; a < in->narms && !st; a++) {
        report_arm_summary s;
        st = summarize(in, a, &s, err, errlen);
        if (st) break;
        strbuf_printf(&b, "<tr><td>");
        sb_html(&b, in->arms[a].name);
        strbuf_printf(&b, "</td><td>%d</td><td>%.4f &#177; %.4f</td>", s.nreps, s.acc_mean,
                  s.acc_std);
        if (s.nreached == 0) strbuf_printf(&b, "<td>not reached</td>");
        else if (s.nreached < s.nreps)
            strbuf_printf(&b, "<td>%.2f &#177; %.2f (%d/%d reps)</td>", s.t_mean, s.t_std,
                      s.nreached, s.nreps);
        else strbuf_printf(&b, "<td>%.2f &#177; %.2f</td>", s.t_mean, s.t_std);
        if (s.has_saved) strbuf_printf(&b, "<td>%.1f%%</td></tr>\n", s.saved_pct);
        else strbuf_printf(&b, "<td>%s</td></tr>\n", s.nreached < s.nreps ? "not reached" : "n/a");
    }
    if (in->nclasses > 0) {
        strbuf_printf(&b, "</table>\n<h2>Confusion matrix");
        if (in->confusion_arm) {
            strbuf_printf(&b, " (");
            sb_html(&b, in->confusion_arm);
            strbuf_printf(&b, ")");
        }
        strbuf_printf(&b, "</h2>\n");
        html_confusion(&b, in);
    } else {
        strbuf_printf(&b, "</table>\n");
    }
    strbuf_printf(&b, "</body></html>\n");
    if (st) {
        free(b.s);
        return st;
    }
    return sb_write(&b, path, err, errlen);
}

/* ------------------------------------------------------------ CSV */

graft_status report_write_csv(const report_input *in, const char *prefix, char *err,
                              size_t errlen)
{
    graft_status st = report_validate(in, err, errlen);
    if (st) return st;
    if (!prefix) return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "report: NULL prefix");
    size_t pl = strlen(prefix) + sizeof "-summary.csv";
    char *path = malloc(pl);
    if (!path) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "report: out of memory");
    strbuf b = {0};
    strbuf_printf(&b, "arm,rep,epoch,seconds,accuracy\n");
    for (int a = 0; a < in->narms; a++)
        for (int r = 0; r < in->arms[a].nreps; r++) {
            const report_rep *rep = &in->arms[a].reps[r];
            for (int i = 0; i < rep->npoints; i++) {
                sb_csv(&b, in->arms[a].name);
                strbuf_printf(&b, ",%d,%d,%.9g,%.9g\n", r, rep->points[i].epoch,
                          rep->points[i].seconds, rep->points[i].accuracy);
            }
        }
    snprintf(path, pl, "%s.csv", prefix);
    st = sb_write(&b, path, err, errlen);
    if (!st) {
        strbuf_printf(&b, "arm,reps,final_accuracy_mean,final_accuracy_std,reps_reaching_target,"
                      "seconds_to_target_mean,seconds_to_target_std,time_saved_percent\n");
        for (int a = 0; a < in->narms && !st; a++) {
            report_arm_summary s;
            st = summarize(in, a, &s, err, errlen);
            if (st) break;
            sb_csv(&b, in->arms[a].name);
            strbuf_printf(&b, ",%d,%.9g,%.9g,%d,", s.nreps, s.acc_mean, s.acc_std, s.nreached);
            if (s.nreached) strbuf_printf(&b, "%.9g,%.9g,", s.t_mean, s.t_std);
            else strbuf_printf(&b, ",,");
            if (s.has_saved) strbuf_printf(&b, "%.9g", s.saved_pct);
            strbuf_printf(&b, "\n");
        }
        snprintf(path, pl, "%s-summary.csv", prefix);
        if (st) free(b.s);
        else st = sb_write(&b, path, err, errlen);
    }
    free(path);
    return st;
}

/* ------------------------------------------------------------ terminal */

graft_status report_print_summary(const report_input *in, FILE *f, char *err, size_t errlen)
{
    graft_status st = report_validate(in, err, errlen);
    if (st) return st;
    if (!f) return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "report: NULL stream");
    int w = 3;
    for (int a = 0; a < in->narms; a++) {
        int l = (int)strlen(in->arms[a].name);
        if (l > w) w = l;
    }
    const char *sname = in->scratch_arm >= 0 ? in->arms[in->scratch_arm].name : "scratch";
    char tname[160]; /* how the lines below name the target */
    if (in->target_given) snprintf(tname, sizeof tname, "the target");
    else snprintf(tname, sizeof tname, "%s's best", sname);
    report_arm_summary ss = {0};
    if (in->scratch_arm >= 0 && (st = summarize(in, in->scratch_arm, &ss, err, errlen))) return st;
    fprintf(f, "%-*s  %4s  %-17s  %-19s  %s\n", w, "arm", "reps", "final accuracy",
            "seconds to target", "time saved");
    for (int a = 0; a < in->narms; a++) {
        report_arm_summary s;
        if ((st = summarize(in, a, &s, err, errlen))) return st;
        char t[64], sv[32];
        if (s.nreached == 0) snprintf(t, sizeof t, "not reached");
        else if (s.nreached < s.nreps)
            snprintf(t, sizeof t, "%.1f +- %.1f (%d/%d)", s.t_mean, s.t_std, s.nreached, s.nreps);
        else snprintf(t, sizeof t, "%.1f +- %.1f", s.t_mean, s.t_std);
        if (s.has_saved) snprintf(sv, sizeof sv, "%.1f%%", s.saved_pct);
        else snprintf(sv, sizeof sv, "%s", s.nreached < s.nreps ? "not reached" : "n/a");
        fprintf(f, "%-*s  %4d  %.4f +- %.4f  %-19s  %s\n", w, in->arms[a].name, s.nreps,
                s.acc_mean, s.acc_std, t, sv);
    }
    for (int a = 0; a < in->narms; a++) {
        report_arm_summary s;
        if ((st = summarize(in, a, &s, err, errlen))) return st;
        const char *nm = in->arms[a].name;
        if (s.has_saved)
            fprintf(f, "%s: reaches %s %.4f in %.1f s vs %.1f s: %.1f%% time saved\n", nm,
                    tname, in->target_accuracy, s.t_mean, ss.t_mean, s.saved_pct);
        else if (s.nreached < s.nreps)
            fprintf(f, "%s: %s %s %.4f (%d/%d repetitions reach it): no time saved\n", nm,
                    s.nreached ? "does not always reach" : "never reaches", tname,
                    in->target_accuracy, s.nreached, s.nreps);
        else
            fprintf(f, "%s: reaches %s %.4f in %.1f s; time saved n/a (%s)\n", nm, tname,
                    in->target_accuracy, s.t_mean,
                    in->scratch_arm < 0 ? "no scratch arm" : "scratch does not always reach it");
    }
    if (ferror(f)) return error_set(err, errlen, GRAFT_ERR_IO, "report: writing the summary failed");
    return GRAFT_OK;
}
