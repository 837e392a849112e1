/* Prediction on image files (graft_eval.h): decoding on a helper thread
 * overlaps the device's forward pass of the previous batch. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "graft_data.h"
#include "graft_eval.h"
#include "graft_train.h"
#include "model.h"
#include "pass_progress.h"

/* One batch being decoded: x holds n normalised images, errs the reason
 * for each file that could not be read. */
typedef struct batch_job {
    const char *const *paths;
    int n;
    int c, h, w;
    const float *mean, *std;
    float *x;
    char **errs;
    pthread_t th;
    int running;
} batch_job;

static const char oom_msg[] = "out of memory";

static void *decode_batch(void *arg)
{
    batch_job *j = arg;
    size_t sz = (size_t)j->c * j->h * j->w;
    for (int i = 0; i < j->n; i++) {
        char err[2048] = "";
        j->errs[i] = NULL;
        if (graft_image_load(j->paths[i], j->c, j->h, j->w, j->x + i * sz, err, sizeof err) != GRAFT_OK) {
            j->errs[i] = strdup(err);
            if (!j->errs[i]) j->errs[i] = (char *)oom_msg;
            continue;
        }
        if (j->mean && j->std) graft_image_normalize(j->x + i * sz, j->c, j->h * j->w, j->mean, j->std);
    }
    return NULL;
}

static void job_start(batch_job *j, const char *const *paths, int n)
{
    j->paths = paths;
    j->n = n;
    if (n > 0 && pthread_create(&j->th, NULL, decode_batch, j) == 0) j->running = 1;
    else decode_batch(j); /* no thread: decode here */
}

static void job_wait(batch_job *j)
{
    if (j->running) pthread_join(j->th, NULL);
    j->running = 0;
}

static void job_clear_errs(batch_job *j)
{
    for (int i = 0; j->errs && i < j->n; i++) {
        if (j->errs[i] != oom_msg) free(j->errs[i]);
        j->errs[i] = NULL;
    }
}

/* Softmax of l[K] into p, and the `top` most likely classes (ties: lower
 * index first) into order. */
static void softmax_rank(const float *l, int K, float *p, int *order, int top)
{
    float mx = l[0];
    for (int c = 1; c < K; c++) mx = l[c] > mx ? l[c] : mx;
    double z = 0;
    for (int c = 0; c < K; c++) z += exp((double)l[c] - mx);
    for (int c = 0; c < K; c++) p[c] = (float)(exp((double)l[c] - mx) / z);
    for (int r = 0; r < top; r++) {
        int best = -1;
        for (int c = 0; c < K; c++) {
            int used = 0;
            for (int q = 0; q < r; q++) used |= order[q] == c;
            if (!used && (best < 0 || p[c] > p[best])) best = c;
        }
        order[r] = best;
    }
}

/* Reports one batch: its unreadable files, then (unless they stop the run)
 * the predictions of the rest. */
static graft_status run_batch(graft_model *m, batch_job *j, const graft_predict_config *cfg,
                              int first, int K, int top, float *xb, int *idx, float *logits,
                              float *prob, int *order, float *tprob, graft_prediction_fn fn,
                              void *user, int *nbad)
{
    size_t sz = (size_t)j->c * j->h * j->w;
    int g = 0, bad = 0;
    for (int i = 0; i < j->n; i++) {
        if (j->errs[i]) {
            graft_prediction p = {first + i, j->paths[i], j->errs[i], 0, NULL, NULL};
            bad++;
            graft_status s = fn(user, &p);
            if (s != GRAFT_OK) return s;
            continue;
        }
        memcpy(xb + (size_t)g * sz, j->x + (size_t)i * sz, sz * sizeof(float));
        idx[g++] = i;
    }
    *nbad += bad;
    if (bad && !cfg->skip_bad)
        return ctx_fail(m->ctx, GRAFT_ERR_FORMAT, "stopping at a bad file");
    if (g > 0) TRY(graft_model_forward(m, xb, g, 0, logits));
    for (int q = 0; q < g; q++) {
        softmax_rank(logits + (size_t)q * K, K, prob, order, top);
        for (int r = 0; r < top; r++) tprob[r] = prob[order[r]];
        graft_prediction p = {first + idx[q], j->paths[idx[q]], NULL, top, order, tprob};
        TRY(fn(user, &p));
    }
    return GRAFT_OK;
}

graft_status graft_predict_files(graft_model *m, const char *const *paths, int n,
                                 const graft_predict_config *cfg, graft_prediction_fn fn,
                                 void *user, int *nbad)
{
    int bad = 0;
    if (nbad) *nbad = 0;
    if (n <= 0) return GRAFT_OK;
    int c, h, w, K;
    graft_model_node_shape(m, 0, &c, &h, &w);
    graft_model_node_shape(m, graft_model_num_nodes(m) - 1, &K, NULL, NULL);
    if (c != 1 && c != 3)
        return ctx_fail(m->ctx, GRAFT_ERR_UNSUPPORTED,
                        "the model expects %d input channels; image input needs 1 or 3", c);
    if (cfg->batch < 1 || cfg->top < 1)
        return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "predict: batch %d and top %d must be >= 1",
                        cfg->batch, cfg->top);
    int top = cfg->top < K ? cfg->top : K;
    int batch = cfg->batch < n ? cfg->batch : n;
    TRY(graft_model_check_memory(m, batch, 0, GRAFT_OPT_SGD, NULL));
    size_t sz = (size_t)c * h * w;
    batch_job jobs[2];
    memset(jobs, 0, sizeof jobs);
    graft_status s = GRAFT_OK;
    for (int b = 0; b < 2; b++) {
        jobs[b].c = c;
        jobs[b].h = h;
        jobs[b].w = w;
        jobs[b].mean = cfg->mean;
        jobs[b].std = cfg->std;
        jobs[b].x = malloc((size_t)batch * sz * sizeof(float));
        jobs[b].errs = calloc((size_t)batch, sizeof(char *));
        if (!jobs[b].x || !jobs[b].errs) s = GRAFT_ERR_HOST_MEMORY;
    }
    float *xb = malloc((size_t)batch * sz * sizeof(float)); /* the readable images, packed */
    float *logits = malloc((size_t)batch * K * sizeof *logits);
    float *prob = malloc((size_t)K * sizeof *prob), *tprob = malloc((size_t)top * sizeof *tprob);
    int *idx = malloc((size_t)batch * sizeof *idx), *order = malloc((size_t)top * sizeof *order);
    if (!xb || !logits || !prob || !tprob || !idx || !order) s = GRAFT_ERR_HOST_MEMORY;
    if (s != GRAFT_OK)
        s = ctx_fail(m->ctx, s, "out of memory for a batch of %d images", batch);
    int cur = 0, next = 0;
    long nb = 0;
    pass_progress pp;
    pass_progress_begin(&pp, m->ctx, NULL, NULL, "predict", (n + batch - 1) / batch);
    if (s == GRAFT_OK) {
        job_start(&jobs[0], paths, batch);
        next = batch;
    }
    while (s == GRAFT_OK) {
        batch_job *j = &jobs[cur], *nj = &jobs[cur ^ 1];
        job_wait(j);
        if (j->n == 0) break;
        /* Decode the next batch while this one runs on the device. */
        int nn = n - next < batch ? n - next : batch;
        job_start(nj, paths + next, nn);
        s = run_batch(m, j, cfg, next - j->n, K, top, xb, idx, logits, prob, order, tprob, fn,
                      user, &bad);
        next += nn;
        if (s == GRAFT_OK) pass_progress_report(&pp, ++nb, next - nn);
        job_clear_errs(j);
        j->n = 0;
        cur ^= 1;
    }
    for (int b = 0; b < 2; b++) {
        job_wait(&jobs[b]);
        job_clear_errs(&jobs[b]);
        free(jobs[b].x);
        free(jobs[b].errs);
    }
    free(xb);
    free(logits);
    free(prob);
    free(tprob);
    free(idx);
    free(order);
    if (nbad) *nbad = bad;
    return s;
}
