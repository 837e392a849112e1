/* Model files: graft_model <-> mf_model (see modelfile.h for the bytes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_io.h"

void graft_model_meta_free(graft_model_meta *meta)
{
    if (!meta) return;
    for (int i = 0; i < meta->nclasses && meta->class_names; i++) free(meta->class_names[i]);
    free(meta->class_names);
    free(meta->meta_json);
    memset(meta, 0, sizeof *meta);
}

static char *dup_str(const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static graft_status read_tensor(graft_model *m, cl_mem buf, const char *name, int ndim,
                                const int *shape, size_t numel, mf_tensor *t)
{
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->data = malloc(numel * sizeof(float));
    if (!t->data) return ctx_fail(m->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    return ctx_read(m->ctx, buf, 0, t->data, numel);
}

graft_status model_to_mf(graft_model *m, const graft_model_meta *meta, mf_model *f)
{
    graft_ctx *ctx = m->ctx;
    if (m->nnodes < 2) return ctx_fail(ctx, GRAFT_ERR_INVALID_ARG, "cannot save an empty model");
    snprintf(f->arch, sizeof f->arch, "%s", meta && meta->arch[0] ? meta->arch : "custom");
    f->nodes = calloc((size_t)m->nnodes, sizeof *f->nodes);
    f->tensors = calloc((size_t)m->nparams + 1, sizeof *f->tensors);
    if (!f->nodes || !f->tensors) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    f->nnodes = m->nnodes;
    for (int i = 0; i < m->nnodes; i++) {
        const node *nd = &m->nodes[i];
        mf_node *o = &f->nodes[i];
        snprintf(o->name, sizeof o->name, "%s", nd->name);
        o->spec = nd->spec;
        o->ninputs = nd->nin;
        for (int k = 0; k < nd->nin; k++) o->inputs[k] = nd->in[k];
    }
    f->channels = m->nodes[0].shape.c;
    f->height = m->nodes[0].shape.h;
    f->width = m->nodes[0].shape.w;
    for (int c = 0; c < MF_MAX_CHANNELS; c++) {
        f->mean[c] = meta ? meta->mean[c] : 0.0f;
        f->std[c] = meta && meta->std[c] > 0 ? meta->std[c] : 1.0f;
    }
    int classes = m->nodes[m->nnodes - 1].shape.c;
    f->class_names = calloc((size_t)classes, sizeof *f->class_names);
    if (!f->class_names) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    f->nclasses = classes;
    for (int c = 0; c < classes; c++) {
        char num[16];
        snprintf(num, sizeof num, "%d", c);
        const char *nm = meta && c < meta->nclasses && meta->class_names ? meta->class_names[c] : num;
        f->class_names[c] = dup_str(nm);
        if (!f->class_names[c]) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    }
    for (int i = 0; i < m->nparams; i++) {
        param *p = model_param(m, i);
        TRY(read_tensor(m, p->data, p->name, p->ndim, p->shape, p->numel, &f->tensors[i]));
        f->ntensors++;
    }
    if (meta && meta->meta_json) {
        f->meta_json = dup_str(meta->meta_json);
        if (!f->meta_json) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    }
    return GRAFT_OK;
}

graft_status model_from_mf(graft_ctx *ctx, const mf_model *f, const char *path, graft_model **out)
{
    *out = NULL;
    graft_model *m;
    TRY(graft_model_create(ctx, &m));
    graft_status s = GRAFT_OK;
    for (int i = 0; i < f->nnodes && s == GRAFT_OK; i++) {
        s = graft_model_add(m, f->nodes[i].name, &f->nodes[i].spec, f->nodes[i].ninputs,
                            f->nodes[i].inputs, NULL);
        if (s != GRAFT_OK) {
            char why[GRAFT_ERRLEN];
            snprintf(why, sizeof why, "%s", ctx->err);
            ctx_fail(ctx, GRAFT_ERR_FORMAT, "%s: its graph does not build: %s", path, why);
            s = GRAFT_ERR_FORMAT;
        }
    }
    if (s == GRAFT_OK && m->nparams != f->ntensors)
        s = ctx_fail(ctx, GRAFT_ERR_FORMAT, "%s: %d tensors stored, the graph has %d parameters",
                     path, f->ntensors, m->nparams);
    for (int i = 0; i < m->nparams && s == GRAFT_OK; i++) {
        param *p = model_param(m, i);
        const mf_tensor *t = &f->tensors[i];
        int same = !strcmp(t->name, p->name) && t->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == p->shape[d];
        if (!same)
            s = ctx_fail(ctx, GRAFT_ERR_FORMAT, "%s: tensor %d is '%s', expected '%s' of the "
                         "right shape", path, i, t->name, p->name);
        else {
            param_written(p);
            s = ctx_write(ctx, p->data, 0, t->data, p->numel);
        }
    }
    if (s != GRAFT_OK) {
        graft_model_free(m);
        return s;
    }
    *out = m;
    return GRAFT_OK;
}

graft_status meta_from_mf(graft_ctx *ctx, const mf_model *f, graft_model_meta *meta)
{
    memset(meta, 0, sizeof *meta);
    snprintf(meta->arch, sizeof meta->arch, "%s", f->arch);
    memcpy(meta->mean, f->mean, sizeof meta->mean);
    memcpy(meta->std, f->std, sizeof meta->std);
    meta->class_names = calloc((size_t)f->nclasses + 1, sizeof *meta->class_names);
    if (!meta->class_names) return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    for (int c = 0; c < f->nclasses; c++) {
        meta->class_names[c] = dup_str(f->class_names[c]);
        meta->nclasses = c + 1;
        if (!meta->class_names[c]) {
            graft_model_meta_free(meta);
            return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
        }
    }
    if (f->meta_json && !(meta->meta_json = dup_str(f->meta_json))) {
        graft_model_meta_free(meta);
        return ctx_fail(ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    }
    return GRAFT_OK;
}

graft_status graft_model_save(graft_model *m, const graft_model_meta *meta, const char *path)
{
    if (!m || !path) return GRAFT_ERR_INVALID_ARG;
    mf_model f;
    memset(&f, 0, sizeof f);
    graft_status s = model_to_mf(m, meta, &f);
    if (s == GRAFT_OK) s = mf_write(&f, path, m->ctx->err, sizeof m->ctx->err);
    mf_model_free(&f);
    return s;
}

graft_status graft_model_load(graft_ctx *ctx, const char *path, graft_model **out,
                              graft_model_meta *meta)
{
    if (!ctx || !path || !out) return GRAFT_ERR_INVALID_ARG;
    *out = NULL;
    if (meta) memset(meta, 0, sizeof *meta);
    mf_model f;
    memset(&f, 0, sizeof f);
    graft_status s = mf_read(path, &f, ctx->err, sizeof ctx->err);
    if (s == GRAFT_OK) s = model_from_mf(ctx, &f, path, out);
    if (s == GRAFT_OK && meta) {
        s = meta_from_mf(ctx, &f, meta);
        if (s != GRAFT_OK) {
            graft_model_free(*out);
            *out = NULL;
        }
    }
    mf_model_free(&f);
    return s;
}

graft_status optimizer_to_mf(graft_optimizer *o, mf_model *f)
{
    graft_model *m = o->m;
    int per = o->p.kind == GRAFT_OPT_ADAMW ? 2 : 1;
    f->state = calloc((size_t)o->nslots * per + 1, sizeof *f->state);
    if (!f->state) return ctx_fail(m->ctx, GRAFT_ERR_HOST_MEMORY, "out of host memory");
    f->nstate = 0;
    for (int i = 0; i < o->nslots; i++) {
        param *p = model_param(m, o->slots[i].param);
        char name[MF_TENSOR_NAME_LEN];
        snprintf(name, sizeof name, "%s.m", p->name);
        TRY(read_tensor(m, o->slots[i].m, name, p->ndim, p->shape, p->numel, &f->state[f->nstate]));
        f->nstate++;
        if (per == 2) {
            snprintf(name, sizeof name, "%s.v", p->name);
            TRY(read_tensor(m, o->slots[i].v, name, p->ndim, p->shape, p->numel,
                            &f->state[f->nstate]));
            f->nstate++;
        }
    }
    f->step = o->steps;
    return GRAFT_OK;
}

graft_status optimizer_from_mf(graft_optimizer *o, const mf_model *f, const char *path)
{
    graft_model *m = o->m;
    int per = o->p.kind == GRAFT_OPT_ADAMW ? 2 : 1;
    if (f->nstate != o->nslots * per)
        return ctx_fail(m->ctx, GRAFT_ERR_FORMAT, "%s: %d optimizer tensors stored, %d expected "
                        "(was it written with another --opt?)", path, f->nstate, o->nslots * per);
    for (int i = 0; i < f->nstate; i++) {
        const opt_slot *sl = &o->slots[i / per];
        param *p = model_param(m, sl->param);
        char name[MF_TENSOR_NAME_LEN];
        snprintf(name, sizeof name, "%s.%s", p->name, (i % per) ? "v" : "m");
        if (strcmp(f->state[i].name, name) || mf_tensor_numel(&f->state[i]) != p->numel)
            return ctx_fail(m->ctx, GRAFT_ERR_FORMAT, "%s: optimizer tensor '%s' where '%s' was "
                            "expected", path, f->state[i].name, name);
        TRY(ctx_write(m->ctx, (i % per) ? sl->v : sl->m, 0, f->state[i].data, p->numel));
    }
    o->steps = (long)f->step;
    return GRAFT_OK;
}
