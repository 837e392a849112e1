/* Training faults through the public API (issue 14): a non-finite loss
 * stops the run naming the step and the first non-finite layer, or is
 * skipped and counted under GRAFT_NAN_SKIP; a stop request finishes the
 * step and writes a checkpoint that resumes exactly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graft.h"
#include "graft_data.h"
#include "graft_train.h"

static int failures;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

enum { N = 20, HW = 28 };

/* N grey images of 2 classes; image `poisoned` holds one pixel of value
 * v (-1: none). */
static graft_dataset *make_data(int poisoned, float v)
{
    graft_dataset *d = NULL;
    char err[256];
    if (graft_dataset_create(1, HW, HW, 2, NULL, &d, err, sizeof err) != GRAFT_OK) return NULL;
    float img[HW * HW];
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < HW * HW; k++) img[k] = (float)((i * 7 + k * 13) % 17) / 16.0f;
        if (i == poisoned) img[HW * HW / 2] = v;
        graft_dataset_append(d, img, i % 2, NULL, err, sizeof err);
    }
    return d;
}

static graft_model *make_model(graft_ctx *ctx, graft_optimizer **o)
{
    graft_model *m = NULL;
    graft_arch_params ap = graft_arch_default_params("refnet");
    ap.classes = 2;
    graft_model_create(ctx, &m);
    graft_model_set_seed(m, 3);
    graft_model_build_arch(m, "refnet", &ap);
    graft_opt_params op = graft_opt_default_params(GRAFT_OPT_SGD);
    graft_opt_fit_run(&op, N, 5, 2, 0);
    graft_optimizer_create(m, &op, o);
    return m;
}

/* The classifier's bias (the last parameter) set to v, -v. */
static void poison_bias(graft_model *m, float v)
{
    int last = graft_model_num_params(m) - 1;
    float b[2] = {v, -v};
    graft_model_param_set(m, last, b, 2);
}

static graft_train_config config(void)
{
    graft_train_config cfg = graft_train_default_config();
    cfg.epochs = 2;
    cfg.batch = 5;
    return cfg;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    char err[1024], ckpt[4096], a[4096], b[4096];
    snprintf(ckpt, sizeof ckpt, "%s/train_faults-ckpt.graft", dir);
    snprintf(a, sizeof a, "%s/train_faults-a.graft", dir);
    snprintf(b, sizeof b, "%s/train_faults-b.graft", dir);
    graft_ctx_params cp = graft_ctx_default_params();
    graft_ctx *ctx = NULL;
    if (graft_ctx_create(&cp, &ctx, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "no device (%s): skipping\n", err);
        return 77;
    }
    /* A NaN pixel is eaten by BatchNorm+ReLU and max-pooling on the way
     * forward (finite loss) but not on the way back: the weights go NaN,
     * found by the scan at the epoch's end. An infinite classifier bias
     * makes the very first loss non-finite. */
    graft_dataset *nan = make_data(7, NAN), *good = make_data(-1, 0);
    graft_optimizer *o = NULL;
    graft_train_result res = {0};

    /* Stop: the step and the first layer whose output is non-finite. */
    graft_model *m = make_model(ctx, &o);
    poison_bias(m, INFINITY);
    graft_train_config cfg = config();
    CHECK(graft_train(m, o, good, NULL, &cfg, &res) == GRAFT_ERR_INVALID_ARG);
    const char *msg = graft_last_error(ctx);
    fprintf(stderr, "stop: %s\n", msg);
    CHECK(strstr(msg, "diverged at epoch 1 batch") && strstr(msg, "the loss is"));
    CHECK(strstr(msg, "first non-finite: output of layer 'fc'") != NULL);
    CHECK(strstr(msg, "lower --lr") != NULL);
    graft_optimizer_free(o);
    graft_model_free(m);
    m = make_model(ctx, &o);
    CHECK(graft_train(m, o, nan, NULL, &cfg, &res) == GRAFT_ERR_INVALID_ARG);
    msg = graft_last_error(ctx);
    fprintf(stderr, "nan: %s\n", msg);
    CHECK(strstr(msg, "diverged in epoch 1 (by step 4) with finite losses: weights conv1.weight"));
    graft_optimizer_free(o);
    graft_model_free(m);

    /* Skip: logits of +-3e38 give every step a NaN loss (0 * -inf) with
     * finite weights; every step is skipped and counted, none updates. */
    m = make_model(ctx, &o);
    poison_bias(m, 3e38f);
    cfg.on_nan = GRAFT_NAN_SKIP;
    CHECK(graft_train(m, o, good, NULL, &cfg, &res) == GRAFT_OK);
    CHECK(res.skipped_steps == 2 * (N / 5) && res.nepochs == 2);
    CHECK(graft_optimizer_steps(o) == 0);
    CHECK(graft_model_save(m, NULL, a) == GRAFT_OK); /* refuses non-finite tensors */
    graft_train_result_free(&res);
    graft_optimizer_free(o);
    graft_model_free(m);

    /* A stop request after the first step: a checkpoint inside epoch 1
     * from which the run resumes to the same weights as one uninterrupted. */
    volatile sig_atomic_t stop = 1;
    m = make_model(ctx, &o);
    cfg = config();
    cfg.stop = &stop;
    cfg.ckpt_path = ckpt;
    CHECK(graft_train(m, o, good, NULL, &cfg, &res) == GRAFT_OK);
    CHECK(res.interrupted && res.interrupted_epoch == 1 && res.interrupted_batch == 1);
    CHECK(res.nepochs == 0 && graft_optimizer_steps(o) == 1);
    graft_train_result_free(&res);
    graft_optimizer_free(o);
    graft_model_free(m);
    m = make_model(ctx, &o);
    int epoch = -1;
    CHECK(graft_checkpoint_load(m, o, ckpt, &epoch) == GRAFT_OK && epoch == 0);
    cfg = config();
    cfg.start_epoch = epoch;
    CHECK(graft_train(m, o, good, NULL, &cfg, &res) == GRAFT_OK && !res.interrupted);
    CHECK(res.nepochs == 2 && graft_optimizer_steps(o) == 2 * (N / 5));
    CHECK(graft_model_save(m, NULL, a) == GRAFT_OK);
    graft_train_result_free(&res);
    graft_optimizer_free(o);
    graft_model_free(m);
    m = make_model(ctx, &o);
    CHECK(graft_train(m, o, good, NULL, &cfg, &res) == GRAFT_OK);
    CHECK(graft_model_save(m, NULL, b) == GRAFT_OK);
    graft_train_result_free(&res);
    graft_optimizer_free(o);
    graft_model_free(m);
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int x = fgetc(fa), y = fgetc(fb);
        if (x != y) same = 0;
        if (x == EOF || y == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    CHECK(same);
    remove(a);
    remove(b);
    remove(ckpt);

    graft_dataset_free(nan);
    graft_dataset_free(good);
    graft_ctx_destroy(ctx);
    if (failures) fprintf(stderr, "%d checks failed\n", failures);
    return failures ? 1 : 0;
}
