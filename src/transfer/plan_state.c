#define _POSIX_C_SOURCE 200809L
#include "plan_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "graft_data.h"
#include "strbuf.h"

plan_job_key plan_job_key_of(const graft_plan *p, int j)
{
    int per_target = p->narms * p->nseeds;
    plan_job_key k = {j / per_target, p->arms[(j / p->nseeds) % p->narms],
                      p->seed + (uint64_t)(j % p->nseeds)};
    return k;
}

void plan_job_path(const char *dir, const graft_plan *p, plan_job_key key, char *out, size_t n)
{
    snprintf(out, n, "%s/%s_%s_s%llu.job", dir, p->targets[key.target].name,
             graft_arm_name(key.arm), (unsigned long long)key.seed);
}

/* One line: newlines in a message would split it. */
static void one_line(const char *s, char *out, size_t n)
{
    snprintf(out, n, "%s", s);
    for (char *c = out; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
}

graft_status plan_job_write(const char *dir, const graft_plan *p, const plan_job_record *r,
                            char *err, size_t errlen)
{
    strbuf b = {0};
    char msg[1024], dev[256];
    one_line(r->error, msg, sizeof msg);
    one_line(r->device, dev, sizeof dev);
    strbuf_printf(&b, "graft-plan-job 1\ntarget %s\narm %s\nseed %llu\nstatus %d\ndevice %s\n"
                  "error %s\nimages %d %d\nfinal %.17g\nbest %.17g\n",
                  p->targets[r->key.target].name, graft_arm_name(r->key.arm),
                  (unsigned long long)r->key.seed, (int)r->status, dev, msg, r->ntrain, r->nval,
                  r->run.final_accuracy, r->run.best_accuracy);
    for (int e = 0; e < r->run.npoints; e++)
        strbuf_printf(&b, "point %d %.17g %.17g\n", r->run.points[e].epoch, r->run.points[e].seconds,
                      r->run.points[e].accuracy);
    char path[2048];
    plan_job_path(dir, p, r->key, path, sizeof path);
    graft_status s = b.oom ? error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of memory")
                           : graft_file_write_atomic(path, b.s, b.n, err, errlen);
    free(b.s);
    return s;
}

void plan_job_record_free(plan_job_record *r)
{
    if (!r) return;
    free(r->run.points);
    memset(r, 0, sizeof *r);
}

graft_status plan_job_read(const char *dir, const graft_plan *p, plan_job_key key,
                           plan_job_record *r)
{
    memset(r, 0, sizeof *r);
    char path[2048];
    plan_job_path(dir, p, key, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) return GRAFT_ERR_IO;
    r->key = key;
    r->run.arm = key.arm;
    r->run.seed = key.seed;
    r->run.seconds_to_target = -1;
    char line[2048];
    int ok = fgets(line, sizeof line, f) && !strcmp(line, "graft-plan-job 1\n"), status = -1, cap = 0;
    while (ok && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        int e, st;
        double sec, acc;
        if (sscanf(line, "status %d", &st) == 1) {
            status = st;
        } else if (!strncmp(line, "device ", 7)) {
            snprintf(r->device, sizeof r->device, "%.250s", line + 7);
        } else if (!strncmp(line, "error ", 6)) {
            snprintf(r->error, sizeof r->error, "%.1000s", line + 6);
        } else if (sscanf(line, "images %d %d", &r->ntrain, &r->nval) == 2 ||
                   sscanf(line, "final %lf", &r->run.final_accuracy) == 1 ||
                   sscanf(line, "best %lf", &r->run.best_accuracy) == 1) {
            /* read */
        } else if (sscanf(line, "point %d %lf %lf", &e, &sec, &acc) == 3) {
            if (r->run.npoints == cap) {
                cap = cap ? 2 * cap : 16;
                graft_compare_point *np = realloc(r->run.points, sizeof *np * (size_t)cap);
                if (!np) {
                    ok = 0;
                    break;
                }
                r->run.points = np;
            }
            r->run.points[r->run.npoints++] = (graft_compare_point){e, sec, acc};
        }
    }
    fclose(f);
    if (!ok || status < 0) {
        plan_job_record_free(r);
        return GRAFT_ERR_FORMAT;
    }
    r->status = (graft_status)status;
    return GRAFT_OK;
}
