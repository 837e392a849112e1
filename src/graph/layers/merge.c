/* Residual add (2+ inputs of one shape) and channel concatenation (2+
 * inputs with equal H, W). */
#include <stdio.h>

#include "layer.h"
#include "layer_kind.h"

static graft_status add_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin < 2)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "add '%s': needs at least 2 inputs, got %d", l->name,
                        l->nin);
    for (int i = 1; i < l->nin; i++)
        if (l->in[i].c != l->in[0].c || l->in[i].h != l->in[0].h || l->in[i].w != l->in[0].w)
            return ctx_fail(ctx, GRAFT_ERR_SHAPE,
                            "add '%s': input %d is %dx%dx%d but input 0 is %dx%dx%d", l->name, i,
                            l->in[i].c, l->in[i].h, l->in[i].w, l->in[0].c, l->in[0].h,
                            l->in[0].w);
    l->out = l->in[0];
    return GRAFT_OK;
}

static graft_status add_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    size_t n = (size_t)io->n * shape_numel(l->out);
    TRY(LAUNCH1D(ctx, "add_fwd2", n, KA_MEM(io->in[0]), KA_MEM(io->in[1]), KA_MEM(io->out),
                 KA_INT(n)));
    for (int i = 2; i < l->nin; i++)
        TRY(LAUNCH1D(ctx, "add_acc", n, KA_MEM(io->in[i]), KA_MEM(io->out), KA_INT(n)));
    return GRAFT_OK;
}

static graft_status add_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    size_t n = (size_t)io->n * shape_numel(l->out);
    for (int i = 0; i < l->nin; i++) {
        if (!io->din[i]) continue;
        TRY(LAUNCH1D(ctx, "axpby_f32", n, KA_MEM(io->dout), KA_MEM(io->din[i]), KA_INT(n),
                     KA_FLT(1.0f), KA_FLT(io->din_beta[i])));
    }
    return GRAFT_OK;
}

static double add_flops(const layer *l) { return (double)(l->nin - 1) * shape_numel(l->out); }

static const layer_ops add_ops = {add_setup, NULL, add_forward, add_backward, NULL, add_flops};

/* Add of two tensors of one shape; Add of a constant is the bias of a
 * preceding MatMul, which the importer folds (fold_bias_add). */
static graft_status add_import(onnx_importer *im)
{
    if (im->api->num_inputs(im) != 2) return onnx_fail(im, GRAFT_ERR_FORMAT, "needs 2 inputs");
    if (im->api->input_is_const(im, 0) || im->api->input_is_const(im, 1))
        return im->api->fold_bias_add(im);
    onnx_value a, b;
    graft_status s = im->api->input(im, 0, 0, &a);
    if (s == GRAFT_OK) s = im->api->input(im, 1, 0, &b);
    if (s != GRAFT_OK) return s;
    if (a.c != b.c || a.h != b.h || a.w != b.w || a.rank != b.rank)
        return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "adds %dx%dx%d and %dx%dx%d; graft adds "
                         "tensors of one shape (no broadcasting)", a.c, a.h, a.w, b.c, b.h, b.w);
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_ADD);
    int ins[2] = {a.node, b.node};
    return im->api->emit(im, &sp, 2, ins, a.rank, NULL);
}

/* ONNX Add is binary: a chain for more inputs. */
static graft_status add_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                               int nin)
{
    (void)s;
    int rin = ex->api->input_rank(ex, 0);
    char acc[LAYER_NAME_LEN + 16], buf[LAYER_NAME_LEN + 16];
    snprintf(acc, sizeof acc, "%s", ex->api->input_name(ex, 0));
    for (int k = 1; k < nin; k++) {
        if (ex->api->input_rank(ex, k) != rin) return ex->api->rank2(ex);
        snprintf(buf, sizeof buf, "%s.sum%d", name, k);
        const char *outn = k == nin - 1 ? name : buf;
        ex->api->node(ex, "Add", outn, outn);
        ex->api->in(ex, acc);
        ex->api->in(ex, ex->api->input_name(ex, k));
        snprintf(acc, sizeof acc, "%s", outn);
    }
    return GRAFT_OK;
}

static const char *const add_onnx_ops[] = {"Add", NULL};

const layer_kind add_kind = {
    .kind = GRAFT_LAYER_ADD, .name = "add", .min_inputs = 2, .max_inputs = LAYER_MAX_INPUTS,
    .ops_cpu = &add_ops, .ops_gpu = &add_ops,
    .onnx_ops = add_onnx_ops, .onnx_import = add_import, .onnx_export = add_export,
};

/* ---- concat along channels. */

static graft_status concat_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin < 2)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "concat '%s': needs at least 2 inputs, got %d",
                        l->name, l->nin);
    int c = 0;
    for (int i = 0; i < l->nin; i++) {
        if (l->in[i].h != l->in[0].h || l->in[i].w != l->in[0].w)
            return ctx_fail(ctx, GRAFT_ERR_SHAPE,
                            "concat '%s': input %d is %dx%d spatially but input 0 is %dx%d",
                            l->name, i, l->in[i].h, l->in[i].w, l->in[0].h, l->in[0].w);
        c += l->in[i].c;
    }
    l->out = (layer_shape){c, l->in[0].h, l->in[0].w};
    return GRAFT_OK;
}

static graft_status concat_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    int S = l->out.h * l->out.w, coff = 0;
    for (int i = 0; i < l->nin; i++) {
        size_t n = (size_t)io->n * l->in[i].c * S;
        TRY(LAUNCH1D(ctx, "concat_fwd", n, KA_MEM(io->in[i]), KA_MEM(io->out), KA_INT(io->n),
                     KA_INT(l->in[i].c), KA_INT(l->out.c), KA_INT(coff), KA_INT(S)));
        coff += l->in[i].c;
    }
    return GRAFT_OK;
}

static graft_status concat_backward(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    int S = l->out.h * l->out.w, coff = 0;
    for (int i = 0; i < l->nin; i++) {
        size_t n = (size_t)io->n * l->in[i].c * S;
        if (io->din[i])
            TRY(LAUNCH1D(ctx, "concat_bwd", n, KA_MEM(io->dout), KA_MEM(io->din[i]),
                         KA_INT(io->n), KA_INT(l->in[i].c), KA_INT(l->out.c), KA_INT(coff),
                         KA_INT(S), KA_FLT(io->din_beta[i])));
        coff += l->in[i].c;
    }
    return GRAFT_OK;
}

static const layer_ops concat_ops = {concat_setup, NULL, concat_forward, concat_backward, NULL,
                                     NULL};

/* A Concat of one input (DenseNet's first layer of a block) is that input:
 * no layer. */
static graft_status concat_import(onnx_importer *im)
{
    int ins[LAYER_MAX_INPUTS], n = im->api->num_inputs(im), rank = 0;
    if (n < 1 || n > LAYER_MAX_INPUTS)
        return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "%d inputs; graft concatenates 1 to %d", n,
                         LAYER_MAX_INPUTS);
    if (n == 1) {
        onnx_value v;
        graft_status s = im->api->input(im, 0, 0, &v);
        return s == GRAFT_OK ? im->api->alias(im, &v) : s;
    }
    for (int i = 0; i < n; i++) {
        onnx_value v;
        graft_status s = im->api->input(im, i, 0, &v);
        if (s != GRAFT_OK) return s;
        ins[i] = v.node;
        rank = v.rank;
    }
    int64_t axis = im->api->attr_int(im, "axis", 1);
    if (!(axis == 1 || axis == 1 - rank))
        return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "axis %lld; graft concatenates channels "
                         "(axis 1)", (long long)axis);
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_CONCAT);
    return im->api->emit(im, &sp, n, ins, rank, NULL);
}

static graft_status concat_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                                  int nin)
{
    (void)s;
    int rin = ex->api->input_rank(ex, 0);
    ex->api->node(ex, "Concat", name, name);
    for (int k = 0; k < nin; k++) {
        if (ex->api->input_rank(ex, k) != rin) return ex->api->rank2(ex);
        ex->api->in(ex, ex->api->input_name(ex, k));
    }
    ex->api->attr_int(ex, "axis", 1);
    return GRAFT_OK;
}

static const char *const concat_onnx_ops[] = {"Concat", NULL};

const layer_kind concat_kind = {
    .kind = GRAFT_LAYER_CONCAT, .name = "concat", .min_inputs = 2, .max_inputs = LAYER_MAX_INPUTS,
    .ops_cpu = &concat_ops, .ops_gpu = &concat_ops,
    .onnx_ops = concat_onnx_ops, .onnx_import = concat_import, .onnx_export = concat_export,
};
