/* Table-driven option parsing shared by every sub-command, so each one gets
 * the same --help layout, value checks and exit code 2 on bad usage. */
#ifndef GRAFT_ARGS_H
#define GRAFT_ARGS_H

/* OPT_BATCH: an OPT_INT that also takes "auto", stored as 0. */
typedef enum opt_type { OPT_FLAG, OPT_INT, OPT_FLOAT, OPT_STRING, OPT_BATCH } opt_type;

typedef struct opt {
    const char *name;   /* long name without dashes: "epochs" */
    opt_type type;
    void *ptr;          /* int* (FLAG, INT), float* (FLOAT), const char ** (STRING) */
    const char *metavar;/* "N", "PATH"; NULL for flags */
    const char *help;   /* "{}" is replaced by the starting value in --help */
    double min, max;    /* range for INT/FLOAT when min < max */
} opt;

typedef struct cmd_spec {
    const char *usage;       /* "graft train [OPTIONS]" */
    const char *description; /* paragraph printed under the usage line */
    const opt *opts;
    int nopts;
    int max_positional;      /* positional arguments allowed (e.g. images) */
} cmd_spec;

/* Parses argv[1..]; positional arguments are collected in *pos (argv
 * pointers, caller frees the array). Returns 0 on success, 1 when --help
 * was printed (caller exits 0), 2 on a usage error (message printed). */
int args_parse(const cmd_spec *spec, int argc, char **argv, char ***pos, int *npos);
/* args_parse for a command that takes one positional argument: *arg is it
 * (borrowed from argv), or NULL when there is none or more than one.
 * Returns as args_parse. */
int args_parse_one(const cmd_spec *spec, int argc, char **argv, const char **arg);
void args_help(const cmd_spec *spec);
/* Splits a comma-separated option value in place ("0,1" -> "0", "1"):
 * items[] points into s. Returns the count, or -1 when an item is empty
 * or there are more than max. */
int args_split_list(char *s, const char **items, int max);
/* For --help-defaults (a developer check): compares every "(default X)" in
 * the option help with the value the option table starts from (before
 * parsing), prints each mismatch and a summary on stdout, and returns 1
 * when any differs. "(default: prose)" is not checked; "off"/"none" mean 0
 * or no value. args_parse runs it for --help-defaults (exit 0 when all
 * agree, 2 otherwise). */
int args_check_defaults(const cmd_spec *spec);
#endif
