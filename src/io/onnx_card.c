/* The model card in an ONNX file's metadata_props (onnx_card.h). Values are
 * JSON: a string array for the class names, number arrays for mean, std and
 * the input shape, plain strings for the rest. */
#include "onnx_card.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"

static void sb_str(strbuf *b, const char *s) { strbuf_put(b, s, strlen(s)); }

/* A JSON string literal; UTF-8 passes through, controls are escaped. */
static void sb_json(strbuf *b, const char *s)
{
    sb_str(b, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            strbuf_put(b, esc, 2);
        } else if (ch < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            sb_str(b, esc);
        } else {
            strbuf_put(b, s, 1);
        }
    }
    sb_str(b, "\"");
}

static void sb_floats(strbuf *b, const float *v, int n)
{
    char num[32];
    sb_str(b, "[");
    for (int i = 0; i < n; i++) {
        snprintf(num, sizeof num, "%s%.9g", i ? ", " : "", (double)v[i]);
        sb_str(b, num);
    }
    sb_str(b, "]");
}

static int add(onnx_card *card, const char *key, strbuf *b)
{
    if (b->oom || card->n >= ONNX_CARD_MAX) {
        free(b->s);
        return -1;
    }
    int i = card->n++;
    Onnx__StringStringEntryProto init = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
    card->entry[i] = init;
    card->entry[i].key = (char *)key;
    card->entry[i].value = card->value[i] = b->s;
    card->ptr[i] = &card->entry[i];
    memset(b, 0, sizeof *b);
    return 0;
}

static int add_str(onnx_card *card, const char *key, const char *value)
{
    strbuf b = {0};
    sb_str(&b, value);
    return add(card, key, &b);
}

void onnx_card_free(onnx_card *card)
{
    for (int i = 0; i < card->n; i++) free(card->value[i]);
    memset(card, 0, sizeof *card);
}

int onnx_card_build(const graft_model_meta *meta, int c, int h, int w, onnx_card *card)
{
    memset(card, 0, sizeof *card);
    strbuf b = {0};
    int cc = c < 4 ? c : 4, rc = 0;
    char shape[64];
    snprintf(shape, sizeof shape, "[%d, %d, %d]", c, h, w);
    rc |= add_str(card, "graft.card", "1");
    if (meta->arch[0]) rc |= add_str(card, "arch", meta->arch);
    if (meta->class_names && meta->nclasses > 0) {
        sb_str(&b, "[");
        for (int k = 0; k < meta->nclasses; k++) {
            if (k) sb_str(&b, ", ");
            sb_json(&b, meta->class_names[k] ? meta->class_names[k] : "");
        }
        sb_str(&b, "]");
        rc |= add(card, "class_names", &b);
    }
    sb_floats(&b, meta->mean, cc);
    rc |= add(card, "mean", &b);
    sb_floats(&b, meta->std, cc);
    rc |= add(card, "std", &b);
    rc |= add_str(card, "input_shape", shape);
    rc |= add_str(card, "colour_mode", c == 1 ? "grey" : c == 3 ? "RGB" : "other");
    rc |= add_str(card, "pixel_scale", "1/255");
    rc |= add_str(card, "resize", "shorter_side_bilinear_centre_crop");
    rc |= add_str(card, "output", "logits");
    if (rc) onnx_card_free(card);
    return rc ? -1 : 0;
}

/* --------------------------------------------------------------- reading */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

static void put_utf8(strbuf *b, unsigned cp)
{
    char u[4];
    if (cp < 0x80) {
        u[0] = (char)cp;
        strbuf_put(b, u, 1);
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        strbuf_put(b, u, 2);
    } else {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        strbuf_put(b, u, 3);
    }
}

/* A JSON string at *pp into a malloc'd C string; NULL when malformed (or
 * out of memory: *oom set). */
static char *parse_string(const char **pp, int *oom)
{
    const char *p = *pp;
    if (*p != '"') return NULL;
    p++;
    strbuf b = {0};
    sb_str(&b, "");
    while (*p && *p != '"') {
        if (*p != '\\') {
            strbuf_put(&b, p++, 1);
            continue;
        }
        p++;
        char ch = *p++;
        const char *simple = strchr("\"\\/bfnrt", ch);
        if (ch && simple) {
            static const char out[] = "\"\\/\b\f\n\r\t";
            strbuf_put(&b, &out[simple - "\"\\/bfnrt"], 1);
        } else if (ch == 'u') {
            unsigned cp = 0;
            for (int i = 0; i < 4; i++, p++) {
                char h = *p;
                int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                      : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                if (v < 0) {
                    free(b.s);
                    return NULL;
                }
                cp = cp * 16 + (unsigned)v;
            }
            if (cp == 0) cp = '?'; /* no NUL inside a C string */
            put_utf8(&b, cp);
        } else {
            free(b.s);
            return NULL;
        }
    }
    if (*p != '"' || b.oom) {
        if (b.oom) *oom = 1;
        free(b.s);
        return NULL;
    }
    *pp = p + 1;
    return b.s;
}

/* ["a", "b"] into a malloc'd array of n strings; -1 malformed, -2 oom. */
static int parse_names(const char *s, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    const char *p = skip_ws(s);
    if (*p++ != '[') return -1;
    int cap = 0, oom = 0;
    char **v = NULL;
    p = skip_ws(p);
    if (*p == ']') return -1; /* no classes: nothing to keep */
    for (;;) {
        p = skip_ws(p);
        char *str = parse_string(&p, &oom);
        if (!str) goto bad;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) {
                free(str);
                oom = 1;
                goto bad;
            }
            v = nv;
        }
        v[(*n)++] = str;
        p = skip_ws(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == ']' && !*skip_ws(p + 1)) break;
        goto bad;
    }
    *out = v;
    return 0;
bad:
    for (int i = 0; i < *n; i++) free(v[i]);
    free(v);
    *n = 0;
    return oom ? -2 : -1;
}

/* [1, 2.5] into v[max]; count, or -1 when malformed. */
static int parse_numbers(const char *s, float *v, int max)
{
    const char *p = skip_ws(s);
    if (*p++ != '[') return -1;
    int n = 0;
    for (;;) {
        char *end;
        double x = strtod(skip_ws(p), &end);
        if (end == skip_ws(p) || n >= max) return -1;
        v[n++] = (float)x;
        p = skip_ws(end);
        if (*p == ',') {
            p++;
            continue;
        }
        return *p == ']' && !*skip_ws(p + 1) ? n : -1;
    }
}

int onnx_card_read(const Onnx__ModelProto *mp, graft_model_meta *meta)
{
    int found = 0, card = 0;
    for (size_t i = 0; i < mp->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = mp->metadata_props[i];
        if (e && e->key && !strcmp(e->key, "graft.card")) card = 1;
    }
    for (size_t i = 0; i < mp->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = mp->metadata_props[i];
        if (!e || !e->key || !e->value) continue;
        const char *k = e->key, *v = e->value;
        float nums[4];
        int n;
        if (!strcmp(k, "class_names") && !meta->class_names) {
            int r = parse_names(v, &meta->class_names, &meta->nclasses);
            if (r == -2) return -1;
            found += r == 0;
        } else if (!strcmp(k, "mean") && (n = parse_numbers(v, nums, 4)) > 0) {
            for (int c = 0; c < 4; c++) meta->mean[c] = nums[c < n ? c : n - 1];
            found++;
        } else if (!strcmp(k, "std") && (n = parse_numbers(v, nums, 4)) > 0) {
            int okstd = 1;
            for (int c = 0; c < n; c++) okstd &= nums[c] > 0;
            if (!okstd) continue;
            for (int c = 0; c < 4; c++) meta->std[c] = nums[c < n ? c : n - 1];
            found++;
        } else if (card && !strcmp(k, "arch") && strlen(v) < sizeof meta->arch) {
            snprintf(meta->arch, sizeof meta->arch, "%s", v);
            found++;
        }
    }
    return found;
}
