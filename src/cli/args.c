#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void args_help(const cmd_spec *spec)
{
    printf("usage: %s\n\n%s\n\noptions:\n", spec->usage, spec->description);
    for (int i = 0; i < spec->nopts; i++) {
        const opt *o = &spec->opts[i];
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        printf("  %-26s %s\n", left, o->help);
    }
    printf("  %-26s %s\n", "-h, --help", "show this help and exit");
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
        if (o->min < o->max && (v < o->min || v > o->max)) {
            fprintf(stderr, "%s: --%s %ld is out of range [%g, %g]\n", cmd, o->name, v, o->min, o->max);
            return 2;
        }
        *(int *)o->ptr = (int)v;
        return 0;
    }
    case OPT_FLOAT: {
        double v = strtod(val, &end);
        if (errno || end == val || *end || !isfinite(v)) {
            fprintf(stderr, "%s: --%s expects a number, got '%s'\n", cmd, o->name, val);
            return 2;
        }
        if (o->min < o->max && (v < o->min || v > o->max)) {
            fprintf(stderr, "%s: --%s %g is out of range [%g, %g]\n", cmd, o->name, v, o->min, o->max);
            return 2;
        }
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
