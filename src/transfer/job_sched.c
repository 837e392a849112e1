/* Job scheduler: a mutex-guarded next-job counter shared by slot threads. */
#define _POSIX_C_SOURCE 200809L
#include "job_sched.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sched {
    const job_sched_config *cfg;
    const job_sched_ops *ops;
    void *user;
    pthread_mutex_t mu;
    int next;
    int stop;         /* a failure without keep_going */
    job_sched_result *res;
} sched;

typedef struct slot_arg {
    sched *s;
    int slot;
} slot_arg;

/* The next job to run, or -1; marks skipped ones done. Under the lock. */
static int take_job(sched *s)
{
    while (!s->stop && s->next < s->cfg->njobs) {
        int j = s->next++;
        if (s->cfg->skip && s->cfg->skip[j]) continue;
        return j;
    }
    return -1;
}

static void record(sched *s, int job, graft_status st, const char *err)
{
    job_sched_result *r = s->res;
    r->ran++;
    if (st != GRAFT_OK) {
        r->failed++;
        if (r->first_failed < 0) {
            r->first_failed = job;
            r->first_status = st;
            snprintf(r->first_err, sizeof r->first_err, "%s", err);
        }
        if (!s->cfg->keep_going) s->stop = 1;
    }
    if (s->ops->done) s->ops->done(s->user, job, st, err);
}

static void *slot_main(void *arg)
{
    slot_arg *a = arg;
    sched *s = a->s;
    void *state = NULL;
    char err[1024] = "";
    if (s->ops->open) {
        graft_status st = s->ops->open(s->user, a->slot, &state, err, sizeof err);
        if (st != GRAFT_OK) {
            pthread_mutex_lock(&s->mu);
            s->res->slots_failed++;
            if (!s->res->first_err[0]) {
                s->res->first_status = st;
                snprintf(s->res->first_err, sizeof s->res->first_err, "%s", err);
            }
            pthread_mutex_unlock(&s->mu);
            return NULL;
        }
    }
    pthread_mutex_lock(&s->mu);
    s->res->slots_used++;
    for (;;) {
        int j = take_job(s);
        if (j < 0) break;
        pthread_mutex_unlock(&s->mu);
        err[0] = '\0';
        graft_status st = s->ops->run(s->user, a->slot, state, j, err, sizeof err);
        pthread_mutex_lock(&s->mu);
        record(s, j, st, err);
    }
    pthread_mutex_unlock(&s->mu);
    if (s->ops->close) s->ops->close(s->user, a->slot, state);
    return NULL;
}

graft_status job_sched_run(const job_sched_config *cfg, const job_sched_ops *ops, void *user,
                           job_sched_result *res)
{
    memset(res, 0, sizeof *res);
    res->first_failed = -1;
    sched s = {cfg, ops, user, PTHREAD_MUTEX_INITIALIZER, 0, 0, res};
    int nslots = cfg->nslots > 1 ? cfg->nslots : 1;
    if (nslots == 1) {
        slot_arg a = {&s, 0};
        slot_main(&a);
    } else {
        pthread_t *th = calloc((size_t)nslots, sizeof *th);
        slot_arg *a = calloc((size_t)nslots, sizeof *a);
        int started = 0;
        for (int t = 0; th && a && t < nslots; t++) {
            a[t] = (slot_arg){&s, t};
            if (pthread_create(&th[t], NULL, slot_main, &a[t])) break;
            started++;
        }
        for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
        free(th);
        free(a);
        if (started == 0) {
            snprintf(res->first_err, sizeof res->first_err, "cannot start a thread");
            return GRAFT_ERR_INTERNAL;
        }
    }
    pthread_mutex_destroy(&s.mu);
    if (res->slots_used == 0 && res->slots_failed > 0) return res->first_status;
    return GRAFT_OK;
}
