/* A plan's summary (graft_plan_write_summary): the job files of the state
 * folder gathered per target into a graft_compare_result, whose aggregates
 * and time to target are compare's; tables as CSV, HTML and text. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "graft_data.h"
#include "plan_state.h"
#include "strbuf.h"
#include "transfer.h"

/* One target's jobs: the runs in compare's arm-major order. */
typedef struct target_jobs {
    plan_job_record *rec; /* narms * nseeds */
    int *have;            /* 1 read, 0 missing */
    int done, failed, missing;
} target_jobs;

static void html_text(strbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '<') strbuf_printf(b, "&lt;");
        else if (*s == '>') strbuf_printf(b, "&gt;");
        else if (*s == '&') strbuf_printf(b, "&amp;");
        else if (*s == '"') strbuf_printf(b, "&quot;");
        else strbuf_put(b, s, 1);
    }
}

/* A CSV field: quoted, quotes doubled. */
static void csv_text(strbuf *b, const char *s)
{
    strbuf_put(b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"') strbuf_put(b, "\"", 1);
        strbuf_put(b, s, 1);
    }
    strbuf_put(b, "\"", 1);
}

static graft_status read_target(const char *dir, const graft_plan *p, int t, target_jobs *tj)
{
    int n = p->narms * p->nseeds;
    memset(tj, 0, sizeof *tj);
    tj->rec = calloc((size_t)n, sizeof *tj->rec);
    tj->have = calloc((size_t)n, sizeof *tj->have);
    if (!tj->rec || !tj->have) return GRAFT_ERR_HOST_MEMORY;
    for (int i = 0; i < n; i++) {
        plan_job_key key = plan_job_key_of(p, t * n + i);
        tj->have[i] = plan_job_read(dir, p, key, &tj->rec[i]) == GRAFT_OK;
        if (!tj->have[i]) tj->missing++;
        else if (tj->rec[i].status == GRAFT_OK) tj->done++;
        else tj->failed++;
    }
    return GRAFT_OK;
}

static void free_target(const graft_plan *p, target_jobs *tj)
{
    for (int i = 0; tj->rec && i < p->narms * p->nseeds; i++) plan_job_record_free(&tj->rec[i]);
    free(tj->rec);
    free(tj->have);
}

/* The compare view of a complete target (runs borrow the records' points). */
static graft_compare_result as_compare(const graft_plan *p, const target_jobs *tj,
                                       graft_compare_run *runs)
{
    graft_compare_result r = {0};
    r.narms = p->narms;
    r.nseeds = p->nseeds;
    r.runs = runs;
    r.freeze_until = -1;
    r.scratch_arm = -1;
    for (int a = 0; a < p->narms; a++) {
        if (p->arms[a] == GRAFT_ARM_SCRATCH) r.scratch_arm = a;
        for (int s = 0; s < p->nseeds; s++) {
            runs[a * p->nseeds + s] = tj->rec[a * p->nseeds + s].run;
            runs[a * p->nseeds + s].arm_index = a;
        }
    }
    compare_time_to_target(&r, 0);
    return r;
}

graft_status graft_plan_write_summary(const graft_plan *p, const char *dir, char **text, char *err,
                                      size_t errlen)
{
    if (text) *text = NULL;
    strbuf csv = {0}, jobs = {0}, html = {0}, txt = {0};
    strbuf_printf(&csv, "target,strategy,jobs,done,failed,acc_mean,acc_std,target_accuracy,"
                        "seconds_to_target,time_saved_pct\n");
    strbuf_printf(&jobs, "target,strategy,seed,status,final_accuracy,best_accuracy,"
                         "train_seconds,train_images,val_images,device,error\n");
    strbuf_printf(&html, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>graft plan "
                         "summary</title><style>body{font-family:sans-serif;margin:2em}"
                         "table{border-collapse:collapse;margin-bottom:2em}td,th{border:1px solid "
                         "#ccc;padding:4px 8px;text-align:right}td.l,th.l{text-align:left}"
                         ".fail{color:#b00}</style></head><body>\n<h1>graft plan: %d targets x %d "
                         "strategies x %d seeds</h1>\n<p>%d epochs, batch %d, source ",
                  p->ntargets, p->narms, p->nseeds, p->epochs, p->batch);
    html_text(&html, p->source);
    strbuf_printf(&html, "</p>\n"
                         "<table><tr><th class=l>target</th><th class=l>strategy</th><th>done</th>"
                         "<th>failed</th><th>final accuracy</th><th>target</th><th>seconds to "
                         "target</th><th>time saved</th></tr>\n");
    strbuf_printf(&txt, "%-16s %-13s %5s %6s %17s %8s %10s %10s\n", "target", "strategy", "done",
                  "failed", "accuracy", "target", "s to tgt", "time saved");
    graft_status s = GRAFT_OK;
    strbuf failures = {0};
    for (int t = 0; s == GRAFT_OK && t < p->ntargets; t++) {
        const char *name = p->targets[t].name;
        target_jobs tj;
        if ((s = read_target(dir, p, t, &tj)) != GRAFT_OK) {
            free_target(p, &tj);
            error_set(err, errlen, s, "out of memory");
            break;
        }
        int complete = tj.done == p->narms * p->nseeds;
        graft_compare_run *runs = calloc((size_t)(p->narms * p->nseeds), sizeof *runs);
        graft_compare_result cr = {0};
        if (complete && runs) cr = as_compare(p, &tj, runs);
        for (int a = 0; a < p->narms; a++) {
            int done = 0, failed = 0;
            double mean = 0, var = 0;
            for (int si = 0; si < p->nseeds; si++) {
                const plan_job_record *r = &tj.rec[a * p->nseeds + si];
                if (!tj.have[a * p->nseeds + si]) continue;
                if (r->status != GRAFT_OK) {
                    failed++;
                    continue;
                }
                done++;
                mean += r->run.final_accuracy;
            }
            if (done) mean /= done;
            for (int si = 0; si < p->nseeds; si++) {
                const plan_job_record *r = &tj.rec[a * p->nseeds + si];
                if (tj.have[a * p->nseeds + si] && r->status == GRAFT_OK)
                    var += (r->run.final_accuracy - mean) * (r->run.final_accuracy - mean);
            }
            double sd = done > 1 ? __builtin_sqrt(var / (done - 1)) : 0;
            graft_compare_summary sum = {0};
            int have_sum = complete && runs &&
                           graft_compare_summarize(&cr, a, &sum, NULL, 0) == GRAFT_OK;
            const char *arm = graft_arm_name(p->arms[a]);
            char tgt[32] = "", tsec[32] = "", saved[32] = "";
            if (have_sum) {
                snprintf(tgt, sizeof tgt, "%.4f", cr.target_accuracy);
                if (sum.nreached == sum.nreps) snprintf(tsec, sizeof tsec, "%.2f", sum.t_mean);
                if (sum.has_saved) snprintf(saved, sizeof saved, "%.1f", sum.saved_pct);
            }
            char accs[64] = "", accc[64] = ",";
            if (done) {
                snprintf(accs, sizeof accs, "%.2f%% &plusmn; %.2f", 100 * mean, 100 * sd);
                snprintf(accc, sizeof accc, "%.6f,%.6f", mean, sd);
            }
            strbuf_printf(&csv, "%s,%s,%d,%d,%d,%s,%s,%s,%s\n", name, arm, p->nseeds, done, failed,
                          accc, tgt, tsec, saved);
            strbuf_printf(&html, "<tr><td class=l>");
            if (complete) strbuf_printf(&html, "<a href=\"%s.html\">%s</a>", name, name);
            else html_text(&html, name);
            strbuf_printf(&html, "</td><td class=l>%s</td><td>%d/%d</td><td%s>%d</td><td>%s</td>"
                          "<td>%s</td><td>%s</td><td>%s%s</td></tr>\n", arm, done, p->nseeds,
                          failed ? " class=fail" : "", failed, accs, tgt, tsec, saved,
                          saved[0] ? "%" : "");
            char acc[40];
            snprintf(acc, sizeof acc, "%.2f%% +- %.2f", 100 * mean, 100 * sd);
            strbuf_printf(&txt, "%-16s %-13s %2d/%-2d %6d %17s %8s %10s %9s%s\n", name, arm, done,
                          p->nseeds, failed, done ? acc : "-", tgt[0] ? tgt : "-",
                          tsec[0] ? tsec : "-", saved[0] ? saved : "-", saved[0] ? "%" : "");
        }
        for (int i = 0; i < p->narms * p->nseeds; i++) {
            const plan_job_record *r = &tj.rec[i];
            plan_job_key key = plan_job_key_of(p, t * p->narms * p->nseeds + i);
            const char *arm = graft_arm_name(key.arm);
            if (!tj.have[i]) {
                strbuf_printf(&jobs, "%s,%s,%llu,not run,,,,,,,\n", name, arm,
                              (unsigned long long)key.seed);
                continue;
            }
            double secs = r->run.npoints ? r->run.points[r->run.npoints - 1].seconds : 0;
            strbuf_printf(&jobs, "%s,%s,%llu,%s,%.6f,%.6f,%.3f,%d,%d,", name, arm,
                          (unsigned long long)key.seed, r->status == GRAFT_OK ? "ok" : "failed",
                          r->run.final_accuracy, r->run.best_accuracy, secs, r->ntrain, r->nval);
            csv_text(&jobs, r->device);
            strbuf_put(&jobs, ",", 1);
            csv_text(&jobs, r->error);
            strbuf_put(&jobs, "\n", 1);
            if (r->status != GRAFT_OK) {
                strbuf_printf(&failures, "<tr><td class=l>%s</td><td class=l>%s</td><td>%llu</td>"
                              "<td class=\"l fail\">", name, arm, (unsigned long long)key.seed);
                html_text(&failures, r->error);
                strbuf_printf(&failures, "</td></tr>\n");
                strbuf_printf(&txt, "failed: %s %s seed %llu: %s\n", name, arm,
                              (unsigned long long)key.seed, r->error);
            }
        }
        if (complete && runs) {
            /* The target's own compare report. */
            char prefix[2048], title[256];
            snprintf(prefix, sizeof prefix, "%s/%s", dir, name);
            snprintf(title, sizeof title, "graft plan: target %s", name);
            graft_report_kv kv[2] = {{"source", p->source}, {"data", p->targets[t].data}};
            s = graft_compare_write_report(&cr, title, kv, 2, NULL, prefix, err, errlen);
        }
        free(runs);
        free_target(p, &tj);
    }
    strbuf_printf(&html, "</table>\n");
    if (failures.n) {
        strbuf_printf(&html, "<h2>Failed jobs</h2>\n<table><tr><th class=l>target</th><th "
                             "class=l>strategy</th><th>seed</th><th class=l>error</th></tr>\n");
        strbuf_put(&html, failures.s, failures.n);
        strbuf_printf(&html, "</table>\n");
    }
    strbuf_printf(&html, "<p>Per job: <a href=\"jobs.csv\">jobs.csv</a>; per target: "
                         "<a href=\"summary.csv\">summary.csv</a>. Time saved: 100 (1 - t / "
                         "scratch's t) to the target accuracy (scratch's lowest best).</p>\n"
                         "</body></html>\n");
    if (s == GRAFT_OK && (csv.oom || jobs.oom || html.oom || txt.oom || failures.oom))
        s = error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of memory");
    char path[2048];
    if (s == GRAFT_OK) {
        snprintf(path, sizeof path, "%s/summary.csv", dir);
        s = graft_file_write_atomic(path, csv.s, csv.n, err, errlen);
    }
    if (s == GRAFT_OK) {
        snprintf(path, sizeof path, "%s/jobs.csv", dir);
        s = graft_file_write_atomic(path, jobs.s, jobs.n, err, errlen);
    }
    if (s == GRAFT_OK) {
        snprintf(path, sizeof path, "%s/summary.html", dir);
        s = graft_file_write_atomic(path, html.s, html.n, err, errlen);
    }
    if (s == GRAFT_OK && text) {
        *text = txt.s;
        txt.s = NULL;
    }
    free(csv.s);
    free(jobs.s);
    free(html.s);
    free(txt.s);
    free(failures.s);
    return s;
}
