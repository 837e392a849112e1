/* Device memory estimate of a model (graft_train.h), from its shapes. */
#include <stdlib.h>

#include "graft_train.h"
#include "model.h"

/* Bytes of one im2col scratch buffer of a conv node at this batch (0 for
 * other kinds and for the direct depthwise path). The layer runs the batch
 * in chunks of images that keep each buffer within 32 MiB (CONV_CHUNK_BYTES
 * in src/graph/layers/conv.c; at least one image), sized for the larger of the
 * column matrix (Cin*k*k rows) and the [Cout] output rows. */
static double node_im2col(const graft_model *m, int i, int batch)
{
    const graft_layer_spec *s = graft_model_node_spec(m, i);
    if (s->kind != GRAFT_LAYER_CONV2D) return 0;
    const int *in;
    if (graft_model_node_inputs(m, i, &in) < 1) return 0;
    int c, h, w, ic, ih, iw;
    graft_model_node_shape(m, i, &c, &h, &w);
    graft_model_node_shape(m, in[0], &ic, &ih, &iw);
    int groups = s->groups > 0 ? s->groups : 1;
    if (groups > 1 && ic / groups == 1) return 0;
    int kh, kw;
    graft_layer_window(s, &kh, &kw, NULL);
    double rows = (double)ic * kh * kw;
    if (c > rows) rows = c;
    double per_image = rows * h * w * 4, cap = 32.0 * 1024 * 1024;
    double nc = (double)(long long)(cap / per_image);
    if (nc < 1) nc = 1;
    if (nc > batch) nc = batch;
    return nc * per_image;
}

/* Floats of the packed copies a CPU-style device keeps of a dense conv's
 * weights in inference (src/graph/layers/conv_packed.h): conv_tall_cpu's B
 * (output channels padded to 32), and for a 3x3 stride-1 conv of at least
 * 32 channels each way Winograd's transform too (36 points per 9 weights,
 * 6-channel panels; a conv keeps both when batch sizes switch it between
 * the two). An upper bound: 1x1 stride-1 convs and GPU-style devices keep
 * none. */
static double node_packed(const graft_model *m, int i)
{
    const graft_layer_spec *s = graft_model_node_spec(m, i);
    if (s->kind != GRAFT_LAYER_CONV2D || (s->groups > 1)) return 0;
    const int *in;
    if (graft_model_node_inputs(m, i, &in) < 1) return 0;
    int c, h, w, ic, ih, iw, kh, kw;
    graft_model_node_shape(m, i, &c, &h, &w);
    graft_model_node_shape(m, in[0], &ic, &ih, &iw);
    graft_layer_window(s, &kh, &kw, NULL);
    if (kh == 1 && kw == 1 && s->stride == 1) return 0;
    double tall = (double)ic * kh * kw * ((c + 31) / 32 * 32);
    if (kh == 3 && kw == 3 && s->stride == 1 && ic >= 32 && c >= 32)
        return tall + 36.0 * ((c + 5) / 6 * 6) * ic;
    return tall;
}

static double node_numel(const graft_model *m, int i)
{
    int c, h, w;
    graft_model_node_shape(m, i, &c, &h, &w);
    return (double)c * h * w;
}

graft_memory_estimate graft_model_memory_estimate(const graft_model *m, int batch,
                                                  graft_opt_kind opt)
{
    int N = graft_model_num_nodes(m);
    double acts = 0, scratch = 0, packed = 0;
    for (int i = 0; i < N; i++) {
        int c, h, w;
        graft_model_node_shape(m, i, &c, &h, &w);
        acts += (double)c * h * w;
        packed += node_packed(m, i);
        double s = node_im2col(m, i, batch);
        if (s > scratch) scratch = s;
    }
    /* Every stored tensor (running statistics too); optimizer state only
     * for the trainable ones. */
    double all = 0, trainable = 0;
    for (int p = 0; p < graft_model_num_params(m); p++) {
        double n = (double)graft_model_param_numel(m, p);
        all += n;
        if (graft_model_param_is_trainable(m, p)) trainable += n;
    }
    /* Output gradients live from their first consumer's backward to the
     * node's own (the model pools them): peak of the live set, walking
     * backward as graft_model_backward does. */
    double live = 0, peak = 0;
    char *held = calloc((size_t)N + 1, 1);
    for (int i = N - 1; i >= 1 && held; i--) {
        if (i == N - 1) {
            held[i] = 1;
            live += node_numel(m, i);
        }
        const int *in;
        int nin = graft_model_node_inputs(m, i, &in);
        for (int k = 0; k < nin; k++)
            if (in[k] > 0 && !held[in[k]]) {
                held[in[k]] = 1;
                live += node_numel(m, in[k]);
            }
        if (live > peak) peak = live;
        live -= node_numel(m, i);
    }
    free(held);
    graft_memory_estimate e;
    e.train_activations = (double)batch * (acts + peak) * 4;
    e.train_parameters = all * 4 + trainable * 4 * (1 + (opt == GRAFT_OPT_ADAMW ? 2 : 1));
    e.train_scratch = scratch * 3;
    /* Inference shares buffers between outputs not needed together
     * (src/graph/act_plan.c): the planned bytes, not every node's. */
    e.infer_activations = (double)model_infer_activation_bytes(m, batch);
    e.infer_parameters = (all + packed) * 4;
    e.infer_scratch = scratch * 2;
    return e;
}
