/* A plan's state on disk: one job file per finished job in the state
 * folder, written atomically, so that an interrupted or partly failed plan
 * resumes by skipping the jobs whose file says they succeeded. */
#ifndef GRAFT_TRANSFER_PLAN_STATE_H
#define GRAFT_TRANSFER_PLAN_STATE_H
#include <stddef.h>

#include "graft_transfer.h"

typedef struct plan_job_key {
    int target;
    graft_arm arm;
    uint64_t seed;
} plan_job_key;

/* Job j of p (graft_plan_num_jobs's order). */
plan_job_key plan_job_key_of(const graft_plan *p, int j);

typedef struct plan_job_record {
    plan_job_key key;
    graft_status status;
    char error[1024];
    char device[256];
    int ntrain, nval;
    graft_compare_run run;  /* points owned (plan_job_record_free) after plan_job_read */
} plan_job_record;

/* STATE_DIR/TARGET_ARM_sSEED.job */
void plan_job_path(const char *dir, const graft_plan *p, plan_job_key key, char *out, size_t n);
/* Writes r's job file atomically. */
graft_status plan_job_write(const char *dir, const graft_plan *p, const plan_job_record *r,
                            char *err, size_t errlen);
/* Reads key's job file: GRAFT_OK, GRAFT_ERR_IO when there is none,
 * GRAFT_ERR_FORMAT when it does not parse (treated as not finished). */
graft_status plan_job_read(const char *dir, const graft_plan *p, plan_job_key key,
                           plan_job_record *r);
void plan_job_record_free(plan_job_record *r);
#endif
