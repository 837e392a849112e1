/* graft plan run PLAN: every target x strategy x seed job of a plan file on
 * the listed devices (one job per device at a time; graft_plan_run),
 * resumable, then the summary tables (graft_plan_write_summary). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "device_list.h"
#include "graft_transfer.h"
#include "mpi_comm.h"
#include "progress.h"

#define CMD "graft plan"

static double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct plan_ui {
    int quiet, done, total, skipped;
    double t0, busy;  /* wall start; summed job seconds of this run */
    int slots;
} plan_ui;

static void on_job(void *user, const graft_plan_job *j)
{
    plan_ui *ui = user;
    ui->done++;
    if (j->skipped) {
        ui->skipped++;
        if (!ui->quiet)
            printf("[%d/%d] %s %s seed %llu: done before (%.2f%%), skipped\n", ui->done, ui->total,
                   j->target, graft_arm_name(j->arm), (unsigned long long)j->seed,
                   100 * j->final_accuracy);
        fflush(stdout);
        return;
    }
    /* ETA: the wall time per job so far, times the jobs left. */
    double el = cli_now() - ui->t0;
    int ran = ui->done - ui->skipped, left = ui->total - ui->done;
    char eta[32] = "";
    if (ran > 0 && left > 0) {
        char d[24];
        format_duration(el / ran * left, d, sizeof d);
        snprintf(eta, sizeof eta, ", ETA %s", d);
    }
    if (j->status != GRAFT_OK)
        printf("[%d/%d] %s %s seed %llu: FAILED: %s%s\n", ui->done, ui->total, j->target,
               graft_arm_name(j->arm), (unsigned long long)j->seed, j->error, eta);
    else if (!ui->quiet)
        printf("[%d/%d] %s %s seed %llu: %.2f%% after %.1f s of training on %s%s\n", ui->done,
               ui->total, j->target, graft_arm_name(j->arm), (unsigned long long)j->seed,
               100 * j->final_accuracy, j->seconds, j->device ? j->device : "?", eta);
    fflush(stdout);
}

/* The plan file's keys with the library's defaults. */
static void plan_keys_help(void)
{
    graft_plan d = graft_plan_defaults();
    printf("\nplan file: one 'key value' per line, '#' starts a comment:\n"
           "  source MODEL            pretrained .graft model (required)\n"
           "  strategies LIST         scratch, linear-probe, finetune, partial, gradual, recipe "
           "(default ");
    for (int a = 0; a < d.narms; a++) printf("%s%s", a ? "," : "", graft_arm_name(d.arms[a]));
    printf(")\n"
           "  seeds N                 seeds per strategy (default %d)\n"
           "  seed N                  first seed (default %llu)\n"
           "  epochs N                per job (default %d)\n"
           "  batch N                 (default %d)\n"
           "  lr F                    scratch (default %g)\n"
           "  lr-transfer F           finetune, partial, gradual (default %g)\n"
           "  lr-probe F              linear-probe (default %g)\n"
           "  target NAME data=SPEC [classes=LIST] [per-class=N] [split=F]\n"
           "                          one per target; split = validation fraction (default 0.25)\n",
           d.nseeds, (unsigned long long)d.seed, d.epochs, d.batch, (double)d.lr_scratch,
           (double)d.lr_transfer, (double)d.lr_probe);
}

/* PLAN minus its extension, plus "-run". */
static void default_state_dir(const char *plan, char *out, size_t n)
{
    const char *slash = strrchr(plan, '/'), *dot = strrchr(plan, '.');
    size_t len = dot && (!slash || dot > slash) ? (size_t)(dot - plan) : strlen(plan);
    snprintf(out, n, "%.*s-run", (int)len, plan);
}

int cmd_plan(int argc, char **argv)
{
    const char *devices = NULL, *out = NULL, *device = NULL;
    int quiet = 0, summary_only = 0;
    opt opts[] = {
        {"devices", OPT_STRING, &devices, "LIST", "run jobs concurrently, one per device: 0,1 or "
         "all (default: --device alone)", 0, 0},
        {"device", OPT_STRING, &device, "SEL", "OpenCL device when --devices is not given "
         "(default: $GRAFT_DEVICE, else first GPU, else CPU)", 0, 0},
        {"out", OPT_STRING, &out, "DIR", "state and report folder (default: PLAN without its "
         "extension, plus -run)", 0, 0},
        {"summary-only", OPT_FLAG, &summary_only, NULL, "run nothing: rewrite the summary from "
         "the finished jobs", 0, 0},
        {"quiet", OPT_FLAG, &quiet, NULL, "print only failures and the summary", 0, 0},
    };
    cmd_spec spec = {"graft plan run PLAN [--devices LIST] [--out DIR] [OPTIONS]",
                     "Runs every target x strategy x seed job of a plan file (format: docs/cli.md,\n"
                     "graft plan) on the listed devices, one job per device at a time. Each job\n"
                     "fine-tunes (or trains from scratch) on the target's training split and\n"
                     "evaluates on its validation split after every epoch. A failed job (a\n"
                     "broken dataset, a diverging run) is reported and the others go on; every\n"
                     "finished job is a file in DIR, so rerunning the command resumes: finished\n"
                     "jobs are skipped, failed ones run again. At the end DIR/summary.csv,\n"
                     "DIR/summary.html and DIR/jobs.csv hold the accuracy and time saved against\n"
                     "scratch per target and strategy. Exit status 1 when a job failed. Under\n"
                     "mpirun the ranks share the jobs (DIR must be shared); rank 0 writes the\n"
                     "summary.",
                     opts, (int)(sizeof opts / sizeof opts[0]), 1};
    if (argc < 2 || strcmp(argv[1], "run")) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            args_help(&spec);
            plan_keys_help();
            return 0;
        }
        fprintf(stderr, CMD ": expected 'graft plan run PLAN' (see graft plan run --help)\n");
        return EXIT_USAGE;
    }
    const char *path = NULL;
    int rc = args_parse_one(&spec, argc - 1, argv + 1, &path);
    if (rc == 1) plan_keys_help();
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if (!path) {
        fprintf(stderr, CMD ": expected one plan file (graft plan run PLAN)\n");
        return EXIT_USAGE;
    }
    device_list dl = {0};
    if (devices && device_list_parse(CMD, devices, &dl)) return EXIT_USAGE;
    char err[2048], dir[1024];
    graft_plan *p = NULL;
    if (graft_plan_load(path, &p, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, CMD ": %s\n", err);
        return 1;
    }
    if (out) snprintf(dir, sizeof dir, "%s", out);
    else default_state_dir(path, dir, sizeof dir);
    mpi_comm *mc = mpi_comm_world();
    int rank = mc ? mpi_comm_rank(mc) : 0, nranks = mc ? mpi_comm_size(mc) : 1;
    int status = 1, any_failed = 0;
    plan_ui ui = {quiet || rank > 0, 0, graft_plan_num_jobs(p), 0, cli_now(), 0, dl.n ? dl.n : 1};
    if (!summary_only) {
        if (!ui.quiet)
            printf(CMD ": %d jobs (%d targets x %d strategies x %d seeds), %d epochs each, on %d "
                   "device%s%s; state in %s\n", ui.total, p->ntargets, p->narms, p->nseeds,
                   p->epochs, ui.slots, ui.slots > 1 ? "s" : "", nranks > 1 ? " per rank" : "", dir);
        fflush(stdout);
        graft_ctx_params cp;
        if (cli_ctx_params(CMD, device, &cp)) goto done;
        graft_plan_run_config rc2 = {dir, dl.n ? dl.dev : NULL, dl.n, &cp, rank, nranks, on_job, &ui};
        graft_plan_run_result res;
        ui.total = 0;
        for (int j = 0; j < graft_plan_num_jobs(p); j++) ui.total += j % nranks == rank;
        if (graft_plan_run(p, &rc2, &res, err, sizeof err) != GRAFT_OK) {
            fprintf(stderr, CMD ": %s\n", err);
            if (mc) mpi_comm_abort(mc, 1);
            goto done;
        }
        if (!ui.quiet || res.failed)
            printf(CMD ": %d jobs ran (%d failed), %d finished before, in %.1f s\n", res.ran,
                   res.failed, res.skipped, cli_now() - ui.t0);
        any_failed = res.failed > 0;
        if (mc) mpi_comm_barrier(mc); /* every rank's job files are in */
    }
    if (rank == 0) {
        char *text = NULL;
        if (graft_plan_write_summary(p, dir, &text, err, sizeof err) != GRAFT_OK) {
            fprintf(stderr, CMD ": summary: %s\n", err);
            goto done;
        }
        printf("%s", text);
        graft_free(text);
        printf("wrote %s/summary.csv, %s/summary.html and %s/jobs.csv\n", dir, dir, dir);
    }
    /* Failed jobs are reported and written; the status says some did. */
    status = any_failed ? 1 : 0;
done:
    graft_plan_free(p);
    return status;
}
