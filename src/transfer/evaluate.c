/* The public evaluation API (graft_eval.h): metrics of a model on a
 * labelled dataset, and per-class precision, recall and F1. */
#include <string.h>

#include "ctx.h"
#include "graft_eval.h"
#include "model.h"
#include "train.h"

void graft_eval_result_free(graft_eval_result *r) { eval_result_free(r); }

graft_status graft_evaluate(graft_model *m, const graft_dataset *d, const float *mean,
                            const float *std, int batch, int want_probs, graft_eval_result *out)
{
    char err[2048] = "";
    graft_status s = evaluate(m, d, mean, std, batch, want_probs, out, err, sizeof err);
    return s == GRAFT_OK ? s : ctx_fail(m->ctx, s, "%s", err[0] ? err : graft_status_name(s));
}

void graft_eval_class_metrics(const graft_eval_result *r, graft_class_metrics *per_class,
                              graft_class_metrics *macro, graft_class_metrics *weighted)
{
    int K = r->classes, present = 0;
    graft_class_metrics ma, we;
    memset(&ma, 0, sizeof ma);
    memset(&we, 0, sizeof we);
    for (int c = 0; c < K; c++) {
        long tp = r->confusion[(size_t)c * K + c], row = 0, col = 0;
        for (int k = 0; k < K; k++) {
            row += r->confusion[(size_t)c * K + k];
            col += r->confusion[(size_t)k * K + c];
        }
        graft_class_metrics m;
        /* No predictions / no samples: 0, as scikit-learn reports it. */
        m.precision = col ? (double)tp / col : 0;
        m.recall = row ? (double)tp / row : 0;
        m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0;
        m.support = row;
        m.predicted = col;
        if (per_class) per_class[c] = m;
        if (row) {
            present++;
            ma.precision += m.precision;
            ma.recall += m.recall;
            ma.f1 += m.f1;
            we.precision += m.precision * row;
            we.recall += m.recall * row;
            we.f1 += m.f1 * row;
        }
        ma.support += row;
    }
    /* Averages over the classes that occur in the data. */
    if (present) {
        ma.precision /= present;
        ma.recall /= present;
        ma.f1 /= present;
    }
    if (ma.support) {
        we.precision /= (double)ma.support;
        we.recall /= (double)ma.support;
        we.f1 /= (double)ma.support;
    }
    we.support = ma.support;
    if (macro) *macro = ma;
    if (weighted) *weighted = we;
}
