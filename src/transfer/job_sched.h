/* The job scheduler of cv's folds, compare's arms x seeds and plan run's
 * target x strategy x seed jobs: jobs handed out in index order to slots
 * (one thread and usually one device each), one job per slot at a time. */
#ifndef GRAFT_TRANSFER_JOB_SCHED_H
#define GRAFT_TRANSFER_JOB_SCHED_H
#include <stddef.h>

#include "graft.h"

typedef struct job_sched_ops {
    /* Prepares slot (a context on its device, a copy of the source) on the
     * slot's own thread; *state is handed to run and close. NULL = none. A
     * slot that fails to open takes no jobs; with no slot open, the run
     * fails with that message. */
    graft_status (*open)(void *user, int slot, void **state, char *err, size_t errlen);
    void (*close)(void *user, int slot, void *state);
    /* Runs job on slot; a failure's message goes to err. */
    graft_status (*run)(void *user, int slot, void *state, int job, char *err, size_t errlen);
    /* After each job (done = 1) or a skipped one, under the scheduler's
     * lock (never two at once); may be NULL. */
    void (*done)(void *user, int job, graft_status s, const char *err);
} job_sched_ops;

typedef struct job_sched_config {
    int njobs;
    int nslots;      /* 1: every job on the calling thread, in order */
    int keep_going;  /* 0: no new job after the first failure; 1: run all */
    const unsigned char *skip; /* njobs flags (may be NULL): jobs not to run */
} job_sched_config;

typedef struct job_sched_result {
    int ran, failed;          /* jobs run, of which failed */
    int first_failed;         /* job index of the first failure, -1 = none */
    graft_status first_status;
    char first_err[1024];     /* its message ("" = none); also a slot's open failure */
    int slots_used, slots_failed; /* slots that opened, that failed to */
} job_sched_result;

/* Runs the jobs; GRAFT_OK when the scheduling itself worked (jobs may have
 * failed: see res), else the status of a failure to start (no thread, no
 * slot could open) with its message in res->first_err. */
graft_status job_sched_run(const job_sched_config *cfg, const job_sched_ops *ops, void *user,
                           job_sched_result *res);
#endif
