/* Plans (graft_plan_load, graft_plan_run): the plan file, and its jobs run
 * on job_sched's slots, each job a one-arm, one-seed graft_compare whose
 * result is a job file in the state folder (plan_state.h). */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "clock.h"
#include "error.h"
#include "graft_transfer.h"
#include "job_sched.h"
#include "plan_state.h"

/* ------------------------------------------------------------- the file */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* path as written, or beside the plan when relative and present there. */
static char *resolve(const char *dir, const char *path)
{
    if (path[0] == '/' || !dir[0]) return dup_str(path);
    size_t n = strlen(dir) + strlen(path) + 2;
    char *full = malloc(n);
    if (!full) return NULL;
    snprintf(full, n, "%s/%s", dir, path);
    struct stat st;
    if (stat(full, &st) == 0) return full;
    free(full);
    return dup_str(path);
}

graft_plan graft_plan_defaults(void)
{
    graft_plan p;
    memset(&p, 0, sizeof p);
    p.arms[0] = GRAFT_ARM_SCRATCH;
    p.arms[1] = GRAFT_ARM_LINEAR_PROBE;
    p.arms[2] = GRAFT_ARM_FINETUNE;
    p.narms = 3;
    p.nseeds = 1;
    p.seed = 1;
    p.epochs = 5;
    p.batch = 32;
    p.lr_scratch = 0.05f;
    p.lr_transfer = 0.01f;
    p.lr_probe = 0.1f;
    return p;
}

void graft_plan_free(graft_plan *p)
{
    if (!p) return;
    for (int t = 0; t < p->ntargets; t++) {
        free(p->targets[t].name);
        free(p->targets[t].data);
        free(p->targets[t].classes);
    }
    free(p->targets);
    free(p->source);
    free(p);
}

int graft_plan_num_jobs(const graft_plan *p) { return p->ntargets * p->narms * p->nseeds; }

static int name_ok(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.') return 0;
    return 1;
}

static int parse_int(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

static int parse_float(const char *v, double lo, double hi, double *out)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= lo && x <= hi)) return 0;
    *out = x;
    return 1;
}

static int parse_arms(char *v, graft_plan *p)
{
    int seen[GRAFT_ARM_COUNT] = {0};
    p->narms = 0;
    for (char *save = NULL, *tok = strtok_r(v, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int a = graft_arm_parse(tok);
        if (a < 0 || seen[a]) return 0;
        seen[a] = 1;
        p->arms[p->narms++] = (graft_arm)a;
    }
    return p->narms > 0;
}

/* "target NAME key=value ..." */
static graft_status parse_target(graft_plan *p, char *rest, const char *dir, const char *where,
                                 char *err, size_t errlen)
{
    graft_plan_target *nt = realloc(p->targets, sizeof *nt * (size_t)(p->ntargets + 1));
    if (!nt) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of memory");
    p->targets = nt;
    graft_plan_target *t = &p->targets[p->ntargets];
    memset(t, 0, sizeof *t);
    t->split = 0.25;
    p->ntargets++;
    char *save = NULL, *tok = strtok_r(rest, " \t", &save);
    if (!tok || !name_ok(tok))
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: a target needs a name of letters, "
                         "digits, '-', '_' or '.' first (target NAME data=SPEC ...)", where);
    for (int i = 0; i < p->ntargets - 1; i++)
        if (!strcmp(p->targets[i].name, tok))
            return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: target '%s' twice", where, tok);
    if (!(t->name = dup_str(tok))) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of memory");
    while ((tok = strtok_r(NULL, " \t", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq) return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: '%s': expected key=value", where, tok);
        *eq = '\0';
        const char *k = tok, *v = eq + 1;
        long n;
        double f;
        if (!strcmp(k, "data")) {
            free(t->data);
            t->data = resolve(dir, v);
        } else if (!strcmp(k, "classes")) {
            free(t->classes);
            t->classes = dup_str(v);
        } else if (!strcmp(k, "per-class") && parse_int(v, 1, 100000000, &n)) {
            t->per_class = (int)n;
        } else if (!strcmp(k, "split") && parse_float(v, 0.01, 0.9, &f)) {
            t->split = f;
        } else {
            return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: target %s: '%s=%s': expected "
                             "data=SPEC, classes=LIST, per-class=N or split=F (0.01 to 0.9)",
                             where, t->name, k, v);
        }
    }
    if (!t->data)
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: target %s has no data=SPEC", where, t->name);
    return GRAFT_OK;
}

static graft_status parse_line(graft_plan *p, char *line, const char *dir, const char *where,
                               char *err, size_t errlen)
{
    char *save = NULL, *key = strtok_r(line, " \t", &save);
    char *val = key ? strtok_r(NULL, "", &save) : NULL;
    while (val && (*val == ' ' || *val == '\t')) val++;
    if (!key) return GRAFT_OK;
    if (!val || !*val) return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: '%s' needs a value", where, key);
    long n;
    double f;
    if (!strcmp(key, "target")) return parse_target(p, val, dir, where, err, errlen);
    if (!strcmp(key, "source")) {
        free(p->source);
        p->source = resolve(dir, val);
        return p->source ? GRAFT_OK : error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of memory");
    }
    if (!strcmp(key, "strategies")) {
        if (parse_arms(val, p)) return GRAFT_OK;
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: strategies: expected a list of "
                         "scratch, linear-probe, finetune, partial, gradual, recipe, each once", where);
    }
    if (!strcmp(key, "seeds") && parse_int(val, 1, 1000, &n)) p->nseeds = (int)n;
    else if (!strcmp(key, "seed") && parse_int(val, 0, 2147483647, &n)) p->seed = (uint64_t)n;
    else if (!strcmp(key, "epochs") && parse_int(val, 1, 100000, &n)) p->epochs = (int)n;
    else if (!strcmp(key, "batch") && parse_int(val, 1, 65536, &n)) p->batch = (int)n;
    else if (!strcmp(key, "lr") && parse_float(val, 1e-9, 100, &f)) p->lr_scratch = (float)f;
    else if (!strcmp(key, "lr-transfer") && parse_float(val, 1e-9, 100, &f)) p->lr_transfer = (float)f;
    else if (!strcmp(key, "lr-probe") && parse_float(val, 1e-9, 100, &f)) p->lr_probe = (float)f;
    else
        return error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: '%s %s': unknown key or value out "
                         "of range (keys: source, strategies, seeds, seed, epochs, batch, lr, "
                         "lr-transfer, lr-probe, target)", where, key, val);
    return GRAFT_OK;
}

graft_status graft_plan_load(const char *path, graft_plan **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) return error_set(err, errlen, GRAFT_ERR_IO, "%s: %s", path, strerror(errno));
    graft_plan *p = calloc(1, sizeof *p);
    char dir[1024] = "";
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    graft_status s = p ? GRAFT_OK : error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of memory");
    if (p) *p = graft_plan_defaults();
    char line[4096];
    int ln = 0;
    while (s == GRAFT_OK && fgets(line, sizeof line, f)) {
        ln++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        size_t L = strlen(line);
        while (L && isspace((unsigned char)line[L - 1])) line[--L] = '\0';
        char where[1100];
        snprintf(where, sizeof where, "%s:%d", path, ln);
        s = parse_line(p, line, dir, where, err, errlen);
    }
    fclose(f);
    if (s == GRAFT_OK && !p->source)
        s = error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: no 'source MODEL' line", path);
    if (s == GRAFT_OK && p->ntargets == 0)
        s = error_set(err, errlen, GRAFT_ERR_FORMAT, "%s: no 'target NAME data=SPEC' line", path);
    if (s != GRAFT_OK) {
        graft_plan_free(p);
        return s;
    }
    *out = p;
    return GRAFT_OK;
}

/* ------------------------------------------------------------ the run */

typedef struct plan_run {
    const graft_plan *p;
    const graft_plan_run_config *cfg;
    int *job_of;          /* this rank's job k -> plan job index */
    unsigned char *skip;
    int njobs;
} plan_run;

typedef struct plan_slot {
    graft_ctx *ctx;
    graft_model *src;
    graft_model_meta meta;
    char device[256];   /* "[index] name" (PoCL's two devices share a name) */
    /* The last target's split, kept: jobs are handed out target-major, so
     * a slot mostly runs one target's strategies and seeds in a row, and
     * decoding a folder of images once per slot and target is enough. */
    int cached_target;  /* -1 = none */
    graft_dataset *train, *val;
} plan_slot;

static graft_status slot_open(void *user, int slot, void **state, char *err, size_t errlen)
{
    plan_run *r = user;
    const graft_plan_run_config *cfg = r->cfg;
    plan_slot *ps = calloc(1, sizeof *ps);
    if (!ps) return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of memory");
    ps->cached_target = -1;
    graft_ctx_params cp = cfg->ctx_params ? *cfg->ctx_params : graft_ctx_default_params();
    if (cfg->ndevices > 0) cp.device = cfg->devices[slot];
    graft_status s = graft_ctx_create(&cp, &ps->ctx, err, errlen);
    if (s == GRAFT_OK) {
        const graft_device_info *di = graft_ctx_device(ps->ctx);
        snprintf(ps->device, sizeof ps->device, "[%d] %.200s", di->index, di->name);
        s = graft_model_load(ps->ctx, r->p->source, &ps->src, &ps->meta);
        if (s != GRAFT_OK) snprintf(err, errlen, "%s", graft_last_error(ps->ctx));
    }
    if (s != GRAFT_OK) {
        graft_model_meta_free(&ps->meta);
        graft_ctx_destroy(ps->ctx);
        free(ps);
        return s;
    }
    *state = ps;
    return GRAFT_OK;
}

static void slot_close(void *user, int slot, void *state)
{
    (void)user;
    (void)slot;
    plan_slot *ps = state;
    graft_dataset_free(ps->train);
    graft_dataset_free(ps->val);
    graft_model_free(ps->src);
    graft_model_meta_free(&ps->meta);
    graft_ctx_destroy(ps->ctx);
    free(ps);
}

/* The target's data at the source's input shape, split for evaluation. */
static graft_status load_target(const plan_slot *ps, const graft_plan_target *t, uint64_t seed,
                                graft_dataset **train, graft_dataset **val, char *err,
                                size_t errlen)
{
    graft_data_spec sp = graft_data_default_spec();
    graft_model_node_shape(ps->src, 0, &sp.channels, &sp.height, &sp.width);
    sp.source = t->data;
    sp.classes = t->classes;
    sp.per_class = t->per_class;
    sp.seed = seed;
    graft_dataset *d = NULL;
    graft_status s = graft_dataset_open(&sp, &d, err, errlen);
    if (s == GRAFT_OK) s = graft_dataset_split(d, t->split, seed + 17, train, val, err, errlen);
    graft_dataset_free(d);
    return s;
}

static graft_status run_job(void *user, int slot, void *state, int k, char *err, size_t errlen)
{
    (void)slot;
    plan_run *r = user;
    const graft_plan *p = r->p;
    plan_slot *ps = state;
    plan_job_key key = plan_job_key_of(p, r->job_of[k]);
    const graft_plan_target *t = &p->targets[key.target];
    /* The data sample depends on the plan's seed, not the job's: every
     * strategy and seed of a target sees the same images. */
    graft_status s = GRAFT_OK;
    if (ps->cached_target != key.target) {
        graft_dataset_free(ps->train);
        graft_dataset_free(ps->val);
        ps->train = ps->val = NULL;
        ps->cached_target = -1;
        s = load_target(ps, t, p->seed, &ps->train, &ps->val, err, errlen);
        if (s == GRAFT_OK) ps->cached_target = key.target;
    }
    const graft_dataset *train = ps->train, *val = ps->val;
    graft_compare_result cr = {0};
    if (s == GRAFT_OK) {
        graft_arm arm = key.arm;
        graft_compare_config cc = {&arm, 1, 1, key.seed, -1, 2, graft_opt_default_params(GRAFT_OPT_SGD),
                                   p->lr_transfer, p->lr_probe, 0, graft_train_default_config(),
                                   0, NULL, NULL, NULL, 0};
        cc.opt.lr = p->lr_scratch;
        cc.train.epochs = p->epochs;
        cc.train.batch = p->batch;
        cc.train.mean = ps->meta.mean;
        cc.train.std = ps->meta.std;
        s = graft_compare(ps->src, train, val, &cc, &cr);
        if (s != GRAFT_OK) snprintf(err, errlen, "%s", graft_last_error(ps->ctx));
    }
    plan_job_record rec = {0};
    rec.key = key;
    rec.status = s;
    snprintf(rec.error, sizeof rec.error, "%s", s == GRAFT_OK ? "" : err);
    snprintf(rec.device, sizeof rec.device, "%s", ps->device);
    if (s == GRAFT_OK && cr.runs) {
        rec.run = cr.runs[0];
        rec.ntrain = graft_dataset_size(train);
        rec.nval = graft_dataset_size(val);
    }
    char werr[1024] = "";
    graft_status ws = plan_job_write(r->cfg->state_dir, p, &rec, werr, sizeof werr);
    if (ws != GRAFT_OK && s == GRAFT_OK) {
        s = ws;
        snprintf(err, errlen, "%s", werr);
    }
    graft_compare_result_free(&cr);
    return s;
}

static void job_done(void *user, int k, graft_status s, const char *err)
{
    plan_run *r = user;
    if (!r->cfg->on_job) return;
    const graft_plan *p = r->p;
    int j = r->job_of[k];
    plan_job_key key = plan_job_key_of(p, j);
    plan_job_record rec;
    int have = plan_job_read(r->cfg->state_dir, p, key, &rec) == GRAFT_OK;
    graft_plan_job info = {j, graft_plan_num_jobs(p), p->targets[key.target].name, key.arm,
                           key.seed, 0, s, err ? err : "", have ? rec.run.final_accuracy : 0,
                           have && rec.run.npoints ? rec.run.points[rec.run.npoints - 1].seconds : 0,
                           have ? rec.device : NULL};
    r->cfg->on_job(r->cfg->user, &info);
    if (have) plan_job_record_free(&rec);
}

graft_status graft_plan_run(const graft_plan *p, const graft_plan_run_config *cfg,
                            graft_plan_run_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof *res);
    if (!cfg->state_dir) return error_set(err, errlen, GRAFT_ERR_INVALID_ARG, "no state folder");
    if (mkdir(cfg->state_dir, 0777) && errno != EEXIST)
        return error_set(err, errlen, GRAFT_ERR_IO, "%s: %s", cfg->state_dir, strerror(errno));
    int total = graft_plan_num_jobs(p), nranks = cfg->nranks > 1 ? cfg->nranks : 1;
    plan_run r = {p, cfg, malloc(sizeof(int) * (size_t)(total + 1)), calloc((size_t)total + 1, 1), 0};
    if (!r.job_of || !r.skip) {
        free(r.job_of);
        free(r.skip);
        return error_set(err, errlen, GRAFT_ERR_HOST_MEMORY, "out of memory");
    }
    for (int j = 0; j < total; j++) {
        if (j % nranks != cfg->rank % nranks) continue;
        int k = r.njobs++;
        r.job_of[k] = j;
        plan_job_key key = plan_job_key_of(p, j);
        plan_job_record rec;
        /* Finished before: skipped (a failed one runs again). */
        if (plan_job_read(cfg->state_dir, p, key, &rec) == GRAFT_OK) {
            r.skip[k] = rec.status == GRAFT_OK;
            if (r.skip[k] && cfg->on_job) {
                graft_plan_job info = {j, total, p->targets[key.target].name, key.arm, key.seed, 1,
                                       GRAFT_OK, "", rec.run.final_accuracy,
                                       rec.run.npoints ? rec.run.points[rec.run.npoints - 1].seconds : 0,
                                       NULL};
                cfg->on_job(cfg->user, &info);
            }
            res->skipped += r.skip[k];
            plan_job_record_free(&rec);
        }
    }
    res->njobs = r.njobs;
    int nslots = cfg->ndevices > 1 ? cfg->ndevices : 1;
    if (nslots > r.njobs - res->skipped) nslots = r.njobs - res->skipped;
    graft_status s = GRAFT_OK;
    if (nslots > 0) {
        job_sched_config sc = {r.njobs, nslots, 1, r.skip};
        job_sched_ops ops = {slot_open, slot_close, run_job, job_done};
        job_sched_result jr;
        s = job_sched_run(&sc, &ops, &r, &jr);
        if (s != GRAFT_OK) error_set(err, errlen, s, "%s", jr.first_err);
        res->ran = jr.ran;
        res->failed = jr.failed;
    }
    free(r.job_of);
    free(r.skip);
    return s;
}
