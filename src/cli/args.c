#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value an option starts from, as help shows it ("none" for no string). */
static void format_value(const opt *o, char *buf, size_t n)
{
    switch (o->type) {
    case OPT_FLAG: snprintf(buf, n, "%s", *(int *)o->ptr ? "on" : "off"); break;
    case OPT_INT:
    case OPT_BATCH: snprintf(buf, n, "%d", *(int *)o->ptr); break;
    case OPT_FLOAT: snprintf(buf, n, "%g", (double)*(float *)o->ptr); break;
    case OPT_STRING: {
        const char *v = *(const char **)o->ptr;
        snprintf(buf, n, "%s", v ? v : "none");
        break;
    }
    }
}

/* help with "{}" replaced by the option's starting value, so that a default
 * shared by commands that start from different values is always right. */
static void print_help_text(const opt *o)
{
    const char *h = o->help, *at = strstr(h, "{}");
    if (!at) {
        printf("%s\n", h);
        return;
    }
    char v[256];
    format_value(o, v, sizeof v);
    printf("%.*s%s%s\n", (int)(at - h), h, v, at + 2);
}

void args_help(const cmd_spec *spec)
{
    printf("usage: %s\n\n%s\n\noptions:\n", spec->usage, spec->description);
    for (int i = 0; i < spec->nopts; i++) {
        const opt *o = &spec->opts[i];
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        printf("  %-26s ", left);
        print_help_text(o);
    }
    printf("  %-26s %s\n", "-h, --help", "show this help and exit");
}

/* Edit distance of a[0..na) and b[0..nb), capped at 99 (option names are short). */
static int edit_distance(const char *a, size_t na, const char *b, size_t nb)
{
    if (na > 63 || nb > 63) return 99;
    int d[64][64];
    for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++)
        for (size_t j = 1; j <= nb; j++) {
            int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[na][nb];
}

/* The option nearest to name[0..len) when it is close enough to be a typo
 * (or name is a prefix of exactly one option); NULL otherwise. */
static const opt *nearest_option(const cmd_spec *spec, const char *name, size_t len)
{
    const opt *best = NULL, *prefix = NULL;
    int bd = 99, nprefix = 0;
    for (int k = 0; k < spec->nopts; k++) {
        const char *on = spec->opts[k].name;
        size_t ol = strlen(on);
        if (len > 0 && len < ol && !strncmp(on, name, len)) {
            prefix = &spec->opts[k];
            nprefix++;
        }
        int d = edit_distance(name, len, on, ol);
        if (d < bd) {
            bd = d;
            best = &spec->opts[k];
        }
    }
    if (nprefix == 1) return prefix;
    /* one edit for short names, two from 5 characters, three from 9 */
    int limit = len >= 9 ? 3 : len >= 5 ? 2 : 1;
    return bd <= limit ? best : NULL;
}

/* The token after "(default " in help, or "" when the help documents no
 * plain default ("(default: prose)" is prose and not checked). */
static void documented_default(const char *help, char *tok, size_t n)
{
    tok[0] = '\0';
    const char *p = help ? strstr(help, "(default ") : NULL;
    if (!p) return;
    p += strlen("(default ");
    size_t L = strcspn(p, " );");
    if (L >= n) L = n - 1;
    memcpy(tok, p, L);
    tok[L] = '\0';
}

int args_check_defaults(const cmd_spec *spec)
{
    int checked = 0, bad = 0;
    for (int i = 0; i < spec->nopts; i++) {
        const opt *o = &spec->opts[i];
        char tok[64], have[64];
        documented_default(o->help, tok, sizeof tok);
        if (!tok[0] || !strcmp(tok, "{}")) continue; /* none, or the value itself */
        int off = !strcmp(tok, "off") || !strcmp(tok, "none"), same = 0;
        char *end;
        switch (o->type) {
        case OPT_FLAG:
            snprintf(have, sizeof have, "%d", *(int *)o->ptr);
            same = *(int *)o->ptr == (strcmp(tok, "on") == 0);
            break;
        case OPT_INT:
        case OPT_BATCH: {
            long v = off ? 0 : strtol(tok, &end, 10);
            snprintf(have, sizeof have, "%d", *(int *)o->ptr);
            same = (off || (*end == '\0' && end != tok)) && v == *(int *)o->ptr;
            break;
        }
        case OPT_FLOAT: {
            double v = off ? 0 : strtod(tok, &end), h = *(float *)o->ptr;
            snprintf(have, sizeof have, "%g", h);
            same = (off || (*end == '\0' && end != tok)) && fabs(v - h) <= 1e-6 * fmax(1, fabs(v));
            break;
        }
        case OPT_STRING: {
            const char *v = *(const char **)o->ptr;
            snprintf(have, sizeof have, "%s", v ? v : "(none)");
            same = v ? !strcmp(v, tok) : off;
            break;
        }
        }
        checked++;
        if (!same) {
            bad++;
            printf("--%s: the help says (default %s) but the option starts as %s\n", o->name, tok,
                   have);
        }
    }
    printf("%s: %d documented defaults checked, %d differ\n", spec->usage, checked, bad);
    return bad ? 1 : 0;
}

/* A number outside the option's [min, max] (when it has one): says so. */
static int out_of_range(const char *cmd, const opt *o, double v, const char *given)
{
    if (!(o->min < o->max) || (v >= o->min && v <= o->max)) return 0;
    fprintf(stderr, "%s: --%s %s is out of range [%g, %g]\n", cmd, o->name, given, o->min, o->max);
    return 1;
}

static int set_value(const char *cmd, const opt *o, const char *val)
{
    char *end;
    errno = 0;
    switch (o->type) {
    case OPT_BATCH:
        if (!strcmp(val, "auto")) {
            *(int *)o->ptr = 0;
            return 0;
        }
        /* fall through */
    case OPT_INT: {
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < -2147483647L || v > 2147483647L) {
            fprintf(stderr, "%s: --%s expects an integer, got '%s'\n", cmd, o->name, val);
            return 2;
        }
        if (out_of_range(cmd, o, (double)v, val)) return 2;
        *(int *)o->ptr = (int)v;
        return 0;
    }
    case OPT_FLOAT: {
        double v = strtod(val, &end);
        if (errno || end == val || *end || !isfinite(v)) {
            fprintf(stderr, "%s: --%s expects a number, got '%s'\n", cmd, o->name, val);
            return 2;
        }
        if (out_of_range(cmd, o, v, val)) return 2;
        *(float *)o->ptr = (float)v;
        return 0;
    }
    case OPT_STRING:
        *(const char **)o->ptr = val;
        return 0;
    default:
        return 2;
    }
}

int args_parse(const cmd_spec *spec, int argc, char **argv, char ***pos, int *npos)
{
    const char *cmd = argv[0];
    char **p = calloc((size_t)argc + 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        return 2;
    }
    int n = 0, only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            if (n >= spec->max_positional) {
                fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", cmd, a);
                free(p);
                return 2;
            }
            p[n++] = argv[i];
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = 1;
            continue;
        }
        if (!strcmp(a, "--help-defaults")) { /* a developer check, see docs/cli.md */
            int bad = args_check_defaults(spec);
            free(p);
            return bad ? 2 : 1;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            args_help(spec);
            free(p);
            return 1;
        }
        if (a[1] != '-') {
            fprintf(stderr, "%s: unknown option '%s' (see --help)\n", cmd, a);
            free(p);
            return 2;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const opt *o = NULL;
        for (int k = 0; k < spec->nopts; k++)
            if (strlen(spec->opts[k].name) == len && !strncmp(spec->opts[k].name, name, len))
                o = &spec->opts[k];
        if (!o) {
            const opt *near = nearest_option(spec, name, len);
            if (near)
                fprintf(stderr, "%s: unknown option '--%.*s'; did you mean --%s? (see --help)\n",
                        cmd, (int)len, name, near->name);
            else
                fprintf(stderr, "%s: unknown option '--%.*s' (see --help)\n", cmd, (int)len, name);
            free(p);
            return 2;
        }
        if (o->type == OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "%s: --%s takes no value\n", cmd, o->name);
                free(p);
                return 2;
            }
            *(int *)o->ptr = 1;
            continue;
        }
        const char *val = eq ? eq + 1 : NULL;
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: --%s needs a value (%s)\n", cmd, o->name,
                        o->metavar ? o->metavar : "value");
                free(p);
                return 2;
            }
            val = argv[++i];
        }
        int rc = set_value(cmd, o, val);
        if (rc) {
            free(p);
            return rc;
        }
    }
    if (pos) *pos = p;
    else free(p);
    if (npos) *npos = n;
    return 0;
}

int args_split_list(char *s, const char **items, int max)
{
    int n = 0;
    for (char *p = s;;) {
        char *c = strchr(p, ',');
        if (c) *c = '\0';
        if (!*p || n >= max) return -1;
        items[n++] = p;
        if (!c) return n;
        p = c + 1;
    }
}

int args_parse_one(const cmd_spec *spec, int argc, char **argv, const char **arg)
{
    char **pos = NULL;
    int npos = 0;
    *arg = NULL;
    int rc = args_parse(spec, argc, argv, &pos, &npos);
    if (rc == 0 && npos == 1) *arg = pos[0];
    free(pos);
    return rc;
}
