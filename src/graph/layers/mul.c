/* Product of two node values y = a * b, where b has a's shape or is one
 * value per channel (C x 1 x 1, broadcast over H and W): the scaling of a
 * squeeze-excitation block. Imported from an ONNX Mul of two computed
 * tensors (src/io/onnx_fuse_mul.c), the per-channel one as either operand.
 * Kernels in cl/shared/mul.cl, and the per-channel operand's gradient per
 * kernel style (cl/cpu/mul_cpu.cl, cl/gpu/mul_gpu.cl); backward reads both
 * forward inputs. */
#include "kernel_options.h"
#include "layer.h"
#include "layer_kind.h"

/* Elements of a per b value: 1 (same shape) or H * W (per channel). */
static int per_b(const layer *l) { return l->in[1].h * l->in[1].w == 1 ? l->in[0].h * l->in[0].w : 1; }

static graft_status mul_setup(graft_ctx *ctx, layer *l)
{
    if (l->nin != 2)
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "mul '%s': needs 2 inputs, got %d", l->name, l->nin);
    layer_shape a = l->in[0], b = l->in[1];
    int same = a.c == b.c && a.h == b.h && a.w == b.w;
    if (!same && !(b.c == a.c && b.h == 1 && b.w == 1))
        return ctx_fail(ctx, GRAFT_ERR_SHAPE, "mul '%s': inputs %dx%dx%d and %dx%dx%d; the second "
                        "needs the first's shape or %dx1x1 (one value per channel)", l->name, a.c,
                        a.h, a.w, b.c, b.h, b.w, a.c);
    l->out = a;
    return GRAFT_OK;
}

static graft_status mul_forward(graft_ctx *ctx, layer *l, const fwd_io *io)
{
    size_t n = (size_t)io->n * shape_numel(l->out);
    return LAUNCH1D(ctx, "mul_fwd", n, KA_MEM(io->in[0]), KA_MEM(io->in[1]), KA_MEM(io->out),
                    KA_INT(n), KA_INT(per_b(l)));
}

/* Gradient of the per-channel operand: a sum over each plane of dy * a, by
 * one work-item per plane (CPU style, lws 1) or one work-group of
 * PLANE_LWS per plane (GPU style). */
static graft_status plane_grad(graft_ctx *ctx, const layer *l, const bwd_io *io, int gpu)
{
    int planes = io->n * l->out.c, S = per_b(l);
    size_t lw = gpu ? PLANE_LWS : 1, g = (size_t)planes * lw;
    if (gpu)
        return LAUNCH(ctx, "mul_bwd_plane_gpu", 1, &g, &lw, KA_MEM(io->dout), KA_MEM(io->in[0]),
                      KA_MEM(io->din[1]), KA_INT(S), KA_FLT(io->din_beta[1]));
    return LAUNCH(ctx, "mul_bwd_plane_cpu", 1, &g, &lw, KA_MEM(io->dout), KA_MEM(io->in[0]),
                  KA_MEM(io->din[1]), KA_INT(planes), KA_INT(S), KA_FLT(io->din_beta[1]));
}

static graft_status mul_backward(graft_ctx *ctx, layer *l, const bwd_io *io, int gpu)
{
    size_t n = (size_t)io->n * shape_numel(l->out);
    int S = per_b(l);
    if (io->din[0])
        TRY(LAUNCH1D(ctx, "mul_bwd_full", n, KA_MEM(io->dout), KA_MEM(io->in[1]),
                     KA_MEM(io->din[0]), KA_INT(n), KA_INT(S), KA_FLT(io->din_beta[0])));
    if (!io->din[1]) return GRAFT_OK;
    if (S == 1)
        return LAUNCH1D(ctx, "mul_bwd_full", n, KA_MEM(io->dout), KA_MEM(io->in[0]),
                        KA_MEM(io->din[1]), KA_INT(n), KA_INT(1), KA_FLT(io->din_beta[1]));
    return plane_grad(ctx, l, io, gpu);
}

static graft_status mul_backward_cpu(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    return mul_backward(ctx, l, io, 0);
}

static graft_status mul_backward_gpu(graft_ctx *ctx, layer *l, const bwd_io *io)
{
    return mul_backward(ctx, l, io, 1);
}

static const layer_ops mul_cpu_ops = {mul_setup, NULL, mul_forward, mul_backward_cpu, NULL, NULL};
static const layer_ops mul_gpu_ops = {mul_setup, NULL, mul_forward, mul_backward_gpu, NULL, NULL};

/* The full-size operand first; ranks must agree (an N x C matrix times an
 * N x C x 1 x 1 tensor broadcasts to something else in ONNX). */
static graft_status mul_import(onnx_importer *im)
{
    onnx_value a, b;
    graft_status s = im->api->input(im, 0, 0, &a);
    if (s == GRAFT_OK) s = im->api->input(im, 1, 0, &b);
    if (s != GRAFT_OK) return s;
    if (a.rank != b.rank)
        return onnx_fail(im, GRAFT_ERR_UNSUPPORTED, "multiplies a %d-D tensor by a %d-D one; graft "
                         "multiplies tensors of one rank", a.rank, b.rank);
    if (a.h * a.w == 1 && b.h * b.w > 1) {
        onnx_value t = a;
        a = b;
        b = t;
    }
    int ins[2] = {a.node, b.node};
    graft_layer_spec sp = graft_layer_default(GRAFT_LAYER_MUL);
    return im->api->emit(im, &sp, 2, ins, a.rank, NULL);
}

static graft_status mul_export(onnx_exporter *ex, const char *name, const graft_layer_spec *s,
                               int nin)
{
    (void)s, (void)nin;
    ex->api->node(ex, "Mul", name, name);
    ex->api->in(ex, ex->api->input_name(ex, 0));
    ex->api->in(ex, ex->api->input_name(ex, 1));
    return GRAFT_OK;
}

static const char *const mul_onnx_ops[] = {"graft:Mul", NULL};

/* Style-specific backward (the per-plane sum); FLOPs not counted
 * (elementwise). */
const layer_kind mul_kind = {
    .kind = GRAFT_LAYER_MUL, .name = "mul", .min_inputs = 2, .max_inputs = 2,
    .ops_cpu = &mul_cpu_ops, .ops_gpu = &mul_gpu_ops,
    .onnx_ops = mul_onnx_ops, .onnx_import = mul_import, .onnx_export = mul_export,
};
