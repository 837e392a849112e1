/* Pseudo-label selection: threshold, per-class cap, confidence order,
 * tie-breaking, determinism and edge cases against a brute-force rule. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pseudolabel.h"
#include "testutil.h"

/* Random softmax rows; confidences quantised to 1/64 so ties occur. */
static float *make_probs(tu_rng *r, int n, int C)
{
    float *P = malloc((size_t)n * C * sizeof *P);
    ck_assert_ptr_nonnull(P);
    for (int i = 0; i < n; i++) {
        double e[16], s = 0;
        for (int k = 0; k < C; k++) s += e[k] = exp(4 * tu_uniform(r));
        for (int k = 0; k < C; k++) P[i * C + k] = roundf((float)(e[k] / s) * 64) / 64;
    }
    return P;
}

static void argmax(const float *p, int C, int *lab, float *conf)
{
    int b = 0;
    for (int k = 1; k < C; k++)
        if (p[k] > p[b]) b = k;
    *lab = b, *conf = p[b];
}

/* Brute-force: sample i is selected iff it passes the threshold and fewer
 * than cap same-class candidates beat it (higher conf, or equal conf and a
 * lower index). */
static void check_rule(const float *P, int n, int C, float thr, int cap,
                       const pseudolabel_result *r)
{
    int *sel = calloc((size_t)n, sizeof *sel), *cnt = calloc((size_t)C, sizeof *cnt);
    ck_assert(sel && cnt);
    for (int j = 0; j < r->n; j++) {
        ck_assert(j == 0 || r->indices[j] > r->indices[j - 1]);
        sel[r->indices[j]] = 1;
        int lab;
        float conf;
        argmax(P + (size_t)r->indices[j] * C, C, &lab, &conf);
        ck_assert_int_eq(r->labels[j], lab);
        ck_assert(r->confidence[j] == conf);
        ck_assert(conf >= thr);
        cnt[lab]++;
    }
    for (int k = 0; k < C; k++) {
        ck_assert_int_eq(cnt[k], r->per_class[k]);
        if (cap) ck_assert_int_le(cnt[k], cap);
    }
    for (int i = 0; i < n; i++) {
        int li;
        float ci;
        argmax(P + (size_t)i * C, C, &li, &ci);
        int want = 0;
        if (ci >= thr) {
            int better = 0;
            for (int j = 0; j < n; j++) {
                int lj;
                float cj;
                argmax(P + (size_t)j * C, C, &lj, &cj);
                if (lj == li && cj >= thr && (cj > ci || (cj == ci && j < i))) better++;
            }
            want = cap == 0 || better < cap;
        }
        ck_assert_msg(sel[i] == want, "sample %d (class %d conf %g): selected %d, want %d", i,
                      li, (double)ci, sel[i], want);
    }
    free(sel);
    free(cnt);
}

START_TEST(pseudolabel_threshold_and_cap_exact)
{
    int n = 400, C = 5;
    tu_rng rng = {3};
    float *P = make_probs(&rng, n, C);
    const float thr[] = {0.0f, 0.3f, 0.5f, 0.6f};
    const int caps[] = {0, 1, 7, 30, 1000};
    char err[256];
    for (size_t a = 0; a < sizeof thr / sizeof thr[0]; a++)
        for (size_t b = 0; b < sizeof caps / sizeof caps[0]; b++) {
            pseudolabel_result r;
            ck_assert_int_eq(pseudolabel_select(P, n, C, thr[a], caps[b], &r, err, sizeof err),
                             GRAFT_OK);
            check_rule(P, n, C, thr[a], caps[b], &r);
            if (caps[b] == 7 && thr[a] == 0.3f)
                for (int k = 0; k < C; k++) ck_assert_int_eq(r.per_class[k], 7); /* cap binds */
            pseudolabel_result_free(&r);
        }
    free(P);
}
END_TEST

START_TEST(pseudolabel_most_confident_and_ties)
{
    /* class 0 candidates: 1 (0.9), 2 (0.8), 3 (0.9), 4 (0.95); cap 2 keeps
     * 4 (0.95) and 1 (0.9, beats 3 by index). */
    const float P[] = {
        0.3f, 0.7f,  /* 0: class 1, 0.7 */
        0.9f, 0.1f,  /* 1 */
        0.8f, 0.2f,  /* 2 */
        0.9f, 0.1f,  /* 3 */
        0.95f, 0.05f, /* 4 */
        0.5f, 0.5f,  /* 5: tie between classes -> class 0, 0.5 < threshold */
    };
    pseudolabel_result r, r2;
    char err[256];
    ck_assert_int_eq(pseudolabel_select(P, 6, 2, 0.6f, 2, &r, err, sizeof err), GRAFT_OK);
    ck_assert_int_eq(r.n, 3);
    ck_assert_int_eq(r.indices[0], 0);
    ck_assert_int_eq(r.labels[0], 1);
    ck_assert_int_eq(r.indices[1], 1);
    ck_assert_int_eq(r.labels[1], 0);
    ck_assert_int_eq(r.indices[2], 4);
    ck_assert_int_eq(r.labels[2], 0);
    ck_assert_int_eq(r.per_class[0], 2);
    ck_assert_int_eq(r.per_class[1], 1);
    /* deterministic: same call, same answer */
    ck_assert_int_eq(pseudolabel_select(P, 6, 2, 0.6f, 2, &r2, err, sizeof err), GRAFT_OK);
    ck_assert_int_eq(r.n, r2.n);
    ck_assert(!memcmp(r.indices, r2.indices, r.n * sizeof *r.indices));
    ck_assert(!memcmp(r.labels, r2.labels, r.n * sizeof *r.labels));
    pseudolabel_result_free(&r2);
    pseudolabel_result_free(&r);
    /* threshold 0.5: the class tie of sample 5 resolves to class 0 */
    ck_assert_int_eq(pseudolabel_select(P, 6, 2, 0.5f, 0, &r, err, sizeof err), GRAFT_OK);
    ck_assert_int_eq(r.n, 6);
    ck_assert_int_eq(r.labels[5], 0);
    pseudolabel_result_free(&r);
}
END_TEST

START_TEST(pseudolabel_edge_cases)
{
    const float P[] = {1.0f, 0.0f, 0.0f, 0.99f, 0.01f, 0.0f, 0.0f, 0.0f, 1.0f};
    pseudolabel_result r;
    char err[256];
    /* threshold 1.0: only exact ones */
    ck_assert_int_eq(pseudolabel_select(P, 3, 3, 1.0f, 0, &r, err, sizeof err), GRAFT_OK);
    ck_assert_int_eq(r.n, 2);
    ck_assert_int_eq(r.indices[0], 0);
    ck_assert_int_eq(r.indices[1], 2);
    ck_assert_int_eq(r.labels[1], 2);
    pseudolabel_result_free(&r);
    /* empty result: all rows below the threshold */
    const float Q[] = {0.4f, 0.35f, 0.25f, 0.2f, 0.3f, 0.5f};
    ck_assert_int_eq(pseudolabel_select(Q, 2, 3, 0.9f, 5, &r, err, sizeof err), GRAFT_OK);
    ck_assert_int_eq(r.n, 0);
    ck_assert_ptr_nonnull(r.per_class);
    ck_assert_int_eq(r.per_class[0] + r.per_class[1] + r.per_class[2], 0);
    pseudolabel_result_free(&r);
    pseudolabel_result_free(&r); /* twice is harmless */
    /* empty pool */
    ck_assert_int_eq(pseudolabel_select(NULL, 0, 3, 0.5f, 0, &r, err, sizeof err), GRAFT_OK);
    ck_assert_int_eq(r.n, 0);
    pseudolabel_result_free(&r);
    /* errors */
    ck_assert_int_eq(pseudolabel_select(Q, 2, 3, 0.5f, -1, &r, err, sizeof err),
                     GRAFT_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "cap"));
    ck_assert_int_eq(pseudolabel_select(Q, 2, 3, 1.5f, 0, &r, err, sizeof err),
                     GRAFT_ERR_INVALID_ARG);
    ck_assert_int_eq(pseudolabel_select(Q, 2, 3, NAN, 0, &r, NULL, 0), GRAFT_ERR_INVALID_ARG);
    const float N[] = {0.5f, NAN, 0.5f};
    ck_assert_int_eq(pseudolabel_select(N, 1, 3, 0.5f, 0, &r, err, sizeof err),
                     GRAFT_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "not finite"));
    ck_assert_ptr_null(r.indices);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pseudolabel");
    TCase *tc = tcase_create("pseudolabel");
    tcase_add_test(tc, pseudolabel_threshold_and_cap_exact);
    tcase_add_test(tc, pseudolabel_most_confident_and_ties);
    tcase_add_test(tc, pseudolabel_edge_cases);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
