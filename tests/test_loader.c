/* Prefetching loader: every index once per epoch with the right labels,
 * reproducible order, normalisation, augmentation, drop_last, subsets,
 * restarting mid-epoch; a shard reads only its slice of every batch, and
 * an image decoded on first use that does not decode ends the epoch with
 * -1 only for the shard that reads it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "testutil.h"

#define N 103
#define C 2
#define H 3
#define W 4
#define SZ (C * H * W)

/* every value of image i is 1 + i + 0.001 * position (never zero) */
static dataset *make(void)
{
    dataset *d;
    char err[256];
    ck_assert(dataset_create(C, H, W, 7, NULL, &d, err, sizeof err) == GRAFT_OK);
    for (int i = 0; i < N; i++) {
        float img[SZ];
        for (int j = 0; j < SZ; j++) img[j] = 1.0f + (float)i + 0.001f * (float)j;
        ck_assert(dataset_append(d, img, (i * 5) % 7, NULL, err, sizeof err) == GRAFT_OK);
    }
    return d;
}

/* runs one epoch, returns the order of sample ids */
static int run_epoch(loader *l, const dataset *d, uint64_t epoch, int *order, int batch, int drop_last)
{
    loader_start_epoch(l, epoch);
    const float *x;
    const int *y;
    int n, total = 0, nb = 0;
    while (loader_next(l, &x, &y, &n)) {
        ck_assert(n >= 1 && n <= batch);
        if (drop_last) ck_assert_int_eq(n, batch);
        for (int i = 0; i < n; i++) {
            int id = (int)lrintf(x[(size_t)i * SZ] - 1.0f);
            ck_assert(id >= 0 && id < N);
            ck_assert_int_eq(y[i], d->y[id]);
            ck_assert_mem_eq(x + (size_t)i * SZ, dataset_image(d, id), SZ * sizeof(float));
            order[total++] = id;
        }
        nb++;
    }
    ck_assert_int_eq(nb, loader_num_batches(l));
    ck_assert_int_eq(loader_next(l, &x, &y, &n), 0); /* stays at the end */
    return total;
}

START_TEST(every_index_once)
{
    dataset *d = make();
    char err[256];
    for (int nbuf = 0; nbuf <= 4; nbuf += 2) {
        loader_opts o = {0};
        o.batch = 10;
        o.seed = 17;
        o.shuffle = 1;
        o.nbuf = nbuf;
        loader *l;
        ck_assert_msg(loader_create(d, &o, &l, err, sizeof err) == GRAFT_OK, "%s", err);
        ck_assert_int_eq(loader_num_batches(l), 11);
        int a[N], b[N], c[N];
        for (int rep = 0; rep < 2; rep++) {
            ck_assert_int_eq(run_epoch(l, d, 0, a, 10, 0), N);
            ck_assert_int_eq(run_epoch(l, d, 1, b, 10, 0), N);
            ck_assert_int_eq(run_epoch(l, d, 0, c, 10, 0), N);
            ck_assert_mem_eq(a, c, sizeof a);     /* same seed, same epoch: same order */
            ck_assert(memcmp(a, b, sizeof a) != 0); /* next epoch: different order */
            int seen[N] = {0}, ident = 1;
            for (int i = 0; i < N; i++) {
                seen[a[i]]++;
                ident &= a[i] == i;
            }
            for (int i = 0; i < N; i++) ck_assert_int_eq(seen[i], 1);
            ck_assert(!ident);
        }
        loader_free(l);
    }
    /* another loader with the same seed gives the same order; no shuffle = identity */
    loader_opts o = {0};
    o.batch = 10;
    o.seed = 17;
    o.shuffle = 1;
    loader *l;
    int a[N], b[N];
    ck_assert(loader_create(d, &o, &l, err, sizeof err) == GRAFT_OK);
    run_epoch(l, d, 1, a, 10, 0);
    loader_free(l);
    ck_assert(loader_create(d, &o, &l, err, sizeof err) == GRAFT_OK);
    run_epoch(l, d, 1, b, 10, 0);
    ck_assert_mem_eq(a, b, sizeof a);
    loader_free(l);
    o.shuffle = 0;
    o.drop_last = 1;
    ck_assert(loader_create(d, &o, &l, err, sizeof err) == GRAFT_OK);
    ck_assert_int_eq(loader_num_batches(l), 10);
    ck_assert_int_eq(run_epoch(l, d, 0, a, 10, 1), 100);
    for (int i = 0; i < 100; i++) ck_assert_int_eq(a[i], i);
    loader_free(l);
    dataset_free(d);
}
END_TEST

START_TEST(restart_and_subset)
{
    dataset *d = make();
    char err[256];
    int idx[20];
    for (int i = 0; i < 20; i++) idx[i] = 100 - 5 * i;
    loader_opts o = {0};
    o.batch = 3;
    o.seed = 2;
    o.shuffle = 1;
    o.indices = idx;
    o.nindices = 20;
    loader *l;
    ck_assert_msg(loader_create(d, &o, &l, err, sizeof err) == GRAFT_OK, "%s", err);
    const float *x;
    const int *y;
    int n;
    ck_assert_int_eq(loader_next(l, &x, &y, &n), 0); /* no epoch started yet */
    /* abandon an epoch after one batch, several times */
    for (int e = 0; e < 5; e++) {
        loader_start_epoch(l, (uint64_t)e);
        ck_assert_int_eq(loader_next(l, &x, &y, &n), 1);
    }
    int order[N];
    ck_assert_int_eq(run_epoch(l, d, 9, order, 3, 0), 20);
    int seen[N] = {0};
    for (int i = 0; i < 20; i++) seen[order[i]]++;
    for (int i = 0; i < 20; i++) ck_assert_int_eq(seen[idx[i]], 1);
    loader_free(l);
    /* free right after starting an epoch (worker busy) */
    ck_assert(loader_create(d, &o, &l, err, sizeof err) == GRAFT_OK);
    loader_start_epoch(l, 0);
    loader_free(l);
    idx[3] = N;
    ck_assert_int_eq(loader_create(d, &o, &l, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    o.indices = NULL;
    o.nindices = 0;
    o.batch = 0;
    ck_assert_int_eq(loader_create(d, &o, &l, err, sizeof err), GRAFT_ERR_INVALID_ARG);
    dataset_free(d);
}
END_TEST

START_TEST(normalise_and_augment)
{
    dataset *d = make();
    char err[256];
    float mean[C] = {3.0f, 5.0f}, std[C] = {2.0f, 4.0f};
    loader_opts o = {0};
    o.batch = 8;
    o.seed = 4;
    o.mean = mean;
    o.std = std;
    o.augment = 1;
    o.aug = augment_defaults();
    o.aug.hflip = 1;
    o.aug.pad = 1;
    loader *l;
    ck_assert(loader_create(d, &o, &l, err, sizeof err) == GRAFT_OK);
    float *keep = malloc((size_t)N * SZ * sizeof *keep), *first = malloc((size_t)N * SZ * sizeof *first);
    ck_assert(keep && first);
    memcpy(keep, d->x, (size_t)N * SZ * sizeof *keep);
    for (int rep = 0; rep < 2; rep++) {
        loader_start_epoch(l, 3);
        const float *x;
        const int *y;
        int n, pos = 0;
        while (loader_next(l, &x, &y, &n)) {
            for (int i = 0; i < n; i++, pos++) {
                float want[SZ];
                augment_image(dataset_image(d, pos), C, H, W, want, &o.aug, 4, 3, (uint64_t)pos);
                preprocess_normalize(want, C, H * W, mean, std);
                ck_assert_mem_eq(x + (size_t)i * SZ, want, sizeof want);
                ck_assert_int_eq(y[i], d->y[pos]);
                if (rep == 0) memcpy(first + (size_t)pos * SZ, want, sizeof want);
                else ck_assert_mem_eq(first + (size_t)pos * SZ, want, sizeof want);
            }
        }
        ck_assert_int_eq(pos, N);
    }
    ck_assert_mem_eq(keep, d->x, (size_t)N * SZ * sizeof *keep); /* dataset untouched */
    free(keep);
    free(first);
    loader_free(l);
    dataset_free(d);
}
END_TEST

START_TEST(shards_and_pending)
{
    dataset *d = make();
    char err[256];
    /* Shard 1 of 2: its slice of every batch holds the images, every
     * position holds its label. */
    loader_opts o = {0};
    o.batch = 10;
    o.shuffle = 1;
    o.seed = 4;
    o.shard = 1;
    o.nshards = 2;
    loader *l;
    ck_assert(loader_create(d, &o, &l, err, sizeof err) == GRAFT_OK);
    loader_start_epoch(l, 0);
    const float *x;
    const int *y;
    int n, seen = 0, got;
    while ((got = loader_next(l, &x, &y, &n)) == 1) {
        for (int i = n / 2; i < n; i++) {
            int id = (int)lrintf(x[(size_t)i * SZ] - 1.0f);
            ck_assert(id >= 0 && id < N);
            ck_assert_int_eq(y[i], d->y[id]);
            seen++;
        }
        int lab[7] = {0};
        for (int i = 0; i < n; i++) lab[y[i]]++;
        ck_assert_int_eq(lab[0] + lab[1] + lab[2] + lab[3] + lab[4] + lab[5] + lab[6], n);
    }
    ck_assert_int_eq(got, 0);
    ck_assert_int_eq(seen, 5 * 10 + 2); /* 10 batches of 10 split 5+5, then 3 split 1+2 */
    loader_free(l);
    /* o.shard outside 0..nshards-1 is refused. */
    o.shard = 2;
    ck_assert(loader_create(d, &o, &l, err, sizeof err) == GRAFT_ERR_INVALID_ARG);
    dataset_free(d);

    /* Image 5 of 10 is pending with a file that does not exist: batch 1
     * (images 4..7) fails for shard 0 (images 4, 5) only. */
    ck_assert(dataset_create(1, 4, 4, 2, NULL, &d, err, sizeof err) == GRAFT_OK);
    float img[16] = {0};
    for (int i = 0; i < 10; i++) {
        if (i == 5)
            ck_assert(dataset_append_pending(d, 1, "/nonexistent/graft-test-5.png", err, sizeof err) == GRAFT_OK);
        else
            ck_assert(dataset_append(d, img, i % 2, NULL, err, sizeof err) == GRAFT_OK);
    }
    ck_assert_int_eq(dataset_num_pending(d), 1);
    ck_assert(dataset_image(d, 5) == NULL);
    for (int sh = 0; sh < 2; sh++) {
        loader_opts p = {0};
        p.batch = 4;
        p.shard = sh;
        p.nshards = 2;
        ck_assert(loader_create(d, &p, &l, err, sizeof err) == GRAFT_OK);
        loader_start_epoch(l, 0);
        int batches = 0;
        while ((got = loader_next(l, &x, &y, &n)) == 1) batches++;
        if (sh == 0) {
            ck_assert_int_eq(got, -1);
            ck_assert_int_eq(batches, 1);
            ck_assert(strstr(loader_error(l), "graft-test-5.png") != NULL);
            ck_assert_int_eq(loader_next(l, &x, &y, &n), 0); /* the epoch is over */
        } else {
            ck_assert_int_eq(got, 0);
            ck_assert_int_eq(batches, 3);
        }
        loader_free(l);
    }
    ck_assert_int_eq(dataset_num_pending(d), 1);
    dataset_free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("loader");
    tcase_add_test(tc, every_index_once);
    tcase_add_test(tc, restart_and_subset);
    tcase_add_test(tc, normalise_and_augment);
    tcase_add_test(tc, shards_and_pending);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
