#include "class_match_cli.h"

#include <stdio.h>

/* Up to 8 names of list[n] (indices into names, or data labels), quoted. */
static void print_names(const char *const *names, const graft_dataset *d, const int *list, int n)
{
    char nb[16];
    for (int i = 0; i < n && i < 8; i++) {
        const char *s = d ? graft_dataset_class_name(d, list[i]) : names ? names[list[i]] : NULL;
        if (!s) {
            snprintf(nb, sizeof nb, "%d", list[i]);
            s = nb;
        }
        fprintf(stderr, "%s'%s'", i ? ", " : "", s);
    }
    if (n > 8) fprintf(stderr, " and %d more", n - 8);
}

const char *const *cli_model_names(const graft_model_meta *meta, int nclasses)
{
    return meta->class_names && meta->nclasses == nclasses ? (const char *const *)meta->class_names
                                                           : NULL;
}

int cli_match_classes(const char *cmd, const char *const *names, int nclasses, const char *who,
                      const char *what, int allow_unknown, int quiet, graft_dataset **d)
{
    graft_class_match cm;
    char err[1024];
    if (graft_class_match_names(names, nclasses, *d, &cm, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        return 1;
    }
    int rc = 1;
    if (!cm.by_name && !quiet)
        fprintf(stderr, "%s: note: %s has no class names; labels are taken as class indices of "
                        "%s\n", cmd, cm.data_named ? who : what, who);
    if (cm.nunknown && !allow_unknown) {
        fprintf(stderr, "%s: %s lacks %d of the %d classes of %s: ", cmd, who, cm.nunknown,
                cm.data_classes, what);
        print_names(NULL, *d, cm.unknown, cm.nunknown);
        fprintf(stderr, "\n  (classes of %s: ", who);
        const int first[8] = {0, 1, 2, 3, 4, 5, 6, 7}; /* print_names shows at most 8 */
        print_names(names, NULL, first, nclasses);
        fprintf(stderr, "; --allow-unknown skips their images)\n");
        goto done;
    }
    graft_dataset *out = NULL;
    int dropped = 0;
    if (graft_dataset_relabel(*d, &cm, names, &out, &dropped, err, sizeof err) != GRAFT_OK) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        goto done;
    }
    if (graft_dataset_size(out) == 0) {
        fprintf(stderr, "%s: no images of %s are in the classes of %s\n", cmd, what, who);
        graft_dataset_free(out);
        goto done;
    }
    if (cm.nunknown) {
        fprintf(stderr, "%s: skipped %d image%s of %d class%s %s lacks: ", cmd, dropped,
                dropped == 1 ? "" : "s", cm.nunknown, cm.nunknown == 1 ? "" : "es", who);
        print_names(NULL, *d, cm.unknown, cm.nunknown);
        fprintf(stderr, "\n");
    }
    if (cm.nabsent && !quiet) {
        fprintf(stderr, "%s: note: %s has no images of %d of the %d classes of %s: ", cmd, what,
                cm.nabsent, nclasses, who);
        print_names(names, NULL, cm.absent, cm.nabsent);
        fprintf(stderr, "\n");
    }
    graft_dataset_free(*d);
    *d = out;
    rc = 0;
done:
    graft_class_match_free(&cm);
    return rc;
}
