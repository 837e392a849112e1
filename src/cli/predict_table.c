#include "predict_table.h"

#include <stdio.h>
#include <string.h>

#include "modelcli.h"

#define CMD "graft predict"


graft_status predict_table_row(void *user, const graft_prediction *p)
{
    predict_table *s = user;
    char nb[32];
    if (p->error) {
        fprintf(stderr, CMD ": %s%s\n", s->skip_bad ? "skipped: " : "", p->error);
        return GRAFT_OK;
    }
    if (s->table) {
        printf("%-*s", s->pw, p->path);
        for (int r = 0; r < p->top; r++)
            printf("  %-*s  %6.4f", s->lw, cli_class_name(s->meta, p->classes[r], nb, sizeof nb),
                   (double)p->probs[r]);
        printf("\n");
    }
    if (s->csv) {
        tb_csv_field(&s->tb, p->path);
        for (int r = 0; r < p->top; r++) {
            tb_printf(&s->tb, ",");
            tb_csv_field(&s->tb, cli_class_name(s->meta, p->classes[r], nb, sizeof nb));
            tb_printf(&s->tb, ",%.6f", (double)p->probs[r]);
        }
        tb_printf(&s->tb, "\n");
    }
    s->done++;
    return GRAFT_OK;
}

void predict_table_header(predict_table *s, char **paths, int n, int K, int top)
{
    char nb[32];
    s->pw = 4;
    s->lw = 5;
    for (int i = 0; i < n; i++) {
        int L = (int)strlen(paths[i]);
        if (L > s->pw) s->pw = L > 60 ? 60 : L;
    }
    for (int k = 0; k < K; k++) {
        int L = (int)strlen(cli_class_name(s->meta, k, nb, sizeof nb));
        if (L > s->lw) s->lw = L > 24 ? 24 : L;
    }
    tb_printf(&s->tb, "path,label,prob");
    for (int r = 2; r <= top; r++) tb_printf(&s->tb, ",rank%d_label,rank%d_prob", r, r);
    tb_printf(&s->tb, "\n");
    if (!s->table) return;
    printf("%-*s  %-*s  %6s", s->pw, "path", s->lw, "label", "prob");
    for (int r = 2; r <= top; r++) {
        char l[16], q[16];
        snprintf(l, sizeof l, "label%d", r);
        snprintf(q, sizeof q, "prob%d", r);
        printf("  %-*s  %6s", s->lw, l, q);
    }
    printf("\n");
}
