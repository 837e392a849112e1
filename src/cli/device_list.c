#include "device_list.h"

#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "graft.h"

int device_list_parse(const char *cmd, const char *spec, device_list *l)
{
    memset(l, 0, sizeof *l);
    if (!strcmp(spec, "all")) {
        graft_device_info *info = NULL;
        int count = 0;
        char err[512];
        if (graft_devices_list(&info, &count, err, sizeof err) != GRAFT_OK || count == 0) {
            fprintf(stderr, "%s: --devices all: %s\n", cmd, count ? err : "no OpenCL device");
            graft_free(info);
            return EXIT_USAGE;
        }
        graft_free(info);
        if (count > DEVICE_LIST_MAX) count = DEVICE_LIST_MAX;
        size_t off = 0;
        for (int i = 0; i < count; i++) {
            l->dev[i] = l->buf + off;
            off += (size_t)snprintf(l->buf + off, sizeof l->buf - off, "%d", i) + 1;
        }
        l->n = count;
        return 0;
    }
    snprintf(l->buf, sizeof l->buf, "%s", spec);
    if ((l->n = args_split_list(l->buf, l->dev, DEVICE_LIST_MAX)) < 1) {
        fprintf(stderr, "%s: --devices '%s': expected all or a comma-separated list of at most %d "
                "device selectors\n", cmd, spec, DEVICE_LIST_MAX);
        return EXIT_USAGE;
    }
    return 0;
}
