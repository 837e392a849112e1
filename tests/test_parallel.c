/* Data parallel training through the public headers (built like a user's
 * program): two replicas on two devices (PoCL's POCL_DEVICES="pthread
 * pthread") and two ranks joined by an in-process graft_collective give the
 * weights of training one model on the same global batches, within float
 * tolerance; a failing rank stops every rank with a message naming it, also
 * inside a synchronised BatchNorm rendezvous; ranks training on a folder
 * opened with decoding on first use decode only their shards. */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graft.h"
#include "graft_data.h"
#include "graft_train.h"
#include "graft_transfer.h"

#define FIX GRAFT_DATA_DIR "/fixtures/fmnist512-images-idx3-ubyte.gz"

static int failures;
static graft_kernel_style style; /* argv[1] "gpu": the GPU-shaped kernels */
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

static graft_dataset *open_fixture(int per_class)
{
    graft_data_spec sp = graft_data_default_spec();
    sp.source = FIX;
    sp.classes = "0-4";
    sp.per_class = per_class;
    sp.seed = 3;
    graft_dataset *d = NULL;
    char err[1024];
    if (graft_dataset_open(&sp, &d, err, sizeof err) != GRAFT_OK) fprintf(stderr, "%s\n", err);
    return d;
}

static graft_ctx *open_ctx(const char *device)
{
    graft_ctx_params p = graft_ctx_default_params();
    p.device = device;
    p.kernel_style = style;
    graft_ctx *ctx = NULL;
    char err[1024];
    if (graft_ctx_create(&p, &ctx, err, sizeof err) != GRAFT_OK) fprintf(stderr, "%s\n", err);
    return ctx;
}

/* conv-relu-conv(-bn)-relu-gap-linear; frozen_first freezes the first conv. */
static graft_model *small_model(graft_ctx *ctx, int bn, int frozen_first)
{
    graft_model *m = NULL;
    if (graft_model_create(ctx, &m) != GRAFT_OK) return NULL;
    graft_model_set_seed(m, 11);
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = 1;
    in.height = in.width = 28;
    graft_layer_spec c1 = graft_layer_default(GRAFT_LAYER_CONV2D);
    c1.channels = 6;
    c1.kernel = 3;
    c1.stride = 2;
    c1.pad = 1;
    graft_layer_spec c2 = c1;
    c2.channels = 10;
    graft_layer_spec relu = graft_layer_default(GRAFT_LAYER_RELU);
    graft_layer_spec gap = graft_layer_default(GRAFT_LAYER_GLOBAL_AVGPOOL);
    graft_layer_spec fc = graft_layer_default(GRAFT_LAYER_LINEAR);
    fc.channels = 5;
    int id = 0;
    graft_status s = graft_model_add(m, "in", &in, 0, NULL, &id);
    if (s == GRAFT_OK) s = graft_model_add(m, "c1", &c1, 1, &id, &id);
    if (s == GRAFT_OK) s = graft_model_add(m, "r1", &relu, 1, &id, &id);
    if (s == GRAFT_OK) s = graft_model_add(m, "c2", &c2, 1, &id, &id);
    if (s == GRAFT_OK && bn) {
        graft_layer_spec b = graft_layer_default(GRAFT_LAYER_BATCHNORM2D);
        s = graft_model_add(m, "bn", &b, 1, &id, &id);
    }
    if (s == GRAFT_OK) s = graft_model_add(m, "r2", &relu, 1, &id, &id);
    if (s == GRAFT_OK) s = graft_model_add(m, "gap", &gap, 1, &id, &id);
    if (s == GRAFT_OK) s = graft_model_add(m, "fc", &fc, 1, &id, &id);
    if (s == GRAFT_OK && frozen_first) s = graft_model_set_trainable(m, 1, 0);
    if (s != GRAFT_OK) {
        fprintf(stderr, "%s\n", graft_last_error(ctx));
        graft_model_free(m);
        return NULL;
    }
    return m;
}

static graft_train_config run_config(void)
{
    graft_train_config c = graft_train_default_config();
    c.epochs = 2;
    c.batch = 13; /* uneven slices and a short last batch */
    c.seed = 5;
    return c;
}

/* Largest |a - b| over every parameter, relative to max(1, |a|). */
static double max_param_diff(graft_model *a, graft_model *b)
{
    double worst = 0;
    for (int i = 0; i < graft_model_num_params(a); i++) {
        size_t n = graft_model_param_numel(a, i);
        float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        if (x && y && graft_model_param_get(a, i, x, n) == GRAFT_OK &&
            graft_model_param_get(b, i, y, n) == GRAFT_OK) {
            for (size_t k = 0; k < n; k++) {
                double d = fabs((double)x[k] - y[k]) / (fabs(x[k]) > 1 ? fabs(x[k]) : 1);
                if (d > worst) worst = d;
            }
        } else {
            worst = INFINITY;
        }
        free(x);
        free(y);
    }
    return worst;
}

/* Trains a fresh small model on ctx with cfg; returns it (NULL on failure). */
static graft_model *train_one(graft_ctx *ctx, const graft_dataset *d, int bn, int frozen,
                              const graft_train_config *cfg, graft_status *st)
{
    graft_model *m = small_model(ctx, bn, frozen);
    graft_optimizer *o = NULL;
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    op.lr = 0.05f;
    graft_opt_fit_run(&op, graft_dataset_size(d), cfg->batch, cfg->epochs, 0);
    graft_train_result r = {0};
    graft_status s = m ? graft_optimizer_create(m, &op, &o) : GRAFT_ERR_INTERNAL;
    if (s == GRAFT_OK) s = graft_train(m, o, d, NULL, cfg, &r);
    if (s != GRAFT_OK && m) fprintf(stderr, "train: %s\n", graft_last_error(ctx));
    if (st) *st = s;
    if (s == GRAFT_OK) CHECK(r.nepochs == cfg->epochs && isfinite(r.hist[0].train_loss));
    graft_train_result_free(&r);
    graft_optimizer_free(o);
    if (s != GRAFT_OK) {
        graft_model_free(m);
        return NULL;
    }
    return m;
}

static void test_two_devices(graft_ctx *ctx, const graft_dataset *d)
{
    graft_train_config one = run_config(), two = run_config();
    const char *devs[2] = {"0", "1"};
    two.devices = devs;
    two.ndevices = 2;
    for (int frozen = 0; frozen < 2; frozen++) {
        graft_model *a = train_one(ctx, d, 0, frozen, &one, NULL);
        graft_model *b = train_one(ctx, d, 0, frozen, &two, NULL);
        CHECK(a && b);
        if (a && b) {
            double diff = max_param_diff(a, b);
            printf("2 devices vs 1 (frozen first conv %d): max relative weight difference %.3g\n",
                   frozen, diff);
            CHECK(diff < 1e-4);
            /* Training moved the weights (the comparison is not vacuous). */
            graft_model *fresh = small_model(ctx, 0, frozen);
            CHECK(fresh && max_param_diff(a, fresh) > 1e-3);
            graft_model_free(fresh);
        }
        graft_model_free(a);
        graft_model_free(b);
    }
    /* Batches of one image: one replica idles every step (an empty slice,
     * weight 0), and BatchNorm synchronisation stays off for want of
     * images; still one device's weights. */
    {
        graft_train_config o1 = one, o2 = two;
        o1.batch = o2.batch = 1;
        o1.epochs = o2.epochs = 1;
        o2.sync_bn = 1;
        graft_model *a1 = train_one(ctx, d, 0, 0, &o1, NULL), *b1 = train_one(ctx, d, 0, 0, &o2, NULL);
        CHECK(a1 && b1 && max_param_diff(a1, b1) < 1e-4);
        graft_model_free(a1);
        graft_model_free(b1);
    }
    /* BatchNorm normalises each replica's slice by its own statistics: the
     * run works and stays finite, close to but not equal to one device. */
    graft_model *a = train_one(ctx, d, 1, 0, &one, NULL);
    graft_model *b = train_one(ctx, d, 1, 0, &two, NULL);
    CHECK(a && b);
    double local = a && b ? max_param_diff(a, b) : 0;
    CHECK(isfinite(local) && local > 1e-4);
    graft_model_free(b);
    /* Synchronised BatchNorm: the statistics of the global batch, so the
     * weights and the running statistics are one device's again. */
    two.sync_bn = 1;
    b = train_one(ctx, d, 1, 0, &two, NULL);
    CHECK(a && b);
    if (a && b) {
        double diff = max_param_diff(a, b);
        printf("2 devices with BatchNorm vs 1: per-replica statistics %.3g, synchronised %.3g\n",
               local, diff);
        CHECK(diff < 1e-4);
    }
    two.sync_bn = 0;
    graft_model_free(a);
    graft_model_free(b);
    /* A device that does not exist: refused, naming it. */
    const char *bad[2] = {"0", "no-such-device"};
    two.devices = bad;
    graft_status s;
    CHECK(!train_one(ctx, d, 0, 0, &two, &s) && s == GRAFT_ERR_NO_DEVICE);
    CHECK(strstr(graft_last_error(ctx), "no-such-device") != NULL);
}

/* ------------------------------------------------- an in-process collective */

typedef struct bus {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int size, arrived;
    long generation;
    float *sum;
    size_t n;
    int fail_rank; /* this rank's collective reports a failure on call fail_call */
    int fail_call;
    int overlap;   /* offer the split-phase sum: gradients summed during backward */
    size_t bucket_floats;
    int calls[4];
    int gathers; /* allgatherv calls (of both ranks) */
} bus;

typedef struct rank_arg {
    bus *b;
    graft_collective comm;
    const graft_dataset *d;
    int epochs; /* 0: run_config's */
    graft_ctx *ctx;
    graft_model *m;
    int bn;   /* a BatchNorm model, synchronised */
    graft_status s;
    char err[1024];
} rank_arg;

/* Sums in rank order (every rank sees the same bits), with a barrier. */
static graft_status bus_allreduce(void *user, float *buf, size_t n, char *msg, size_t msglen)
{
    rank_arg *a = user;
    bus *b = a->b;
    int rank = a->comm.rank;
    if (b->fail_rank == rank && ++b->calls[rank] == b->fail_call) {
        snprintf(msg, msglen, "simulated network failure");
        /* Still take part, so that the other rank is not left waiting. */
    }
    pthread_mutex_lock(&b->mu);
    long gen = b->generation;
    if (b->arrived == 0) {
        b->n = n;
        memset(b->sum, 0, n * sizeof *b->sum);
    }
    for (size_t k = 0; k < n; k++) b->sum[k] += buf[k];
    if (++b->arrived == b->size) {
        b->arrived = 0;
        b->generation++;
        pthread_cond_broadcast(&b->cv);
    } else {
        while (gen == b->generation) pthread_cond_wait(&b->cv, &b->mu);
    }
    memcpy(buf, b->sum, n * sizeof *buf);
    /* The last reader must not race the next call's reset: a second barrier. */
    gen = b->generation;
    if (++b->arrived == b->size) {
        b->arrived = 0;
        b->generation++;
        pthread_cond_broadcast(&b->cv);
    } else {
        while (gen == b->generation) pthread_cond_wait(&b->cv, &b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return msg[0] ? GRAFT_ERR_INTERNAL : GRAFT_OK;
}

/* The split-phase sum of the bus: the sum happens at start (every rank
 * starts the same calls in the same order), so test and wait have nothing
 * left to do; what it checks is the order and the bits. */
static graft_status bus_start(void *user, float *buf, size_t n, void **req, char *msg, size_t msglen)
{
    *req = NULL;
    return bus_allreduce(user, buf, n, msg, msglen);
}

static int bus_test(void *user, void *req)
{
    (void)user;
    (void)req;
    return 1;
}

static graft_status bus_wait(void *user, void *req, char *msg, size_t msglen)
{
    (void)user;
    (void)req;
    (void)msg;
    (void)msglen;
    return GRAFT_OK;
}

/* The bus's allgatherv: each rank writes its rows into the shared buffer
 * (disjoint places), then every rank reads all of them. */
static graft_status bus_allgatherv(void *user, float *all, const int *rows, size_t row_floats,
                                   char *msg, size_t msglen)
{
    rank_arg *a = user;
    bus *b = a->b;
    (void)msg;
    (void)msglen;
    size_t at = 0, total = 0;
    for (int r = 0; r < b->size; r++) {
        if (r < a->comm.rank) at += (size_t)rows[r] * row_floats;
        total += (size_t)rows[r] * row_floats;
    }
    if (total > (size_t)1 << 20) {
        snprintf(msg, msglen, "bus: %zu floats do not fit", total);
        return GRAFT_ERR_INTERNAL;
    }
    pthread_mutex_lock(&b->mu);
    b->gathers++;
    memcpy(b->sum + at, all + at, (size_t)rows[a->comm.rank] * row_floats * sizeof *all);
    for (int pass = 0; pass < 2; pass++) {
        /* A barrier; after the first every rank's rows are in, after the
         * second every rank has read them (the next call may write). */
        long gen = b->generation;
        if (++b->arrived == b->size) {
            b->arrived = 0;
            b->generation++;
            pthread_cond_broadcast(&b->cv);
        } else {
            while (gen == b->generation) pthread_cond_wait(&b->cv, &b->mu);
        }
        if (pass == 0) memcpy(all, b->sum, total * sizeof *all);
    }
    pthread_mutex_unlock(&b->mu);
    return GRAFT_OK;
}

static void *rank_main(void *arg)
{
    rank_arg *a = arg;
    a->ctx = open_ctx(a->comm.rank ? "1" : "0");
    graft_train_config cfg = run_config();
    if (a->epochs) cfg.epochs = a->epochs;
    if (a->b->overlap) {
        a->comm.iallreduce_start = bus_start;
        a->comm.iallreduce_test = bus_test;
        a->comm.iallreduce_wait = bus_wait;
        cfg.overlap_allreduce = 1;
    }
    cfg.bucket_floats = a->b->bucket_floats;
    cfg.comm = &a->comm;
    cfg.sync_bn = a->bn;
    a->s = GRAFT_ERR_INTERNAL;
    if (!a->ctx) return NULL;
    a->m = train_one(a->ctx, a->d, a->bn, 0, &cfg, &a->s);
    snprintf(a->err, sizeof a->err, "%s", graft_last_error(a->ctx));
    return NULL;
}

/* Two ranks on two threads, each its own context (kept for the caller:
 * rank_done frees them). */
static void run_ranks_on(const graft_dataset *d0, const graft_dataset *d1, int epochs, bus *b,
                         rank_arg ra[2], int bn)
{
    pthread_t th[2];
    for (int r = 0; r < 2; r++) {
        ra[r] = (rank_arg){b, {r, 2, bus_allreduce, &ra[r], NULL, NULL, NULL, NULL, NULL}, r ? d1 : d0, epochs, NULL, NULL,
                           bn, GRAFT_OK, ""};
        pthread_create(&th[r], NULL, rank_main, &ra[r]);
    }
    for (int r = 0; r < 2; r++) pthread_join(th[r], NULL);
}

static void run_ranks(const graft_dataset *d, bus *b, rank_arg ra[2], int bn)
{
    run_ranks_on(d, d, 0, b, ra, bn);
}

static void rank_done(rank_arg ra[2])
{
    for (int r = 0; r < 2; r++) {
        graft_model_free(ra[r].m);
        graft_ctx_destroy(ra[r].ctx);
    }
}

static void test_collective(graft_ctx *ctx, const graft_dataset *d)
{
    bus b = {.size = 2, .fail_rank = -1};
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    b.sum = malloc(sizeof(float) << 20);
    rank_arg ra[2];
    graft_train_config one = run_config();
    graft_model *a = train_one(ctx, d, 0, 0, &one, NULL);
    run_ranks(d, &b, ra, 0);
    CHECK(ra[0].s == GRAFT_OK && ra[1].s == GRAFT_OK);
    if (a && ra[0].m && ra[1].m) {
        double diff = max_param_diff(a, ra[0].m);
        printf("2 ranks vs 1 process: max relative weight difference %.3g\n", diff);
        CHECK(diff < 1e-4);
        CHECK(max_param_diff(ra[0].m, ra[1].m) == 0); /* every rank makes the same step */
    }
    rank_done(ra);
    /* The gradient buckets summed during backward: the same bits. Buckets
     * of at most 100 floats: several layers' buckets, and the larger
     * parameters cut into several calls. */
    b.bucket_floats = 100;
    run_ranks(d, &b, ra, 0);
    b.overlap = 1;
    rank_arg ro[2];
    run_ranks(d, &b, ro, 0);
    CHECK(ro[0].s == GRAFT_OK && ro[1].s == GRAFT_OK);
    if (a && ra[0].m && ro[0].m && ro[1].m) {
        CHECK(max_param_diff(a, ro[0].m) < 1e-4);
        CHECK(max_param_diff(ra[0].m, ro[0].m) == 0);
        CHECK(max_param_diff(ro[0].m, ro[1].m) == 0);
        printf("2 ranks, buckets of 100 floats summed during backward vs after it: %.3g\n",
               max_param_diff(ra[0].m, ro[0].m));
    }
    rank_done(ro);
    b.bucket_floats = 0;
    /* A rank whose bucket fails in the first step's backward (call 1 is
     * the opening status round, call 2 the bucket): both stop. */
    b.fail_rank = 1;
    b.fail_call = 2;
    run_ranks(d, &b, ro, 0);
    CHECK(ro[0].s != GRAFT_OK && ro[1].s != GRAFT_OK);
    CHECK(strstr(ro[1].err, "simulated network failure") != NULL);
    CHECK(strstr(ro[0].err, "rank 1 of 2 failed") != NULL);
    printf("failing rank, overlapped: rank 0 said: %s\nrank 1 said: %s\n", ro[0].err, ro[1].err);
    rank_done(ro);
    memset(b.calls, 0, sizeof b.calls);
    b.fail_rank = -1;
    b.overlap = 0;
    rank_done(ra);
    graft_model_free(a);
    /* BatchNorm synchronised over the ranks: one process's weights and
     * running statistics. */
    a = train_one(ctx, d, 1, 0, &one, NULL);
    run_ranks(d, &b, ra, 1);
    CHECK(ra[0].s == GRAFT_OK && ra[1].s == GRAFT_OK);
    if (a && ra[0].m && ra[1].m) {
        double diff = max_param_diff(a, ra[0].m);
        printf("2 ranks with synchronised BatchNorm vs 1 process: %.3g\n", diff);
        CHECK(diff < 1e-4);
        CHECK(max_param_diff(ra[0].m, ra[1].m) == 0);
    }
    rank_done(ra);
    graft_model_free(a);
    /* A failing rank: both stop, the failing one with its message, the
     * other naming it. The 4th call is the gradient sum of the second
     * step (each step makes a status round, then the sum). */
    b.fail_rank = 1;
    b.fail_call = 4;
    run_ranks(d, &b, ra, 0);
    CHECK(ra[0].s != GRAFT_OK && ra[1].s != GRAFT_OK);
    CHECK(strstr(ra[1].err, "simulated network failure") != NULL);
    CHECK(strstr(ra[0].err, "rank 1 of 2 failed") != NULL);
    printf("failing rank: rank 0 said: %s\nrank 1 said: %s\n", ra[0].err, ra[1].err);
    rank_done(ra);
    /* The same inside a synchronised BatchNorm rendezvous: the 2nd call is
     * the first BatchNorm sum of the first step; rank 0 then waits in the
     * next BatchNorm sum, where it learns that rank 1 failed. */
    memset(b.calls, 0, sizeof b.calls);
    b.fail_call = 2;
    run_ranks(d, &b, ra, 1);
    CHECK(ra[0].s != GRAFT_OK && ra[1].s != GRAFT_OK);
    CHECK(strstr(ra[1].err, "simulated network failure") != NULL);
    CHECK(strstr(ra[0].err, "rank 1 of 2 failed") != NULL);
    printf("failing rank in a BatchNorm sum: rank 0 said: %s\nrank 1 said: %s\n", ra[0].err,
           ra[1].err);
    rank_done(ra);
    free(b.sum);
    pthread_cond_destroy(&b.cv);
    pthread_mutex_destroy(&b.mu);
}

/* ------------------------------------ ranks reading only their shard */

static unsigned long crc32_of(const unsigned char *p, size_t n, unsigned long c)
{
    c ^= 0xffffffffUL;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320UL & (0UL - (c & 1)));
    }
    return c ^ 0xffffffffUL;
}

static void put32(unsigned char *p, unsigned long v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void chunk(FILE *f, const char *type, const unsigned char *data, size_t n)
{
    unsigned char hdr[8], crc[4];
    put32(hdr, (unsigned long)n);
    memcpy(hdr + 4, type, 4);
    unsigned long c = crc32_of(hdr + 4, 4, 0);
    c = crc32_of(data, n, c);
    put32(crc, c);
    fwrite(hdr, 1, 8, f);
    fwrite(data, 1, n, f);
    fwrite(crc, 1, 4, f);
}

/* A grey 8-bit PNG of w x h (w*h+h < 65536) with one stored deflate block:
 * the test needs image files and links nothing but graft. */
static int write_png(const char *path, const unsigned char *pix, int w, int h)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    static const unsigned char sig[8] = {137, 'P', 'N', 'G', 13, 10, 26, 10};
    fwrite(sig, 1, 8, f);
    unsigned char ihdr[13] = {0};
    put32(ihdr, (unsigned long)w);
    put32(ihdr + 4, (unsigned long)h);
    ihdr[8] = 8; /* depth; colour type 0 (grey), no interlace */
    chunk(f, "IHDR", ihdr, 13);
    size_t raw = (size_t)h * (w + 1), n = 2 + 5 + raw + 4;
    unsigned char *z = malloc(n);
    if (!z) {
        fclose(f);
        return -1;
    }
    z[0] = 0x78;
    z[1] = 0x01;
    z[2] = 1; /* final stored block */
    z[3] = (unsigned char)raw;
    z[4] = (unsigned char)(raw >> 8);
    z[5] = (unsigned char)~raw;
    z[6] = (unsigned char)(~raw >> 8);
    unsigned long a = 1, b = 0;
    for (int y = 0; y < h; y++) {
        unsigned char *row = z + 7 + (size_t)y * (w + 1);
        row[0] = 0; /* filter none */
        memcpy(row + 1, pix + (size_t)y * w, (size_t)w);
    }
    for (size_t i = 0; i < raw; i++) {
        a = (a + z[7 + i]) % 65521;
        b = (b + a) % 65521;
    }
    put32(z + 7 + raw, (b << 16) | a);
    chunk(f, "IDAT", z, n);
    chunk(f, "IEND", z, 0);
    free(z);
    return fclose(f);
}

/* d as a class folder dir/<label>/<index>.png; 0 on success. */
static int write_folder(const graft_dataset *d, const char *dir)
{
    int c, h, w;
    graft_dataset_shape(d, &c, &h, &w);
    unsigned char *pix = malloc((size_t)h * w);
    char path[700];
    int bad = !pix || mkdir(dir, 0700) != 0;
    for (int k = 0; !bad && k < graft_dataset_num_classes(d); k++) {
        snprintf(path, sizeof path, "%s/%d", dir, k);
        bad = mkdir(path, 0700) != 0;
    }
    for (int i = 0; !bad && i < graft_dataset_size(d); i++) {
        const float *img = graft_dataset_image(d, i);
        for (int k = 0; k < h * w; k++) pix[k] = (unsigned char)(img[k] * 255.0f + 0.5f);
        snprintf(path, sizeof path, "%s/%d/%03d.png", dir, graft_dataset_labels(d)[i], i);
        bad = write_png(path, pix, w, h) != 0;
    }
    free(pix);
    return bad ? -1 : 0;
}

static graft_dataset *open_folder(const char *dir, int lazy)
{
    graft_data_spec sp = graft_data_default_spec();
    sp.source = dir;
    sp.channels = 1;
    sp.height = sp.width = 28;
    sp.lazy = lazy;
    graft_dataset *d = NULL;
    char err[1024];
    if (graft_dataset_open(&sp, &d, err, sizeof err) != GRAFT_OK) fprintf(stderr, "%s\n", err);
    return d;
}

/* Two ranks, each with its own copy of a class folder opened with
 * decoding on first use (as two MPI processes would), train one epoch:
 * the weights of one process on the decoded-up-front folder, and each rank
 * decoded exactly the images of its slices of the global batches (batch
 * 13 of 60 images: slices of 6,6,6,6,4 and 7,7,7,7,4). */
static void test_shards(graft_ctx *ctx, const graft_dataset *src)
{
    char dir[] = "/tmp/graft-shards-XXXXXX";
    char root[600];
    if (!mkdtemp(dir)) {
        CHECK(!"mkdtemp");
        return;
    }
    snprintf(root, sizeof root, "%s/data", dir);
    CHECK(write_folder(src, root) == 0);
    graft_dataset *all = open_folder(root, 0), *d0 = open_folder(root, 1), *d1 = open_folder(root, 1);
    CHECK(all && d0 && d1);
    if (all && d0 && d1) {
        int n = graft_dataset_size(all);
        CHECK(n == 60 && graft_dataset_num_pending(all) == 0);
        CHECK(graft_dataset_num_pending(d0) == n && graft_dataset_num_pending(d1) == n);
        bus b = {.size = 2, .fail_rank = -1};
        pthread_mutex_init(&b.mu, NULL);
        pthread_cond_init(&b.cv, NULL);
        b.sum = malloc(sizeof(float) << 20);
        graft_train_config one = run_config();
        one.epochs = 1;
        graft_model *a = train_one(ctx, all, 0, 0, &one, NULL);
        rank_arg ra[2];
        run_ranks_on(d0, d1, 1, &b, ra, 0);
        CHECK(ra[0].s == GRAFT_OK && ra[1].s == GRAFT_OK);
        int dec0 = n - graft_dataset_num_pending(d0), dec1 = n - graft_dataset_num_pending(d1);
        printf("decoded on first use: rank 0 %d, rank 1 %d of %d images\n", dec0, dec1, n);
        CHECK(dec0 == 28 && dec1 == 32);
        if (a && ra[0].m && ra[1].m) {
            double diff = max_param_diff(a, ra[0].m);
            printf("2 ranks on their shards vs 1 process: %.3g\n", diff);
            CHECK(diff < 1e-4);
            CHECK(max_param_diff(ra[0].m, ra[1].m) == 0);
        }
        rank_done(ra);
        graft_model_free(a);
        free(b.sum);
        pthread_cond_destroy(&b.cv);
        pthread_mutex_destroy(&b.mu);
    }
    graft_dataset_free(all);
    graft_dataset_free(d0);
    graft_dataset_free(d1);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* ------------------------- a linear probe extracting only each rank's share */

typedef struct probe_arg {
    rank_arg ra; /* the bus, the collective, this rank's dataset; ra.m the result */
    int gather;  /* offer the collective's allgatherv (else the library emulates it) */
    double acc;  /* the last epoch's evaluation accuracy */
} probe_arg;

static graft_train_config probe_config(void)
{
    graft_train_config c = run_config();
    c.epochs = 4;
    return c;
}

/* The source's weights on the host (a small_model trained a little, so
 * that the probe's accuracy says something), copied into each rank's. */
static float *probe_w[16];
static int probe_nw;

static void probe_weights_free(void)
{
    for (int i = 0; i < probe_nw; i++) free(probe_w[i]);
    probe_nw = 0;
}

static int probe_weights_take(graft_model *m)
{
    int np = graft_model_num_params(m);
    if (np > 16) return -1;
    for (probe_nw = 0; probe_nw < np; probe_nw++) {
        size_t n = graft_model_param_numel(m, probe_nw);
        probe_w[probe_nw] = malloc(n * sizeof(float));
        if (!probe_w[probe_nw] || graft_model_param_get(m, probe_nw, probe_w[probe_nw], n) != GRAFT_OK)
            return -1;
    }
    return 0;
}

/* A linear probe of the source (small_model with probe_w) on d, evaluated
 * on d. */
static graft_model *probe_one(graft_ctx *ctx, const graft_dataset *d, graft_train_config *cfg,
                              graft_status *st, double *acc)
{
    graft_model *src = small_model(ctx, 0, 0), *out = NULL;
    for (int i = 0; src && i < probe_nw; i++)
        if (graft_model_param_set(src, i, probe_w[i], graft_model_param_numel(src, i)) != GRAFT_OK) {
            graft_model_free(src);
            src = NULL;
        }
    graft_finetune_params fp = graft_finetune_default_params();
    fp.strategy = GRAFT_STRATEGY_LINEAR_PROBE;
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    op.lr = 0.5f;
    graft_train_result r = {0};
    graft_status s = src ? graft_finetune(src, d, d, &fp, &op, cfg, &out, &r) : GRAFT_ERR_INTERNAL;
    if (s == GRAFT_OK) {
        CHECK(r.nepochs == cfg->epochs && isfinite(r.hist[0].train_loss));
        *acc = r.nepochs > 0 ? r.hist[r.nepochs - 1].eval_acc : -1;
    }
    *st = s;
    graft_train_result_free(&r);
    graft_model_free(src);
    return out;
}

static void *probe_rank_main(void *arg)
{
    probe_arg *p = arg;
    rank_arg *a = &p->ra;
    a->ctx = open_ctx(a->comm.rank ? "1" : "0");
    a->s = GRAFT_ERR_INTERNAL;
    if (!a->ctx) return NULL;
    if (p->gather) a->comm.allgatherv = bus_allgatherv;
    graft_train_config cfg = probe_config();
    cfg.comm = &a->comm;
    a->m = probe_one(a->ctx, a->d, &cfg, &a->s, &p->acc);
    snprintf(a->err, sizeof a->err, "%s", graft_last_error(a->ctx));
    return NULL;
}

static void run_probe_ranks(const graft_dataset *d0, const graft_dataset *d1, bus *b, int gather,
                            probe_arg pa[2])
{
    pthread_t th[2];
    for (int r = 0; r < 2; r++) {
        memset(&pa[r], 0, sizeof pa[r]);
        pa[r].ra.b = b;
        pa[r].ra.comm = (graft_collective){r, 2, bus_allreduce, &pa[r].ra, NULL, NULL, NULL, NULL, NULL};
        pa[r].ra.d = r ? d1 : d0;
        pa[r].gather = gather;
        pthread_create(&th[r], NULL, probe_rank_main, &pa[r]);
    }
    for (int r = 0; r < 2; r++) pthread_join(th[r], NULL);
}

static void probe_done(probe_arg pa[2])
{
    for (int r = 0; r < 2; r++) {
        graft_model_free(pa[r].ra.m);
        graft_ctx_destroy(pa[r].ra.ctx);
    }
}

/* The first file (by name) of dir, as a path. */
static int first_file(const char *dir, char *path, size_t len)
{
    DIR *dd = opendir(dir);
    struct dirent *e;
    char best[256] = "";
    while (dd && (e = readdir(dd)) != NULL)
        if (e->d_name[0] != '.' && (!best[0] || strcmp(e->d_name, best) < 0))
            snprintf(best, sizeof best, "%s", e->d_name);
    if (dd) closedir(dd);
    if (!best[0]) return -1;
    snprintf(path, len, "%s/%s", dir, best);
    return 0;
}

/* Two ranks, each with its own lazily opened copy of a class folder, run
 * a linear probe of a briefly trained source (train and evaluation set:
 * the folder): each decodes only
 * its contiguous half (images 0-29 and 30-59; the evaluation share is the
 * same half), and the head equals one process's on the folder decoded up
 * front, with the collective's gather and with the library's emulation of
 * it. Then a corrupt image in rank 1's half stops both ranks. */
static void test_probe_shards(graft_ctx *ctx, const graft_dataset *src)
{
    char dir[] = "/tmp/graft-probe-XXXXXX";
    char root[600], sub[700], bad[1000];
    if (!mkdtemp(dir)) {
        CHECK(!"mkdtemp");
        return;
    }
    snprintf(root, sizeof root, "%s/data", dir);
    CHECK(write_folder(src, root) == 0);
    graft_dataset *all = open_folder(root, 0);
    bus b = {.size = 2, .fail_rank = -1};
    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    b.sum = malloc(sizeof(float) << 20);
    graft_train_config pre = run_config();
    graft_model *trained = train_one(ctx, src, 0, 0, &pre, NULL);
    CHECK(trained && probe_weights_take(trained) == 0);
    graft_model_free(trained);
    graft_train_config one = probe_config();
    graft_status s1 = GRAFT_ERR_INTERNAL;
    double acc1 = -1;
    graft_model *a = all ? probe_one(ctx, all, &one, &s1, &acc1) : NULL;
    CHECK(s1 == GRAFT_OK && a);
    for (int gather = 1; all && gather >= 0; gather--) {
        graft_dataset *d0 = open_folder(root, 1), *d1 = open_folder(root, 1);
        int n = graft_dataset_size(all);
        CHECK(d0 && d1 && n == 60);
        if (!d0 || !d1) break;
        probe_arg pa[2];
        b.gathers = 0;
        run_probe_ranks(d0, d1, &b, gather, pa);
        CHECK(pa[0].ra.s == GRAFT_OK && pa[1].ra.s == GRAFT_OK);
        if (pa[0].ra.s != GRAFT_OK) fprintf(stderr, "rank 0: %s\n", pa[0].ra.err);
        if (pa[1].ra.s != GRAFT_OK) fprintf(stderr, "rank 1: %s\n", pa[1].ra.err);
        /* Two gathers (training and evaluation features) on each rank. */
        CHECK(b.gathers == (gather ? 4 : 0));
        int dec0 = n - graft_dataset_num_pending(d0), dec1 = n - graft_dataset_num_pending(d1);
        printf("linear probe over 2 ranks (%s): decoded rank 0 %d, rank 1 %d of %d images\n",
               gather ? "allgatherv" : "gather by sums", dec0, dec1, n);
        CHECK(dec0 == 30 && dec1 == 30);
        if (a && pa[0].ra.m && pa[1].ra.m) {
            double diff = max_param_diff(a, pa[0].ra.m);
            printf("linear probe, 2 ranks vs 1 process: %.3g; accuracy %.4f vs %.4f\n", diff,
                   pa[0].acc, acc1);
            CHECK(diff < 1e-4);
            CHECK(max_param_diff(pa[0].ra.m, pa[1].ra.m) == 0);
            CHECK(pa[0].acc == acc1 && pa[1].acc == acc1);
        }
        probe_done(pa);
        graft_dataset_free(d0);
        graft_dataset_free(d1);
    }
    /* A file of class 4 (rank 1's half) that does not decode. */
    snprintf(sub, sizeof sub, "%s/4", root);
    FILE *f = first_file(sub, bad, sizeof bad) == 0 ? fopen(bad, "wb") : NULL;
    CHECK(f != NULL);
    if (f) {
        fputs("not a png", f);
        fclose(f);
        graft_dataset *d0 = open_folder(root, 1), *d1 = open_folder(root, 1);
        CHECK(d0 && d1);
        if (d0 && d1) {
            probe_arg pa[2];
            run_probe_ranks(d0, d1, &b, 1, pa);
            CHECK(pa[0].ra.s != GRAFT_OK && pa[1].ra.s != GRAFT_OK);
            CHECK(strstr(pa[0].ra.err, "rank 1 of 2 failed") != NULL);
            CHECK(strstr(pa[1].ra.err, "rank 1 of 2 failed") == NULL && pa[1].ra.err[0]);
            printf("linear probe, corrupt image of rank 1: rank 0 said: %s\nrank 1 said: %s\n",
                   pa[0].ra.err, pa[1].ra.err);
            probe_done(pa);
        }
        graft_dataset_free(d0);
        graft_dataset_free(d1);
    }
    graft_model_free(a);
    graft_dataset_free(all);
    probe_weights_free();
    free(b.sum);
    pthread_cond_destroy(&b.cv);
    pthread_mutex_destroy(&b.mu);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "gpu")) style = GRAFT_KERNELS_GPU;
    graft_ctx *ctx = open_ctx("0");
    graft_dataset *d = open_fixture(12);
    if (!ctx || !d) return 1;
    int ndev = 0;
    graft_device_info *info = NULL;
    if (graft_devices_list(&info, &ndev, NULL, 0) == GRAFT_OK) graft_free(info);
    if (ndev < 2) {
        fprintf(stderr, "need two OpenCL devices (POCL_DEVICES=\"pthread pthread\")\n");
        return 1;
    }
    test_two_devices(ctx, d);
    test_collective(ctx, d);
    test_shards(ctx, d);
    test_probe_shards(ctx, d);
    graft_dataset_free(d);
    graft_ctx_destroy(ctx);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
