/* What graft predict prints and writes per image: a table on stdout
 * (path, label, probability, and the next classes) and/or CSV text. */
#ifndef GRAFT_CLI_PREDICT_TABLE_H
#define GRAFT_CLI_PREDICT_TABLE_H
#include "graft_eval.h"
#include "textbuf.h"

typedef struct predict_table {
    const graft_model_meta *meta;
    int table;        /* print the table (not with --csv -) */
    int pw, lw;       /* path and label column widths */
    int skip_bad;     /* unreadable files are "skipped: " */
    int done;         /* images predicted */
    const char *csv;  /* NULL: no CSV */
    textbuf tb;       /* the CSV text */
} predict_table;

/* Column widths from the paths and class names, the table's header line,
 * the CSV's header row. */
void predict_table_header(predict_table *s, char **paths, int n, int K, int top);
/* A graft_prediction_fn (user = predict_table *): a row, or the file's
 * error on stderr. */
graft_status predict_table_row(void *user, const graft_prediction *p);
#endif
