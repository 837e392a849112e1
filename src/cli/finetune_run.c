/* One fine-tuning run, shared by finetune, cv and selftrain. */
#include "finetune_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "class_match_cli.h"
#include "cli.h"
#include "modelcli.h"

void finetune_cli_defaults(finetune_cli *f)
{
    memset(f, 0, sizeof *f);
    f->strategy = "finetune";
    f->unfreeze_every = 2;
    f->lr_backbone = -1.0f;
    f->lr_decay = 1.0f;
    f->lr_floor = 0.01f;
}

int finetune_cli_check(const char *cmd, const finetune_cli *f, train_opts *to,
                       graft_finetune_params *fp)
{
    int strat = graft_strategy_parse(f->strategy);
    if (strat < 0) {
        fprintf(stderr, "%s: --strategy '%s': expected recipe, linear-probe, finetune or "
                "gradual\n", cmd, f->strategy);
        return EXIT_USAGE;
    }
    if (f->bn && strcasecmp(f->bn, "frozen") && strcasecmp(f->bn, "train")) {
        fprintf(stderr, "%s: --bn '%s': expected frozen or train\n", cmd, f->bn);
        return EXIT_USAGE;
    }
    if (trainopts_check(cmd, to)) return EXIT_USAGE;
    if (to->lr < 0)
        to->lr = strat == GRAFT_STRATEGY_LINEAR_PROBE ? 0.1f : (strcasecmp(to->opt, "adamw") ? 0.01f : 3e-4f);
    int recipe = strat == GRAFT_STRATEGY_RECIPE;
    *fp = recipe ? graft_finetune_recipe_params() : graft_finetune_default_params();
    fp->strategy = (graft_strategy)strat;
    fp->keep_head = f->keep_head;
    if (f->lr_backbone >= 0 || !recipe) fp->lr_backbone = f->lr_backbone >= 0 ? f->lr_backbone : 1.0f;
    fp->lr_decay = f->lr_decay;
    fp->lr_floor = f->lr_floor;
    fp->head_epochs = f->head_epochs;
    fp->head_lr = f->head_lr;
    fp->unfreeze_every = f->unfreeze_every;
    fp->bn_frozen = f->bn && !strcasecmp(f->bn, "frozen");
    if (f->bn && !strcasecmp(f->bn, "train")) fp->bn_frozen_below = 0;
    fp->cache = !f->no_cache;
    if (to->warmup > 0 || !recipe) fp->warmup_epochs = to->warmup;
    return 0;
}

int finetune_cli_freeze(const char *cmd, const finetune_cli *f, graft_model *src,
                        const char *from, graft_finetune_params *fp)
{
    if (!f->freeze) return 0;
    /* The target has the source's nodes (only the head is replaced). */
    fp->freeze_until = graft_model_node_ref(src, f->freeze);
    if (fp->freeze_until < 0) {
        fprintf(stderr, "%s: --freeze-until '%s': no such layer (see graft info --model %s)\n",
                cmd, f->freeze, from);
        return 1;
    }
    return 0;
}

int finetune_meta(const char *cmd, const train_opts *to, const graft_dataset *train,
                  const graft_model_meta *smeta, graft_model_meta *meta)
{
    (void)to;
    /* The data's class names and the source's normalisation: no pass
     * over the images (under MPI a rank decodes only its shard). */
    memset(meta, 0, sizeof *meta);
    int K = graft_dataset_num_classes(train);
    meta->nclasses = K;
    meta->class_names = calloc((size_t)K + 1, sizeof *meta->class_names);
    for (int k = 0; meta->class_names && k < K; k++) {
        const char *nm = graft_dataset_class_name(train, k);
        size_t L = strlen(nm) + 1;
        if (!(meta->class_names[k] = malloc(L))) break;
        memcpy(meta->class_names[k], nm, L);
    }
    if (!meta->class_names || (K > 0 && !meta->class_names[K - 1])) {
        graft_model_meta_free(meta);
        fprintf(stderr, "%s: out of memory\n", cmd);
        return 1;
    }
    snprintf(meta->arch, sizeof meta->arch, "%s", smeta->arch);
    memcpy(meta->mean, smeta->mean, sizeof meta->mean);
    memcpy(meta->std, smeta->std, sizeof meta->std);
    return 0;
}

/* Says whether the run caches the frozen prefix (and why not). */
static void say_cache_plan(const char *cmd, graft_model *src, const graft_finetune_params *fp,
                           const graft_train_config *cfg)
{
    char why[1024];
    int cut = graft_finetune_cache_plan(src, fp, cfg, why, sizeof why);
    if (cut > 0)
        printf("%s: caching the output of '%s' once: layers 1-%d are frozen and run once per "
               "image, only the %d above train (--no-cache: run them at every step)\n", cmd,
               graft_model_node_name(src, cut), cut, graft_model_num_nodes(src) - 1 - cut);
    else if (why[0])
        printf("%s: note: %s; the frozen layers run at every step\n", cmd, why);
}

int finetune_run(const char *cmd, graft_model *src, const graft_dataset *train,
                 const graft_dataset *eval, const char *eval_name, const graft_model_meta *meta,
                 const graft_finetune_params *fp, const train_opts *to, const common_opts *co,
                 uint64_t seed, const char *out_path, graft_model **out, graft_train_result *res)
{
    *out = NULL;
    memset(res, 0, sizeof *res);
    graft_train_config cfg;
    common_opts c = *co;
    c.seed = (int)seed;
    /* The console counts the recipe's epochs across both phases. */
    train_opts shown = *to;
    shown.epochs += graft_recipe_head_epochs(fp, to->epochs);
    if (trainopts_config(&shown, &c, train, meta, eval_name, out_path, &cfg)) return 1;
    cfg.epochs = to->epochs;
    cfg.seed = seed;
    cfg.restore_best = eval_name && !strcmp(eval_name, "val");
    if (!co->quiet) say_cache_plan(cmd, src, fp, &cfg);
    graft_opt_params op = trainopts_opt_params(to, train);
    int status = 0;
    /* The evaluation passes report to the context's sink. */
    graft_ctx_set_progress(graft_model_ctx(src), cfg.cb.progress, cfg.cb.user);
    if (graft_finetune(src, train, eval, fp, &op, &cfg, out, res) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, graft_last_error(graft_model_ctx(src)));
        status = 1;
    }
    graft_ctx_set_progress(graft_model_ctx(src), NULL, NULL);
    trainopts_config_free(&cfg);
    return status;
}

int transfer_open_all(const char *cmd, const char *from, train_opts *to, const common_opts *co,
                      const finetune_cli *fc, graft_finetune_params *fp, int with_eval,
                      transfer_open *t)
{
    memset(t, 0, sizeof *t);
    if (!from || !to->data) {
        fprintf(stderr, "%s: --from and --data are required (see --help)\n", cmd);
        return EXIT_USAGE;
    }
    to->auto_batch_ok = 1; /* resolved below, once the source network is loaded */
    if (fc && finetune_cli_check(cmd, fc, to, fp)) return EXIT_USAGE;
    if (cli_check_model_path(cmd, "--from", from) || cli_check_data_path(cmd, "--data", to->data) ||
        cli_check_data_path(cmd, "--eval-data", to->eval_data))
        return 1;
    if (!(t->ctx = cli_open_device(cmd, co))) return 1;
    int rc = 1, c, h, w;
    if (graft_model_load(t->ctx, from, &t->src, &t->smeta) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, graft_last_error(t->ctx));
        goto fail;
    }
    graft_model_node_shape(t->src, 0, &c, &h, &w);
    if (with_eval) {
        rc = trainopts_load(cmd, to, co, c, h, w, &t->train, &t->eval, &t->eval_name);
    } else {
        data_request rq = {to->data, SPLIT_TRAIN, c, h, w, to->skip_bad, to->classes,
                           to->per_class, (uint64_t)co->seed, co->quiet, to->comm != NULL};
        rc = cli_load_data(cmd, &rq, &t->train);
    }
    if (rc) goto fail;
    rc = 1;
    if (fc && fc->keep_head) {
        /* The source's classifier stays: its outputs are the classes, so
         * the data's labels must be those outputs, matched by name. */
        int K = cli_model_classes(t->src);
        const char *const *names = cli_model_names(&t->smeta, K);
        if (cli_match_classes(cmd, names, K, "the source model", to->data, 0, co->quiet, &t->train))
            goto fail;
        if (t->eval && cli_match_classes(cmd, names, K, "the source model", "the evaluation data",
                                         0, co->quiet, &t->eval))
            goto fail;
    }
    if (to->batch == 0) { /* --batch auto, sized on the source network */
        graft_opt_kind kind = strcasecmp(to->opt, "adamw") ? GRAFT_OPT_SGD : GRAFT_OPT_ADAMW;
        if (!(to->batch = cli_auto_batch(cmd, t->src, 1, kind, graft_dataset_size(t->train), 512,
                                         co->quiet)))
            goto fail;
    }
    if (finetune_meta(cmd, to, t->train, &t->smeta, &t->meta)) goto fail;
    if (fc && finetune_cli_freeze(cmd, fc, t->src, from, fp)) goto fail;
    return 0;
fail:
    transfer_close(t);
    return rc;
}

void transfer_close(transfer_open *t)
{
    graft_model_free(t->src);
    graft_model_meta_free(&t->smeta);
    graft_model_meta_free(&t->meta);
    graft_dataset_free(t->train);
    graft_dataset_free(t->eval);
    graft_ctx_destroy(t->ctx);
    memset(t, 0, sizeof *t);
}
