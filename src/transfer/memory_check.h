/* graft_model_check_memory with the message in err (see graft_train.h). */
#ifndef GRAFT_TRANSFER_MEMORY_CHECK_H
#define GRAFT_TRANSFER_MEMORY_CHECK_H
#include <stddef.h>

#include "graft.h"

graft_status memory_check(graft_model *m, int batch, int training, graft_opt_kind opt, int *largest,
                          char *err, size_t errlen);
#endif
