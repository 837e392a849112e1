/* Helpers for the commands that use a trained model (eval, predict, info). */
#ifndef GRAFT_MODELCLI_H
#define GRAFT_MODELCLI_H
#include <stddef.h>

#include "common.h"
#include "graft.h"

/* Loads path with its meta; prints "cmd: <reason naming the file>" on
 * failure and returns non-zero. Checks that the meta's class count matches
 * the classifier's outputs (warns otherwise). */
int cli_load_model(const char *cmd, graft_ctx *ctx, const char *path, graft_model **m,
                   graft_model_meta *meta);
/* The opening of the commands that use a trained model: opens the device
 * and loads path (cli_load_model). Returns 0, or 1 after printing why
 * (nothing is then open). The caller releases *m, *meta and *ctx. */
int cli_open_model(const char *cmd, const common_opts *co, const char *path, graft_ctx **ctx,
                   graft_model **m, graft_model_meta *meta);
/* Number of outputs of the last node (the classes). */
int cli_model_classes(const graft_model *m);
/* Copies s into buf (size n >= 2), cutting it to fit n-1 characters with a
 * trailing '~' when it is longer. Returns buf. */
char *cli_trunc(const char *s, char *buf, size_t n);
/* Class name i of meta, or its index when the meta has none. */
const char *cli_class_name(const graft_model_meta *meta, int i, char *buf, size_t n);
#endif
