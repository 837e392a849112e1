/* What graft compare prints and writes around graft_compare: the --arms
 * list, the lines before and after each run, and the report files with
 * their header (data, settings, device) and the terminal summary. */
#ifndef GRAFT_CLI_COMPARE_REPORT_H
#define GRAFT_CLI_COMPARE_REPORT_H
#include "graft_transfer.h"
#include "trainopts.h"

/* Parses "scratch,linear-probe,finetune" into arms[GRAFT_ARM_COUNT];
 * prints why and returns non-zero when the list is bad. */
int compare_parse_arms(const char *cmd, const char *s, graft_arm *arms, int *narms);

/* The partial arm's cut: --freeze-until (a name or an index; NULL = the
 * default cut), checked to be a graph cut; -1 after printing why. */
int compare_partial_cut(const char *cmd, const char *freeze_s, graft_model *src, const char *from);

/* The per-run lines (user = compare_ui *). */
typedef struct compare_ui {
    int quiet;
    const char *eval_name;
} compare_ui;
void compare_on_begin(void *user, graft_arm arm, uint64_t seed, int run, int nruns);
void compare_on_end(void *user, const graft_compare_run *r);

/* What the report's header says about the run. */
typedef struct compare_setup {
    const char *from, *source_arch;
    const train_opts *to;
    int seed;
    const graft_dataset *train, *eval;
    const char *eval_name;
    const graft_model *src; /* names the partial arm's cut */
    const char *device;
} compare_setup;

/* Writes PREFIX.html, PREFIX.csv, PREFIX-summary.csv, then prints the
 * summary and where the report is. Returns 0, or 1 after printing why. */
int compare_report(const char *cmd, const graft_compare_result *r, const compare_setup *cs,
                   const char *prefix);
#endif
