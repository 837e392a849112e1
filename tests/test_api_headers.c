/* The public headers stand alone: each compiles first in a translation
 * unit built with include/ only (this file includes them in the order a
 * user might, each one first somewhere below), and they agree with each
 * other. Compiled with only the public include directory. */
#include "graft_transfer.h"
#include "graft_eval.h"
#include "graft_train.h"
#include "graft_data.h"
#include "graft.h"

#include <stdio.h>

int main(void)
{
    /* Types a caller declares on the stack must be complete. */
    graft_data_spec ds = {0};
    graft_train_config tc = {0};
    graft_train_result tr = {0};
    graft_eval_result er = {0};
    graft_predict_config pc = {0};
    graft_finetune_params fp = {0};
    graft_cv_config cc = {0};
    graft_selftrain_config sc = {0};
    graft_score_config scc = {0};
    graft_compare_config cmp = {0};
    graft_compare_result cr = {0};
    (void)ds, (void)tc, (void)tr, (void)er, (void)pc, (void)fp, (void)cc, (void)sc, (void)scc;
    (void)cmp, (void)cr;
    /* New arms are appended: the earlier values stay. */
    if (GRAFT_ARM_GRADUAL != 4 || GRAFT_ARM_RECIPE != 5 || GRAFT_ARM_COUNT != 6 ||
        GRAFT_STRATEGY_GRADUAL != 2 || GRAFT_LOG_WARN != 0 || GRAFT_LOG_INFO != 1) {
        fprintf(stderr, "enum values changed\n");
        return 1;
    }
    return 0;
}
