#define _POSIX_C_SOURCE 200809L
#include "compare_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finetune_run.h"

int compare_parse_arms(const char *cmd, const char *s, graft_arm *arms, int *narms)
{
    char buf[256];
    if (strlen(s) >= sizeof buf) {
        fprintf(stderr, "%s: --arms: list too long\n", cmd);
        return -1;
    }
    snprintf(buf, sizeof buf, "%s", s);
    *narms = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int k = graft_arm_parse(tok);
        if (k < 0) {
            fprintf(stderr, "%s: --arms: unknown arm '%s' (expected scratch, linear-probe, "
                            "finetune, partial, gradual or recipe)\n", cmd, tok);
            return -1;
        }
        for (int i = 0; i < *narms; i++)
            if (arms[i] == (graft_arm)k) {
                fprintf(stderr, "%s: --arms: '%s' given twice\n", cmd, graft_arm_name(arms[i]));
                return -1;
            }
        arms[(*narms)++] = (graft_arm)k;
    }
    if (*narms == 0) {
        fprintf(stderr, "%s: --arms: empty list\n", cmd);
        return -1;
    }
    return 0;
}

/* The partial arm's cut (--freeze-until or the default); -1 after printing why. */
int compare_partial_cut(const char *cmd, const char *freeze_s, graft_model *src, const char *from)
{
    finetune_cli fc;
    finetune_cli_defaults(&fc);
    fc.freeze = freeze_s;
    graft_finetune_params fp = graft_finetune_default_params();
    char err[1024];
    if (freeze_s) {
        if (finetune_cli_freeze(cmd, &fc, src, from, &fp)) return -1;
    } else if ((fp.freeze_until = graft_transfer_default_cut(src)) < 0) {
        fprintf(stderr, "%s: the partial arm needs --freeze-until for this model (no default "
                        "cut found)\n", cmd);
        return -1;
    }
    if (graft_transfer_check_cut(src, fp.freeze_until, err, sizeof err) == GRAFT_OK)
        return fp.freeze_until;
    fprintf(stderr, "%s: partial arm: --freeze-until: %s\n", cmd, err);
    return -1;
}

void compare_on_begin(void *user, graft_arm arm, uint64_t seed, int run, int nruns)
{
    if (((compare_ui *)user)->quiet) return;
    printf("== arm %s seed %llu (run %d/%d)\n", graft_arm_name(arm), (unsigned long long)seed, run,
           nruns);
    fflush(stdout);
}

void compare_on_end(void *user, const graft_compare_run *r)
{
    const compare_ui *ui = user;
    if (ui->quiet) return;
    printf("arm %s seed %llu: final %s accuracy %.2f%% (best %.2f%%) after %.1f s of training\n",
           graft_arm_name(r->arm), (unsigned long long)r->seed, ui->eval_name,
           100 * r->final_accuracy, 100 * r->best_accuracy,
           r->npoints ? r->points[r->npoints - 1].seconds : 0.0);
}

void compare_print_plan(const char *cmd, const graft_compare_config *cfg, const compare_setup *cs)
{
    for (int a = 0; a < cfg->narms; a++)
        if (cfg->arms[a] == GRAFT_ARM_PARTIAL)
            printf("%s: partial arm: layers up to '%s' (node %d) frozen, their output computed "
                   "once and cached\n", cmd, graft_model_node_name(cs->src, cfg->freeze_until),
                   cfg->freeze_until);
    printf("%s: %d arm(s) x %d seed(s) on %d images of %d classes (%s: %d images), %d epochs, "
           "batch %d\n", cmd, cfg->narms, cfg->nseeds, graft_dataset_size(cs->train),
           graft_dataset_num_classes(cs->train), cs->eval_name, graft_dataset_size(cs->eval),
           cs->to->epochs, cs->to->batch);
}

int compare_report(const char *cmd, const graft_compare_result *r, const compare_setup *cs,
                   const char *prefix)
{
    const train_opts *to = cs->to;
    int seed = cs->seed, ns = r->nseeds, partial = r->freeze_until >= 0;
    char v_partial[160], v_epochs[32], v_batch[32], v_seeds[64], v_ver[32], v_pc[32], v_n[96],
        v_target[160];
    snprintf(v_epochs, sizeof v_epochs, "%d", to->epochs);
    snprintf(v_batch, sizeof v_batch, "%d", to->batch);
    if (ns == 1) snprintf(v_seeds, sizeof v_seeds, "%d", seed);
    else snprintf(v_seeds, sizeof v_seeds, "%d..%d (%d)", seed, seed + ns - 1, ns);
    snprintf(v_ver, sizeof v_ver, "%d.%d.%d", GRAFT_VERSION_MAJOR, GRAFT_VERSION_MINOR,
             GRAFT_VERSION_PATCH);
    if (to->per_class) snprintf(v_pc, sizeof v_pc, "%d", to->per_class);
    else snprintf(v_pc, sizeof v_pc, "all");
    snprintf(v_n, sizeof v_n, "%d training, %d evaluation (%s)", graft_dataset_size(cs->train),
             graft_dataset_size(cs->eval), cs->eval_name);
    snprintf(v_target, sizeof v_target, "%.4f (%s)", r->target_accuracy,
             r->target_given ? "set by --target"
             : r->scratch_arm < 0 ? "best accuracy of any arm: no scratch arm"
             : ns > 1 ? "lowest per-seed best of scratch" : "best accuracy of scratch");
    snprintf(v_partial, sizeof v_partial, "layers up to '%s' (node %d) frozen and cached",
             partial ? graft_model_node_name(cs->src, r->freeze_until) : "", r->freeze_until);
    graft_report_kv kv[] = {
        {"source model", cs->from},
        {"source arch", cs->source_arch[0] ? cs->source_arch : "custom"},
        {"target data", to->data},
        {"evaluation data", to->eval_data ? to->eval_data : "test split of the target"},
        {"classes", to->classes ? to->classes : "all"},
        {"per class", v_pc},
        {"images", v_n},
        {"epochs", v_epochs},
        {"batch", v_batch},
        {"optimizer", to->opt},
        {"seeds", v_seeds},
        {"target accuracy", v_target},
        {"device", cs->device},
        {"graft version", v_ver},
        {"partial arm", v_partial},
    };
    int K = graft_dataset_num_classes(cs->train);
    const char **names = calloc((size_t)K, sizeof *names);
    char err[2048] = "", *text = NULL;
    for (int k = 0; names && k < K; k++) names[k] = graft_dataset_class_name(cs->train, k);
    graft_status s = names ? GRAFT_OK : GRAFT_ERR_HOST_MEMORY;
    if (s == GRAFT_OK)
        s = graft_compare_write_report(r, "graft compare: transfer vs training from scratch", kv,
                                       (int)(sizeof kv / sizeof kv[0]) - !partial, names, prefix,
                                       err, sizeof err);
    if (s == GRAFT_OK) s = graft_compare_summary_text(r, &text, err, sizeof err);
    free(names);
    if (s != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, err[0] ? err : "out of memory");
        return 1;
    }
    printf("\n%s", text);
    if (!r->target_given && r->scratch_arm >= 0 && r->target_accuracy >= 1.0)
        printf("note: scratch's best is 100%% accuracy, so time to target is time to a perfect "
               "score; --target sets a lower one (e.g. --target 0.95)\n");
    printf("report: %s.html, %s.csv, %s-summary.csv\n", prefix, prefix, prefix);
    graft_free(text);
    return 0;
}
