/* The per-epoch training log (.csv, else JSON lines), rewritten whole and
 * atomically after every epoch so that an interrupted or killed run never
 * leaves it empty or with half a line. */
#ifndef GRAFT_TRANSFER_EPOCH_LOG_H
#define GRAFT_TRANSFER_EPOCH_LOG_H
#include <stddef.h>

#include "graft_train.h"

typedef struct epoch_log epoch_log;

/* Opens the log at path and writes it at once (header only, or on resume
 * (start_epoch > 0) the existing lines of epochs 1..start_epoch, so a
 * resumed run does not repeat the epochs a killed run logged after its
 * last checkpoint). NULL path: *out = NULL and every call is a no-op. */
graft_status epoch_log_open(const char *path, const char *eval_name, int start_epoch,
                            epoch_log **out, char *err, size_t errlen);
/* Appends one epoch's line and rewrites the file. */
graft_status epoch_log_append(epoch_log *l, const graft_epoch_stats *st, char *err, size_t errlen);
void epoch_log_free(epoch_log *l);
#endif
