/* The commands' side of matching data classes to a model's: messages on
 * stderr, and the data relabelled into the model's classes. */
#ifndef GRAFT_CLASS_MATCH_CLI_H
#define GRAFT_CLASS_MATCH_CLI_H
#include "graft.h"
#include "graft_data.h"

/* Matches *d's classes to the model's (names[nclasses], NULL = nameless)
 * with graft_class_match_names and replaces *d by its copy in the model's
 * classes. Data classes the model lacks are an error listing them, unless
 * allow_unknown (their images are then left out and counted on stderr).
 * Model classes absent from the data and matching by index are notes
 * (unless quiet). who names the class owner ("the model") and what the
 * data in messages. Returns 0, or 1 after
 * printing why (*d is then unchanged). */
int cli_match_classes(const char *cmd, const char *const *names, int nclasses, const char *who,
                      const char *what, int allow_unknown, int quiet, graft_dataset **d);
/* The model's class names when its meta names every output, else NULL. */
const char *const *cli_model_names(const graft_model_meta *meta, int nclasses);
#endif
