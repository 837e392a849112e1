/* graft predict: classify PNG files with a trained model. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "dataset.h"
#include "modelcli.h"
#include "textbuf.h"

#define CMD "graft predict"

/* ------------------------------------------------------------ file list */

typedef struct path_list {
    char **v;
    int n, cap;
} path_list;

static int pl_add(path_list *pl, const char *p)
{
    if (pl->n == pl->cap) {
        int cap = pl->cap ? pl->cap * 2 : 256;
        char **v = realloc(pl->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        pl->v = v;
        pl->cap = cap;
    }
    if (!(pl->v[pl->n] = strdup(p))) return -1;
    pl->n++;
    return 0;
}

static void pl_free(path_list *pl)
{
    for (int i = 0; i < pl->n; i++) free(pl->v[i]);
    free(pl->v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_png_ext(const char *name)
{
    size_t L = strlen(name);
    if (L < 4) return 0;
    const char *e = name + L - 4;
    return e[0] == '.' && (e[1] | 32) == 'p' && (e[2] | 32) == 'n' && (e[3] | 32) == 'g';
}

/* Every *.png under dir (recursive; hidden entries skipped), sorted. */
static int scan_dir(const char *dir, path_list *pl, int depth)
{
    if (depth > 64) {
        fprintf(stderr, CMD ": %s: directories nested too deeply\n", dir);
        return -1;
    }
    DIR *dp = opendir(dir);
    if (!dp) {
        fprintf(stderr, CMD ": cannot read directory %s: %s\n", dir, strerror(errno));
        return -1;
    }
    path_list local = {0};
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.') continue;
        size_t L = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(L);
        if (!p) {
            rc = -1;
            break;
        }
        snprintf(p, L, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && (S_ISDIR(st.st_mode) || (S_ISREG(st.st_mode) && has_png_ext(p))))
            rc = pl_add(&local, p);
        free(p);
        if (rc) break;
    }
    closedir(dp);
    if (rc) {
        fprintf(stderr, CMD ": out of memory listing %s\n", dir);
        pl_free(&local);
        return -1;
    }
    qsort(local.v, (size_t)local.n, sizeof *local.v, cmp_str);
    for (int i = 0; i < local.n && !rc; i++) {
        struct stat st;
        if (stat(local.v[i], &st) == 0 && S_ISDIR(st.st_mode)) rc = scan_dir(local.v[i], pl, depth + 1);
        else if (pl_add(pl, local.v[i])) {
            fprintf(stderr, CMD ": out of memory\n");
            rc = -1;
        }
    }
    pl_free(&local);
    return rc;
}

/* ------------------------------------------------- background decoding */

typedef struct batch_job {
    char **paths;
    int n;
    int c, h, w;
    const float *mean, *std;
    float *x;          /* n x c x h x w, normalised */
    char **errs;       /* per image: NULL or a malloc'd message */
    pthread_t th;
    int running;
} batch_job;

static const char oom_msg[] = "out of memory";

static void *decode_batch(void *arg)
{
    batch_job *j = arg;
    size_t sz = (size_t)j->c * j->h * j->w;
    for (int i = 0; i < j->n; i++) {
        char err[1024] = "";
        float *pix = NULL;
        int pw = 0, ph = 0;
        j->errs[i] = NULL;
        if (png_decode_file(j->paths[i], j->c, &pix, &pw, &ph, err, sizeof err) != GRAFT_OK) {
            /* Name the file unless the decoder's message already does. */
            char msg[2048];
            if (strstr(err, j->paths[i])) snprintf(msg, sizeof msg, "%s", err);
            else snprintf(msg, sizeof msg, "%s: %s", j->paths[i], err[0] ? err : "cannot decode");
            j->errs[i] = strdup(msg);
            if (!j->errs[i]) j->errs[i] = (char *)oom_msg;
            continue;
        }
        preprocess_resize_crop(pix, j->c, ph, pw, j->x + i * sz, j->h, j->w);
        preprocess_normalize(j->x + i * sz, j->c, j->h * j->w, j->mean, j->std);
        free(pix);
    }
    return NULL;
}

static int job_start(batch_job *j, char **paths, int n)
{
    j->paths = paths;
    j->n = n;
    if (pthread_create(&j->th, NULL, decode_batch, j) != 0) {
        decode_batch(j); /* no thread: decode here */
        return 0;
    }
    j->running = 1;
    return 0;
}

static void job_wait(batch_job *j)
{
    if (j->running) pthread_join(j->th, NULL);
    j->running = 0;
}

static void job_clear_errs(batch_job *j)
{
    if (!j->errs) return;
    for (int i = 0; i < j->n; i++) {
        if (j->errs[i] != oom_msg) free(j->errs[i]);
        j->errs[i] = NULL;
    }
}

/* -------------------------------------------------------------- command */

static void softmax_rank(const float *l, int K, double *p, int *order, int top)
{
    float mx = l[0];
    for (int c = 1; c < K; c++) mx = l[c] > mx ? l[c] : mx;
    double z = 0;
    for (int c = 0; c < K; c++) z += (p[c] = exp((double)l[c] - mx));
    for (int c = 0; c < K; c++) p[c] /= z;
    /* Partial selection of the top entries (ties: lower index first). */
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

int cmd_predict(int argc, char **argv)
{
    common_opts co = {NULL, 0, 1};
    const char *model = NULL, *csv = NULL;
    int top = 1, batch = 256, skip_bad = 0;
    opt opts[] = {
        {"model", OPT_STRING, &model, "PATH", "model file (required)", 0, 0},
        {"top", OPT_INT, &top, "K", "also show the K most likely classes (default 1)", 1, 1000},
        {"csv", OPT_STRING, &csv, "PATH", "write path,label,prob,rank2_label,rank2_prob,... to PATH "
         "('-': to standard output instead of the table)", 0, 0},
        {"batch", OPT_INT, &batch, "N", "images per forward pass (default 256)", 1, 65536},
        {"skip-bad", OPT_FLAG, &skip_bad, NULL, "skip unreadable files (counted and reported) "
         "instead of stopping", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft predict --model PATH [OPTIONS] IMAGE.png... | DIR...",
                     "Classifies PNG images: each is decoded to the model's channels, resized\n"
                     "(shorter side) and centre-cropped to its input size, normalised with the\n"
                     "model's statistics and run in batches. A directory stands for every *.png\n"
                     "below it (recursively, sorted by path). Prints path, predicted label and\n"
                     "probability (and the next K-1 classes with --top K).",
                     opts, (int)(sizeof opts / sizeof opts[0]), 1 << 30};
    char **pos = NULL;
    int npos = 0;
    int rc = args_parse(&spec, argc, argv, &pos, &npos);
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if (!model || npos == 0) {
        fprintf(stderr, CMD ": %s (see --help)\n",
                !model ? "--model PATH is required" : "give PNG files or directories");
        free(pos);
        return EXIT_USAGE;
    }
    int status = 1;
    path_list pl = {0};
    for (int i = 0; i < npos; i++) {
        struct stat st;
        if (stat(pos[i], &st) != 0) {
            fprintf(stderr, CMD ": %s: %s\n", pos[i], strerror(errno));
            if (!skip_bad) goto early;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (scan_dir(pos[i], &pl, 0)) goto early;
        } else if (pl_add(&pl, pos[i])) {
            fprintf(stderr, CMD ": out of memory\n");
            goto early;
        }
    }
    if (pl.n == 0) {
        fprintf(stderr, CMD ": no PNG files found\n");
        goto early;
    }

    graft_ctx *ctx = cli_open_device(CMD, &co);
    if (!ctx) goto early;
    graft_model *m = NULL;
    graft_model_meta meta;
    memset(&meta, 0, sizeof meta);
    batch_job jobs[2];
    memset(jobs, 0, sizeof jobs);
    float *logits = NULL;
    double *prob = NULL;
    int *order = NULL;
    textbuf tb = {0};
    if (cli_load_model(CMD, ctx, model, &m, &meta)) goto done;
    int c, h, w, K = cli_model_classes(m);
    graft_model_node_shape(m, 0, &c, &h, &w);
    if (c != 1 && c != 3) {
        fprintf(stderr, CMD ": %s expects %d input channels; PNG input needs 1 or 3\n", model, c);
        goto done;
    }
    if (top > K) top = K;
    if (batch > pl.n) batch = pl.n;
    size_t sz = (size_t)c * h * w;
    for (int b = 0; b < 2; b++) {
        jobs[b].c = c;
        jobs[b].h = h;
        jobs[b].w = w;
        jobs[b].mean = meta.mean;
        jobs[b].std = meta.std;
        jobs[b].x = malloc((size_t)batch * sz * sizeof(float));
        jobs[b].errs = calloc((size_t)batch, sizeof(char *));
        if (!jobs[b].x || !jobs[b].errs) {
            fprintf(stderr, CMD ": out of memory for a batch of %d images\n", batch);
            goto done;
        }
    }
    logits = malloc((size_t)batch * K * sizeof *logits);
    prob = malloc((size_t)K * sizeof *prob);
    order = malloc((size_t)top * sizeof *order);
    float *xb = malloc((size_t)batch * sz * sizeof(float)); /* compacted good images */
    int *idx = malloc((size_t)batch * sizeof *idx);
    if (!logits || !prob || !order || !xb || !idx) {
        free(xb);
        free(idx);
        fprintf(stderr, CMD ": out of memory\n");
        goto done;
    }

    /* Column widths from all paths and class names. */
    int pw = 4, lw = 5;
    for (int i = 0; i < pl.n; i++) {
        int L = (int)strlen(pl.v[i]);
        if (L > pw) pw = L > 60 ? 60 : L;
    }
    char nb[32];
    for (int k = 0; k < K; k++) {
        int L = (int)strlen(cli_class_name(&meta, k, nb, sizeof nb));
        if (L > lw) lw = L > 24 ? 24 : L;
    }
    int to_stdout_csv = csv && !strcmp(csv, "-");
    if (csv) {
        tb_printf(&tb, "path,label,prob");
        for (int r = 2; r <= top; r++) tb_printf(&tb, ",rank%d_label,rank%d_prob", r, r);
        tb_printf(&tb, "\n");
    }
    if (!to_stdout_csv) {
        printf("%-*s  %-*s  %6s", pw, "path", lw, "label", "prob");
        for (int r = 2; r <= top; r++) {
            char l[16], q[16];
            snprintf(l, sizeof l, "label%d", r);
            snprintf(q, sizeof q, "prob%d", r);
            printf("  %-*s  %6s", lw, l, q);
        }
        printf("\n");
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int done_n = 0, bad = 0, cur = 0, next = 0;
    job_start(&jobs[0], pl.v, batch < pl.n ? batch : pl.n);
    next = jobs[0].n;
    while (1) {
        batch_job *j = &jobs[cur];
        job_wait(j);
        if (j->n == 0) break;
        /* Decode the next batch while this one runs on the device. */
        batch_job *nj = &jobs[cur ^ 1];
        int nn = pl.n - next < batch ? pl.n - next : batch;
        nj->n = 0;
        if (nn > 0) job_start(nj, pl.v + next, nn);
        next += nn;
        int g = 0;
        for (int i = 0; i < j->n; i++) {
            if (j->errs[i]) {
                fprintf(stderr, CMD ": %s%s\n", skip_bad ? "skipped: " : "", j->errs[i]);
                bad++;
                continue;
            }
            memcpy(xb + (size_t)g * sz, j->x + (size_t)i * sz, sz * sizeof(float));
            idx[g++] = i;
        }
        if (bad && !skip_bad) {
            fprintf(stderr, CMD ": stopping at a bad file (use --skip-bad to skip such files)\n");
            job_wait(nj);
            job_clear_errs(nj);
            job_clear_errs(j);
            free(xb);
            free(idx);
            goto done;
        }
        if (g > 0 && graft_model_forward(m, xb, g, 0, logits) != GRAFT_OK) {
            fprintf(stderr, CMD ": %s\n", graft_last_error(ctx));
            job_wait(nj);
            job_clear_errs(nj);
            job_clear_errs(j);
            free(xb);
            free(idx);
            goto done;
        }
        for (int q = 0; q < g; q++) {
            const char *path = j->paths[idx[q]];
            softmax_rank(logits + (size_t)q * K, K, prob, order, top);
            if (!to_stdout_csv) {
                printf("%-*s  %-*s  %6.4f", pw, path, lw,
                       cli_class_name(&meta, order[0], nb, sizeof nb), prob[order[0]]);
                for (int r = 1; r < top; r++)
                    printf("  %-*s  %6.4f", lw, cli_class_name(&meta, order[r], nb, sizeof nb),
                           prob[order[r]]);
                printf("\n");
            }
            if (csv) {
                tb_csv_field(&tb, path);
                for (int r = 0; r < top; r++) {
                    tb_printf(&tb, ",");
                    tb_csv_field(&tb, cli_class_name(&meta, order[r], nb, sizeof nb));
                    tb_printf(&tb, ",%.6f", prob[order[r]]);
                }
                tb_printf(&tb, "\n");
            }
        }
        done_n += g;
        job_clear_errs(j);
        cur ^= 1;
    }
    free(xb);
    free(idx);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (to_stdout_csv) {
        if (tb.failed) fprintf(stderr, CMD ": out of memory building the CSV\n");
        else fwrite(tb.s, 1, tb.len, stdout);
        if (tb.failed) goto done;
    } else if (csv && tb_write(&tb, CMD, csv)) {
        goto done;
    }
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (!co.quiet)
        fprintf(stderr, CMD ": %d images in %.2f s (%.0f images/s)%s%s\n", done_n, secs,
                secs > 0 ? done_n / secs : 0.0, csv && !to_stdout_csv ? "; wrote " : "",
                csv && !to_stdout_csv ? csv : "");
    if (bad) fprintf(stderr, CMD ": skipped %d bad file%s\n", bad, bad == 1 ? "" : "s");
    status = 0;
done:
    for (int b = 0; b < 2; b++) {
        job_wait(&jobs[b]);
        job_clear_errs(&jobs[b]);
        free(jobs[b].x);
        free(jobs[b].errs);
    }
    tb_free(&tb);
    free(logits);
    free(prob);
    free(order);
    if (m) graft_model_meta_free(&meta);
    graft_model_free(m);
    graft_ctx_destroy(ctx);
early:
    pl_free(&pl);
    free(pos);
    return status;
}
