/* Sub-commands of the graft tool. Each returns the process exit status:
 * 0 success, 1 failure while running, 2 bad usage. */
#ifndef GRAFT_CLI_H
#define GRAFT_CLI_H

#define EXIT_USAGE 2

int cmd_devices(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_finetune(int argc, char **argv);
int cmd_cv(int argc, char **argv);
int cmd_selftrain(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_lrfind(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);

#endif
