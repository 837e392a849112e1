/* What graft cv, selftrain and score print and write around their library
 * calls: the per-fold, per-round and per-score lines, the ranking table,
 * and their CSV and JSON result files. Files are written atomically; the
 * writers print "cmd: path: reason" and return non-zero on failure. */
#ifndef GRAFT_CLI_WORKFLOW_FILES_H
#define GRAFT_CLI_WORKFLOW_FILES_H
#include "console.h"
#include "graft_transfer.h"

/* cv: a fold row of the table (on_fold; user: NULL, or the console whose
 * live progress line is cleared first). */
void cv_print_fold(void *user, int f, const graft_cv_fold *r);
/* cv: --csv and --json (either path may be NULL). */
int cv_write_files(const char *csv, const char *json, const graft_cv_result *r,
                   const char *strategy, const graft_dataset *d, int seed);

/* selftrain: one line per round (on_round; user = round_printer *). */
typedef struct round_printer {
    const char *eval_name;
    int nlabelled, nclasses;
    console *con;   /* its live progress line is cleared first; may be NULL */
} round_printer;
void selftrain_print_round(void *user, const graft_selftrain_round *r);
int selftrain_write_json(const char *path, const graft_selftrain_result *r, float threshold,
                         int cap, int npool, int nlab, const char *out);

/* score: log lines and per-score lines on stderr (user = console *, its
 * live progress line cleared first; when quiet only warnings are printed),
 * the ranking table on stdout, --csv and --json (either may be NULL). */
void score_on_log(void *user, graft_log_level level, const char *msg);
void score_on_row(void *user, const graft_score_row *r);
void score_print_table(const graft_score_result *r, const char *data);
int score_write_files(const graft_score_result *r, const char *data, const char *csv,
                      const char *json);
#endif
