#include "modelcli.h"

#include <stdio.h>
#include <string.h>

int cli_open_model(const char *cmd, const common_opts *co, const char *path, graft_ctx **ctx,
                   graft_model **m, graft_model_meta *meta)
{
    *m = NULL;
    memset(meta, 0, sizeof *meta);
    *ctx = NULL;
    if (cli_check_model_path(cmd, "--model", path)) return 1;
    if (!(*ctx = cli_open_device(cmd, co))) return 1;
    if (cli_load_model(cmd, *ctx, path, m, meta) == 0) return 0;
    graft_ctx_destroy(*ctx);
    *ctx = NULL;
    return 1;
}

int cli_model_classes(const graft_model *m)
{
    int c = 0;
    graft_model_node_shape(m, graft_model_num_nodes(m) - 1, &c, NULL, NULL);
    return c;
}

int cli_load_model(const char *cmd, graft_ctx *ctx, const char *path, graft_model **m,
                   graft_model_meta *meta)
{
    *m = NULL;
    memset(meta, 0, sizeof *meta);
    if (graft_model_load(ctx, path, m, meta) != GRAFT_OK) {
        const char *e = graft_last_error(ctx);
        /* The library names the file; add it when a message does not. */
        if (strstr(e, path)) fprintf(stderr, "%s: %s\n", cmd, e);
        else fprintf(stderr, "%s: %s: %s\n", cmd, path, e);
        *m = NULL;
        return -1;
    }
    int k = cli_model_classes(*m);
    if (meta->nclasses != k)
        fprintf(stderr, "%s: warning: %s names %d classes but its classifier has %d outputs\n",
                cmd, path, meta->nclasses, k);
    return 0;
}

char *cli_trunc(const char *s, char *buf, size_t n)
{
    size_t L = strlen(s);
    if (L < n) {
        memcpy(buf, s, L + 1);
    } else {
        size_t cut = n - 2; /* do not split a UTF-8 sequence */
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--;
        memcpy(buf, s, cut);
        buf[cut] = '~';
        buf[cut + 1] = '\0';
    }
    return buf;
}

const char *cli_class_name(const graft_model_meta *meta, int i, char *buf, size_t n)
{
    if (meta->class_names && i >= 0 && i < meta->nclasses && meta->class_names[i])
        return meta->class_names[i];
    snprintf(buf, n, "%d", i);
    return buf;
}
