/* The report of a graft_compare result: per-arm aggregates, the HTML page
 * and CSV files, and the terminal summary, all through report.c. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graft_transfer.h"
#include "report.h"

/* report.c's input borrowing r's numbers; arrays owned by the view. */
typedef struct report_view {
    report_input in;
    report_arm *arms;
    report_rep *reps;
    report_point *points;
    report_kv *kv;
    char **names; /* class indices as names, when none are given */
} report_view;

static void view_free(report_view *v)
{
    for (int i = 0; v->names && i < v->in.nclasses; i++) free(v->names[i]);
    free(v->names);
    free(v->arms);
    free(v->reps);
    free(v->points);
    free(v->kv);
    memset(v, 0, sizeof *v);
}

static graft_status view_make(const graft_compare_result *r, const graft_report_kv *meta,
                              int nmeta, const char *const *class_names, report_view *v,
                              char *err, size_t errlen)
{
    memset(v, 0, sizeof *v);
    int nruns = r->narms * r->nseeds, npts = 0;
    for (int i = 0; i < nruns; i++) npts += r->runs[i].npoints;
    v->arms = calloc((size_t)(r->narms > 0 ? r->narms : 1), sizeof *v->arms);
    v->reps = calloc((size_t)(nruns > 0 ? nruns : 1), sizeof *v->reps);
    v->points = calloc((size_t)(npts > 0 ? npts : 1), sizeof *v->points);
    v->kv = calloc((size_t)(nmeta > 0 ? nmeta : 1), sizeof *v->kv);
    int K = r->confusion ? r->nclasses : 0;
    if (K && !class_names) v->names = calloc((size_t)K, sizeof *v->names);
    int oom = !v->arms || !v->reps || !v->points || !v->kv || (K && !class_names && !v->names);
    for (int k = 0; !oom && v->names && k < K; k++)
        if (!(v->names[k] = malloc(16))) oom = 1;
        else snprintf(v->names[k], 16, "%d", k);
    if (oom) {
        v->in.nclasses = K;
        view_free(v);
        if (err && errlen) snprintf(err, errlen, "report: out of memory");
        return GRAFT_ERR_HOST_MEMORY;
    }
    report_point *p = v->points;
    for (int i = 0; i < nruns; i++) {
        const graft_compare_run *run = &r->runs[i];
        for (int e = 0; e < run->npoints; e++)
            p[e] = (report_point){run->points[e].epoch, run->points[e].seconds,
                                  run->points[e].accuracy};
        v->reps[i] = (report_rep){p, run->npoints, run->final_accuracy, run->seconds_to_target};
        p += run->npoints;
    }
    for (int a = 0; a < r->narms; a++)
        v->arms[a] = (report_arm){graft_arm_name(r->runs[a * r->nseeds].arm),
                                  &v->reps[a * r->nseeds], r->nseeds};
    for (int i = 0; i < nmeta; i++) v->kv[i] = (report_kv){meta[i].key, meta[i].value};
    v->in = (report_input){NULL, v->kv, nmeta, v->arms, r->narms, r->scratch_arm,
                           r->target_accuracy,
                           r->best_arm >= 0 && r->best_arm < r->narms ? v->arms[r->best_arm].name
                                                                      : NULL,
                           K, class_names ? class_names : (const char *const *)v->names,
                           r->confusion};
    return GRAFT_OK;
}

graft_status graft_compare_summarize(const graft_compare_result *r, int arm,
                                     graft_compare_summary *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    report_view v;
    graft_status s = view_make(r, NULL, 0, NULL, &v, err, errlen);
    if (s != GRAFT_OK) return s;
    report_arm_summary rs;
    if (arm < 0 || arm >= r->narms) {
        if (err && errlen) snprintf(err, errlen, "report: arm %d outside [0, %d)", arm, r->narms);
        s = GRAFT_ERR_INVALID_ARG;
    } else if ((s = report_summarize(&v.in, arm, &rs, err, errlen)) == GRAFT_OK) {
        *out = (graft_compare_summary){rs.nreps, rs.acc_mean, rs.acc_std, rs.nreached, rs.t_mean,
                                       rs.t_std, rs.has_saved, rs.saved_pct};
    }
    view_free(&v);
    return s;
}

graft_status graft_compare_write_report(const graft_compare_result *r, const char *title,
                                        const graft_report_kv *meta, int nmeta,
                                        const char *const *class_names, const char *prefix,
                                        char *err, size_t errlen)
{
    report_view v;
    graft_status s = view_make(r, meta, nmeta, class_names, &v, err, errlen);
    if (s != GRAFT_OK) return s;
    v.in.title = title;
    size_t n = strlen(prefix) + 8;
    char *html = malloc(n);
    if (!html) {
        if (err && errlen) snprintf(err, errlen, "report: out of memory");
        s = GRAFT_ERR_HOST_MEMORY;
    } else {
        snprintf(html, n, "%s.html", prefix);
        s = report_write_html(&v.in, html, err, errlen);
        if (s == GRAFT_OK) s = report_write_csv(&v.in, prefix, err, errlen);
    }
    free(html);
    view_free(&v);
    return s;
}

graft_status graft_compare_summary_text(const graft_compare_result *r, char **text, char *err,
                                        size_t errlen)
{
    *text = NULL;
    report_view v;
    graft_status s = view_make(r, NULL, 0, NULL, &v, err, errlen);
    if (s != GRAFT_OK) return s;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        if (err && errlen) snprintf(err, errlen, "report: out of memory");
        s = GRAFT_ERR_HOST_MEMORY;
    } else {
        s = report_print_summary(&v.in, f, err, errlen);
        if (fclose(f) && s == GRAFT_OK) {
            if (err && errlen) snprintf(err, errlen, "report: out of memory");
            s = GRAFT_ERR_HOST_MEMORY;
        }
    }
    view_free(&v);
    if (s != GRAFT_OK) free(buf);
    else *text = buf;
    return s;
}
