/* graft compare: does transfer pay off? Trains "arms" (scratch, linear
 * probe, fine-tuning, fine-tuning above a frozen cached prefix, gradual
 * unfreezing) on the same target data with the same budget, records
 * accuracy over training time and writes a report. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "args.h"
#include "cli.h"
#include "common.h"
#include "dataset.h"
#include "finetune_run.h"
#include "report.h"
#include "train.h"
#include "trainopts.h"
#include "transfer.h"

#define MAX_ARMS 5
#define ARM_SCRATCH (-1) /* beside the transfer_strategy values */
#define ARM_PARTIAL (-2) /* finetune above a frozen, cached prefix */

typedef struct arm_def {
    const char *name;
    int kind; /* ARM_SCRATCH or a transfer_strategy */
} arm_def;

/* Parses "scratch,linear-probe,finetune"; 0 on success. */
static int parse_arms(const char *cmd, const char *s, arm_def *arms, int *narms)
{
    static const char *const names[] = {"scratch", "linear-probe", "finetune", "partial",
                                        "gradual"};
    static const int kinds[] = {ARM_SCRATCH, STRATEGY_LINEAR_PROBE, STRATEGY_FINETUNE,
                                ARM_PARTIAL, STRATEGY_GRADUAL};
    char buf[256];
    if (strlen(s) >= sizeof buf) {
        fprintf(stderr, "%s: --arms: list too long\n", cmd);
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", s);
    *narms = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int k = -1;
        for (int i = 0; i < MAX_ARMS; i++)
            if (!strcasecmp(tok, names[i])) k = i;
        if (k < 0) {
            fprintf(stderr, "%s: --arms: unknown arm '%s' (expected scratch, linear-probe, "
                            "finetune, partial or gradual)\n", cmd, tok);
            return -1;
        }
        for (int i = 0; i < *narms; i++)
            if (arms[i].kind == kinds[k]) {
                fprintf(stderr, "%s: --arms: '%s' given twice\n", cmd, names[k]);
                return -1;
            }
        arms[*narms].name = names[k];
        arms[*narms].kind = kinds[k];
        (*narms)++;
    }
    if (*narms == 0) {
        fprintf(stderr, "%s: --arms: empty list\n", cmd);
        return -1;
    }
    return 0;
}

typedef struct epoch_hook {
    graft_model *m;
    const finetune_opts *fo; /* gradual only */
    int quiet;
} epoch_hook;

static int on_epoch(void *user, const epoch_stats *st)
{
    epoch_hook *h = user;
    if (h->fo && transfer_gradual_step(h->m, h->fo, st->epoch) && !h->quiet)
        printf("gradual: unfroze another stage after epoch %d\n", st->epoch);
    return 0;
}

/* One arm x seed run: the per-epoch points (from the training history,
 * which for the linear probe already includes its feature extraction). */
typedef struct run_rec {
    report_point *pts;
    int npts;
    double final_acc, best_acc;
} run_rec;

int cmd_compare(int argc, char **argv)
{
    const char *cmd = "graft compare";
    common_opts co = {NULL, 0, 1};
    train_opts to;
    trainopts_defaults(&to);
    to.data = NULL;
    to.epochs = 10;
    to.batch = 32;
    const char *from = NULL, *arms_s = "scratch,linear-probe,finetune", *prefix = "compare";
    const char *freeze_s = NULL;
    int nseeds = 1, unfreeze_every = 2;
    float lr_probe = 0.1f;
    opt opts[] = {
        {"from", OPT_STRING, &from, "MODEL", "pretrained source model (.graft), required", 0, 0},
        {"arms", OPT_STRING, &arms_s, "LIST", "arms to compare: scratch, linear-probe, finetune, "
         "partial, gradual (default scratch,linear-probe,finetune)", 0, 0},
        {"freeze-until", OPT_STRING, &freeze_s, "LAYER", "partial: the frozen, cached prefix ends "
         "at this layer (name or index, see graft info; a cut of the graph such as a block "
         "output; default: the first half of the conv stages, up to pool1 in refnet)", 0, 0},
        {"seeds", OPT_INT, &nseeds, "N", "repetitions per arm, seeds --seed .. --seed+N-1 (default 1)", 1, 1000},
        {"lr-probe", OPT_FLOAT, &lr_probe, "F", "linear-probe learning rate (default 0.1)", 0, 100},
        {"unfreeze-every", OPT_INT, &unfreeze_every, "E", "gradual: unfreeze one more stage every E "
         "epochs (default 2)", 1, 100000},
        TRAINOPTS_DATA(to),
        TRAINOPTS_TRAIN(to),
        {"out", OPT_STRING, &prefix, "PREFIX", "writes PREFIX.html, PREFIX.csv and "
         "PREFIX-summary.csv (default compare)", 0, 0},
        COMMON_OPTS(co),
    };
    cmd_spec spec = {"graft compare --from MODEL --data TARGET [OPTIONS]",
                     "Measures whether transfer pays off on a target dataset. Every arm trains on\n"
                     "the same data with the same epochs and batch and is evaluated after every\n"
                     "epoch: scratch = the source's architecture freshly initialised, all layers;\n"
                     "linear-probe = only a new head on features computed once; finetune = every\n"
                     "layer from the pretrained weights with a new head; partial = finetune above\n"
                     "a frozen prefix (--freeze-until) whose output is computed once and cached,\n"
                     "so each epoch runs only the layers above it; gradual = unfreezing from the\n"
                     "head down. The target accuracy is the best evaluation accuracy of the\n"
                     "scratch arm (the lowest over seeds, so every scratch run reaches it); each\n"
                     "arm's time to accuracy is its cumulative training seconds (evaluation not\n"
                     "counted) when it first reaches it; one-off feature passes over the training\n"
                     "images (linear-probe, partial) count. --lr applies to scratch (default 0.05\n"
                     "sgd) and finetune/partial/gradual (default 0.01 sgd); the probe uses\n"
                     "--lr-probe.",
                     opts, (int)(sizeof opts / sizeof opts[0]), 0};
    int rc = args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc == 1 ? 0 : EXIT_USAGE;
    if (!from || !to.data) {
        fprintf(stderr, "%s: --from and --data are required (see --help)\n", cmd);
        return EXIT_USAGE;
    }
    arm_def arms[MAX_ARMS];
    int narms = 0;
    if (parse_arms(cmd, arms_s, arms, &narms)) return EXIT_USAGE;
    if (trainopts_check(cmd, &to)) return EXIT_USAGE;
    int partial = 0;
    for (int a = 0; a < narms; a++) partial |= arms[a].kind == ARM_PARTIAL;
    if (freeze_s && !partial)
        fprintf(stderr, "%s: note: --freeze-until applies to the partial arm only\n", cmd);
    if (to.val_split > 0) {
        fprintf(stderr, "%s: --val-split is not supported: compare evaluates on --eval-data\n", cmd);
        return EXIT_USAGE;
    }
    if (to.log || to.keep_best || to.ckpt_every)
        fprintf(stderr, "%s: note: --log, --keep-best and --checkpoint-every are ignored (the "
                        "per-epoch numbers go to PREFIX.csv)\n", cmd);
    int adamw = !strcasecmp(to.opt, "adamw");

    graft_ctx *ctx = cli_open_device(cmd, &co);
    if (!ctx) return 1;
    int status = 1;
    graft_model *src = NULL, *m = NULL;
    graft_optimizer *o = NULL;
    graft_model_meta smeta, meta;
    memset(&smeta, 0, sizeof smeta);
    memset(&meta, 0, sizeof meta);
    dataset *train = NULL, *eval = NULL;
    train_config cfg;
    memset(&cfg, 0, sizeof cfg);
    train_result res;
    memset(&res, 0, sizeof res);
    char err[2048] = "";
    const char *eval_name = NULL;
    run_rec *runs = calloc((size_t)narms * nseeds, sizeof *runs);
    report_rep *reps = calloc((size_t)narms * nseeds, sizeof *reps);
    report_arm rarms[MAX_ARMS];
    int *confusion = NULL, scratch = -1;
    double best_final = -1;
    const char *best_arm = NULL;
    if (!runs || !reps) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        goto done;
    }

    if (graft_model_load(ctx, from, &src, &smeta) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, graft_last_error(ctx));
        goto done;
    }
    /* The partial arm's cut, on the source (the target has the same nodes). */
    finetune_opts pfo = {STRATEGY_FINETUNE, -1, 1.0f, 1.0f, unfreeze_every, 0, 1};
    if (partial) {
        if (freeze_s) {
            finetune_cli fc;
            finetune_cli_defaults(&fc);
            fc.freeze = freeze_s;
            graft_finetune_params fp = graft_finetune_default_params();
            if (finetune_cli_freeze(cmd, &fc, src, from, &fp)) goto done;
            pfo.freeze_until = fp.freeze_until;
        } else if ((pfo.freeze_until = transfer_default_cut(src)) < 0) {
            fprintf(stderr, "%s: the partial arm needs --freeze-until for this model (no default "
                            "cut found)\n", cmd);
            goto done;
        }
        if (transfer_check_cut(src, pfo.freeze_until, err, sizeof err) != GRAFT_OK) {
            fprintf(stderr, "%s: partial arm: --freeze-until: %s\n", cmd, err);
            goto done;
        }
    }
    int c, h, w;
    graft_model_node_shape(src, 0, &c, &h, &w);
    if (trainopts_load(cmd, &to, &co, c, h, w, &train, &eval, &eval_name)) goto done;
    if (!eval) {
        fprintf(stderr, "%s: no evaluation data: give --eval-data (only an IDX source such as "
                        "fashion-mnist has a test split)\n", cmd);
        goto done;
    }
    if (eval->nclasses != train->nclasses) {
        fprintf(stderr, "%s: the evaluation data has %d classes, the training data %d (see "
                        "--eval-classes)\n", cmd, eval->nclasses, train->nclasses);
        goto done;
    }
    /* Every arm sees the images normalised with the source's statistics. */
    if (trainopts_meta(cmd, &to, train, &meta)) goto done;
    snprintf(meta.arch, sizeof meta.arch, "%s", smeta.arch);
    memcpy(meta.mean, smeta.mean, sizeof meta.mean);
    memcpy(meta.std, smeta.std, sizeof meta.std);
    trainopts_config(&to, &co, train, &meta, eval_name, NULL, &cfg);
    if (partial && cfg.augment) {
        fprintf(stderr, "%s: the partial arm caches the frozen layers' outputs, which augmentation "
                        "would change every epoch: use --augment none or drop the arm\n", cmd);
        goto done;
    }
    if (partial && !co.quiet)
        printf("%s: partial arm: layers up to '%s' (node %d) frozen, their output computed once "
               "and cached\n", cmd, graft_model_node_name(src, pfo.freeze_until), pfo.freeze_until);
    if (!co.quiet)
        printf("%s: %d arm(s) x %d seed(s) on %d images of %d classes (%s: %d images), "
               "%d epochs, batch %d\n", cmd, narms, nseeds, train->n, train->nclasses, eval_name,
               eval->n, to.epochs, to.batch);

    /* Warm-up, untimed: PoCL compiles kernels for each launch shape on first
     * use, which would otherwise land in the first arm's training time. */
    {
        if (!co.quiet) printf("warm-up: one untimed training epoch and an inference pass\n");
        train_config wc = cfg;
        wc.epochs = 1;
        memset(&wc.cb, 0, sizeof wc.cb);
        eval_result er;
        graft_status s = transfer_build_target(src, train->nclasses, 0, (uint64_t)co.seed, &m);
        if (s == GRAFT_OK) s = trainopts_optimizer(&to, m, train, &o);
        if (s != GRAFT_OK) {
            fprintf(stderr, "%s: %s\n", cmd, graft_last_error(ctx));
            goto done;
        }
        s = train_model(m, o, train, NULL, &wc, &res, err, sizeof err);
        if (s == GRAFT_OK) s = evaluate(m, train, meta.mean, meta.std, 256, 0, &er, err, sizeof err);
        if (s == GRAFT_OK) eval_result_free(&er);
        /* The linear probe's and partial arm's timed feature passes. */
        if (s == GRAFT_OK)
            s = evaluate(m, train, meta.mean, meta.std, TRANSFER_EXTRACT_BATCH, 0, &er, err,
                         sizeof err);
        if (s != GRAFT_OK) {
            fprintf(stderr, "%s: warm-up: %s\n", cmd, err);
            goto done;
        }
        eval_result_free(&er);
        train_result_free(&res);
        graft_optimizer_free(o);
        o = NULL;
        graft_model_free(m);
        m = NULL;
    }

    for (int a = 0; a < narms; a++) {
        if (arms[a].kind == ARM_SCRATCH) scratch = a;
        for (int si = 0; si < nseeds; si++) {
            uint64_t seed = (uint64_t)co.seed + (uint64_t)si;
            run_rec *rr = &runs[a * nseeds + si];
            if (!co.quiet) {
                printf("== arm %s seed %llu (run %d/%d)\n", arms[a].name, (unsigned long long)seed,
                       a * nseeds + si + 1, narms * nseeds);
                fflush(stdout);
            }
            if (transfer_build_target(src, train->nclasses, 0, seed, &m) != GRAFT_OK ||
                (arms[a].kind == ARM_SCRATCH && graft_model_reinit(m, seed) != GRAFT_OK)) {
                fprintf(stderr, "%s: %s\n", cmd, graft_last_error(ctx));
                goto done;
            }
            finetune_opts fo = {STRATEGY_FINETUNE, -1, 1.0f, 1.0f, unfreeze_every, 0, 0};
            if (arms[a].kind == ARM_PARTIAL) fo = pfo;
            else if (arms[a].kind != ARM_SCRATCH) fo.strategy = (transfer_strategy)arms[a].kind;
            transfer_apply(m, &fo); /* scratch: everything trainable */
            cfg.seed = seed;
            epoch_hook hook = {m, fo.strategy == STRATEGY_GRADUAL && arms[a].kind >= 0 ? &fo : NULL,
                               co.quiet};
            trainopts_chain_epoch(&cfg, on_epoch, &hook);
            graft_status s;
            if (arms[a].kind == STRATEGY_LINEAR_PROBE) {
                graft_opt_params op = graft_opt_default_params(adamw ? GRAFT_OPT_ADAMW : GRAFT_OPT_SGD);
                op.lr = lr_probe;
                if (to.wd >= 0) op.weight_decay = to.wd;
                op.momentum = to.momentum;
                op.schedule = GRAFT_SCHED_COSINE;
                s = transfer_linear_probe(m, train, eval, &cfg, &op, &res, err, sizeof err);
            } else if (arms[a].kind == ARM_PARTIAL) {
                train_opts t = to;
                if (t.lr < 0) t.lr = adamw ? 3e-4f : 0.01f;
                graft_opt_params op = trainopts_opt_params(&t, train);
                s = transfer_cached_finetune(m, train, eval, &cfg, &op, fo.freeze_until, &res, err,
                                             sizeof err);
            } else {
                train_opts t = to;
                if (t.lr < 0 && arms[a].kind != ARM_SCRATCH) t.lr = adamw ? 3e-4f : 0.01f;
                if (trainopts_optimizer(&t, m, train, &o) != GRAFT_OK) {
                    fprintf(stderr, "%s: %s\n", cmd, graft_last_error(ctx));
                    goto done;
                }
                s = train_model(m, o, train, eval, &cfg, &res, err, sizeof err);
            }
            if (s != GRAFT_OK) {
                fprintf(stderr, "%s: arm %s seed %llu: %s\n", cmd, arms[a].name,
                        (unsigned long long)seed, err);
                goto done;
            }
            rr->pts = calloc((size_t)(res.nepochs > 0 ? res.nepochs : 1), sizeof *rr->pts);
            if (!rr->pts) {
                fprintf(stderr, "%s: out of memory\n", cmd);
                goto done;
            }
            for (int e = 0; e < res.nepochs; e++) {
                rr->pts[e] = (report_point){res.hist[e].epoch, res.hist[e].total_train_seconds,
                                            res.hist[e].eval_acc};
                if (res.hist[e].eval_acc > rr->best_acc) rr->best_acc = res.hist[e].eval_acc;
            }
            rr->npts = res.nepochs;
            rr->final_acc = res.nepochs ? res.hist[res.nepochs - 1].eval_acc : 0;
            if (!co.quiet)
                printf("arm %s seed %llu: final %s accuracy %.2f%% (best %.2f%%) after %.1f s of "
                       "training\n", arms[a].name, (unsigned long long)seed, eval_name,
                       100 * rr->final_acc, 100 * rr->best_acc,
                       res.nepochs ? res.hist[res.nepochs - 1].total_train_seconds : 0.0);
            /* Confusion matrix of the best final model so far. */
            if (rr->final_acc > best_final) {
                eval_result er;
                if (evaluate(m, eval, meta.mean, meta.std, 256, 0, &er, err, sizeof err) != GRAFT_OK) {
                    fprintf(stderr, "%s: %s\n", cmd, err);
                    goto done;
                }
                size_t nc = (size_t)train->nclasses * train->nclasses;
                if (!confusion) confusion = malloc(nc * sizeof *confusion);
                if (!confusion) {
                    eval_result_free(&er);
                    fprintf(stderr, "%s: out of memory\n", cmd);
                    goto done;
                }
                memcpy(confusion, er.confusion, nc * sizeof *confusion);
                eval_result_free(&er);
                best_final = rr->final_acc;
                best_arm = arms[a].name;
            }
            train_result_free(&res);
            graft_optimizer_free(o);
            o = NULL;
            graft_model_free(m);
            m = NULL;
        }
    }

    /* Target: scratch's best accuracy; with several seeds the lowest of
     * their bests, so that every scratch repetition reaches it. */
    double target = 0;
    if (scratch >= 0) {
        target = 2;
        for (int si = 0; si < nseeds; si++)
            if (runs[scratch * nseeds + si].best_acc < target) target = runs[scratch * nseeds + si].best_acc;
    } else {
        for (int i = 0; i < narms * nseeds; i++)
            if (runs[i].best_acc > target) target = runs[i].best_acc;
    }
    for (int a = 0; a < narms; a++) {
        for (int si = 0; si < nseeds; si++) {
            const run_rec *rr = &runs[a * nseeds + si];
            report_rep *rp = &reps[a * nseeds + si];
            rp->points = rr->pts;
            rp->npoints = rr->npts;
            rp->final_accuracy = rr->final_acc;
            rp->seconds_to_target = -1;
            for (int e = 0; e < rr->npts; e++)
                if (rr->pts[e].accuracy >= target) {
                    rp->seconds_to_target = rr->pts[e].seconds;
                    break;
                }
        }
        rarms[a] = (report_arm){arms[a].name, &reps[a * nseeds], nseeds};
    }

    char v_partial[160];
    char v_epochs[32], v_batch[32], v_seeds[64], v_ver[32], v_pc[32], v_n[96], v_target[160];
    snprintf(v_epochs, sizeof v_epochs, "%d", to.epochs);
    snprintf(v_batch, sizeof v_batch, "%d", to.batch);
    if (nseeds == 1) snprintf(v_seeds, sizeof v_seeds, "%d", co.seed);
    else snprintf(v_seeds, sizeof v_seeds, "%d..%d (%d)", co.seed, co.seed + nseeds - 1, nseeds);
    snprintf(v_ver, sizeof v_ver, "%d.%d.%d", GRAFT_VERSION_MAJOR, GRAFT_VERSION_MINOR,
             GRAFT_VERSION_PATCH);
    if (to.per_class) snprintf(v_pc, sizeof v_pc, "%d", to.per_class);
    else snprintf(v_pc, sizeof v_pc, "all");
    snprintf(v_n, sizeof v_n, "%d training, %d evaluation (%s)", train->n, eval->n, eval_name);
    snprintf(v_target, sizeof v_target, "%.4f (%s)", target,
             scratch < 0 ? "best accuracy of any arm: no scratch arm"
             : nseeds > 1 ? "lowest per-seed best of scratch" : "best accuracy of scratch");
    report_kv kv[] = {
        {"source model", from},
        {"source arch", smeta.arch[0] ? smeta.arch : "custom"},
        {"target data", to.data},
        {"evaluation data", to.eval_data ? to.eval_data : "test split of the target"},
        {"classes", to.classes ? to.classes : "all"},
        {"per class", v_pc},
        {"images", v_n},
        {"epochs", v_epochs},
        {"batch", v_batch},
        {"optimizer", to.opt},
        {"seeds", v_seeds},
        {"target accuracy", v_target},
        {"device", graft_ctx_device(ctx)->name},
        {"graft version", v_ver},
        {"partial arm", v_partial},
    };
    snprintf(v_partial, sizeof v_partial, "layers up to '%s' (node %d) frozen and cached",
             partial ? graft_model_node_name(src, pfo.freeze_until) : "", pfo.freeze_until);
    report_input in = {"graft compare: transfer vs training from scratch", kv,
                       (int)(sizeof kv / sizeof kv[0]) - !partial, rarms, narms, scratch, target,
                       best_arm,
                       confusion ? train->nclasses : 0, (const char *const *)train->class_names,
                       confusion};
    size_t pl = strlen(prefix) + 8;
    char *html = malloc(pl);
    if (!html) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        goto done;
    }
    snprintf(html, pl, "%s.html", prefix);
    graft_status s = report_write_html(&in, html, err, sizeof err);
    if (s == GRAFT_OK) s = report_write_csv(&in, prefix, err, sizeof err);
    if (s == GRAFT_OK) {
        printf("\n");
        s = report_print_summary(&in, stdout, err, sizeof err);
    }
    if (s != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        free(html);
        goto done;
    }
    printf("report: %s, %s.csv, %s-summary.csv\n", html, prefix, prefix);
    free(html);
    status = 0;
done:
    if (runs)
        for (int i = 0; i < narms * nseeds; i++) free(runs[i].pts);
    free(runs);
    free(reps);
    free(confusion);
    train_result_free(&res);
    trainopts_config_free(&cfg);
    graft_optimizer_free(o);
    graft_model_free(m);
    graft_model_free(src);
    graft_model_meta_free(&meta);
    graft_model_meta_free(&smeta);
    dataset_free(train);
    dataset_free(eval);
    graft_ctx_destroy(ctx);
    return status;
}
