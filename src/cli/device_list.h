/* Device lists on the command line (--devices 0,1 | all): cv's concurrent
 * folds, data parallel train/finetune and plan run's job slots. */
#ifndef GRAFT_CLI_DEVICE_LIST_H
#define GRAFT_CLI_DEVICE_LIST_H

#define DEVICE_LIST_MAX 16

typedef struct device_list {
    char buf[1024];                    /* storage of the selectors */
    const char *dev[DEVICE_LIST_MAX];  /* selectors: indices or name substrings */
    int n;
} device_list;

/* Parses spec ("all" = every OpenCL device, else a comma-separated list of
 * selectors as --device takes them) into *l. Returns 0, or EXIT_USAGE
 * after printing "cmd: --devices ...: why". */
int device_list_parse(const char *cmd, const char *spec, device_list *l);
#endif
