/* Data parallel training through the public headers (built like a user's
 * program): two replicas on two devices (PoCL's POCL_DEVICES="pthread
 * pthread") and two ranks joined by an in-process graft_collective give the
 * weights of training one model on the same global batches, within float
 * tolerance; a failing rank stops every rank with a message naming it. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graft.h"
#include "graft_data.h"
#include "graft_train.h"

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
    int fail_rank; /* this rank's collective reports a failure on its 3rd call */
    int calls[4];
} bus;

typedef struct rank_arg {
    bus *b;
    graft_collective comm;
    const graft_dataset *d;
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
    if (b->fail_rank == rank && ++b->calls[rank] == 3) {
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

static void *rank_main(void *arg)
{
    rank_arg *a = arg;
    a->ctx = open_ctx(a->comm.rank ? "1" : "0");
    graft_train_config cfg = run_config();
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
static void run_ranks(const graft_dataset *d, bus *b, rank_arg ra[2], int bn)
{
    pthread_t th[2];
    for (int r = 0; r < 2; r++) {
        ra[r] = (rank_arg){b, {r, 2, bus_allreduce, &ra[r]}, d, NULL, NULL, bn, GRAFT_OK, ""};
        pthread_create(&th[r], NULL, rank_main, &ra[r]);
    }
    for (int r = 0; r < 2; r++) pthread_join(th[r], NULL);
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
     * other naming it. */
    b.fail_rank = 1;
    run_ranks(d, &b, ra, 0);
    CHECK(ra[0].s != GRAFT_OK && ra[1].s != GRAFT_OK);
    CHECK(strstr(ra[1].err, "simulated network failure") != NULL);
    CHECK(strstr(ra[0].err, "rank 1 of 2 failed") != NULL);
    printf("failing rank: rank 0 said: %s\nrank 1 said: %s\n", ra[0].err, ra[1].err);
    rank_done(ra);
    free(b.sum);
    pthread_cond_destroy(&b.cv);
    pthread_mutex_destroy(&b.mu);
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
    graft_dataset_free(d);
    graft_ctx_destroy(ctx);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
