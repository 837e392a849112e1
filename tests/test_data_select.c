/* Class selection, per-class sampling, stratified split, k-fold, channel
 * statistics and normalisation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "graft_data.h"
#include "testutil.h"

static const int counts[5] = {10, 23, 7, 50, 3};

/* Images 2x3x2 whose first value encodes the sample index (never zero). */
static dataset *make(void)
{
    dataset *d;
    char err[256];
    const char *names[5] = {"a", "b", "c", "d", "e"};
    ck_assert(dataset_create(2, 3, 2, 5, names, &d, err, sizeof err) == GRAFT_OK);
    tu_rng r = {7};
    int i = 0;
    /* interleave classes so that order matters */
    int left[5];
    memcpy(left, counts, sizeof left);
    for (int round = 0; round < 50; round++)
        for (int c = 0; c < 5; c++)
            if (left[c]-- > 0) {
                float img[12];
                tu_fill(&r, img, 12, 0.1f, 0.9f);
                img[0] = (float)(i + 1);
                ck_assert(dataset_append(d, img, c, NULL, err, sizeof err) == GRAFT_OK);
                i++;
            }
    ck_assert_int_eq(d->n, 93);
    return d;
}

START_TEST(select_classes)
{
    dataset *d = make(), *s;
    char err[256];
    int cls[2] = {3, 1};
    ck_assert_msg(dataset_select_classes(d, cls, 2, &s, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert_int_eq(s->n, 73);
    ck_assert_int_eq(s->nclasses, 2);
    ck_assert_str_eq(s->class_names[0], "d");
    ck_assert_str_eq(s->class_names[1], "b");
    int j = 0;
    for (int i = 0; i < d->n; i++) {
        if (d->y[i] != 3 && d->y[i] != 1) continue;
        ck_assert_int_eq(s->y[j], d->y[i] == 3 ? 0 : 1);
        ck_assert_mem_eq(dataset_image(s, j), dataset_image(d, i), 12 * sizeof(float));
        j++;
    }
    dataset_free(s);
    int dup[2] = {1, 1}, oob[1] = {5};
    ck_assert_int_eq(dataset_select_classes(d, dup, 2, &s, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    ck_assert_int_eq(dataset_select_classes(d, oob, 1, &s, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    dataset_free(d);
}
END_TEST

/* Classes meet a model's by name; by index only when one side is
 * nameless; numeric names on both sides match as names. */
START_TEST(class_match)
{
    dataset *d = make(), *r;
    char err[256];
    graft_class_match m;
    const char *model[4] = {"x", "d", "a", "c"};
    ck_assert(graft_class_match_names(model, 4, d, &m, err, sizeof err) == GRAFT_OK);
    ck_assert_int_eq(m.by_name, 1);
    const int to[5] = {2, -1, 3, 1, -1};
    ck_assert_mem_eq(m.to_model, to, sizeof to);
    ck_assert_int_eq(m.nunknown, 2);
    ck_assert_int_eq(m.unknown[0], 1);
    ck_assert_int_eq(m.unknown[1], 4);
    ck_assert_int_eq(m.nabsent, 1);
    ck_assert_int_eq(m.absent[0], 0);
    int dropped = 0;
    ck_assert(graft_dataset_relabel(d, &m, model, &r, &dropped, err, sizeof err) == GRAFT_OK);
    ck_assert_int_eq(dropped, counts[1] + counts[4]);
    ck_assert_int_eq(r->nclasses, 4);
    ck_assert_str_eq(r->class_names[1], "d");
    int j = 0;
    for (int i = 0; i < d->n; i++) {
        if (to[d->y[i]] < 0) continue;
        ck_assert_int_eq(r->y[j], to[d->y[i]]);
        ck_assert_mem_eq(dataset_image(r, j), dataset_image(d, i), 12 * sizeof(float));
        j++;
    }
    ck_assert_int_eq(j, r->n);
    dataset_free(r);
    graft_class_match_free(&m);
    /* a nameless model: by position, classes past its outputs unknown */
    ck_assert(graft_class_match_names(NULL, 3, d, &m, err, sizeof err) == GRAFT_OK);
    ck_assert_int_eq(m.by_name, 0);
    ck_assert_int_eq(m.data_named, 1);
    ck_assert_int_eq(m.model_named, 0);
    ck_assert_int_eq(m.to_model[2], 2);
    ck_assert_int_eq(m.nunknown, 2);
    graft_class_match_free(&m);
    dataset_free(d);
    /* "5","7" (a selection of unnamed data) against "0".."9": by name */
    const char *sel[2] = {"5", "7"}, *digits[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    ck_assert(dataset_create(1, 1, 1, 2, sel, &d, err, sizeof err) == GRAFT_OK);
    ck_assert(graft_class_match_names(digits, 10, d, &m, err, sizeof err) == GRAFT_OK);
    ck_assert_int_eq(m.by_name, 1);
    ck_assert_int_eq(m.to_model[0], 5);
    ck_assert_int_eq(m.to_model[1], 7);
    ck_assert_int_eq(m.nabsent, 8);
    graft_class_match_free(&m);
    /* a match made for another dataset is refused */
    dataset *e = make();
    ck_assert(graft_class_match_names(digits, 10, e, &m, err, sizeof err) == GRAFT_OK);
    ck_assert_int_eq(m.by_name, 0);
    ck_assert_int_eq(graft_dataset_relabel(d, &m, digits, &r, NULL, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    graft_class_match_free(&m);
    dataset_free(e);
    dataset_free(d);
}
END_TEST

static int first_ids_equal(const dataset *a, const dataset *b)
{
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (dataset_image(a, i)[0] != dataset_image(b, i)[0]) return 0;
    return 1;
}

START_TEST(per_class)
{
    dataset *d = make(), *a, *b, *c;
    char err[256];
    ck_assert(dataset_per_class(d, 5, 11, &a, err, sizeof err) == GRAFT_OK);
    ck_assert(dataset_per_class(d, 5, 11, &b, err, sizeof err) == GRAFT_OK);
    ck_assert(dataset_per_class(d, 5, 12, &c, err, sizeof err) == GRAFT_OK);
    int h[5];
    dataset_class_counts(a, h);
    for (int k = 0; k < 5; k++) ck_assert_int_eq(h[k], counts[k] < 5 ? counts[k] : 5);
    ck_assert(first_ids_equal(a, b));
    ck_assert(!first_ids_equal(a, c));
    /* original order kept, labels consistent with the source */
    for (int i = 0; i < a->n; i++) {
        int id = (int)dataset_image(a, i)[0] - 1;
        ck_assert_int_eq(a->y[i], d->y[id]);
        if (i) ck_assert(dataset_image(a, i)[0] > dataset_image(a, i - 1)[0]);
    }
    dataset_free(a);
    dataset_free(b);
    dataset_free(c);
    dataset_free(d);
}
END_TEST

START_TEST(split)
{
    dataset *d = make();
    char err[256];
    unsigned char f1[93], f2[93], f3[93];
    ck_assert(dataset_split_stratified(d, 0.2, 5, f1, err, sizeof err) == GRAFT_OK);
    ck_assert(dataset_split_stratified(d, 0.2, 5, f2, err, sizeof err) == GRAFT_OK);
    ck_assert(dataset_split_stratified(d, 0.2, 6, f3, err, sizeof err) == GRAFT_OK);
    ck_assert_mem_eq(f1, f2, 93);
    ck_assert(memcmp(f1, f3, 93) != 0);
    int nv[5] = {0};
    for (int i = 0; i < 93; i++) nv[d->y[i]] += f1[i];
    /* round(count * 0.2), at least one of each class on both sides */
    int want[5] = {2, 5, 1, 10, 1};
    for (int k = 0; k < 5; k++) ck_assert_msg(nv[k] == want[k], "class %d: %d in val", k, nv[k]);
    dataset *tr, *va;
    ck_assert(dataset_split(d, 0.2, 5, &tr, &va, err, sizeof err) == GRAFT_OK);
    ck_assert_int_eq(tr->n + va->n, 93);
    ck_assert_int_eq(va->n, 19);
    /* disjoint and complete: the ids cover 1..93 once */
    int seen[94] = {0};
    for (int i = 0; i < tr->n; i++) seen[(int)dataset_image(tr, i)[0]]++;
    for (int i = 0; i < va->n; i++) seen[(int)dataset_image(va, i)[0]]++;
    for (int i = 1; i <= 93; i++) ck_assert_int_eq(seen[i], 1);
    dataset_free(tr);
    dataset_free(va);
    ck_assert_int_eq(dataset_split_stratified(d, 1.0, 5, f1, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    dataset_free(d);
}
END_TEST

START_TEST(kfold)
{
    dataset *d = make();
    char err[256];
    for (int k = 2; k <= 7; k++) {
        int fold[93], fold2[93];
        ck_assert(dataset_kfold(d, k, 3, fold, err, sizeof err) == GRAFT_OK);
        ck_assert(dataset_kfold(d, k, 3, fold2, err, sizeof err) == GRAFT_OK);
        ck_assert_mem_eq(fold, fold2, sizeof fold);
        int cnt[7][5] = {{0}}, tot[7] = {0};
        for (int i = 0; i < 93; i++) {
            ck_assert(fold[i] >= 0 && fold[i] < k);
            cnt[fold[i]][d->y[i]]++;
            tot[fold[i]]++;
        }
        for (int c = 0; c < 5; c++) {
            int lo = 1 << 30, hi = -1;
            for (int f = 0; f < k; f++) {
                if (cnt[f][c] < lo) lo = cnt[f][c];
                if (cnt[f][c] > hi) hi = cnt[f][c];
            }
            ck_assert_msg(hi - lo <= 1, "k=%d class %d: fold counts %d..%d", k, c, lo, hi);
        }
        int lo = 1 << 30, hi = -1;
        for (int f = 0; f < k; f++) {
            if (tot[f] < lo) lo = tot[f];
            if (tot[f] > hi) hi = tot[f];
        }
        ck_assert_msg(hi - lo <= 1, "k=%d fold sizes %d..%d", k, lo, hi);
    }
    int fold[93];
    ck_assert_int_eq(dataset_kfold(d, 1, 3, fold, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    dataset_free(d);
}
END_TEST

START_TEST(stats)
{
    dataset *d = make();
    float mean[2], std[2];
    /* the index-coded first value dominates; use a copy without it */
    for (int i = 0; i < d->n; i++) d->x[(size_t)i * 12] = 0.5f;
    dataset_channel_stats(d, mean, std);
    for (int c = 0; c < 2; c++) {
        double s = 0, s2 = 0, n = 0;
        for (int i = 0; i < d->n; i++)
            for (int j = 0; j < 6; j++) {
                double v = d->x[(size_t)i * 12 + c * 6 + j];
                s += v;
                s2 += v * v;
                n++;
            }
        double m = s / n, sd = sqrt(s2 / n - m * m);
        ck_assert_msg(fabs(mean[c] - m) < 1e-6 && fabs(std[c] - sd) < 1e-6, "ch %d: %g %g vs %g %g", c, mean[c],
                      std[c], m, sd);
        ck_assert(sd > 0.1);
    }
    float *copy = malloc((size_t)d->n * 12 * sizeof *copy);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, d->x, (size_t)d->n * 12 * sizeof *copy);
    for (int i = 0; i < d->n; i++) preprocess_normalize(d->x + (size_t)i * 12, 2, 6, mean, std);
    float m2[2], s2[2];
    dataset_channel_stats(d, m2, s2);
    for (int c = 0; c < 2; c++) {
        ck_assert(fabs(m2[c]) < 1e-5);
        ck_assert(fabs(s2[c] - 1) < 1e-4);
    }
    free(copy);
    dataset_free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("data_select");
    TCase *tc = tcase_create("select");
    tcase_add_test(tc, select_classes);
    tcase_add_test(tc, class_match);
    tcase_add_test(tc, per_class);
    tcase_add_test(tc, split);
    tcase_add_test(tc, kfold);
    tcase_add_test(tc, stats);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
