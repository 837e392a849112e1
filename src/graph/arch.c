/* Built-in architectures: refnet (28x28 reference), resnet18 (torchvision
 * layout) and mobilenetv2 (inverted residuals), built through the public
 * graph API so they are ordinary models afterwards. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "model.h"

graft_arch_params graft_arch_default_params(const char *arch)
{
    graft_arch_params p;
    memset(&p, 0, sizeof p);
    p.classes = 10;
    p.width_mult = 1.0f;
    if (arch && !strcasecmp(arch, "refnet")) {
        p.channels = 1;
        p.height = p.width = 28;
    } else {
        p.channels = 3;
        p.height = p.width = 224;
    }
    if (arch && !strcasecmp(arch, "mobilenetv2")) p.dropout = 0.2f;
    return p;
}

/* Small builder: remembers the model and the last node. */
typedef struct builder {
    graft_model *m;
    int last;
    graft_status st;
} builder;

static int add(builder *b, const char *name, graft_layer_spec s, int nin, const int *in)
{
    if (b->st != GRAFT_OK) return -1;
    int id = -1;
    b->st = graft_model_add(b->m, name, &s, nin, in, &id);
    if (b->st == GRAFT_OK) b->last = id;
    return id;
}

static int add1(builder *b, const char *name, graft_layer_spec s, int from)
{
    return add(b, name, s, 1, &from);
}

static graft_layer_spec conv_spec(int out, int k, int stride, int pad, int groups)
{
    graft_layer_spec s = graft_layer_default(GRAFT_LAYER_CONV2D);
    s.channels = out;
    s.kernel = k;
    s.stride = stride;
    s.pad = pad;
    s.groups = groups;
    s.bias = 0;
    return s;
}

/* conv -> bn -> activation (GRAFT_LAYER_INPUT as act means none). */
static int conv_bn_act(builder *b, const char *prefix, int from, int out, int k, int stride,
                       int groups, graft_layer_kind act)
{
    char name[64];
    snprintf(name, sizeof name, "%s", prefix);
    int c = add1(b, name, conv_spec(out, k, stride, k / 2, groups), from);
    snprintf(name, sizeof name, "%s.bn", prefix);
    int n = add1(b, name, graft_layer_default(GRAFT_LAYER_BATCHNORM2D), c);
    if (act == GRAFT_LAYER_INPUT) return n;
    snprintf(name, sizeof name, "%s.act", prefix);
    return add1(b, name, graft_layer_default(act), n);
}

static int head(builder *b, int from, const graft_arch_params *p)
{
    int g = add1(b, "gap", graft_layer_default(GRAFT_LAYER_GLOBAL_AVGPOOL), from);
    if (p->dropout > 0) {
        graft_layer_spec d = graft_layer_default(GRAFT_LAYER_DROPOUT);
        d.p = p->dropout;
        g = add1(b, "dropout", d, g);
    }
    graft_layer_spec fc = graft_layer_default(GRAFT_LAYER_LINEAR);
    fc.channels = p->classes;
    fc.bias = 1;
    return add1(b, "fc", fc, g);
}

static void build_refnet(builder *b, int in, const graft_arch_params *p)
{
    int x = conv_bn_act(b, "conv1", in, 32, 3, 1, 1, GRAFT_LAYER_RELU);
    x = conv_bn_act(b, "conv2", x, 32, 3, 1, 1, GRAFT_LAYER_RELU);
    x = add1(b, "pool1", graft_layer_default(GRAFT_LAYER_MAXPOOL2D), x);
    x = conv_bn_act(b, "conv3", x, 64, 3, 1, 1, GRAFT_LAYER_RELU);
    x = conv_bn_act(b, "conv4", x, 64, 3, 1, 1, GRAFT_LAYER_RELU);
    x = add1(b, "pool2", graft_layer_default(GRAFT_LAYER_MAXPOOL2D), x);
    x = conv_bn_act(b, "conv5", x, 128, 3, 1, 1, GRAFT_LAYER_RELU);
    head(b, x, p);
}

static int scaled(int c, float mult)
{
    int v = (int)(c * mult + 0.5f);
    return v < 1 ? 1 : v;
}

/* Rounds to a multiple of 8, never below 90% of the request (MobileNet's
 * channel rounding). */
static int divisible8(float v)
{
    int r = (int)(v + 4) / 8 * 8;
    if (r < 8) r = 8;
    if (r < 0.9f * v) r += 8;
    return r;
}

static void build_resnet18(builder *b, int in, const graft_arch_params *p)
{
    float wm = p->width_mult > 0 ? p->width_mult : 1.0f;
    int x = conv_bn_act(b, "conv1", in, scaled(64, wm), 7, 2, 1, GRAFT_LAYER_RELU);
    graft_layer_spec mp = graft_layer_default(GRAFT_LAYER_MAXPOOL2D);
    mp.kernel = 3;
    mp.stride = 2;
    mp.pad = 1;
    x = add1(b, "maxpool", mp, x);
    int cin = scaled(64, wm);
    const int widths[4] = {64, 128, 256, 512};
    for (int s = 0; s < 4; s++) {
        int cout = scaled(widths[s], wm);
        for (int blk = 0; blk < 2; blk++) {
            int stride = (s > 0 && blk == 0) ? 2 : 1;
            char pre[48], name[64];
            snprintf(pre, sizeof pre, "layer%d.%d", s + 1, blk);
            snprintf(name, sizeof name, "%s.conv1", pre);
            int y = conv_bn_act(b, name, x, cout, 3, stride, 1, GRAFT_LAYER_RELU);
            snprintf(name, sizeof name, "%s.conv2", pre);
            y = conv_bn_act(b, name, y, cout, 3, 1, 1, GRAFT_LAYER_INPUT);
            int sc = x;
            if (stride != 1 || cin != cout) {
                snprintf(name, sizeof name, "%s.downsample", pre);
                sc = conv_bn_act(b, name, x, cout, 1, stride, 1, GRAFT_LAYER_INPUT);
            }
            snprintf(name, sizeof name, "%s.add", pre);
            int ins[2] = {y, sc};
            int a = add(b, name, graft_layer_default(GRAFT_LAYER_ADD), 2, ins);
            snprintf(name, sizeof name, "%s.relu", pre);
            x = add1(b, name, graft_layer_default(GRAFT_LAYER_RELU), a);
            cin = cout;
        }
    }
    head(b, x, p);
}

static void build_mobilenetv2(builder *b, int in, const graft_arch_params *p)
{
    float wm = p->width_mult > 0 ? p->width_mult : 1.0f;
    static const int cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                  {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    int cin = divisible8(32 * wm);
    int x = conv_bn_act(b, "features.0", in, cin, 3, 2, 1, GRAFT_LAYER_RELU6);
    int idx = 1;
    for (int g = 0; g < 7; g++) {
        int t = cfg[g][0], cout = divisible8(cfg[g][1] * wm), n = cfg[g][2], s = cfg[g][3];
        for (int i = 0; i < n; i++) {
            int stride = i == 0 ? s : 1, hidden = cin * t;
            char pre[48], name[64];
            snprintf(pre, sizeof pre, "features.%d", idx++);
            int y = x;
            if (t != 1) {
                snprintf(name, sizeof name, "%s.expand", pre);
                y = conv_bn_act(b, name, y, hidden, 1, 1, 1, GRAFT_LAYER_RELU6);
            }
            snprintf(name, sizeof name, "%s.dw", pre);
            y = conv_bn_act(b, name, y, hidden, 3, stride, hidden, GRAFT_LAYER_RELU6);
            snprintf(name, sizeof name, "%s.project", pre);
            y = conv_bn_act(b, name, y, cout, 1, 1, 1, GRAFT_LAYER_INPUT);
            if (stride == 1 && cin == cout) {
                snprintf(name, sizeof name, "%s.add", pre);
                int ins[2] = {x, y};
                y = add(b, name, graft_layer_default(GRAFT_LAYER_ADD), 2, ins);
            }
            x = y;
            cin = cout;
        }
    }
    int last = wm > 1.0f ? divisible8(1280 * wm) : 1280;
    x = conv_bn_act(b, "features.18", x, last, 1, 1, 1, GRAFT_LAYER_RELU6);
    head(b, x, p);
}

graft_status graft_model_build_arch(graft_model *m, const char *arch, const graft_arch_params *p)
{
    if (!m || !arch || !p) return GRAFT_ERR_INVALID_ARG;
    if (graft_model_num_nodes(m) != 0)
        return ctx_fail(m->ctx, GRAFT_ERR_INVALID_ARG, "architecture '%s': the model is not empty", arch);
    if (p->classes < 1 || p->channels < 1 || p->height < 1 || p->width < 1)
        return ctx_fail(m->ctx, GRAFT_ERR_SHAPE, "architecture '%s': %d classes, input %dx%dx%d: "
                        "all must be positive", arch, p->classes, p->channels, p->height, p->width);
    int is_ref = !strcasecmp(arch, "refnet"), is_res = !strcasecmp(arch, "resnet18"),
        is_mb = !strcasecmp(arch, "mobilenetv2");
    if (!is_ref && !is_res && !is_mb)
        return ctx_fail(m->ctx, GRAFT_ERR_UNSUPPORTED, "unknown architecture '%s' (expected "
                        "refnet, resnet18 or mobilenetv2)", arch);
    if ((is_res || is_mb) && (p->height < 32 || p->width < 32))
        return ctx_fail(m->ctx, GRAFT_ERR_SHAPE, "architecture '%s' needs inputs of at least "
                        "32x32, got %dx%d", arch, p->height, p->width);
    builder b = {m, -1, GRAFT_OK};
    graft_layer_spec in = graft_layer_default(GRAFT_LAYER_INPUT);
    in.channels = p->channels;
    in.height = p->height;
    in.width = p->width;
    int x = add(&b, "input", in, 0, NULL);
    if (is_ref) build_refnet(&b, x, p);
    else if (is_res) build_resnet18(&b, x, p);
    else build_mobilenetv2(&b, x, p);
    return b.st;
}
