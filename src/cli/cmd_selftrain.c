/* graft selftrain: self-training with pseudo-labels from an unlabelled
 * pool. Every round re-fine-tunes from the source model (not from the
 * previous round's model) on the labelled set plus the current
 * pseudo-labels, so a round's mistakes are not baked into the weights
 * the next round starts from; only the pseudo-labels carry over. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "clock.h"
#include "dataset.h"
#include "train.h"
#include "transfer.h"
#include "finetune_run.h"
#include "pseudolabel.h"
#include "textbuf.h"
#include "progress.h"

typedef struct round_info {
    int kept, known, correct, ntrain;
    int *per_class; /* nclasses: kept */
    int *candidates; /* nclasses: pool predictions at or above the threshold */
    double test_acc, seconds;
} round_info;


/* labelled + pool images idx with pseudo-labels. Caller owns *out. */
static int build_train(const char *cmd, const dataset *lab, const dataset *pool,
                       const pseudolabel_result *pl, dataset **out)
{
    char err[512];
    dataset *d = NULL;
    if (dataset_create(lab->c, lab->h, lab->w, lab->nclasses, (const char *const *)lab->class_names,
                       &d, err, sizeof err) != GRAFT_OK)
        goto fail;
    for (int i = 0; i < lab->n; i++)
        if (dataset_append(d, dataset_image(lab, i), lab->y[i], NULL, err, sizeof err) != GRAFT_OK)
            goto fail;
    for (int i = 0; i < pl->n; i++)
        if (dataset_append(d, dataset_image(pool, pl->indices[i]), pl->labels[i], NULL, err,
                           sizeof err) != GRAFT_OK)
            goto fail;
    *out = d;
    return 0;
fail:
    fprintf(stderr, "%s: %s\n", cmd, err);
    dataset_free(d);
    return 1;
}

static int test_accuracy(const char *cmd, graft_model *m, const dataset *test,
                         const graft_model_meta *meta, int batch, double *acc)
{
    eval_result er;
    memset(&er, 0, sizeof er);
    char err[1024];
    if (evaluate(m, test, meta->mean, meta->std, batch, 0, &er, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        return 1;
    }
    *acc = er.top1;
    eval_result_free(&er);
    return 0;
}

static int write_json(const char *cmd, const char *path, const round_info *r, int nr, int nclasses,
                      float threshold, int cap, int npool, int nlab, const char *out)
{
    textbuf tb = {0};
    tb_printf(&tb, "{\"command\":\"selftrain\",\"labelled\":%d,\"pool\":%d,\"threshold\":%g,"
                   "\"per_class_cap\":%d,\"rounds\":[", nlab, npool, (double)threshold, cap);
    for (int i = 0; i < nr; i++) {
        tb_printf(&tb, "%s{\"round\":%d,\"kept\":%d,\"per_class\":[", i ? "," : "", i, r[i].kept);
        for (int c = 0; c < nclasses; c++) tb_printf(&tb, "%s%d", c ? "," : "", r[i].per_class[c]);
        tb_printf(&tb, "],\"candidates\":[");
        for (int c = 0; c < nclasses; c++) tb_printf(&tb, "%s%d", c ? "," : "", r[i].candidates[c]);
        tb_printf(&tb, "],\"checked\":%d,\"correct\":%d,", r[i].known, r[i].correct);
        if (r[i].known) tb_printf(&tb, "\"pseudo_accuracy\":%.6f,", (double)r[i].correct / r[i].known);
        else tb_printf(&tb, "\"pseudo_accuracy\":null,");
        tb_printf(&tb, "\"train\":%d,\"test_accuracy\":%.6f,\"seconds\":%.3f}", r[i].ntrain,
                  r[i].test_acc, r[i].seconds);
    }
    tb_printf(&tb, "],\"final_test_accuracy\":%.6f,\"out\":", nr ? r[nr - 1].test_acc : 0.0);
    tb_json_str(&tb, out);
    tb_printf(&tb, "}\n");
    int rc = tb_write(&tb, cmd, path);
    tb_free(&tb);
    return rc;
}

int cmd_selftrain(int argc, char **argv)
{
    const char *cmd = "graft selftrain";
    common_opts co = {NULL, 0, 1};
    train_opts to;
    trainopts_defaults(&to);
    to.data = NULL;
    to.epochs = 15;
    to.batch = 32;
    const char *from = NULL, *out = "selftrained.graft", *pool_spec = NULL, *pool_classes = NULL;
    const char *json = NULL;
    int rounds = 2, cap = 0, pool_per_class = 0;
    float threshold = 0.9f;
    finetune_cli fc;
    finetune_cli_defaults(&fc);
    opt opts[] = {
        {"from", OPT_STRING, &from, "MODEL", "pretrained source model (.graft), required", 0, 0},
        {"unlabelled", OPT_STRING, &pool_spec, "SPEC", "the unlabelled pool (required; any data "
         "form; labels, if any, are only used to report pseudo-label accuracy)", 0, 0},
        {"unlabelled-classes", OPT_STRING, &pool_classes, "LIST", "classes of the pool to use "
         "(default: same as --classes)", 0, 0},
        {"unlabelled-per-class", OPT_INT, &pool_per_class, "N", "seeded sample of N pool images "
         "per class", 1, 100000000},
        {"rounds", OPT_INT, &rounds, "R", "pseudo-labelling rounds after round 0 (default 2)", 0, 1000},
        {"threshold", OPT_FLOAT, &threshold, "T", "keep predictions with a top probability of at "
         "least T (default 0.9; above 1 keeps none)", 0, 1000},
        {"per-class-cap", OPT_INT, &cap, "N", "keep at most N pseudo-labels per class, the most "
         "confident (default 0 = no cap)", 0, 100000000},
        {"json", OPT_STRING, &json, "PATH", "write the per-round results as JSON", 0, 0},
        FINETUNE_OPTS(fc),
        TRAINOPTS_DATA(to),
        TRAINOPTS_TRAIN(to),
        {"out", OPT_STRING, &out, "PATH", "final model file (default selftrained.graft)", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft selftrain --from MODEL --data LABELLED --unlabelled POOL [OPTIONS]",
                     "Self-training: round 0 fine-tunes on the labelled data; every further round\n"
                     "predicts the pool, keeps the confident predictions as pseudo-labels (at most\n"
                     "--per-class-cap per class) and fine-tunes again from the source model on the\n"
                     "labelled data plus the pseudo-labelled images. Each round is evaluated on\n"
                     "--eval-data (default: the test split of an IDX source).",
                     opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int rc = args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if (!from || !to.data || !pool_spec) {
        fprintf(stderr, "%s: --from, --data and --unlabelled are required (see --help)\n", cmd);
        return EXIT_USAGE;
    }
    graft_finetune_params fo;
    if (finetune_cli_check(cmd, &fc, &to, &fo)) return EXIT_USAGE;

    graft_ctx *ctx = cli_open_device(cmd, &co);
    if (!ctx) return 1;
    int status = 1;
    graft_model *src = NULL, *m = NULL;
    graft_model_meta smeta, meta;
    memset(&smeta, 0, sizeof smeta);
    memset(&meta, 0, sizeof meta);
    dataset *lab = NULL, *test = NULL, *pool = NULL, *mix = NULL;
    const char *eval_name = NULL;
    train_result tres;
    memset(&tres, 0, sizeof tres);
    eval_result pe;
    memset(&pe, 0, sizeof pe);
    pseudolabel_result pl;
    memset(&pl, 0, sizeof pl);
    round_info *ri = NULL;
    int *truth = NULL, nr = 0;
    char err[1024] = "";

    if (graft_model_load(ctx, from, &src, &smeta) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, graft_last_error(ctx));
        goto done;
    }
    int c, h, w;
    graft_model_node_shape(src, 0, &c, &h, &w);
    if ((rc = trainopts_load(cmd, &to, &co, c, h, w, &lab, &test, &eval_name))) {
        status = rc;
        goto done;
    }
    if (!test) {
        fprintf(stderr, "%s: no evaluation data: give --eval-data or --val-split\n", cmd);
        status = EXIT_USAGE;
        goto done;
    }
    /* A different sampling seed than the labelled set's. */
    data_request pr = {pool_spec, SPLIT_TRAIN, c, h, w, to.skip_bad,
                       pool_classes ? pool_classes : to.classes, pool_per_class,
                       (uint64_t)co.seed + 7, co.quiet};
    if ((rc = cli_load_data(cmd, &pr, &pool))) {
        status = rc;
        goto done;
    }
    if (finetune_meta(cmd, &to, lab, &smeta, &meta)) goto done;
    if (finetune_cli_freeze(cmd, &fc, src, from, &fo)) goto done;
    /* True pool labels in the labelled set's classes, matched by name;
     * -1 where the pool's class is not one of them. */
    truth = malloc(sizeof(int) * (size_t)(pool->n ? pool->n : 1));
    ri = calloc((size_t)rounds + 1, sizeof *ri);
    if (!truth || !ri) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        goto done;
    }
    for (int i = 0; i < pool->n; i++) {
        truth[i] = -1;
        for (int k = 0; k < lab->nclasses; k++)
            if (!strcmp(pool->class_names[pool->y[i]], lab->class_names[k])) truth[i] = k;
    }
    if (!co.quiet)
        printf("%s: %s from %s; %d labelled images of %d classes, pool of %d, %s set of %d\n", cmd,
               graft_strategy_name(fo.strategy), from, lab->n, lab->nclasses, pool->n, eval_name,
               test->n);
    common_opts qco = co;
    qco.quiet = 1;
    for (int r = 0; r <= rounds; r++) {
        double t0 = now_seconds();
        round_info *R = &ri[r];
        R->per_class = calloc((size_t)lab->nclasses, sizeof *R->per_class);
        R->candidates = calloc((size_t)lab->nclasses, sizeof *R->candidates);
        if (!R->per_class || !R->candidates) {
            fprintf(stderr, "%s: out of memory\n", cmd);
            goto done;
        }
        nr = r + 1;
        const dataset *train = lab;
        if (r > 0) {
            pseudolabel_result_free(&pl);
            eval_result_free(&pe);
            if (evaluate(m, pool, meta.mean, meta.std, to.batch, 1, &pe, err, sizeof err) != GRAFT_OK) {
                fprintf(stderr, "%s: round %d: %s\n", cmd, r, err);
                goto done;
            }
            /* Above 1 nothing qualifies; pseudolabel_select wants [0, 1]. */
            if (pseudolabel_select(pe.probs, pool->n, lab->nclasses,
                                   threshold > 1.0f ? 1.0f : threshold, cap, &pl, err,
                                   sizeof err) != GRAFT_OK) {
                fprintf(stderr, "%s: round %d: %s\n", cmd, r, err);
                goto done;
            }
            if (threshold > 1.0f) pl.n = 0;
            for (int i = 0; i < pool->n; i++) {
                const float *p = pe.probs + (size_t)i * lab->nclasses;
                int b = 0;
                for (int k = 1; k < lab->nclasses; k++)
                    if (p[k] > p[b]) b = k;
                if (p[b] >= threshold) R->candidates[b]++;
            }
                for (int i = 0; i < pl.n; i++) {
                R->per_class[pl.labels[i]]++;
                int t = truth[pl.indices[i]];
                if (t >= 0) {
                    R->known++;
                    R->correct += t == pl.labels[i];
                }
            }
            R->kept = pl.n;
            dataset_free(mix);
            mix = NULL;
            if (build_train(cmd, lab, pool, &pl, &mix)) goto done;
            train = mix;
        }
        R->ntrain = train->n;
        if (r > 0 && R->kept == 0) {
            /* Same data and seed as round 0: the model would be the same. */
            R->test_acc = ri[r - 1].test_acc;
        } else {
            graft_model *nm = NULL;
            train_result_free(&tres);
            if (finetune_run(cmd, src, train, NULL, NULL, &meta, &fo, &to, &qco,
                             (uint64_t)co.seed, NULL, &nm, &tres))
                goto done;
            graft_model_free(m);
            m = nm;
            if (test_accuracy(cmd, m, test, &meta, to.batch, &R->test_acc)) goto done;
        }
        R->seconds = now_seconds() - t0;
        if (r == 0) {
            printf("round 0: %d labelled, %s accuracy %.2f%%  (%.1f s)\n", lab->n, eval_name,
                   100 * R->test_acc, R->seconds);
        } else {
            printf("round %d: kept %d pseudo-labels [", r, R->kept);
            for (int k = 0; k < lab->nclasses; k++) printf("%s%d", k ? " " : "", R->per_class[k]);
            printf("]");
            if (R->known)
                printf(", %d/%d correct (%.1f%%)", R->correct, R->known,
                       100.0 * R->correct / R->known);
            printf(", train %d, %s accuracy %.2f%%  (%.1f s)\n", R->ntrain, eval_name,
                   100 * R->test_acc, R->seconds);
        }
        fflush(stdout);
    }
    if (graft_model_save(m, &meta, out) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, graft_last_error(ctx));
        goto done;
    }
    if (json && write_json(cmd, json, ri, nr, lab->nclasses, threshold, cap, pool->n, lab->n, out))
        goto done;
    printf("final %s accuracy %.2f%%; wrote %s\n", eval_name, 100 * ri[nr - 1].test_acc, out);
    status = 0;
done:
    if (ri)
        for (int r = 0; r <= rounds; r++) {
            free(ri[r].per_class);
            free(ri[r].candidates);
        }
    free(ri);
    free(truth);
    pseudolabel_result_free(&pl);
    eval_result_free(&pe);
    train_result_free(&tres);
    graft_model_free(m);
    graft_model_free(src);
    graft_model_meta_free(&meta);
    graft_model_meta_free(&smeta);
    dataset_free(lab);
    dataset_free(test);
    dataset_free(pool);
    dataset_free(mix);
    graft_ctx_destroy(ctx);
    return status;
}
